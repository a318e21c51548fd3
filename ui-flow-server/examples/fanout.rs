//! Fan-out benchmark: one room, N loopback clients in a separate process,
//! a ~100-byte message broadcast at a fixed rate, ui-flow-server side by
//! side with its peers in one run:
//!
//! - `ui-flow`: this crate's axum endpoint, committing through the
//!   resource log (`session.commit(delta)`), with the default 8 KiB write
//!   batch, and `ui-flow-unbatched`, the same with `write_batch_bytes = 0`
//!   (one socket write per frame, as before the batch existed);
//! - `plain`: a tokio-tungstenite broadcast loop sending the same bytes;
//! - `socketioxide-common`, `socketioxide-msgpack`: socketioxide with each
//!   parser, all clients in one room;
//! - `socketio-node`: Socket.IO 4 on Node;
//! - `raw`, `raw2`: the floor (below), in this binary.
//!
//! The peers live in `bench/` and are started by their scripts; run
//! everything with `bench/fanout.sh`, which builds them first:
//!
//! ```text
//! bench/fanout.sh [--n 1000,5000] [--rate 50] [--count 200] [--idle 5] [--servers ui-flow,plain,...]
//!     [--pin-server CPUS] [--pin-clients CPUS] [--per-broadcast]
//! ```
//!
//! `raw` and `raw2` are the machine's floor, not servers: one blocking
//! `write()` of a prebuilt frame per socket per broadcast, from one or two
//! OS threads. `--pin-server` / `--pin-clients` run the server or the
//! client process under `taskset -c CPUS`; `--per-broadcast` prints, for
//! each broadcast, ms from its send to its first and its last receive.
//!
//! The binary plays two roles: the orchestrator (default) spawns, for each N
//! and each server, a fresh server process and a fresh `clients` process and
//! talks to both over stdin/stdout (`rss`, `cpu`, `broadcast COUNT RATE`).
//! Every server measures its own CPU time and resident memory: once all
//! clients are connected, first `--idle` seconds with nothing broadcast (the
//! idle cost: pings, timers), then the broadcast window, from the first
//! broadcast until the last client had the last one. "server CPU
//! µs/delivery" is all of that window's CPU; "net of idle" subtracts the idle
//! rate over the window, a large share of it at a low broadcast rate. The
//! handshakes are in neither. The clients
//! measure each delivery's latency from the broadcast's slot in the schedule
//! and from the moment it was sent, both carried in the message (same
//! machine, same wall clock). Everything stops by itself.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader as AsyncBufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use ui_flow::ServerMessage;
use ui_flow::codec::Decoded;
use ui_flow_server::{FlowServer, UnverifiedUserToken};

#[path = "support/bench_server.rs"]
mod bench_server;
#[path = "support/control.rs"]
mod control;

use bench_server::{Bench, BenchDelta};
use control::{Lines, cpu_us, listener, unix_ns};

/// What a peer's Socket.IO event carries.
#[derive(Debug, Deserialize)]
struct Tick {
    seq: u64,
    slot_ns: u64,
    sent_ns: u64,
}

const PAD: &str = "abcdefghijklmnopqrstuvwxyzabcdefghijklmn";
const CONNECT_CONCURRENCY: usize = 256;
/// Both processes give up after this long without finishing a phase.
const PHASE_LIMIT: Duration = Duration::from_secs(120);

fn delta(slot_ns: u64) -> BenchDelta {
    BenchDelta {
        slot_ns,
        sent_ns: unix_ns(),
        pad: PAD.to_owned(),
    }
}

fn frame_len() -> usize {
    let delta = delta(0);
    ServerMessage::<(), &BenchDelta, ()>::Delta {
        delta: &delta,
        seq: 1,
        timestamp: delta.sent_ns / 1_000_000,
        epoch: None,
        prev: None,
    }
    .encode()
    .map_or(0, |f| f.len())
}

// ---------------------------------------------------------------- server --

/// ui-flow-server under the benchmark's control lines (see the peers in
/// `bench/` for the same protocol).
async fn serve(write_batch_bytes: usize) {
    let listener = listener();
    let addr = listener.local_addr().expect("addr");
    let flow = FlowServer::with_config(Bench, UnverifiedUserToken, {
        let mut c = bench_server::config(20_000);
        c.write_batch_bytes = write_batch_bytes;
        c
    });
    let app = flow.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("addr {addr}");
    let session = flow.session("bench");
    control::control(|_, slot| {
        let session = session.clone();
        async move {
            session.commit(delta(slot)).await.expect("commit");
        }
    })
    .await;
}

// ------------------------------------------------------------ raw floor --

/// The machine's floor for this workload: no WebSocket library on the
/// write path, no queue, no task per connection. Blocking threads accept
/// and handshake each client (tungstenite's sync `accept`), and a
/// broadcast is one `write()` of one prebuilt WebSocket frame (ui-flow's
/// `Delta` bytes) per socket, split over `threads` OS threads. What a
/// server cannot go below on this machine with one `send()` per delivery;
/// not a server anyone should run (a slow reader blocks its thread).
fn serve_raw(threads: usize) {
    use std::io::Write as _;
    use std::sync::Mutex;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sockets: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
    std::thread::spawn({
        let sockets = sockets.clone();
        move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_nodelay(true);
                if let Ok(ws) = tokio_tungstenite::tungstenite::accept(stream) {
                    // The clients send nothing after the handshake, so no
                    // read is buffered in the wrapper.
                    sockets.lock().expect("sockets").push(ws.into_inner());
                }
            }
        }
    });
    println!("addr {addr}");
    let mut lines = Lines::new();
    for line in std::io::stdin().lines() {
        let Ok(line) = line else { break };
        match lines.read(&line) {
            None => break,
            Some(None) => {}
            Some(Some(run)) => {
                let start = unix_ns();
                let sockets = sockets.lock().expect("sockets");
                let chunk = sockets.len().div_ceil(threads.max(1)).max(1);
                for seq in 1..=run.count {
                    let slot = run.slot(start, seq);
                    let wait = slot.saturating_sub(unix_ns());
                    std::thread::sleep(Duration::from_nanos(wait));
                    let delta = delta(slot);
                    let payload = ServerMessage::<(), &BenchDelta, ()>::Delta {
                        delta: &delta,
                        seq,
                        timestamp: delta.sent_ns / 1_000_000,
                        epoch: None,
                        prev: None,
                    }
                    .encode()
                    .expect("encode");
                    let mut frame = vec![0x82];
                    match payload.len() {
                        n @ 0..=125 => frame.push(n as u8),
                        n => {
                            frame.push(126);
                            frame.extend_from_slice(&(n as u16).to_be_bytes());
                        }
                    }
                    frame.extend_from_slice(&payload);
                    std::thread::scope(|scope| {
                        for part in sockets.chunks(chunk) {
                            let frame = &frame;
                            scope.spawn(move || {
                                for mut socket in part {
                                    let _ = socket.write_all(frame);
                                }
                            });
                        }
                    });
                }
                println!("sent");
            }
        }
    }
}

// --------------------------------------------------------------- clients --

/// How a client talks to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// ui-flow's protocol (ui-flow-server, and the plain loop sending its bytes).
    Flow { handshake_frames: usize },
    /// Engine.IO 4 over WebSocket with Socket.IO's text (JSON) parser.
    SocketIo,
    /// The same with socketioxide's msgpack parser (binary packets).
    SocketIoMsgpack,
}

impl Dialect {
    fn of(kind: &str) -> Dialect {
        match kind {
            "ui-flow" | "ui-flow-unbatched" => Dialect::Flow {
                // Connected, Snapshot, Presence.
                handshake_frames: 3,
            },
            "plain" | "raw" | "raw2" => Dialect::Flow {
                handshake_frames: 0,
            },
            "socketioxide-msgpack" => Dialect::SocketIoMsgpack,
            _ => Dialect::SocketIo,
        }
    }
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn open(addr: SocketAddr, dialect: Dialect) -> Option<Ws> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let url = match dialect {
        Dialect::Flow { .. } => format!("ws://{addr}/realtime/bench?token=bench"),
        _ => format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"),
    };
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.ok()?;
    match dialect {
        Dialect::Flow { handshake_frames } => {
            for _ in 0..handshake_frames {
                ws.next().await?.ok()?;
            }
        }
        Dialect::SocketIo | Dialect::SocketIoMsgpack => {
            // Engine.IO open packet, then join the default namespace and
            // wait for its acknowledgement.
            let open = ws.next().await?.ok()?;
            if !open.to_text().ok()?.starts_with('0') {
                return None;
            }
            let connect = if dialect == Dialect::SocketIo {
                Message::text("40")
            } else {
                let packet =
                    rmpv::Value::Map(vec![("type".into(), 0.into()), ("nsp".into(), "/".into())]);
                let mut bytes = Vec::new();
                rmpv::encode::write_value(&mut bytes, &packet).ok()?;
                Message::binary(bytes)
            };
            ws.send(connect).await.ok()?;
            ws.next().await?.ok()?;
        }
    }
    Some(ws)
}

/// The broadcast a message carries, if it is one: (seq, slot_ns, sent_ns).
fn broadcast_in(dialect: Dialect, msg: &Message) -> Option<(u64, u64, u64)> {
    match (dialect, msg) {
        (Dialect::Flow { .. }, Message::Binary(bytes)) => match Sample::decode(bytes).ok()? {
            Decoded::Message(Sample::Delta { delta, seq, .. }) => {
                Some((seq, delta.slot_ns, delta.sent_ns))
            }
            _ => None,
        },
        (Dialect::SocketIo, Message::Text(text)) => {
            let event = text.as_str().strip_prefix("42")?;
            let (_, tick): (rmpv::Value, Tick) = serde_json::from_str(event).ok()?;
            Some((tick.seq, tick.slot_ns, tick.sent_ns))
        }
        (Dialect::SocketIoMsgpack, Message::Binary(bytes)) => {
            let packet = rmpv::decode::read_value(&mut &bytes[..]).ok()?;
            let data = packet
                .as_map()?
                .iter()
                .find(|(k, _)| k.as_str() == Some("data"))?
                .1
                .as_array()?
                .get(1)?
                .clone();
            let tick: Tick = rmpv::ext::from_value(data).ok()?;
            Some((tick.seq, tick.slot_ns, tick.sent_ns))
        }
        _ => None,
    }
}

type Sample = ServerMessage<rmpv::Value, BenchDelta, rmpv::Value>;

/// Per delivery: µs from the broadcast's slot in the schedule, µs from its send.
type Latency = (u32, u32);

fn micros(from_ns: u64, to_ns: u64) -> u32 {
    u32::try_from(to_ns.saturating_sub(from_ns) / 1000).unwrap_or(u32::MAX)
}

async fn clients(addr: SocketAddr, kind: String, n: usize, count: u64) {
    let dialect = Dialect::of(&kind);
    let gate = Arc::new(tokio::sync::Semaphore::new(CONNECT_CONCURRENCY));
    let opened: Vec<_> = (0..n)
        .map(|_| {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire().await.ok()?;
                open(addr, dialect).await
            })
        })
        .collect();
    let mut sockets = Vec::with_capacity(n);
    for task in opened {
        if let Ok(Some(ws)) = task.await {
            sockets.push(ws);
        }
    }
    // Readers start at once: Socket.IO servers ping and expect an answer.
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let mut latencies: Vec<Latency> = Vec::with_capacity(count as usize);
                let mut seqs: Vec<u32> = Vec::with_capacity(count as usize);
                let mut last_ns = 0;
                while let Some(Ok(msg)) = ws.next().await {
                    let now = unix_ns();
                    if matches!(&msg, Message::Text(t) if t.as_str() == "2") {
                        // Engine.IO ping.
                        let _ = ws.send(Message::text("3")).await;
                        continue;
                    }
                    if let Some((seq, slot_ns, sent_ns)) = broadcast_in(dialect, &msg) {
                        latencies.push((micros(slot_ns, now), micros(sent_ns, now)));
                        seqs.push(u32::try_from(seq).unwrap_or(u32::MAX));
                        last_ns = now;
                        if seq == count {
                            break;
                        }
                    }
                }
                (latencies, seqs, last_ns, ws)
            })
        })
        .collect();
    println!("ready {}", readers.len());
    // The orchestrator says `start` right before the first broadcast (the
    // clients' CPU is counted from there: the idle phase before it has
    // them answering keepalive pings), and anything else to quit.
    let cpu_start = Arc::new(std::sync::atomic::AtomicU64::new(cpu_us()));
    let (quit_tx, quit) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn({
        let cpu_start = cpu_start.clone();
        async move {
            let mut lines = AsyncBufReader::new(tokio::io::stdin()).lines();
            if let Ok(Some(line)) = lines.next_line().await {
                if line.trim() == "start" {
                    cpu_start.store(cpu_us(), std::sync::atomic::Ordering::Relaxed);
                    let _ = lines.next_line().await;
                }
            }
            let _ = quit_tx.send(());
        }
    });
    let mut all = Vec::new();
    let mut last = 0;
    let mut kept = Vec::new();
    // Per broadcast: (first, last) receive in µs from its send.
    let mut spans = vec![(u32::MAX, 0u32); count as usize];
    let collect = async {
        for r in readers {
            if let Ok((lat, seqs, last_ns, ws)) = r.await {
                for (l, seq) in lat.iter().zip(&seqs) {
                    if let Some(span) = spans.get_mut((*seq as usize).wrapping_sub(1)) {
                        span.0 = span.0.min(l.1);
                        span.1 = span.1.max(l.1);
                    }
                }
                all.extend(lat);
                last = last.max(last_ns);
                kept.push(ws);
            }
        }
    };
    let _ = tokio::time::timeout(PHASE_LIMIT, collect).await;
    // The clients' own CPU from the first broadcast on: they share the
    // machine's cores with the server.
    let client_cpu = cpu_us().saturating_sub(cpu_start.load(std::sync::atomic::Ordering::Relaxed));
    let mut from_slot: Vec<u32> = all.iter().map(|l| l.0).collect();
    let mut from_send: Vec<u32> = all.iter().map(|l| l.1).collect();
    from_slot.sort_unstable();
    from_send.sort_unstable();
    let pct = |v: &[u32], p: f64| {
        v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "done {} {last} {} {} {} {} {}",
        all.len(),
        pct(&from_slot, 0.5),
        pct(&from_slot, 0.99),
        pct(&from_slot, 0.999),
        pct(&from_send, 0.5),
        pct(&from_send, 0.99),
    );
    let spans: Vec<String> = spans
        .iter()
        .map(|(first, last)| format!("{}:{}", first / 1000, last / 1000))
        .collect();
    println!("spans {client_cpu} {}", spans.join(" "));
    // Hold the sockets until told to quit, so the server measures nothing
    // about closing.
    let _ = quit.await;
    drop(kept);
}

// ---------------------------------------------------------- orchestrator --

struct Proc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Proc {
    fn spawn(program: &PathBuf, args: &[&str]) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Proc {
            child,
            stdin,
            stdout,
        }
    }

    fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to child");
        self.stdin.flush().expect("flush");
    }

    /// The next line starting with `word`, split after it.
    fn expect(&mut self, word: &str) -> Vec<String> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.stdout.read_line(&mut line).expect("read child") == 0 {
                panic!("child exited while waiting for {word}");
            }
            let mut parts = line.split_whitespace();
            if parts.next() == Some(word) {
                return parts.map(str::to_owned).collect();
            }
        }
    }

    fn finish(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

/// The servers compared, in table order.
const KINDS: [&str; 8] = [
    "ui-flow",
    "ui-flow-unbatched",
    "socketioxide-common",
    "socketioxide-msgpack",
    "socketio-node",
    "plain",
    "raw",
    "raw2",
];

/// The program and arguments that start a server.
fn server_command(kind: &str) -> (PathBuf, Vec<&'static str>) {
    let bench = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench");
    match kind {
        "ui-flow" => (
            std::env::current_exe().expect("current exe"),
            vec!["server", "8192"],
        ),
        "ui-flow-unbatched" => (
            std::env::current_exe().expect("current exe"),
            vec!["server", "0"],
        ),
        "plain" => (bench.join("peers/serve.sh"), vec!["plain"]),
        "raw" => (
            std::env::current_exe().expect("current exe"),
            vec!["raw-server", "1"],
        ),
        "raw2" => (
            std::env::current_exe().expect("current exe"),
            vec!["raw-server", "2"],
        ),
        "socketioxide-common" => (bench.join("peers/serve.sh"), vec!["socketioxide", "common"]),
        "socketioxide-msgpack" => (
            bench.join("peers/serve.sh"),
            vec!["socketioxide", "msgpack"],
        ),
        "socketio-node" => (bench.join("socketio-node/serve.sh"), vec![]),
        other => panic!("unknown server {other}; known: {KINDS:?}"),
    }
}

struct Row {
    delivered: u64,
    expected: u64,
    per_sec: f64,
    slot_p50_ms: f64,
    slot_p99_ms: f64,
    slot_p999_ms: f64,
    send_p50_ms: f64,
    send_p99_ms: f64,
    /// All of the server's CPU from the first broadcast until the last
    /// client had the last one, per delivery.
    cpu_us_per_delivery: f64,
    /// The same less the idle cost over that window.
    net_cpu_us_per_delivery: f64,
    /// The server's CPU with N clients connected and nothing broadcast,
    /// in % of one core.
    idle_cpu_percent: f64,
    rss_per_conn_kib: f64,
    rss_after_per_conn_kib: f64,
    /// The client process's CPU from the first broadcast until the last
    /// one arrived, per delivery.
    client_cpu_us_per_delivery: f64,
    /// Per broadcast, "FIRST:LAST": ms from its send to its first and to
    /// its last receive.
    spans: Vec<String>,
}

/// CPU lists (`taskset -c`) the server and the clients run on, if pinned.
#[derive(Default, Clone)]
struct Pins {
    server: Option<String>,
    clients: Option<String>,
}

/// Runs `program` with `args`, on the CPUs `pin` names if any.
fn spawn_pinned(pin: Option<&String>, program: &PathBuf, args: &[&str]) -> Proc {
    match pin {
        Some(cpus) => {
            let program_arg = program.to_string_lossy().into_owned();
            let mut all = vec!["-c", cpus.as_str(), program_arg.as_str()];
            all.extend_from_slice(args);
            Proc::spawn(&PathBuf::from("taskset"), &all)
        }
        None => Proc::spawn(program, args),
    }
}

fn run(kind: &str, n: usize, rate: u64, count: u64, idle: Duration, pins: &Pins) -> Row {
    let (program, args) = server_command(kind);
    let mut server = spawn_pinned(pins.server.as_ref(), &program, &args);
    let addr = server.expect("addr")[0].clone();
    std::thread::sleep(Duration::from_millis(200));
    server.say("rss");
    let before: f64 = server.expect("rss")[0].parse().expect("rss");
    let n_arg = n.to_string();
    let count_arg = count.to_string();
    let me = std::env::current_exe().expect("current exe");
    let mut clients = spawn_pinned(
        pins.clients.as_ref(),
        &me,
        &["clients", kind, &addr, &n_arg, &count_arg],
    );
    let ready: usize = clients.expect("ready")[0].parse().expect("ready");
    assert_eq!(ready, n, "{kind}: only {ready} of {n} clients connected");
    server.say("rss");
    let after: f64 = server.expect("rss")[0].parse().expect("rss");
    // The idle cost (keepalive pings, timers, wakeups) is measured first
    // over `idle` with nothing broadcast, then subtracted from the
    // broadcast window's CPU at the same rate: at a low broadcast rate it
    // is a large share of the window's CPU and says nothing about fan-out.
    server.say("cpu");
    server.expect("cpu");
    let idle_start = std::time::Instant::now();
    std::thread::sleep(idle);
    server.say("cpu");
    let idle_cpu_us: f64 = server.expect("cpu")[0].parse().expect("cpu");
    let idle_per_sec = idle_cpu_us / idle_start.elapsed().as_secs_f64();
    clients.say("start");
    let start_ns = unix_ns();
    let window = std::time::Instant::now();
    server.say(&format!("broadcast {count} {rate}"));
    server.expect("sent");
    let done = clients.expect("done");
    server.say("cpu");
    let cpu_us: f64 = server.expect("cpu")[0].parse().expect("cpu");
    let window_secs = window.elapsed().as_secs_f64();
    let num = |i: usize| -> u64 { done[i].parse().expect("number") };
    let delivered = num(0);
    let last_ns = num(1);
    let ms = |i: usize| num(i) as f64 / 1000.0;
    let mut spans = clients.expect("spans");
    let client_cpu_us: f64 = spans.remove(0).parse().expect("client cpu");
    server.say("rss");
    let busy: f64 = server.expect("rss")[0].parse().expect("rss");
    clients.finish();
    server.finish();
    let secs = (last_ns.saturating_sub(start_ns)) as f64 / 1e9;
    Row {
        delivered,
        expected: n as u64 * count,
        per_sec: delivered as f64 / secs.max(1e-9),
        slot_p50_ms: ms(2),
        slot_p99_ms: ms(3),
        slot_p999_ms: ms(4),
        send_p50_ms: ms(5),
        send_p99_ms: ms(6),
        cpu_us_per_delivery: cpu_us / delivered.max(1) as f64,
        net_cpu_us_per_delivery: (cpu_us - idle_per_sec * window_secs).max(0.0)
            / delivered.max(1) as f64,
        idle_cpu_percent: idle_per_sec / 1e4,
        rss_per_conn_kib: (after - before) / n as f64,
        rss_after_per_conn_kib: (busy - before) / n as f64,
        client_cpu_us_per_delivery: client_cpu_us / delivered.max(1) as f64,
        spans,
    }
}

fn open_file_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

fn orchestrate(args: &[String]) {
    let mut ns = vec![1000, 5000];
    let mut rate = 50;
    let mut count = 200;
    let mut idle = Duration::from_secs(5);
    let mut kinds: Vec<String> = KINDS.iter().map(|k| (*k).to_owned()).collect();
    let mut pins = Pins::default();
    let mut per_broadcast = false;
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--n" => ns = value.split(',').filter_map(|v| v.parse().ok()).collect(),
            "--rate" => rate = value.parse().expect("--rate"),
            "--count" => count = value.parse().expect("--count"),
            "--idle" => idle = Duration::from_secs_f64(value.parse().expect("--idle")),
            "--servers" => kinds = value.split(',').map(str::to_owned).collect(),
            "--pin-server" => pins.server = Some(value),
            "--pin-clients" => pins.clients = Some(value),
            "--per-broadcast" => {
                per_broadcast = true;
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    let limit = open_file_limit();
    let max_n = ns.iter().copied().max().unwrap_or(0);
    assert!(
        (max_n as u64) + 256 <= limit,
        "the open-file soft limit ({limit}) is too low for {max_n} clients; raise it with ulimit -n"
    );
    println!(
        "one room, ~{}-byte messages, {count} broadcasts at {rate}/s; clients in a separate process; latency in ms\n",
        frame_len()
    );
    println!(
        "| N | server | deliveries/s | p50 from slot | p99 from slot | p99.9 from slot | p50 from send | p99 from send | server CPU µs/delivery | net of idle | idle CPU % core | client CPU µs/delivery | RSS KiB/idle conn | RSS KiB/conn after | delivered |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for n in ns {
        let mut rows = Vec::new();
        for kind in &kinds {
            let row = run(kind, n, rate, count, idle, &pins);
            println!(
                "| {n} | {kind} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.1} | {:.2} | {:.1} | {:.1} | {}/{} |",
                row.per_sec,
                row.slot_p50_ms,
                row.slot_p99_ms,
                row.slot_p999_ms,
                row.send_p50_ms,
                row.send_p99_ms,
                row.cpu_us_per_delivery,
                row.net_cpu_us_per_delivery,
                row.idle_cpu_percent,
                row.client_cpu_us_per_delivery,
                row.rss_per_conn_kib,
                row.rss_after_per_conn_kib,
                row.delivered,
                row.expected
            );
            if per_broadcast {
                println!(
                    "|   | {kind}: ms from send to each broadcast's first:last receive | {} |",
                    row.spans.join(" ")
                );
            }
            rows.push((kind.clone(), row));
        }
        ratios.push((n, rows));
    }
    println!();
    for (n, rows) in ratios {
        let Some((_, ours)) = rows.iter().find(|(k, _)| k == "ui-flow") else {
            continue;
        };
        for (kind, row) in rows.iter().filter(|(k, _)| k != "ui-flow") {
            println!(
                "N = {n}: ui-flow vs {kind}: deliveries/s {:.2}x, p99 from slot {:.2}x, CPU/delivery {:.2}x",
                ours.per_sec / row.per_sec.max(1e-9),
                ours.slot_p99_ms / row.slot_p99_ms.max(1e-9),
                ours.cpu_us_per_delivery / row.cpu_us_per_delivery.max(1e-9),
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime")
    };
    match args.first().map(String::as_str) {
        Some("server") => {
            let batch = args.get(1).and_then(|b| b.parse().ok()).unwrap_or(8 * 1024);
            runtime().block_on(serve(batch));
        }
        Some("raw-server") => {
            serve_raw(args.get(1).and_then(|t| t.parse().ok()).unwrap_or(1));
        }
        Some("clients") => {
            let kind = args[1].clone();
            let addr: SocketAddr = args[2].parse().expect("addr");
            let n: usize = args[3].parse().expect("n");
            let count: u64 = args[4].parse().expect("count");
            runtime().block_on(clients(addr, kind, n, count));
        }
        _ => orchestrate(&args),
    }
}
