//! The ui-flow server on its own thread: the [`FlowHandler`] that hands
//! actions to the app, and the task that commits each sync tick.
//!
//! Nothing here runs on Bevy's schedule. The app hands ticks to this thread
//! through a channel bounded at [`TICK_QUEUE`] ticks and never waits on it:
//! when the queue is full, the app keeps the tick's marks and answers and
//! sends them with the next tick that finds room (see
//! [`SyncServer::coalesced_ticks`](crate::SyncServer::coalesced_ticks)), so
//! a frame never waits for a socket, a store write or a slow client, and a
//! server thread that falls behind costs commits, never changes.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};
use ui_flow_server::{
    ActionContext, ActionOutcome, Authenticator, FlowHandler, FlowServer, Identity, Projected,
    ViewKey,
};

use crate::action::{Answered, ClientAction};
use crate::interest::Views;
use crate::world::{SyncedModel, SyncedWorld, WorldDelta};

/// How many sync ticks may wait for the server thread: 64, about one second
/// of ticks at 60 Hz. Beyond it, ticks coalesce on the app's side (the
/// changes of several ticks become one commit, with each component's value
/// at the tick that finally goes); none is dropped and the app never blocks.
pub const TICK_QUEUE: usize = 64;

/// What one sync tick hands to the server thread: the coalesced change
/// (none on a quiet tick) and the answers to send once it is committed.
pub(crate) struct Tick {
    pub(crate) delta: Option<WorldDelta>,
    pub(crate) answers: Vec<(oneshot::Sender<ActionOutcome>, ActionOutcome)>,
    /// Users whose interest changed: their views are refreshed after the
    /// commit.
    pub(crate) refresh: Vec<String>,
}

/// The handler the plugin serves: state in the server's log, actions
/// forwarded to the app as [`ClientAction`] messages.
pub(crate) struct WorldHandler<A> {
    resource: String,
    actions: Mutex<std_mpsc::Sender<ClientAction<A>>>,
    answered: Answered,
    views: Option<Arc<dyn Views>>,
    _action: PhantomData<fn() -> A>,
}

#[async_trait]
impl<A> FlowHandler for WorldHandler<A>
where
    A: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Model = SyncedModel<A>;

    fn view(&self, user: &Identity, _resource_id: &str) -> ViewKey {
        self.views
            .as_ref()
            .map_or(ViewKey::ALL, |views| views.view(&user.user_id))
    }

    fn project_state(&self, view: &ViewKey, state: &SyncedWorld) -> SyncedWorld {
        match &self.views {
            Some(views) => views.project_state(view, state),
            None => state.clone(),
        }
    }

    fn project_delta(
        &self,
        view: &ViewKey,
        before: &SyncedWorld,
        after: &SyncedWorld,
        delta: &WorldDelta,
    ) -> Projected<WorldDelta> {
        match &self.views {
            Some(views) => views.project_delta(view, before, after, delta),
            None => Projected::Same,
        }
    }

    async fn handle_action(&self, ctx: &ActionContext<Self>, action: A) -> ActionOutcome {
        if ctx.resource_id() != self.resource {
            return ActionOutcome::err(
                "unknown_resource",
                format!("this server serves the world as {:?}", self.resource),
            );
        }
        let (answer, mut outcome) = oneshot::channel();
        let (progress, mut reports) = mpsc::unbounded_channel();
        let message = ClientAction::new(
            ctx.user().user_id.clone(),
            action,
            answer,
            self.answered.clone(),
            progress,
        );
        let sent = self
            .actions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(message);
        if sent.is_err() {
            return ActionOutcome::err("unavailable", "the world is not running");
        }
        loop {
            tokio::select! {
                biased;
                answered = &mut outcome => {
                    return answered.unwrap_or_else(|_| {
                        ActionOutcome::err("unanswered", "no system of the world answered the action")
                    });
                }
                Some((percent, message)) = reports.recv() => {
                    ctx.progress(percent, message.as_deref());
                }
            }
        }
    }
}

/// What the app keeps of the server thread. Dropping it (with the app's
/// world) stops the server: connections are told to reconnect and the
/// thread ends.
pub(crate) struct ServerThread {
    pub(crate) ticks: mpsc::Sender<Tick>,
    pub(crate) counts: Arc<dyn Counts>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Connection and session counts, without naming the handler's type.
pub(crate) trait Counts: Send + Sync {
    fn connections(&self) -> usize;
    fn sessions(&self) -> usize;
}

impl<A: Serialize + DeserializeOwned + Send + Sync + 'static> Counts
    for FlowServer<WorldHandler<A>>
{
    fn connections(&self) -> usize {
        self.connection_count()
    }
    fn sessions(&self) -> usize {
        self.session_count()
    }
}

/// Everything needed to start the server thread.
pub(crate) struct Launch {
    pub(crate) listener: std::net::TcpListener,
    pub(crate) resource: String,
    pub(crate) authenticator: Box<dyn FnOnce() -> SharedAuthenticator + Send>,
    pub(crate) config: ui_flow_server::ServerConfig,
    pub(crate) views: Option<Arc<dyn Views>>,
}

/// An authenticator chosen at run time.
pub(crate) struct SharedAuthenticator(pub(crate) Arc<dyn Authenticator>);

#[async_trait]
impl Authenticator for SharedAuthenticator {
    async fn authenticate(
        &self,
        request: ui_flow_server::AuthRequest<'_>,
    ) -> Result<ui_flow_server::Identity, ui_flow_server::AuthError> {
        self.0.authenticate(request).await
    }
}

/// Starts the server thread; returns the app's end of it and the receiver
/// of client actions.
pub(crate) fn start<A>(
    launch: Launch,
    answered: Answered,
) -> std::io::Result<(
    ServerThread,
    std_mpsc::Receiver<ClientAction<A>>,
    SocketAddr,
)>
where
    A: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let addr = launch.listener.local_addr()?;
    launch.listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (actions, incoming) = std_mpsc::channel();
    let handler = WorldHandler {
        resource: launch.resource.clone(),
        actions: Mutex::new(actions),
        answered,
        views: launch.views,
        _action: PhantomData,
    };
    let server = FlowServer::with_config(handler, (launch.authenticator)(), launch.config);
    let (ticks, tick_rx) = mpsc::channel(TICK_QUEUE);
    let (stop, stop_rx) = oneshot::channel();
    let std_listener = launch.listener;
    let serving = server.clone();
    let resource = launch.resource;
    std::thread::Builder::new()
        .name("ui-flow-server".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(listener) => listener,
                    Err(e) => {
                        tracing::error!(error = %e, "ui-flow-bevy could not listen");
                        return;
                    }
                };
                tokio::spawn(commit_ticks(serving.clone(), resource, tick_rx));
                let app = serving.router();
                let stop = async {
                    let _ = stop_rx.await;
                    serving.shutdown().await;
                };
                if let Err(e) = serving.serve_until(listener, app, stop).await {
                    tracing::error!(error = %e, "ui-flow-bevy stopped serving");
                }
            });
        })?;
    let thread = ServerThread {
        ticks,
        counts: Arc::new(server),
        stop: Some(stop),
    };
    Ok((thread, incoming, addr))
}

/// Commits ticks in the order the app produced them (one seq per tick
/// with changes), then releases the answers held for them.
async fn commit_ticks<A>(
    server: FlowServer<WorldHandler<A>>,
    resource: String,
    mut ticks: mpsc::Receiver<Tick>,
) where
    A: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let session = server.session(&resource);
    while let Some(tick) = ticks.recv().await {
        if let Some(delta) = tick.delta
            && let Err(e) = session.commit(delta).await
        {
            // The log keeps what it had; clients stay consistent with it,
            // but miss this tick's changes until those components change again.
            tracing::error!(error = %e, "a sync tick could not be committed");
        }
        for user_id in &tick.refresh {
            session.refresh_views_of(user_id);
        }
        for (sender, outcome) in tick.answers {
            let _ = sender.send(outcome);
        }
    }
}
