//! How long a broadcast to N connections of one resource keeps the rest of
//! the node waiting: N WebSocket clients (a child process running this
//! binary as `clients ADDR N`, so each process stays under the open-file
//! limit) join resource
//! `bench` on a loopback server, then `COUNT` deltas are committed one
//! after another while a thread keeps asking the server a question that
//! needs the hub's lock (`connection_count`) and times each answer.
//!
//! ```text
//! cargo run --release -p ui-flow-server --example lock_hold -- [N] [COUNT]
//! ```
//!
//! Prints how long each `commit` call took (store, hub, and the push into
//! N outboxes when this task is the one delivering: with delivery lanes,
//! a thread already delivering the resource's lane pushes it instead) and
//! the wait of a hub-lock question asked meanwhile (what a handshake, a
//! timer or another resource waits). A measurement, not a test: figures go
//! to BENCHMARKS.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::net::TcpStream;
use ui_flow_server::{FlowServer, UnverifiedUserToken};

#[path = "support/bench_server.rs"]
mod bench_server;

use bench_server::{Bench, BenchDelta};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn show(name: &str, mut all: Vec<Duration>) {
    all.sort_unstable();
    println!(
        "{name}: n={} p50={:?} p99={:?} max={:?}",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or_default()
    );
}

/// The child: N clients join, say so on stdout, then read and discard
/// what they are sent until stdin closes.
async fn clients(addr: std::net::SocketAddr, n: usize) {
    let joined = futures::stream::iter(0..n)
        .map(|_| async move {
            let stream = TcpStream::connect(addr).await.expect("connect");
            let url = format!("ws://{addr}/realtime/bench?token=watcher");
            let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
                .await
                .expect("upgrade");
            // Connected, Snapshot, Presence.
            for _ in 0..3 {
                ws.next().await.expect("open").expect("frame");
            }
            tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
        })
        .buffer_unordered(256)
        .count()
        .await;
    println!("joined {joined}");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

#[tokio::main]
async fn main() {
    let all: Vec<String> = std::env::args().collect();
    if let [_, mode, addr, n] = all.as_slice() {
        if mode == "clients" {
            let addr = addr.parse().expect("addr");
            clients(addr, n.parse().expect("n")).await;
            return;
        }
    }
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);

    let flow = FlowServer::with_config(
        Bench,
        UnverifiedUserToken,
        bench_server::config(2 * n + 100),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = flow.router();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["clients", &addr.to_string(), &n.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("clients");
    let mut said = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut said,
    )
    .expect("clients joined");
    println!("{} clients {}; {count} commits", n, said.trim());

    let stop = Arc::new(AtomicBool::new(false));
    let prober = std::thread::spawn({
        let flow = flow.clone();
        let stop = stop.clone();
        move || {
            let mut waits = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let asked = Instant::now();
                std::hint::black_box(flow.connection_count());
                waits.push(asked.elapsed());
                std::thread::sleep(Duration::from_micros(200));
            }
            waits
        }
    });

    let session = flow.session("bench");
    let mut commits = Vec::new();
    for _ in 0..count {
        let started = Instant::now();
        let delta = BenchDelta {
            slot_ns: 0,
            sent_ns: 0,
            pad: "abcdefghijklmnopqrstuvwxyz".repeat(3),
        };
        session.commit(delta).await.expect("commit");
        commits.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let waits = prober.join().expect("prober");
    show("commit call", commits);
    show("hub-lock question asked meanwhile", waits);
    drop(child.stdin.take());
    let _ = child.wait();
}
