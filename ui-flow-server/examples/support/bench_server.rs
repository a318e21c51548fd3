//! The ui-flow-server that the broadcast benchmarks (`fanout`, `lock_hold`)
//! run: one resource whose deltas are ~100-byte [`BenchDelta`]s that the
//! state only counts, actions that do nothing, and a configuration that
//! admits N clients of one user from one address at once.
//!
//! Included with `#[path = "support/bench_server.rs"] mod bench_server;`
//! (a folder without `main.rs` is not an example of its own). Not part of
//! the crate's API and not a model of an application: there is no state to
//! speak of, and the join rate limits are off on purpose.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use ui_flow_server::{ActionContext, ActionOutcome, FlowHandler, RateLimit, ServerConfig};

/// The broadcast payload: its slot in the schedule and when it was sent,
/// padded to about 100 bytes. The fan-out peers send the same fields (plus
/// `seq`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchDelta {
    pub slot_ns: u64,
    pub sent_ns: u64,
    pub pad: String,
}

/// The handler of resource `bench`.
pub struct Bench;

/// The server's state: how many deltas were committed.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Sent(u64);

impl ui_flow::FlowState for Sent {
    type Delta = BenchDelta;
    fn apply_delta(&mut self, _: BenchDelta) {
        self.0 += 1;
    }
}

/// The benchmark's types.
pub struct BenchModel;

impl ui_flow::Model for BenchModel {
    type State = Sent;
    type Delta = BenchDelta;
    type Event = ();
    type Action = rmpv::Value;
}

#[async_trait]
impl FlowHandler for Bench {
    type Model = BenchModel;

    async fn handle_action(&self, _: &ActionContext<Self>, _: rmpv::Value) -> ActionOutcome {
        ActionOutcome::ok()
    }
}

/// The defaults, for up to `max_connections` clients of one user from one
/// address that join at once and stay quiet: the benchmarks measure
/// broadcasts, not the join rate limits or the liveness checks.
pub fn config(max_connections: usize) -> ServerConfig {
    let mut c = ServerConfig::default();
    c.max_connections = max_connections;
    c.max_connections_per_user = max_connections;
    c.liveness_timeout = Duration::from_secs(3600);
    let unlimited = RateLimit {
        per_second: 1e9,
        burst: u32::MAX,
    };
    c.join_rate = unlimited;
    c.join_rate_per_ip = unlimited;
    c
}
