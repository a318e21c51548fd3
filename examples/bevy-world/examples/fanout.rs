//! Server CPU per frame with many connections.
//!
//! `cargo run --release -p bevy-world --example fanout [-- CONNECTIONS ENTITIES FRAMES]`
//! (defaults 1000, 500, 600)
//!
//! CONNECTIONS raw WebSockets (distinct users, 127.0.0.1, in this process)
//! join and read their snapshots; then the app steps FRAMES frames, a sync
//! tick every frame, while the clients read everything. Reported: the
//! mean `app.update()` wall time (movement, marking, encoding the tick once)
//! and the CPU time of the server thread (`ui-flow-server`: commit and
//! fan-out to every connection) from `/proc/self/task/*/stat`, per frame.
//! Frames are stepped back to back, not at 60 Hz, and every client must
//! have received every frame's delta before the run ends.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use ui_flow::ServerTag;
use ui_flow::codec::{Limits, peek_tag};
use ui_flow_bevy::SyncServer;

/// utime + stime of the thread named `name`, in clock ticks (1/100 s).
fn thread_ticks(name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut total = 0;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis; utime and stime
        // are fields 14 and 15 of the whole line.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        total += field(11) + field(12);
    }
    total
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let arg = |n: usize, default: usize| {
        std::env::args()
            .nth(n)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (connections, entities, frames) = (arg(1, 1000), arg(2, 500), arg(3, 600) as u64);
    let mut config = bevy_world::simulation::ServerConfig::default();
    let unlimited = bevy_world::simulation::RateLimit {
        per_second: 1e9,
        burst: u32::MAX,
    };
    config.join_rate = unlimited;
    config.join_rate_per_ip = unlimited;
    config.max_pending_per_ip = connections + 16;
    config.outbound_queue_bytes = config.outbound_queue_bytes.max(64 << 20);
    let settings = bevy_world::simulation::Settings {
        addr: "127.0.0.1:0".into(),
        entities,
        hz: 60,
        sync_every: 1,
    };
    let mut app = bevy_world::simulation::app_with_config(&settings, config).expect("app");
    app.update();
    let base = app.world().resource::<SyncServer>().url();
    let (ready_tx, mut ready) = tokio::sync::mpsc::unbounded_channel();
    let mut clients = Vec::new();
    for i in 0..connections {
        let url = format!("{base}?token=u{i}");
        let ready_tx = ready_tx.clone();
        clients.push(tokio::spawn(async move {
            let (mut socket, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect");
            let limits = Limits::default();
            let mut deltas = 0u64;
            while let Some(Ok(message)) = socket.next().await {
                let Message::Binary(bytes) = message else {
                    continue;
                };
                match peek_tag(&bytes, &limits).ok() {
                    Some(t) if t == ServerTag::SNAPSHOT.0 => {
                        let _ = ready_tx.send(());
                    }
                    Some(t) if t == ServerTag::DELTA.0 => {
                        deltas += 1;
                        if deltas == frames {
                            return;
                        }
                    }
                    _ => {}
                }
            }
            panic!("client {i} lost its socket after {deltas} deltas");
        }));
    }
    for _ in 0..connections {
        ready.recv().await.expect("every client joins");
    }
    let before = thread_ticks("ui-flow-server");
    let mut spent = Duration::ZERO;
    for _ in 0..frames {
        let start = Instant::now();
        app.update();
        spent += start.elapsed();
    }
    for client in clients {
        client.await.expect("every client got every delta");
    }
    let server_ms = (thread_ticks("ui-flow-server") - before) as f64 * 10.0;
    println!(
        "{connections} connections, {entities} moving entities, {frames} frames: app.update() {:.0} µs/frame, server thread {:.0} µs/frame ({:.2} µs per connection per frame)",
        spent.as_secs_f64() * 1e6 / frames as f64,
        server_ms * 1000.0 / frames as f64,
        server_ms * 1000.0 / frames as f64 / connections as f64,
    );
}
