//! A small, complete [`FlowHandler`]: one shared counter per resource.
//!
//! It exists to show the handler contract end to end and to give client
//! tests and demos a real server to talk to (`cargo run -p ui-flow-server
//! --example counter`). It holds no state of its own: each action commits
//! deltas, and the server keeps the value, the seq line and the history
//! that lets reconnecting clients resync without a snapshot.
//!
//! Wire shapes (MessagePack maps): state `{value}`, delta `{add}`, event
//! `{by, value}` in domain `"counter"`, actions `{type: "add", amount}`,
//! `{type: "add_in_steps", amount, steps}` (reports progress per step) and
//! `{type: "fail", reason}` (always `ActionErr` with code `"rejected"`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use ui_flow::FlowState;

use crate::handler::{ActionContext, ActionOutcome, FlowHandler};
use crate::log::CommitError;
use crate::server::SessionHandle;

/// The state: the counter's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterState {
    /// The value.
    pub value: i64,
}

impl FlowState for CounterState {
    type Delta = CounterDelta;

    fn apply_delta(&mut self, delta: CounterDelta) {
        self.value += delta.add;
    }
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

/// The handler: a counter per resource. The server keeps the state, the
/// seq line and the history; the handler only decides.
#[derive(Debug, Default)]
pub struct Counter;

impl Counter {
    /// Adds `amount` to the resource's counter (a commit, so every client
    /// sees it) and returns the new seq. This is how application code (a
    /// timer, another service) changes state outside of client actions.
    pub async fn add(session: &SessionHandle<Self>, amount: i64) -> Result<u64, CommitError> {
        session.commit(CounterDelta { add: amount }).await
    }
}

/// The counter's types, shared by the server and its clients.
pub struct CounterModel;

impl ui_flow::Model for CounterModel {
    type State = CounterState;
    type Delta = CounterDelta;
    type Event = CounterEvent;
    type Action = CounterAction;
}

#[async_trait]
impl FlowHandler for Counter {
    type Model = CounterModel;

    async fn handle_action(
        &self,
        ctx: &ActionContext<Self>,
        action: CounterAction,
    ) -> ActionOutcome {
        let committed = match action {
            CounterAction::Add { amount } => ctx.commit(CounterDelta { add: amount }).await,
            CounterAction::AddInSteps { amount, steps } => {
                let steps = i64::from(steps.max(1));
                let mut last = Ok(0);
                for step in 0..steps {
                    let part = amount * (step + 1) / steps - amount * step / steps;
                    last = ctx.commit(CounterDelta { add: part }).await;
                    if last.is_err() {
                        break;
                    }
                    let percent = u8::try_from((step + 1) * 100 / steps).unwrap_or(100);
                    ctx.progress(Some(percent), Some("adding"));
                }
                last
            }
            CounterAction::Fail { reason } => return ActionOutcome::err("rejected", reason),
        };
        if let Err(e) = committed {
            return ActionOutcome::err("not_committed", e.to_string());
        }
        let value = ctx
            .session()
            .read(|state, _| state.value)
            .await
            .unwrap_or_default();
        let event = CounterEvent {
            by: ctx.user().user_id.clone(),
            value,
        };
        let _ = ctx
            .session()
            .broadcast_notify("counter", &event, Some(ctx.op_id()));
        ActionOutcome::ok_with(&value).unwrap_or_else(|_| ActionOutcome::ok())
    }
}
