//! The peers that ui-flow-server is measured against in the fan-out
//! benchmark (`ui-flow-server/examples/fanout.rs`), one per process:
//!
//! - `plain`: a tokio broadcast channel and one task per socket doing
//!   `ws.send(frame)` with tokio-tungstenite's defaults; it sends ui-flow's
//!   own `Delta` bytes, so clients read it exactly like ui-flow-server;
//! - `socketioxide common|msgpack`: socketioxide with the given parser, every
//!   client in one room, `io.to(room).emit("d", &tick)`.
//!
//! Each listens on 127.0.0.1 (an ephemeral port, printed as `addr …`) and
//! obeys the benchmark's control lines on stdin: `rss` (answers `rss KiB`),
//! `cpu` (answers `cpu µs` of user + system time since the last `cpu`) and
//! `broadcast COUNT RATE` (answers `sent` after the last one). This is a
//! benchmark fixture, not an example of how to use either library.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use socketioxide::extract::SocketRef;
use socketioxide::{ParserConfig, SocketIo};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpSocket};
use tokio_tungstenite::tungstenite::Message;
use ui_flow::ServerMessage;

/// One broadcast: its number, its slot in the schedule, when it was sent,
/// padded to about 100 bytes (the same fields as the ui-flow delta).
#[derive(Debug, Serialize)]
struct Tick {
    seq: u64,
    slot_ns: u64,
    sent_ns: u64,
    pad: &'static str,
}

const PAD: &str = "abcdefghijklmnopqrstuvwxyzabcdefghijklmn";
const ROOM: &str = "bench";

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// User + system CPU time of this process in µs (/proc/self/stat, 10 ms ticks).
fn cpu_us() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (get(11) + get(12)) * 10_000
}

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
    socket.listen(4096).expect("listen")
}

/// Reads control lines until stdin closes; `send` broadcasts one tick.
async fn control<F, Fut>(mut send: F)
where
    F: FnMut(Tick) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut cpu_mark = cpu_us();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["rss"] => println!("rss {}", rss_kib()),
            ["cpu"] => {
                let now = cpu_us();
                println!("cpu {}", now - cpu_mark);
                cpu_mark = now;
            }
            ["broadcast", count, rate] => {
                let count: u64 = count.parse().expect("count");
                let rate: u64 = rate.parse().expect("rate");
                let period = 1_000_000_000 / rate;
                let start = unix_ns();
                let mut every = tokio::time::interval(Duration::from_nanos(period));
                for seq in 1..=count {
                    every.tick().await;
                    let tick = Tick {
                        seq,
                        slot_ns: start + (seq - 1) * period,
                        sent_ns: unix_ns(),
                        pad: PAD,
                    };
                    send(tick).await;
                }
                println!("sent");
            }
            _ => break,
        }
    }
}

async fn plain() {
    let listener = listener();
    let addr = listener.local_addr().expect("addr");
    let (tx, _) = tokio::sync::broadcast::channel::<Bytes>(4096);
    let accept_tx = tx.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let mut rx = accept_tx.subscribe();
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
    println!("addr {addr}");
    control(|tick| {
        let frame = ServerMessage::<(), &Tick, ()>::Delta {
            delta: &tick,
            seq: tick.seq,
            timestamp: tick.sent_ns / 1_000_000,
            epoch: None,
            prev: None,
        }
        .encode()
        .expect("encode");
        let _ = tx.send(frame.into());
        async {}
    })
    .await;
}

async fn socketioxide(parser: &str) {
    let builder = SocketIo::builder()
        // Room for a few seconds of backlog per socket, like ui-flow's
        // outbox bound, so a saturated run queues instead of dropping.
        .max_buffer_size(4096);
    let builder = match parser {
        "msgpack" => builder.with_parser(ParserConfig::msgpack()),
        _ => builder.with_parser(ParserConfig::common()),
    };
    let (layer, io) = builder.build_layer();
    io.ns("/", async |s: SocketRef| s.join(ROOM));
    let app = axum::Router::new().layer(layer);
    let listener = listener();
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("addr {addr}");
    control(|tick| {
        let io = io.clone();
        async move {
            let _ = io.to(ROOM).emit("d", &tick).await;
        }
    })
    .await;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args.first().map(String::as_str) {
        Some("plain") => runtime.block_on(plain()),
        Some("socketioxide") => {
            runtime.block_on(socketioxide(args.get(1).map_or("common", String::as_str)))
        }
        _ => eprintln!("usage: fanout-peer plain | fanout-peer socketioxide common|msgpack"),
    }
}
