//! Server CPU per frame with many connections.
//!
//! `cargo run --release -p bevy-world --example fanout [-- CONNECTIONS ENTITIES FRAMES [HZ]]`
//! (defaults 1000, 500, 600, 0: frames back to back; 60 paces them at 60 Hz)
//!
//! CONNECTIONS raw WebSockets (distinct users, 127.0.0.1, in this process)
//! join and read their snapshots; then the app steps FRAMES frames, a sync
//! tick every frame, while the clients read everything. Reported: the
//! mean `app.update()` wall time (movement, marking, encoding the tick once)
//! and the CPU time of the server thread (`ui-flow-server`: commit and
//! fan-out to every connection) from `/proc/self/task/*/stat`, per frame.
//! Frames are stepped back to back, not at 60 Hz, and every client must
//! have reached the last seq before the run ends. When the server thread
//! falls behind (the app's tick queue is full), ticks coalesce: fewer,
//! larger commits, counted in the output; per-frame figures are per frame
//! stepped.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::de::IgnoredAny;
use tokio_tungstenite::tungstenite::Message;
use ui_flow::ServerMessage;
use ui_flow::codec::Decoded;
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
    // Frames per second to step at; 0: back to back.
    let hz = arg(4, 0);
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
    // The seq every client must reach, known once the frames are stepped.
    let (target_tx, target) = tokio::sync::watch::channel(u64::MAX);
    let mut clients = Vec::new();
    for i in 0..connections {
        let url = format!("{base}?token=u{i}");
        let ready_tx = ready_tx.clone();
        let mut target = target.clone();
        clients.push(tokio::spawn(async move {
            let (mut socket, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect");
            let mut seq = 0u64;
            loop {
                tokio::select! {
                    message = socket.next() => {
                        let Some(Ok(message)) = message else {
                            panic!("client {i} lost its socket at seq {seq}");
                        };
                        let Message::Binary(bytes) = message else {
                            continue;
                        };
                        type Frame = ServerMessage<IgnoredAny, IgnoredAny, IgnoredAny>;
                        match Frame::decode(&bytes).ok().and_then(Decoded::message) {
                            Some(Frame::Snapshot { seq: at, .. }) => {
                                seq = at;
                                let _ = ready_tx.send(());
                            }
                            Some(Frame::Delta { seq: at, .. } | Frame::Deltas { seq: at, .. }) => {
                                seq = at;
                            }
                            _ => {}
                        }
                    }
                    _ = target.changed() => {}
                }
                if seq >= *target.borrow() {
                    return;
                }
            }
        }));
    }
    for _ in 0..connections {
        ready.recv().await.expect("every client joins");
    }
    let before = thread_ticks("ui-flow-server");
    let mut spent = Duration::ZERO;
    let mut stepped = 0u64;
    let coalesced = |app: &bevy_app::App| app.world().resource::<SyncServer>().coalesced_ticks();
    // Every frame moves entities, so every sync tick is a commit, unless
    // the server thread's queue is full and it coalesces with the next
    // (counted). Step on until a tick goes, so none is left behind.
    let mut pace =
        (hz > 0).then(|| tokio::time::interval(Duration::from_secs_f64(1.0 / hz as f64)));
    loop {
        if let Some(pace) = &mut pace {
            pace.tick().await;
        }
        let put_off = coalesced(&app);
        let start = Instant::now();
        app.update();
        spent += start.elapsed();
        stepped += 1;
        if stepped >= frames && coalesced(&app) == put_off {
            break;
        }
    }
    // The first update (before the clients) committed seq 1.
    let merged = coalesced(&app);
    let _ = target_tx.send(1 + stepped - merged);
    for client in clients {
        client.await.expect("every client reached the last seq");
    }
    let server_ms = (thread_ticks("ui-flow-server") - before) as f64 * 10.0;
    println!(
        "{connections} connections, {entities} moving entities, {stepped} frames ({merged} ticks coalesced): app.update() {:.0} µs/frame, server thread {:.0} µs/frame ({:.2} µs per connection per frame)",
        spent.as_secs_f64() * 1e6 / stepped as f64,
        server_ms * 1000.0 / stepped as f64,
        server_ms * 1000.0 / stepped as f64 / connections as f64,
    );
}
