//! Join/leave churn: one client joins and leaves a resource as fast as it
//! can while bystanders count the `PresenceDiff` frames they receive.
//!
//! ```text
//! cargo run --release -p ui-flow-server --example churn -- [--secs 5] [--bystanders 20] [--no-join-limits] [--no-batching]
//! ```
//!
//! `--no-join-limits` turns off the join rate limits (per user and per IP),
//! `--no-batching` the presence batch window; both together are the
//! behaviour before either existed. Everything runs on
//! 127.0.0.1 in one process and stops by itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use ui_flow::ServerMessage;
use ui_flow::codec::Decoded;
use ui_flow_server::counter::Counter;
use ui_flow_server::{FlowServer, RateLimit, ServerConfig, UnverifiedUserToken};

type Msg = ServerMessage<rmpv::Value, rmpv::Value, rmpv::Value>;

#[tokio::main]
async fn main() {
    let mut secs = 5u64;
    let mut bystanders = 20usize;
    let (mut join_limits, mut batching) = (true, true);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--secs" => secs = args.next().and_then(|v| v.parse().ok()).expect("--secs N"),
            "--bystanders" => {
                bystanders = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--bystanders N");
            }
            "--no-join-limits" => join_limits = false,
            "--no-batching" => batching = false,
            other => panic!("unknown argument {other}"),
        }
    }
    let mut config = ServerConfig::default();
    if !join_limits {
        let unlimited = RateLimit {
            per_second: 1e9,
            burst: u32::MAX,
        };
        config.join_rate = unlimited;
        config.join_rate_per_ip = unlimited;
    }
    if !batching {
        config.presence_batch = Duration::ZERO;
    }
    let server = FlowServer::with_config(Counter, UnverifiedUserToken, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener, serving.router()).await });

    let diffs = Arc::new(AtomicU64::new(0));
    for i in 0..bystanders {
        let url = format!("ws://{addr}/realtime/room?token=bystander{i}");
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("bystander connects");
        let diffs = diffs.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Binary(b) = msg {
                    if let Ok(Decoded::Message(Msg::PresenceDiff(_))) = Msg::decode(&b) {
                        diffs.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    // Let the bystanders' own joins settle before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    diffs.store(0, Ordering::Relaxed);

    let url = format!("ws://{addr}/realtime/room?token=churn");
    let (mut attempts, mut joined) = (0u64, 0u64);
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    while Instant::now() < end {
        attempts += 1;
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
            continue;
        };
        if let Some(Ok(Message::Binary(b))) = ws.next().await {
            if let Ok(Decoded::Message(Msg::Connected { .. })) = Msg::decode(&b) {
                joined += 1;
            }
        }
        let _ = ws.close(None).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Diffs already on their way arrive within a batch window or two.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let per_bystander = diffs.load(Ordering::Relaxed) as f64 / bystanders as f64;
    println!(
        "join limits {}, batching {}: {:.0} join attempts/s, {:.1} joins/s accepted, {:.1} PresenceDiff/s per bystander ({bystanders} bystanders, {elapsed:.1} s)",
        if join_limits { "on" } else { "off" },
        if batching { "on" } else { "off" },
        attempts as f64 / elapsed,
        joined as f64 / elapsed,
        per_bystander / elapsed,
    );
}
