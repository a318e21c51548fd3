//! Client actions as Bevy messages: [`ClientAction`] and its one answer.
//!
//! An action a client sends arrives in the app as a `ClientAction<A>`
//! message (written in `PreUpdate`, readable with a `MessageReader` in
//! `Update`). A system answers it with [`ok`](ClientAction::ok),
//! [`ok_with`](ClientAction::ok_with) or [`err`](ClientAction::err), and may
//! report [`progress`](ClientAction::progress) before. The first answer
//! counts; later ones are ignored and return `false`.
//!
//! The answer is held back until the next sync tick has committed the
//! world's changes, so the client sees the effect of its action (an entity
//! spawned, a component changed) no later than its `ActionOk`. An action no
//! system answers before its message is dropped (Bevy keeps messages for
//! two frames) is answered `ActionErr unanswered`: every action gets
//! exactly one outcome.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use bevy_ecs::message::Message;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use ui_flow_server::ActionOutcome;

/// Answers waiting for the next sync tick, shared by every pending action.
pub(crate) type Answered = Arc<Mutex<Vec<(oneshot::Sender<ActionOutcome>, ActionOutcome)>>>;

/// A progress report: percent, message.
pub(crate) type ProgressReport = (Option<u8>, Option<String>);

/// One action from one client, for the app's systems to perform.
pub struct ClientAction<A> {
    user_id: String,
    action: A,
    reply: Reply,
}

impl<A: Send + Sync + 'static> Message for ClientAction<A> {}

struct Reply {
    answer: Mutex<Option<oneshot::Sender<ActionOutcome>>>,
    answered: Answered,
    progress: mpsc::UnboundedSender<ProgressReport>,
}

impl<A> ClientAction<A> {
    pub(crate) fn new(
        user_id: String,
        action: A,
        answer: oneshot::Sender<ActionOutcome>,
        answered: Answered,
        progress: mpsc::UnboundedSender<ProgressReport>,
    ) -> Self {
        ClientAction {
            user_id,
            action,
            reply: Reply {
                answer: Mutex::new(Some(answer)),
                answered,
                progress,
            },
        }
    }

    /// Who sent it, as the server's authenticator said (never a field of
    /// the payload).
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// What the client asks for.
    pub fn action(&self) -> &A {
        &self.action
    }

    /// Answers `ActionOk` (sent after the next sync tick's commit). `false`
    /// when it was already answered.
    pub fn ok(&self) -> bool {
        self.answer(ActionOutcome::ok())
    }

    /// Answers `ActionOk` with a result value. `false` when it was already
    /// answered; a result that cannot be encoded answers `ActionErr
    /// internal` instead.
    pub fn ok_with<T: Serialize + ?Sized>(&self, result: &T) -> bool {
        let outcome = ActionOutcome::ok_with(result).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "an action's result could not be encoded");
            ActionOutcome::err("internal", "the action's result could not be encoded")
        });
        self.answer(outcome)
    }

    /// Answers `ActionErr` with an application code and a message for
    /// people. `false` when it was already answered.
    pub fn err(&self, code: impl Into<String>, message: impl Into<String>) -> bool {
        self.answer(ActionOutcome::err(code, message))
    }

    /// Sends `Progress` to the acting client now (percent clamped to 100).
    /// Ignored once the action is answered.
    pub fn progress(&self, percent: Option<u8>, message: Option<&str>) {
        if self.is_answered() {
            return;
        }
        let _ = self
            .reply
            .progress
            .send((percent.map(|p| p.min(100)), message.map(str::to_owned)));
    }

    /// Whether a system has answered it.
    pub fn is_answered(&self) -> bool {
        self.reply
            .answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    fn answer(&self, outcome: ActionOutcome) -> bool {
        let taken = self
            .reply
            .answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(sender) = taken else {
            return false;
        };
        self.reply
            .answered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((sender, outcome));
        true
    }
}

impl<A: fmt::Debug> fmt::Debug for ClientAction<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAction")
            .field("user_id", &self.user_id)
            .field("action", &self.action)
            .field("answered", &self.is_answered())
            .finish()
    }
}
