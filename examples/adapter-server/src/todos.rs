//! [`Todos`]: the [`FlowHandler`] that keeps one to-do list per resource.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use todo_model::{DOMAIN, TodoAction, TodoDelta, TodoEvent, TodoState};
use ui_flow::FlowState;
use ui_flow_server::{ActionContext, ActionOutcome, BoxError, FlowHandler};

/// How many deltas each list keeps for resyncs.
const HISTORY: usize = 256;

#[derive(Debug)]
struct List {
    state: TodoState,
    seq: u64,
    history: VecDeque<(TodoDelta, u64)>,
}

impl Default for List {
    fn default() -> Self {
        List {
            state: TodoState::seeded(),
            seq: 0,
            history: VecDeque::new(),
        }
    }
}

/// One to-do list per resource, in memory.
#[derive(Debug, Default)]
pub struct Todos {
    lists: Mutex<HashMap<String, List>>,
}

impl Todos {
    fn lists(&self) -> MutexGuard<'_, HashMap<String, List>> {
        self.lists.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl FlowHandler for Todos {
    type State = TodoState;
    type Delta = TodoDelta;
    type Event = TodoEvent;
    type Action = TodoAction;

    async fn snapshot(&self, resource_id: &str) -> Result<(TodoState, u64), BoxError> {
        let mut lists = self.lists();
        let list = lists.entry(resource_id.to_owned()).or_default();
        Ok((list.state.clone(), list.seq))
    }

    async fn deltas_since(
        &self,
        resource_id: &str,
        seq: u64,
    ) -> Result<Vec<(TodoDelta, u64)>, BoxError> {
        let lists = self.lists();
        Ok(lists
            .get(resource_id)
            .map(|list| {
                list.history
                    .iter()
                    .filter(|(_, s)| *s > seq)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn handle_action(&self, ctx: &ActionContext<Self>, action: TodoAction) -> ActionOutcome {
        let session = ctx.session();
        let added = {
            let mut lists = self.lists();
            let list = lists.entry(ctx.resource_id().to_owned()).or_default();
            let delta = match list.state.check(&action) {
                Ok(delta) => delta,
                Err((code, message)) => return ActionOutcome::err(code, message),
            };
            list.state.apply_delta(delta.clone());
            list.seq += 1;
            if list.history.len() == HISTORY {
                list.history.pop_front();
            }
            list.history.push_back((delta.clone(), list.seq));
            // Broadcast under the lock so seqs leave in order.
            let _ = session.broadcast_delta(&delta, list.seq);
            match delta {
                TodoDelta::Added { item } => Some(item.title),
                _ => None,
            }
        };
        if let Some(title) = added {
            let event = TodoEvent {
                by: ctx.user().user_id.clone(),
                title,
            };
            let _ = session.broadcast_notify(DOMAIN, &event, Some(ctx.op_id()));
        }
        ActionOutcome::ok()
    }
}
