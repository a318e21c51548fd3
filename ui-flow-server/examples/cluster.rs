//! One resource served by 1, 2 and 3 nodes on NATS JetStream, side by side
//! in one run: deliveries per second, commit-to-receive latency and the
//! nodes' CPU per delivery.
//!
//! ```text
//! cargo run --release -p ui-flow-server --features nats --example cluster -- [COMMITS] [TASKS] [CLIENTS]
//! ```
//!
//! It starts a real nats-server (JetStream, loopback, a temporary store;
//! Debian's `nats-server` on `PATH` or `UI_FLOW_NATS_SERVER`). For each node
//! count N it starts N `FlowServer`s, each with its own NATS connection and
//! `JetStreamStore`, on one tokio runtime whose threads are named `node`;
//! CLIENTS WebSocket clients (default 30) are spread over the nodes on
//! another runtime (`client` threads), and TASKS committer tasks (default
//! 6), spread over the nodes, commit COMMITS deltas (default 3,000) in all
//! to one resource. Every delta carries the time its commit started; each
//! client notes when it arrived.
//!
//! Printed per N: commits per second (until the last commit returned),
//! deliveries per second (deliveries over the time from the
//! first commit to the last arrival), p50 and p99 of commit start to
//! arrival, and the CPU time of the `node` threads (from
//! `/proc/self/task/*/stat`) divided by the deliveries. nats-server's own
//! CPU is not included.

#[path = "support/stamps.rs"]
mod stamps;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stamps::{Bench, Stamp, quantile, watch};
use ui_flow_server::nats::{JetStreamStore, NatsConfig};
use ui_flow_server::{FlowServer, ServerConfig, UnverifiedUserToken};

/// CPU time (user + system) of this process's threads named `name`.
fn threads_cpu(name: &str) -> Duration {
    let ticks_per_s = 100; // USER_HZ on Linux
    let mut ticks = 0u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ... field 14 utime, 15 stime (1-based).
        let Some((comm, rest)) = stat.split_once(") ") else {
            continue;
        };
        if !comm.contains(name) {
            continue;
        }
        let fields: Vec<&str> = rest.split(' ').collect();
        let utime: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0);
        let stime: u64 = fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
        ticks += utime + stime;
    }
    Duration::from_millis(ticks * 1000 / ticks_per_s)
}

struct Setup {
    nats_url: String,
    commits: u64,
    tasks: u64,
    clients: usize,
}

fn run(
    nodes_rt: &tokio::runtime::Runtime,
    clients_rt: &tokio::runtime::Runtime,
    nodes: usize,
    setup: &Setup,
) {
    let resource = format!("bench{nodes}");
    // Start the nodes.
    let servers: Vec<(FlowServer<Bench>, SocketAddr)> = nodes_rt.block_on(async {
        let mut servers = Vec::new();
        for _ in 0..nodes {
            let store = JetStreamStore::connect(NatsConfig::new(&setup.nats_url).prefix("bench"))
                .await
                .expect("connect to nats");
            let server =
                FlowServer::with_store(Bench, UnverifiedUserToken, ServerConfig::default(), store);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let app = server.router();
            let serving = server.clone();
            tokio::spawn(async move { serving.serve(listener, app).await });
            servers.push((server, addr));
        }
        servers
    });
    let start_seq = nodes_rt.block_on(async {
        let (_, seq) = servers[0]
            .0
            .session(&resource)
            .position()
            .await
            .expect("log");
        seq
    });
    let per_task = setup.commits / setup.tasks;
    let last = start_seq + per_task * setup.tasks;
    let (joined_tx, mut joined_rx) = tokio::sync::mpsc::channel(setup.clients);
    let watchers: Vec<_> = (0..setup.clients)
        .map(|i| {
            let addr = servers[i % nodes].1;
            clients_rt.spawn(watch(
                addr,
                resource.clone(),
                format!("w{i}"),
                last,
                joined_tx.clone(),
            ))
        })
        .collect();
    clients_rt.block_on(async {
        for _ in 0..setup.clients {
            joined_rx.recv().await.expect("a client joined");
        }
    });
    let cpu_before = threads_cpu("node");
    let started = Instant::now();
    let committers: Vec<_> = (0..setup.tasks)
        .map(|t| {
            let session = servers[t as usize % nodes].0.session(&resource);
            nodes_rt.spawn(async move {
                for _ in 0..per_task {
                    session.commit(Stamp::now()).await.expect("commit");
                }
            })
        })
        .collect();
    nodes_rt.block_on(async {
        for c in committers {
            c.await.expect("committer");
        }
    });
    let committing = started.elapsed();
    let mut all = Vec::new();
    let mut end = started;
    clients_rt.block_on(async {
        for w in watchers {
            let (latencies, at) = w.await.expect("watcher");
            all.extend(latencies);
            end = end.max(at);
        }
    });
    let cpu = threads_cpu("node").saturating_sub(cpu_before);
    let elapsed = end - started;
    all.sort_unstable();
    println!(
        "| {nodes} | {:>7.0} | {:>9.0} | {:>7} | {:>7} | {:>6.1} | {} |",
        (per_task * setup.tasks) as f64 / committing.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64(),
        quantile(&all, 0.5),
        quantile(&all, 0.99),
        cpu.as_secs_f64() * 1e6 / all.len() as f64,
        all.len(),
    );
    nodes_rt.block_on(async {
        for (server, _) in servers {
            let _ = tokio::time::timeout(Duration::from_secs(5), server.shutdown()).await;
        }
    });
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let nats = ui_flow_nats_harness::NatsServer::start().expect("nats-server");
    let setup = Setup {
        nats_url: nats.url(),
        commits: args.first().copied().unwrap_or(3000),
        tasks: args.get(1).copied().unwrap_or(6).max(1),
        clients: usize::try_from(args.get(2).copied().unwrap_or(30))
            .unwrap_or(30)
            .max(1),
    };
    let nodes_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("node")
        .enable_all()
        .build()
        .expect("runtime");
    let clients_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("client")
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "{} commits by {} tasks, {} clients, one resource",
        setup.commits, setup.tasks, setup.clients
    );
    println!(
        "| nodes | commits/s | deliveries/s | p50 µs | p99 µs | node CPU µs/delivery | deliveries |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for nodes in 1..=3 {
        run(&nodes_rt, &clients_rt, nodes, &setup);
    }
}
