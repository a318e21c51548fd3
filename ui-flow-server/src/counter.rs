//! A small, complete [`FlowHandler`]: one shared counter per resource.
//!
//! It exists to show the handler contract end to end and to give client
//! tests and demos a real server to talk to (`cargo run -p ui-flow-server
//! --example counter`). It keeps everything in memory, including the last
//! [`Counter::HISTORY`] deltas per resource so reconnecting clients can
//! resync without a snapshot.
//!
//! Wire shapes (MessagePack maps): state `{value}`, delta `{add}`, event
//! `{by, value}` in domain `"counter"`, actions `{type: "add", amount}`,
//! `{type: "add_in_steps", amount, steps}` (reports progress per step) and
//! `{type: "fail", reason}` (always `ActionErr` with code `"rejected"`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::handler::{ActionContext, ActionOutcome, BoxError, FlowHandler};
use crate::server::SessionHandle;

/// The state: the counter's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterState {
    /// The value.
    pub value: i64,
}

/// A change: add `add` to the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterDelta {
    /// The amount added (may be negative).
    pub add: i64,
}

/// The notification sent in domain `"counter"` after each action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterEvent {
    /// The user whose action changed the value.
    pub by: String,
    /// The value after the change.
    pub value: i64,
}

/// What a client can ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CounterAction {
    /// Add `amount`; the result is the new value.
    Add {
        /// The amount.
        amount: i64,
    },
    /// Add `amount` in `steps` deltas, reporting progress after each.
    AddInSteps {
        /// The total amount.
        amount: i64,
        /// How many deltas (at least 1).
        steps: u8,
    },
    /// Fails with `ActionErr { code: "rejected", message: reason }`.
    Fail {
        /// The message to fail with.
        reason: String,
    },
}

#[derive(Debug, Default)]
struct Room {
    value: i64,
    seq: u64,
    history: VecDeque<(CounterDelta, u64)>,
}

/// The handler: a counter per resource, with recent history.
#[derive(Debug, Default)]
pub struct Counter {
    rooms: Mutex<HashMap<String, Room>>,
}

impl Counter {
    /// Deltas kept per resource for `deltas_since`.
    pub const HISTORY: usize = 1000;

    fn rooms(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `amount` to the resource's counter and broadcasts the delta;
    /// returns the new seq. This is how application code (a timer, another
    /// service) changes state outside of client actions.
    pub fn add(&self, session: &SessionHandle<Self>, amount: i64) -> u64 {
        let mut rooms = self.rooms();
        let room = rooms.entry(session.resource_id().to_owned()).or_default();
        let delta = CounterDelta { add: amount };
        room.value += amount;
        room.seq += 1;
        room.history.push_back((delta, room.seq));
        if room.history.len() > Self::HISTORY {
            room.history.pop_front();
        }
        // Broadcast while holding the room, so seqs leave in order.
        let _ = session.broadcast_delta(&delta, room.seq);
        room.seq
    }

    /// The resource's current value and seq.
    pub fn value(&self, resource_id: &str) -> (i64, u64) {
        self.rooms()
            .get(resource_id)
            .map_or((0, 0), |r| (r.value, r.seq))
    }
}

#[async_trait]
impl FlowHandler for Counter {
    type State = CounterState;
    type Delta = CounterDelta;
    type Event = CounterEvent;
    type Action = CounterAction;

    async fn snapshot(&self, resource_id: &str) -> Result<(CounterState, u64), BoxError> {
        let (value, seq) = self.value(resource_id);
        Ok((CounterState { value }, seq))
    }

    async fn deltas_since(
        &self,
        resource_id: &str,
        seq: u64,
    ) -> Result<Vec<(CounterDelta, u64)>, BoxError> {
        let rooms = self.rooms();
        Ok(rooms
            .get(resource_id)
            .map(|r| {
                r.history
                    .iter()
                    .filter(|(_, s)| *s > seq)
                    .copied()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn handle_action(
        &self,
        ctx: &ActionContext<Self>,
        action: CounterAction,
    ) -> ActionOutcome {
        let session = ctx.session();
        match action {
            CounterAction::Add { amount } => {
                self.add(session, amount);
            }
            CounterAction::AddInSteps { amount, steps } => {
                let steps = i64::from(steps.max(1));
                for step in 0..steps {
                    let part = amount * (step + 1) / steps - amount * step / steps;
                    self.add(session, part);
                    let percent = u8::try_from((step + 1) * 100 / steps).unwrap_or(100);
                    ctx.progress(Some(percent), Some("adding"));
                }
            }
            CounterAction::Fail { reason } => return ActionOutcome::err("rejected", reason),
        }
        let (value, _) = self.value(ctx.resource_id());
        let event = CounterEvent {
            by: ctx.user().user_id.clone(),
            value,
        };
        let _ = session.broadcast_notify("counter", &event, Some(ctx.op_id()));
        ActionOutcome::ok_with(&value).unwrap_or_else(|_| ActionOutcome::ok())
    }
}
