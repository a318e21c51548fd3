//! Fan-out benchmark: one resource, N loopback clients in a separate
//! process, a ~100-byte delta broadcast at a fixed rate; ui-flow-server side
//! by side with a plain tokio-tungstenite broadcast loop sending the same
//! bytes.
//!
//! ```text
//! cargo run --release -p ui-flow-server --example fanout -- [--n 1000,5000,10000] [--rate 50] [--count 200]
//! ```
//!
//! The binary plays three roles: the orchestrator (default) spawns, for
//! each N and each implementation, a fresh `server` process and a `clients`
//! process, and talks to both over stdin/stdout. The server measures its own
//! CPU time (/proc/self/stat) and resident memory (/proc/self/status); the
//! clients measure broadcast-to-receive latency from the send time carried
//! in each delta (same machine, same wall clock). Everything stops by itself.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader as AsyncBufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use ui_flow::ServerMessage;
use ui_flow::codec::Decoded;
use ui_flow_server::{
    ActionContext, ActionOutcome, FlowHandler, FlowServer, ServerConfig,
    UnverifiedUserToken,
};

/// The broadcast payload: when it was sent, padded to about 100 bytes.
#[derive(Debug, Serialize, Deserialize)]
struct BenchDelta {
    sent_ns: u64,
    pad: String,
}

const PAD: &str = "abcdefghijklmnopqrstuvwxyzabcdefghijklmn";
const BACKLOG: u32 = 4096;
const CONNECT_CONCURRENCY: usize = 256;
/// Both processes give up after this long without finishing a phase.
const PHASE_LIMIT: Duration = Duration::from_secs(120);

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn delta_frame(seq: u64) -> (BenchDelta, Vec<u8>) {
    let delta = BenchDelta {
        sent_ns: unix_ns(),
        pad: PAD.to_owned(),
    };
    let frame = ServerMessage::<(), &BenchDelta, ()>::Delta {
        delta: &delta,
        seq,
        timestamp: delta.sent_ns / 1_000_000,
        epoch: None,
    }
    .encode()
    .expect("encode");
    (delta, frame)
}

// ---------------------------------------------------------------- server --

struct Bench;

/// The server's state: how many deltas were committed.
#[derive(Clone, Default, Serialize, Deserialize)]
struct Sent(u64);

impl ui_flow::FlowState for Sent {
    type Delta = BenchDelta;
    fn apply_delta(&mut self, _: BenchDelta) {
        self.0 += 1;
    }
}

#[async_trait]
impl FlowHandler for Bench {
    type State = Sent;
    type Delta = BenchDelta;
    type Event = ();
    type Action = IgnoredAny;

    async fn handle_action(&self, _: &ActionContext<Self>, _: IgnoredAny) -> ActionOutcome {
        ActionOutcome::ok()
    }
}

/// CPU seconds (user + system) of this process, from /proc/self/stat.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command name: field 14 (utime) and 15 (stime) are at 11, 12.
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

/// Resident memory of this process in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn listener() -> TcpListener {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("reuseaddr");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    socket.listen(BACKLOG).expect("listen")
}

async fn serve(kind: &str) {
    let listener = listener();
    let addr = listener.local_addr().expect("addr");
    // A plain broadcast loop: a tokio broadcast channel, one task per socket.
    let (plain_tx, _) = tokio::sync::broadcast::channel::<bytes::Bytes>(4096);
    let flow = FlowServer::with_config(
        Bench,
        UnverifiedUserToken,
        {
            let mut c = ServerConfig::default();
            c.max_connections = 20_000;
            c.max_connections_per_user = 20_000;
            c.liveness_timeout = Duration::from_secs(3600);
            c
        },
    );
    if kind == "uiflow" {
        let app = flow.router();
        tokio::spawn(async move { axum::serve(listener, app).await });
    } else {
        let tx = plain_tx.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let mut rx = tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                        return;
                    };
                    loop {
                        tokio::select! {
                            msg = rx.recv() => match msg {
                                Ok(bytes) => if ws.send(Message::Binary(bytes)).await.is_err() { return },
                                Err(_) => return,
                            },
                            incoming = ws.next() => if !matches!(incoming, Some(Ok(_))) { return },
                        }
                    }
                });
            }
        });
    }
    println!("addr {addr}");
    let mut lines = AsyncBufReader::new(tokio::io::stdin()).lines();
    let mut cpu_mark = cpu_ticks();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["rss"] => println!("rss {}", rss_kib()),
            ["cpu"] => {
                let now = cpu_ticks();
                println!("cpu {}", now - cpu_mark);
                cpu_mark = now;
            }
            ["broadcast", count, rate] => {
                let count: u64 = count.parse().expect("count");
                let rate: u64 = rate.parse().expect("rate");
                let mut every = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
                let session = flow.session("bench");
                for seq in 1..=count {
                    every.tick().await;
                    if kind == "uiflow" {
                        let (delta, _) = delta_frame(seq);
                        session.commit(delta).await.expect("commit");
                    } else {
                        let (_, frame) = delta_frame(seq);
                        let _ = plain_tx.send(frame.into());
                    }
                }
                println!("sent");
            }
            _ => break,
        }
    }
}

// --------------------------------------------------------------- clients --

async fn open(
    addr: SocketAddr,
    kind: &str,
) -> Option<tokio_tungstenite::WebSocketStream<TcpStream>> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let url = format!("ws://{addr}/realtime/bench?token=bench");
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.ok()?;
    if kind == "uiflow" {
        // Connected, Snapshot, Presence.
        for _ in 0..3 {
            ws.next().await?.ok()?;
        }
    }
    Some(ws)
}

type Sample = ServerMessage<IgnoredAny, BenchDelta, IgnoredAny>;

async fn clients(addr: SocketAddr, kind: String, n: usize, count: u64) {
    let gate = Arc::new(tokio::sync::Semaphore::new(CONNECT_CONCURRENCY));
    let opened: Vec<_> = (0..n)
        .map(|_| {
            let gate = gate.clone();
            let kind = kind.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire().await.ok()?;
                open(addr, &kind).await
            })
        })
        .collect();
    let mut sockets = Vec::with_capacity(n);
    for task in opened {
        if let Ok(Some(ws)) = task.await {
            sockets.push(ws);
        }
    }
    println!("ready {}", sockets.len());
    let (go_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            let mut go = go_tx.subscribe();
            tokio::spawn(async move {
                let _ = go.recv().await;
                let mut latencies = Vec::with_capacity(count as usize);
                let mut last_ns = 0;
                while let Some(Ok(msg)) = ws.next().await {
                    let Message::Binary(bytes) = msg else {
                        continue;
                    };
                    let now = unix_ns();
                    if let Ok(Decoded::Message(Sample::Delta { delta, seq, .. })) =
                        Sample::decode(&bytes)
                    {
                        latencies.push(
                            u32::try_from((now.saturating_sub(delta.sent_ns)) / 1000)
                                .unwrap_or(u32::MAX),
                        );
                        last_ns = now;
                        if seq == count {
                            break;
                        }
                    }
                }
                (latencies, last_ns, ws)
            })
        })
        .collect();
    let mut lines = AsyncBufReader::new(tokio::io::stdin()).lines();
    // Wait for "go" (sent just before the server starts broadcasting).
    let _ = lines.next_line().await;
    let _ = go_tx.send(());
    let mut all = Vec::new();
    let mut last = 0;
    let mut kept = Vec::new();
    let collect = async {
        for r in readers {
            if let Ok((lat, last_ns, ws)) = r.await {
                all.extend(lat);
                last = last.max(last_ns);
                kept.push(ws);
            }
        }
    };
    let _ = tokio::time::timeout(PHASE_LIMIT, collect).await;
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!("done {} {} {} {}", all.len(), pct(0.5), pct(0.99), last);
    // Hold the sockets until told to quit, so the server measures nothing
    // about closing.
    let _ = lines.next_line().await;
    drop(kept);
}

// ---------------------------------------------------------- orchestrator --

struct Proc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let exe = std::env::current_exe().expect("current exe");
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
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

struct Row {
    n: usize,
    kind: &'static str,
    delivered: u64,
    expected: u64,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us_per_delivery: f64,
    rss_per_conn_kib: f64,
}

fn run(kind: &'static str, n: usize, rate: u64, count: u64) -> Row {
    let mut server = Proc::spawn(&["server", kind]);
    let addr = server.expect("addr")[0].clone();
    std::thread::sleep(Duration::from_millis(200));
    server.say("rss");
    let before: f64 = server.expect("rss")[0].parse().expect("rss");
    let n_arg = n.to_string();
    let count_arg = count.to_string();
    let mut clients = Proc::spawn(&["clients", kind, &addr, &n_arg, &count_arg]);
    let ready: usize = clients.expect("ready")[0].parse().expect("ready");
    assert_eq!(ready, n, "only {ready} of {n} clients connected");
    server.say("rss");
    let after: f64 = server.expect("rss")[0].parse().expect("rss");
    server.say("cpu");
    server.expect("cpu");
    clients.say("go");
    let start_ns = unix_ns();
    server.say(&format!("broadcast {count} {rate}"));
    server.expect("sent");
    let done = clients.expect("done");
    server.say("cpu");
    let ticks: f64 = server.expect("cpu")[0].parse().expect("cpu");
    let delivered: u64 = done[0].parse().expect("count");
    let p50: f64 = done[1].parse().expect("p50");
    let p99: f64 = done[2].parse().expect("p99");
    let last_ns: u64 = done[3].parse().expect("last");
    clients.finish();
    server.finish();
    let secs = (last_ns.saturating_sub(start_ns)) as f64 / 1e9;
    Row {
        n,
        kind,
        delivered,
        expected: n as u64 * count,
        per_sec: delivered as f64 / secs.max(1e-9),
        p50_ms: p50 / 1000.0,
        p99_ms: p99 / 1000.0,
        // Linux reports CPU time in clock ticks of 10 ms (USER_HZ = 100).
        cpu_us_per_delivery: ticks * 10_000.0 / delivered.max(1) as f64,
        rss_per_conn_kib: (after - before) / n as f64,
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
    let mut ns = vec![1000, 5000, 10_000];
    let mut rate = 50;
    let mut count = 200;
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--n" => ns = value.split(',').filter_map(|v| v.parse().ok()).collect(),
            "--rate" => rate = value.parse().expect("--rate"),
            "--count" => count = value.parse().expect("--count"),
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
        "one resource, ~{}-byte delta frames, {count} broadcasts at {rate}/s; clients in a separate process\n",
        delta_frame(1).1.len()
    );
    println!(
        "| N | server | deliveries/s | p50 ms | p99 ms | server CPU µs/delivery | RSS KiB/idle conn | delivered |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for n in ns {
        let mut pair = Vec::new();
        for kind in ["uiflow", "plain"] {
            let row = run(kind, n, rate, count);
            println!(
                "| {} | {} | {:.0} | {:.1} | {:.1} | {:.2} | {:.1} | {}/{} |",
                row.n,
                if row.kind == "uiflow" {
                    "ui-flow-server"
                } else {
                    "plain tokio-tungstenite"
                },
                row.per_sec,
                row.p50_ms,
                row.p99_ms,
                row.cpu_us_per_delivery,
                row.rss_per_conn_kib,
                row.delivered,
                row.expected
            );
            pair.push(row.per_sec);
        }
        ratios.push((n, 100.0 * pair[0] / pair[1].max(1e-9)));
    }
    println!();
    for (n, ratio) in ratios {
        println!("N = {n}: ui-flow-server throughput = {ratio:.0}% of the plain loop");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => {
            let kind = args[1].clone();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(serve(&kind));
        }
        Some("clients") => {
            let kind = args[1].clone();
            let addr: SocketAddr = args[2].parse().expect("addr");
            let n: usize = args[3].parse().expect("n");
            let count: u64 = args[4].parse().expect("count");
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(clients(addr, kind, n, count));
        }
        _ => orchestrate(&args),
    }
}
