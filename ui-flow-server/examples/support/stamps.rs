//! The handler the commit benchmarks (`commits`, `cluster`) share: one
//! resource whose deltas are [`Stamp`]s carrying the time their commit
//! started, and a WebSocket watcher that turns each delivered stamp into a
//! commit-to-receive latency.
//!
//! Included by each example with `#[path = "support/stamps.rs"] mod stamps;`
//! (a folder without `main.rs` is not an example of its own). It is not part
//! of the crate's API and has nothing to do with `ui_flow_server::counter`,
//! whose wire shapes are documented for clients: a stamp is 64 bytes of
//! padding plus a clock reading, and the state only counts them.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;
use ui_flow::codec::Decoded;
use ui_flow::{FlowState, ServerMessage};
use ui_flow_server::{ActionContext, ActionOutcome, FlowHandler};

/// A delta stamped with when its commit started (ns since the Unix epoch).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stamp {
    at_ns: u64,
    pad: String,
}

impl Stamp {
    /// A stamp of this moment, padded with 64 bytes.
    pub fn now() -> Self {
        Stamp {
            at_ns: unix_ns(),
            pad: "x".repeat(64),
        }
    }
}

/// The state: how many stamps were committed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Count(u64);

impl FlowState for Count {
    type Delta = Stamp;
    fn apply_delta(&mut self, _: Stamp) {
        self.0 += 1;
    }
}

/// The handler: it has no actions, the benchmarks commit from the server.
pub struct Bench;

/// The payload types of [`Bench`].
pub struct BenchModel;

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

/// Joins `resource` as `user`, says so on `joined` when the first presence
/// list arrives, then reads deltas until seq `last`. Returns each delta's
/// latency in µs and when the last one arrived.
pub async fn watch(
    addr: SocketAddr,
    resource: String,
    user: String,
    last: u64,
    joined: tokio::sync::mpsc::Sender<()>,
) -> (Vec<u64>, Instant) {
    let url = format!("ws://{addr}/realtime/{resource}?token={user}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let mut latencies = Vec::new();
    let mut told = false;
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Binary(bytes) = msg else {
            continue;
        };
        let now = unix_ns();
        let (stamps, seq) = match Frame::decode(&bytes) {
            Ok(Decoded::Message(Frame::Delta { delta, seq, .. })) => (vec![delta], seq),
            Ok(Decoded::Message(Frame::Deltas { deltas, seq, .. })) => (deltas, seq),
            Ok(Decoded::Message(Frame::Presence { .. })) if !told => {
                told = true;
                let _ = joined.send(()).await;
                continue;
            }
            _ => continue,
        };
        latencies.extend(stamps.iter().map(|s| now.saturating_sub(s.at_ns) / 1000));
        if seq >= last {
            break;
        }
    }
    (latencies, Instant::now())
}

/// The `q` quantile (0 to 1) of `sorted`, which must not be empty.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}
