//! Connect/disconnect cycles against a server in a child process: the
//! server's RSS as the cycles go, and what it still holds at the end.
//!
//! ```text
//! cargo run --release -p ui-flow-server --example cycles -- [CYCLES [USERS [READ_BUFFER]]]
//! ```
//!
//! The child is this binary with `--serve`: a [`FlowServer`] running the
//! counter on a current-thread tokio runtime (like `ui-flow-bevy`'s server
//! thread), join rate limits off. Each cycle opens a raw WebSocket on
//! 127.0.0.1 as one of USERS users (default 64), reads until its
//! snapshot and closes; 64 cycles run at a time. The child's `VmRSS` is
//! printed every tenth of the cycles, then its connection and session
//! counts once every socket has gone. The environment is passed on to the
//! child, so `MALLOC_ARENA_MAX=2` or an `LD_PRELOAD`ed allocator apply to
//! the server.
//!
//! `cycles --serve` alone is the server (it prints its URL; `counts` and
//! `exit` on stdin); `CYCLES_URL` and `CYCLES_PID` in the environment make
//! the parent use that one instead of starting its own, for example to run
//! the server under heaptrack.
//!
//! With READ_BUFFER (bytes) the server uses that
//! [`ServerConfig::read_buffer_size`]; the child then also reports its RSS
//! per idle connection (1,000 connections of one user held open at once,
//! as in the fan-out benchmark).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use ui_flow::ServerTag;
use ui_flow::codec::{Limits, peek_tag};
use ui_flow_server::counter::Counter;
use ui_flow_server::{FlowServer, RateLimit, ServerConfig, UnverifiedUserToken};

const AT_ONCE: usize = 64;
const IDLE_CONNECTIONS: usize = 1000;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn arg(n: usize) -> Option<usize> {
    std::env::args().nth(n).and_then(|a| a.parse().ok())
}

/// The child: serves, prints its URL, answers `counts` on stdin.
fn serve(read_buffer: Option<usize>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut config = ServerConfig::default();
        let unlimited = RateLimit {
            per_second: 1e9,
            burst: u32::MAX,
        };
        config.join_rate = unlimited;
        config.join_rate_per_ip = unlimited;
        config.max_connections_per_user = 20_000;
        if let Some(bytes) = read_buffer {
            config.read_buffer_size = bytes;
        }
        let server = FlowServer::with_config(Counter, UnverifiedUserToken, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let serving = server.clone();
        tokio::spawn(async move { serving.serve(listener, serving.router()).await });
        println!("ws://{addr}/realtime/room");
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin());
        let mut line = String::new();
        use tokio::io::AsyncBufReadExt;
        while lines.read_line(&mut line).await.unwrap_or(0) > 0 {
            // `exit` ends the process without dropping anything, so a heap
            // profiler sees what the server held as still allocated.
            if line.trim() == "exit" {
                std::process::exit(0);
            }
            if line.trim() == "counts" {
                println!("{} {}", server.connection_count(), server.session_count());
            }
            line.clear();
        }
    });
}

async fn open(
    url: String,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let limits = Limits::default();
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Binary(bytes) = message
            && peek_tag(&bytes, &limits).ok() == Some(ServerTag::SNAPSHOT.0)
        {
            break;
        }
    }
    socket
}

async fn cycle(url: String) {
    let mut socket = open(url).await;
    let _ = socket.close(None).await;
    while let Some(Ok(_)) = socket.next().await {}
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--serve") {
        return serve(arg(2));
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(drive());
}

/// The parent: runs the cycles and reads the child's RSS.
async fn drive() {
    let cycles = arg(1).unwrap_or(10_000);
    let users = arg(2).unwrap_or(64).max(1);
    let read_buffer = arg(3);
    // A server started by hand (`cycles --serve`, for example under
    // heaptrack): its URL and pid in the environment; no counts then.
    if let (Ok(url), Some(pid)) = (
        std::env::var("CYCLES_URL"),
        std::env::var("CYCLES_PID")
            .ok()
            .and_then(|p| p.parse().ok()),
    ) {
        if std::env::args().nth(3).is_some() {
            hold_idle(&url, pid).await;
        }
        run_cycles(&url, pid, cycles, users).await;
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .arg("--serve")
        .args(read_buffer.map(|b| b.to_string()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("server process");
    let pid = child.id();
    let mut to_child = child.stdin.take().expect("stdin");
    let mut from_child = BufReader::new(child.stdout.take().expect("stdout"));
    let mut url = String::new();
    from_child.read_line(&mut url).expect("url");
    let url = url.trim().to_owned();
    println!("server pid {pid}, RSS at start {} KiB", rss_kib(pid));

    if read_buffer.is_some() {
        hold_idle(&url, pid).await;
    }

    run_cycles(&url, pid, cycles, users).await;

    // No event says "the server forgot the socket": ask, bounded.
    let mut counts = String::new();
    for _ in 0..500 {
        writeln!(to_child, "counts").expect("ask");
        counts.clear();
        from_child.read_line(&mut counts).expect("counts");
        if counts.trim() == "0 0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "left: {} (connections sessions), server RSS {} KiB",
        counts.trim(),
        rss_kib(pid)
    );
    drop(to_child);
    let _ = child.wait();
}

/// CYCLES cycles, 64 at a time, printing the server's RSS every tenth.
async fn run_cycles(url: &str, pid: u32, cycles: usize, users: usize) {
    let step = (cycles / 10).max(1);
    let mut done = 0;
    while done < cycles {
        let batch: Vec<_> = (done..(done + AT_ONCE).min(cycles))
            .map(|i| tokio::spawn(cycle(format!("{url}?token=u{}", i % users))))
            .collect();
        let before = done;
        done += batch.len();
        for task in batch {
            task.await.expect("cycle");
        }
        if done / step != before / step || done == cycles {
            println!("{done} cycles: server RSS {} KiB", rss_kib(pid));
        }
    }
}

/// Opens 1,000 connections of one user, reports the server's RSS per
/// connection, and closes them.
async fn hold_idle(url: &str, pid: u32) {
    let before = rss_kib(pid);
    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        idle.push(open(format!("{url}?token=idle")).await);
    }
    let held = rss_kib(pid);
    println!(
        "{IDLE_CONNECTIONS} idle connections: RSS {before} -> {held} KiB, {:.2} KiB per connection",
        (held as f64 - before as f64) / IDLE_CONNECTIONS as f64
    );
    for mut socket in idle {
        let _ = socket.close(None).await;
    }
}
