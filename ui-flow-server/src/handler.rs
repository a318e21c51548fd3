//! What the application implements: [`FlowHandler`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use ui_flow::model::{ActionOf, DeltaOf, EventOf, StateOf};
use ui_flow::{Model, OpId};

use crate::auth::Identity;
use crate::hub::OpKey;
use crate::log::{CommitError, Committed, OpTag, TransactError};
pub use crate::outcome::ActionOutcome;
use crate::server::SessionHandle;
use crate::view::{PresenceScope, Projected, ViewKey};

/// An error from the application's own code (a database, a service).
///
/// The server never shows its text to clients; it logs it and sends a
/// documented error code instead.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The application's side of a ui-flow server.
///
/// By default the server keeps each resource's state: it loads a
/// resource's [`initial_state`](Self::initial_state) when the resource is
/// first used, and from then on the application changes it only by
/// *committing* deltas (from an action through [`ActionContext::commit`],
/// or from anywhere through a [`SessionHandle`]). The server applies each
/// delta to its copy with [`FlowState::apply_delta`], numbers it, keeps it in
/// its [`Store`](crate::store::Store) and sends it to every connection;
/// snapshots and resyncs come from that log. The application never numbers
/// a seq.
///
/// Every method receives the `resource_id` from the URL
/// (`/realtime/{resource_id}`): one server serves many resources, each with
/// its own seq line.
///
/// **Escape hatch:** an application whose state must stay in its own
/// database sets [`APP_OWNED_STATE`](Self::APP_OWNED_STATE) and implements
/// [`snapshot`](Self::snapshot) and [`deltas_since`](Self::deltas_since);
/// it then numbers its own seqs and sends with
/// [`SessionHandle::broadcast_delta`], which refuses a seq that does not
/// follow the head.
///
/// ```
/// use ui_flow::{FlowState, Model};
/// use ui_flow_server::{ActionContext, ActionOutcome, FlowHandler, TransactError};
///
/// /// The state: a tally that may not go below zero.
/// #[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
/// struct Tally(i64);
///
/// impl FlowState for Tally {
///     type Delta = i64; // the amount added
///     fn apply_delta(&mut self, amount: i64) {
///         self.0 += amount;
///     }
/// }
///
/// /// The types client and server share (usually in a crate of their own).
/// struct TallyModel;
///
/// impl Model for TallyModel {
///     type State = Tally;
///     type Delta = i64;
///     type Event = String;
///     type Action = i64; // the amount to add
/// }
///
/// struct Tallies;
///
/// #[async_trait::async_trait]
/// impl FlowHandler for Tallies {
///     type Model = TallyModel;
///
///     async fn handle_action(&self, ctx: &ActionContext<Self>, amount: i64) -> ActionOutcome {
///         // The check and the commit happen under the resource's lock: no
///         // other commit can slip in between.
///         let result = ctx
///             .transact(|tally| {
///                 if tally.0 + amount < 0 {
///                     return Err("the tally cannot go below zero");
///                 }
///                 Ok(vec![amount])
///             })
///             .await;
///         match result {
///             Ok(_) => ActionOutcome::ok(),
///             Err(TransactError::Refused(why)) => ActionOutcome::err("refused", why),
///             Err(TransactError::Commit(e)) => ActionOutcome::err("internal", e.to_string()),
///         }
///     }
/// }
///
/// let server = ui_flow_server::FlowServer::new(Tallies, ui_flow_server::UnverifiedUserToken);
/// # let _ = server;
/// ```
#[async_trait]
pub trait FlowHandler: Send + Sync + 'static {
    /// The application's types, shared with its clients: the state, delta,
    /// action and event (see [`Model`]).
    type Model: Model;

    /// `true`: the application keeps the state and numbers seqs itself (see
    /// the trait docs); the server calls [`snapshot`](Self::snapshot) and
    /// [`deltas_since`](Self::deltas_since) and keeps no log.
    const APP_OWNED_STATE: bool = false;

    /// The state of a resource that has no log yet, loaded when it is first
    /// used. The default is `State::default()`. An error refuses the
    /// connections waiting for it with `sync_failed` (they retry).
    async fn initial_state(&self, resource_id: &str) -> Result<StateOf<Self::Model>, BoxError> {
        let _ = resource_id;
        Ok(StateOf::<Self::Model>::default())
    }

    /// Escape hatch only ([`APP_OWNED_STATE`](Self::APP_OWNED_STATE)): the
    /// resource's current state and the seq it is at.
    ///
    /// Called for every joining connection and whenever a resync cannot be
    /// served from deltas. An error closes that connection with
    /// `sync_failed` (it reconnects with backoff). The default is the
    /// default state at seq 0.
    async fn snapshot(&self, resource_id: &str) -> Result<(StateOf<Self::Model>, u64), BoxError> {
        let _ = resource_id;
        Ok((StateOf::<Self::Model>::default(), 0))
    }

    /// Escape hatch only ([`APP_OWNED_STATE`](Self::APP_OWNED_STATE)): the
    /// deltas after `seq`, oldest first, each with its own seq, so a
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
    ) -> Result<Vec<(DeltaOf<Self::Model>, u64)>, BoxError> {
        let _ = (resource_id, seq);
        Ok(Vec::new())
    }

    /// Performs one action.
    ///
    /// `ctx` says who acts (from authentication, never from the payload),
    /// on which resource, under which [`OpId`], and can report progress. The
    /// server runs each action once per `(resource, user, op_id)`: a retry
    /// with the same id (after a reconnect) gets the outcome of the first
    /// run, or joins it while it still runs, also after a server restart
    /// when the store is durable. Commit the resulting deltas with
    /// [`ActionContext::commit`] or [`ActionContext::transact`] before
    /// returning, so the client sees the change no later than the
    /// `ActionOk`. A commit stands even if the action then returns an error.
    async fn handle_action(
        &self,
        ctx: &ActionContext<Self>,
        action: ActionOf<Self::Model>,
    ) -> ActionOutcome
    where
        Self: Sized;

    /// The view a connection of `user` to `resource_id` gets (see the
    /// [`view`](crate::view) module). Called when the connection joins and
    /// again for [`SessionHandle::refresh_views`]; it runs under no lock of
    /// the server's and should be quick. The default, [`ViewKey::ALL`],
    /// sends everyone the whole state: handlers that do not use views are
    /// unchanged.
    fn view(&self, user: &Identity, resource_id: &str) -> ViewKey {
        let _ = (user, resource_id);
        ViewKey::ALL
    }

    /// Whom a connection of `user` to `resource_id` may see in presence and
    /// signal, and which groups the user belongs to (see
    /// [`PresenceScope`]). Called with [`view`](Self::view): when the
    /// connection joins and for [`SessionHandle::refresh_views`], under no
    /// lock of the server's. The default, [`PresenceScope::ALL`], lets
    /// everyone see and signal everyone in the resource. Unlike views, it
    /// applies with [`APP_OWNED_STATE`](Self::APP_OWNED_STATE) too.
    fn presence_scope(&self, user: &Identity, resource_id: &str) -> PresenceScope {
        let _ = (user, resource_id);
        PresenceScope::ALL
    }

    /// What `view` sees of `state`: the state its connections mirror.
    /// Called only for views other than [`ViewKey::ALL`], under the
    /// resource's log lock (not the hub's), once per view per head.
    /// Everything a view's client may not know must be absent from the
    /// result. The default is the whole state.
    fn project_state(&self, view: &ViewKey, state: &StateOf<Self::Model>) -> StateOf<Self::Model> {
        let _ = view;
        state.clone()
    }

    /// What the committed `delta` is to `view`, given the whole state
    /// `before` and `after` it. Called once per delta per distinct view
    /// (never for [`ViewKey::ALL`]), under the resource's log lock. The
    /// result, applied to `project_state(view, before)`, must give
    /// `project_state(view, after)`. The default is [`Projected::Same`].
    fn project_delta(
        &self,
        view: &ViewKey,
        before: &StateOf<Self::Model>,
        after: &StateOf<Self::Model>,
        delta: &DeltaOf<Self::Model>,
    ) -> Projected<DeltaOf<Self::Model>> {
        let _ = (view, before, after, delta);
        Projected::Same
    }

    /// Whether `user` may see `event` from `domain`; called for every
    /// subscribed recipient of a notification. It runs under no lock of the
    /// server's, so it may read the application's own state, but it should
    /// be quick. The default lets everything through.
    fn filter_notification(
        &self,
        user: &Identity,
        domain: &str,
        event: &EventOf<Self::Model>,
    ) -> bool {
        let _ = (user, domain, event);
        true
    }
}

/// Everything about one action except its payload, and a handle to its
/// resource's session for broadcasting the change it makes.
pub struct ActionContext<H: FlowHandler> {
    pub(crate) session: SessionHandle<H>,
    pub(crate) user: Arc<Identity>,
    pub(crate) key: OpKey,
    /// Whether the action committed anything (its op is then recorded).
    pub(crate) committed: AtomicBool,
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

    /// The session of the action's resource (notifications, presence,
    /// reading the state). Commit the action's deltas through
    /// [`commit`](Self::commit) or [`transact`](Self::transact) rather than
    /// the session's, so they are recorded as this action's.
    pub fn session(&self) -> &SessionHandle<H> {
        &self.session
    }

    /// Commits one delta as this action's effect (see
    /// [`SessionHandle::commit`]). Returns its seq.
    pub async fn commit(&self, delta: DeltaOf<H::Model>) -> Result<u64, CommitError> {
        let committed = self.commit_all(vec![delta]).await?;
        Ok(committed.map_or(0, |c| c.last))
    }

    /// Commits several deltas as one step of this action (see
    /// [`SessionHandle::commit_all`]).
    pub async fn commit_all(
        &self,
        deltas: Vec<DeltaOf<H::Model>>,
    ) -> Result<Option<Committed>, CommitError> {
        let mut once = Some(deltas);
        self.commit_tagged(move |_, previous| {
            Ok::<_, std::convert::Infallible>(previous.or_else(|| once.take()).unwrap_or_default())
        })
        .await
        .map_err(|e| match e {
            TransactError::Commit(e) => e,
            TransactError::Refused(never) => match never {},
        })
    }

    /// Decides against the current state and commits in one step, as this
    /// action's effect (see [`SessionHandle::transact`]; `decide` may run
    /// more than once).
    pub async fn transact<E>(
        &self,
        mut decide: impl FnMut(&StateOf<H::Model>) -> Result<Vec<DeltaOf<H::Model>>, E> + Send,
    ) -> Result<Option<Committed>, TransactError<E>> {
        self.commit_tagged(move |state, _| decide(state)).await
    }

    async fn commit_tagged<E>(
        &self,
        decide: impl FnMut(
            &StateOf<H::Model>,
            Option<Vec<DeltaOf<H::Model>>>,
        ) -> Result<Vec<DeltaOf<H::Model>>, E>
        + Send,
    ) -> Result<Option<Committed>, TransactError<E>> {
        let tag = OpTag {
            user: self.key.user.clone(),
            op_id: self.key.op_id,
        };
        let result = self.session.commit_tagged(Some(&tag), decide).await;
        if matches!(result, Ok(Some(_))) {
            self.committed.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Sends `Progress { op_id, percent, message }` to every connection
    /// waiting for this action (percent is clamped to 100). Never blocks.
    pub fn progress(&self, percent: Option<u8>, message: Option<&str>) {
        let (percent, message) = (percent.map(|p| p.min(100)), message.map(str::to_owned));
        self.session.inner.run(&self.key.resource, |hub| {
            hub.report_progress(&self.key, percent, message)
        });
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
