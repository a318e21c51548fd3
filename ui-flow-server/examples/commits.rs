//! Commits per second and commit-to-receive latency for one resource, with
//! the memory store and the file store side by side in one run.
//!
//! ```text
//! cargo run --release -p ui-flow-server --example commits -- [COMMITS] [TASKS] [CLIENTS] [DIR]
//! ```
//!
//! For each store it starts a server on 127.0.0.1, joins CLIENTS WebSocket
//! clients (in this process), then TASKS tasks commit COMMITS deltas in all
//! to one resource as fast as their commits return. Each delta carries the
//! time its commit started; each client notes when the delta arrived. It
//! prints commits per second (until the last commit returned) and the p50 and
//! p99 of commit start to arrival over every client. DIR (default `target`)
//! holds the file store's file.

#[path = "support/stamps.rs"]
mod stamps;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stamps::{Bench, Stamp, quantile, watch};
use ui_flow_server::store::{Durability, FileStore, MemoryStore, Store};
use ui_flow_server::{FlowServer, ServerConfig, UnverifiedUserToken};

async fn run(name: &str, store: impl Store, commits: u64, tasks: u64, clients: usize) {
    let server = FlowServer::with_store(Bench, UnverifiedUserToken, ServerConfig::default(), store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = server.router();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener, app).await });
    let session = server.session("bench");
    let (_, start_seq) = session.position().await.expect("log");
    let last = start_seq + commits;
    let (joined_tx, mut joined_rx) = tokio::sync::mpsc::channel(clients);
    let watchers: Vec<_> = (0..clients)
        .map(|i| {
            let watching = watch(
                addr,
                "bench".into(),
                format!("w{i}"),
                last,
                joined_tx.clone(),
            );
            tokio::spawn(watching)
        })
        .collect();
    for _ in 0..clients {
        joined_rx.recv().await.expect("a client joined");
    }
    let started = Instant::now();
    let per_task = commits / tasks;
    let committers: Vec<_> = (0..tasks)
        .map(|_| {
            let session = session.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    session.commit(Stamp::now()).await.expect("commit");
                }
            })
        })
        .collect();
    for c in committers {
        c.await.expect("committer");
    }
    let elapsed = started.elapsed();
    let mut all = Vec::new();
    for w in watchers {
        all.extend(w.await.expect("watcher").0);
    }
    all.sort_unstable();
    println!(
        "{name:<24} {:>9.0} commits/s   p50 {:>7} µs   p99 {:>7} µs   ({} deliveries)",
        (per_task * tasks) as f64 / elapsed.as_secs_f64(),
        quantile(&all, 0.5),
        quantile(&all, 0.99),
        all.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), server.shutdown()).await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (commits, tasks, clients) = (arg(0, 5000), arg(1, 8).max(1), arg(2, 20) as usize);
    let dir = PathBuf::from(args.get(3).map_or("target", String::as_str));
    println!("{commits} commits from {tasks} tasks to one resource, {clients} clients watching");
    run("memory", MemoryStore::new(), commits, tasks, clients).await;
    for (name, durability) in [
        ("file (Immediate, fsync)", Durability::Immediate),
        ("file (Eventual)", Durability::Eventual),
    ] {
        let path = dir.join(format!("commits-bench-{}.redb", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = FileStore::open(&path)
            .expect("open")
            .with_durability(durability);
        run(name, Arc::new(store), commits, tasks, clients).await;
        let _ = std::fs::remove_file(&path);
    }
}
