//! 10,000 connect/disconnect cycles against the example world: the
//! server's RSS after warm-up and at the end, and what is left behind.
//!
//! `cargo run --release -p bevy-world --example churn [-- CYCLES [USERS [PID URL]]]`
//!
//! With PID and URL it measures a server in another process
//! (`bevy-world-server --no-join-limits`, PID its process id, URL the
//! `ws://.../realtime/world` it prints): its RSS alone, not the clients'.
//!
//! Each cycle opens a raw WebSocket on 127.0.0.1 as one of USERS users
//! (default: a new user every cycle; at least 64), reads
//! until its snapshot, and closes. 64 cycles run at a time. The join rate
//! limits are raised (this measures leaks, not admission). RSS is this
//! process's `VmRSS` (client and server share it; the clients hold nothing
//! between cycles). Exits non-zero if a connection or session is left.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use ui_flow::ServerTag;
use ui_flow::codec::{Limits, peek_tag};
use ui_flow_bevy::SyncServer;

fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn cycle(url: String) {
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url).await else {
        panic!("connect");
    };
    let limits = Limits::default();
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Binary(bytes) = message
            && peek_tag(&bytes, &limits).ok() == Some(ServerTag::SNAPSHOT.0)
        {
            break;
        }
    }
    let _ = socket.close(None).await;
    while let Some(Ok(_)) = socket.next().await {}
    let _ = socket.flush().await;
}

async fn run(base: &str, from: usize, to: usize, users: usize) {
    let mut next = from;
    while next < to {
        let batch: Vec<_> = (next..(next + 64).min(to))
            .map(|i| tokio::spawn(cycle(format!("{base}?token=u{}", i % users))))
            .collect();
        next += batch.len();
        for task in batch {
            task.await.expect("cycle");
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let arg = |n: usize, default: usize| {
        std::env::args()
            .nth(n)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (cycles, users) = (arg(1, 10_000), arg(2, 10_000).max(64));
    let mut config = bevy_world::simulation::ServerConfig::default();
    let fast = bevy_world::simulation::RateLimit {
        per_second: 1e6,
        burst: 1_000_000,
    };
    config.join_rate = fast;
    config.join_rate_per_ip = fast;
    let settings = bevy_world::simulation::Settings {
        addr: "127.0.0.1:0".into(),
        entities: 300,
        hz: 60,
        sync_every: 1,
    };
    let mut app = bevy_world::simulation::app_with_config(&settings, config).expect("app");
    app.update();
    let warm = cycles / 10;
    // A server in another process (`bevy-world-server --no-join-limits`)
    // when its pid and URL are given; otherwise the one in this process.
    let (pid, base) = match (std::env::args().nth(3), std::env::args().nth(4)) {
        (Some(pid), Some(url)) => (pid, url),
        _ => (
            "self".to_owned(),
            app.world().resource::<SyncServer>().url(),
        ),
    };
    run(&base, 0, warm, users).await;
    let after_warm = rss_kib(&pid);
    run(&base, warm, cycles, users).await;
    let at_end = rss_kib(&pid);
    let growth = (at_end as f64 - after_warm as f64) / after_warm as f64 * 100.0;
    println!(
        "{cycles} cycles, {users} users: server RSS after {warm} (warm-up) {after_warm} KiB, at the end {at_end} KiB ({growth:+.1}%)"
    );
    if pid != "self" {
        return;
    }
    // In-process: what the server holds once every client has gone. No
    // event says "the server forgot the socket": poll, bounded.
    let server = app.world().resource::<SyncServer>();
    let mut left = (server.connection_count(), server.session_count());
    for _ in 0..500 {
        if left == (0, 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        left = (server.connection_count(), server.session_count());
    }
    println!("left behind: {} connections, {} sessions", left.0, left.1);
    if left != (0, 0) {
        std::process::exit(1);
    }
}
