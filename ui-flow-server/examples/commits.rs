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

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;
use ui_flow::codec::Decoded;
use ui_flow::{FlowState, ServerMessage};
use ui_flow_server::store::{Durability, FileStore, MemoryStore, Store};
use ui_flow_server::{
    ActionContext, ActionOutcome, FlowHandler, FlowServer, ServerConfig, UnverifiedUserToken,
};

/// A delta stamped with when its commit started (ns since the Unix epoch).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stamp {
    at_ns: u64,
    pad: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Count(u64);

impl FlowState for Count {
    type Delta = Stamp;
    fn apply_delta(&mut self, _: Stamp) {
        self.0 += 1;
    }
}

struct Bench;

/// The benchmark's types.
struct BenchModel;

impl ui_flow::Model for BenchModel {
    type State = Count;
    type Delta = Stamp;
    type Event = ();
    type Action = ();
}

#[async_trait]
impl FlowHandler for Bench {
    type Model = BenchModel;

    async fn handle_action(&self, _: &ActionContext<Self>, _: ()) -> ActionOutcome {
        ActionOutcome::ok()
    }
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

type Frame = ServerMessage<rmpv::Value, Stamp, ()>;

/// Reads deltas until seq `last`; returns each one's latency in µs.
async fn watch(addr: SocketAddr, user: String, last: u64) -> Vec<u64> {
    let url = format!("ws://{addr}/realtime/bench?token={user}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let mut latencies = Vec::new();
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Binary(bytes) = msg else {
            continue;
        };
        let now = unix_ns();
        let (stamps, seq) = match Frame::decode(&bytes) {
            Ok(Decoded::Message(Frame::Delta { delta, seq, .. })) => (vec![delta], seq),
            Ok(Decoded::Message(Frame::Deltas { deltas, seq, .. })) => (deltas, seq),
            _ => continue,
        };
        latencies.extend(stamps.iter().map(|s| now.saturating_sub(s.at_ns) / 1000));
        if seq >= last {
            break;
        }
    }
    latencies
}

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
    let watchers: Vec<_> = (0..clients)
        .map(|i| tokio::spawn(watch(addr, format!("w{i}"), last)))
        .collect();
    while session.connection_count() < clients {
        tokio::task::yield_now().await;
    }
    let started = Instant::now();
    let per_task = commits / tasks;
    let committers: Vec<_> = (0..tasks)
        .map(|_| {
            let session = session.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let delta = Stamp {
                        at_ns: unix_ns(),
                        pad: "x".repeat(64),
                    };
                    session.commit(delta).await.expect("commit");
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
        all.extend(w.await.expect("watcher"));
    }
    all.sort_unstable();
    let pick = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    println!(
        "{name:<24} {:>9.0} commits/s   p50 {:>7} µs   p99 {:>7} µs   ({} deliveries)",
        (per_task * tasks) as f64 / elapsed.as_secs_f64(),
        pick(0.5),
        pick(0.99),
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
