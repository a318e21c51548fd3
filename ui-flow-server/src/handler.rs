//! What the application implements: [`FlowHandler`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use ui_flow::{EncodeError, OpId, RawValue};

use crate::auth::Identity;
use crate::hub::OpKey;
use crate::server::SessionHandle;

/// An error from the application's own code (a database, a service).
///
/// The server never shows its text to clients; it logs it and sends a
/// documented error code instead.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The application's side of a ui-flow server.
///
/// The server calls these methods; the application pushes changes back
/// through a [`SessionHandle`].
///
/// Every method receives the `resource_id` from the URL
/// (`/realtime/{resource_id}`): one server serves many resources, each with
/// its own seq line.
///
/// Contract for seqs: each change to a resource's state advances its seq by
/// exactly one; apply a change to the state that [`snapshot`](Self::snapshot)
/// reads **before** calling `broadcast_delta` with it. Then a client joining
/// while changes happen neither misses nor repeats one.
///
/// ```
/// use std::sync::Mutex;
/// use ui_flow_server::{ActionContext, ActionOutcome, BoxError, FlowHandler};
///
/// /// One shared tally per resource would key this by `resource_id`; one
/// /// number keeps the example short.
/// #[derive(Default)]
/// struct Tally {
///     state: Mutex<(i64, u64)>, // (value, seq)
/// }
///
/// #[async_trait::async_trait]
/// impl FlowHandler for Tally {
///     type State = i64;
///     type Delta = i64; // the amount added
///     type Event = String;
///     type Action = i64; // the amount to add
///
///     async fn snapshot(&self, _resource_id: &str) -> Result<(i64, u64), BoxError> {
///         Ok(*self.state.lock().map_err(|_| "poisoned")?)
///     }
///
///     async fn handle_action(&self, ctx: &ActionContext<Self>, amount: i64) -> ActionOutcome {
///         if amount == 0 {
///             return ActionOutcome::err("empty", "adding nothing");
///         }
///         let Ok(mut state) = self.state.lock() else {
///             return ActionOutcome::err("internal", "try again");
///         };
///         // Change the state, then broadcast under the same lock, so seqs
///         // go out in order.
///         state.0 += amount;
///         state.1 += 1;
///         match ctx.session().broadcast_delta(&amount, state.1) {
///             Ok(_) => ActionOutcome::ok(),
///             Err(_) => ActionOutcome::err("internal", "could not encode"),
///         }
///     }
/// }
///
/// let server = ui_flow_server::FlowServer::new(Tally::default(), ui_flow_server::UnverifiedUserToken);
/// # let _ = server;
/// ```
#[async_trait]
pub trait FlowHandler: Send + Sync + 'static {
    /// The full state a client mirrors.
    type State: Serialize + Send + Sync + 'static;
    /// One change to the state.
    type Delta: Serialize + Send + Sync + 'static;
    /// An application event sent with `Notify`.
    type Event: Serialize + Send + Sync + 'static;
    /// An action a client asks the server to perform.
    type Action: DeserializeOwned + Send + 'static;

    /// The resource's current state and the seq it is at.
    ///
    /// Called for every joining connection and whenever a resync cannot be
    /// served from deltas. An error closes that connection with
    /// `sync_failed` (it reconnects with backoff).
    async fn snapshot(&self, resource_id: &str) -> Result<(Self::State, u64), BoxError>;

    /// The deltas after `seq`, oldest first, each with its own seq, so a
    /// reconnecting client can catch up without a snapshot.
    ///
    /// Return what you still have; the server uses the answer only when it
    /// is complete and contiguous (`seq + 1`, `seq + 2`, ... up to the head it
    /// knows) and sends a snapshot otherwise. The server never asks for more
    /// than [`ServerConfig::max_resync_deltas`](crate::ServerConfig) deltas.
    /// The default keeps no history: every resync gets a snapshot.
    async fn deltas_since(
        &self,
        resource_id: &str,
        seq: u64,
    ) -> Result<Vec<(Self::Delta, u64)>, BoxError> {
        let _ = (resource_id, seq);
        Ok(Vec::new())
    }

    /// Performs one action.
    ///
    /// `ctx` says who acts (from authentication, never from the payload),
    /// on which resource, under which [`OpId`], and can report progress. The
    /// server runs each action once per `(resource, user, op_id)`: a retry
    /// with the same id (after a reconnect) gets the outcome of the first
    /// run, or joins it while it still runs. Broadcast the resulting delta
    /// through the [`SessionHandle`] before returning,
    /// so the client sees the change no later than the `ActionOk`.
    async fn handle_action(&self, ctx: &ActionContext<Self>, action: Self::Action) -> ActionOutcome
    where
        Self: Sized;

    /// Whether `user` may see `event` from `domain`; called for every
    /// subscribed recipient of a notification, under the server's lock, so
    /// keep it quick and never call back into the server from it. The
    /// default lets everything through.
    fn filter_notification(&self, user: &Identity, domain: &str, event: &Self::Event) -> bool {
        let _ = (user, domain, event);
        true
    }
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionOutcome {
    /// It succeeded; sent as `ActionOk` with the optional result.
    Ok(Option<RawValue>),
    /// It failed and changed nothing; sent as `ActionErr`.
    Err {
        /// An application error code for programs (`"not_found"`, ...).
        code: Option<String>,
        /// A message for people.
        message: String,
    },
}

impl ActionOutcome {
    /// Success without a result value.
    pub fn ok() -> Self {
        ActionOutcome::Ok(None)
    }

    /// Success with a result value (any serde type, encoded as MessagePack).
    pub fn ok_with<T: Serialize + ?Sized>(result: &T) -> Result<Self, EncodeError> {
        Ok(ActionOutcome::Ok(Some(RawValue::encode(result)?)))
    }

    /// Failure with an application code and a message.
    pub fn err(code: impl Into<String>, message: impl Into<String>) -> Self {
        ActionOutcome::Err {
            code: Some(code.into()),
            message: message.into(),
        }
    }
}

/// Everything about one action except its payload, and a handle to its
/// resource's session for broadcasting the change it makes.
pub struct ActionContext<H: FlowHandler> {
    pub(crate) session: SessionHandle<H>,
    pub(crate) user: Arc<Identity>,
    pub(crate) key: OpKey,
}

impl<H: FlowHandler> ActionContext<H> {
    /// The resource the action targets.
    pub fn resource_id(&self) -> &str {
        self.session.resource_id()
    }

    /// Who sent it, as the [`Authenticator`](crate::Authenticator) said.
    pub fn user(&self) -> &Identity {
        &self.user
    }

    /// The action's operation id.
    pub fn op_id(&self) -> OpId {
        self.key.op_id()
    }

    /// The session of the action's resource, to broadcast its effect.
    pub fn session(&self) -> &SessionHandle<H> {
        &self.session
    }

    /// Sends `Progress { op_id, percent, message }` to every connection
    /// waiting for this action (percent is clamped to 100). Never blocks.
    pub fn progress(&self, percent: Option<u8>, message: Option<&str>) {
        let (percent, message) = (percent.map(|p| p.min(100)), message.map(str::to_owned));
        self.session
            .inner
            .run(|hub| hub.report_progress(&self.key, percent, message));
    }
}

impl<H: FlowHandler> fmt::Debug for ActionContext<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionContext")
            .field("resource_id", &self.resource_id())
            .field("user", &self.user.user_id)
            .field("op_id", &self.op_id())
            .finish_non_exhaustive()
    }
}
