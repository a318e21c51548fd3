//! [`Todos`]: the [`FlowHandler`] for one to-do list per resource.
//!
//! It keeps no state: the server's resource log holds each list, and an
//! action is a [`transact`](ActionContext::transact) that checks the list as
//! it is and commits the change, with no race between the check and the
//! commit.

use async_trait::async_trait;
use todo_model::{DOMAIN, TodoAction, TodoDelta, TodoEvent, TodoModel, TodoState};
use ui_flow_server::{ActionContext, ActionOutcome, BoxError, FlowHandler, TransactError};

/// One to-do list per resource, each starting from [`TodoState::seeded`].
#[derive(Debug, Default)]
pub struct Todos;

#[async_trait]
impl FlowHandler for Todos {
    type Model = TodoModel;

    async fn initial_state(&self, _: &str) -> Result<TodoState, BoxError> {
        Ok(TodoState::seeded())
    }

    async fn handle_action(&self, ctx: &ActionContext<Self>, action: TodoAction) -> ActionOutcome {
        let mut added = None;
        let committed = ctx
            .transact(|list| {
                let delta = list.check(&action)?;
                if let TodoDelta::Added { item } = &delta {
                    added = Some(item.title.clone());
                }
                Ok(vec![delta])
            })
            .await;
        match committed {
            Ok(_) => {}
            Err(TransactError::Refused((code, message))) => {
                return ActionOutcome::err(code, message);
            }
            Err(TransactError::Commit(e)) => {
                return ActionOutcome::err("not_committed", e.to_string());
            }
        }
        if let Some(title) = added {
            let event = TodoEvent {
                by: ctx.user().user_id.clone(),
                title,
            };
            let _ = ctx
                .session()
                .broadcast_notify(DOMAIN, &event, Some(ctx.op_id()));
        }
        ActionOutcome::ok()
    }
}
