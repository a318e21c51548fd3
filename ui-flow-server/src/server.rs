//! The tokio driver around the [`Hub`]: [`FlowServer`] and [`SessionHandle`].
//!
//! The hub sits behind one mutex together with the outbound queue of every
//! connection. Whoever feeds it (a connection task, the application through
//! a [`SessionHandle`], a finished handler call, the presence timer) calls
//! [`Inner::run`], which applies the input and then drains the hub's
//! outputs: frames are pushed into outboxes (never waiting), requests are
//! spawned as tasks that call the [`FlowHandler`], and the next presence
//! deadline is handed to the timer task.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, Weak};
use std::time::Instant;

use futures::FutureExt;
use tokio::runtime::Handle;
use tokio::sync::{Notify, watch};
use tracing::Instrument;
use ui_flow::{EncodeError, OpId, PresenceInfo};

use crate::auth::{Authenticator, Identity};
use crate::broker::{Broker, LocalOnly, Publication};
use crate::config::ServerConfig;
use crate::counters::{Counters, Live};
use crate::handler::{ActionContext, ActionOutcome, FlowHandler};
use crate::hub::{ConnectionId, Departure, Fanout, Hub, Now, Refusal, Request, Transmit};
use crate::outbox::{Outbox, Pushed};

/// A ui-flow server for one [`FlowHandler`]: mount its [`router`](Self::router)
/// in an axum app, keep [`session`](Self::session) handles to broadcast.
///
/// Cloning is cheap and every clone is the same server.
pub struct FlowServer<H: FlowHandler> {
    pub(crate) inner: Arc<Inner<H>>,
}

impl<H: FlowHandler> Clone for FlowServer<H> {
    fn clone(&self) -> Self {
        FlowServer {
            inner: self.inner.clone(),
        }
    }
}

pub(crate) struct Core<H: FlowHandler> {
    pub(crate) hub: Hub<H>,
    outboxes: HashMap<ConnectionId, Arc<Outbox>>,
}

pub(crate) struct Inner<H: FlowHandler> {
    pub(crate) handler: Arc<H>,
    pub(crate) auth: Arc<dyn Authenticator>,
    pub(crate) config: ServerConfig,
    pub(crate) counters: Live,
    core: Mutex<Core<H>>,
    runtime: OnceLock<Handle>,
    deadline: watch::Sender<Option<Instant>>,
    all_closed: Notify,
    broker: RwLock<Arc<dyn Broker>>,
    /// Set when [`FlowServer::shutdown`] starts.
    stopping: std::sync::atomic::AtomicBool,
}

impl<H: FlowHandler> FlowServer<H> {
    /// A server with the default [`ServerConfig`].
    pub fn new(handler: H, authenticator: impl Authenticator) -> Self {
        Self::with_config(handler, authenticator, ServerConfig::default())
    }

    /// A server with the given settings.
    pub fn with_config(
        handler: H,
        authenticator: impl Authenticator,
        config: ServerConfig,
    ) -> Self {
        let epoch = config.epoch.unwrap_or_else(random_epoch);
        let (deadline, _) = watch::channel(None);
        FlowServer {
            inner: Arc::new(Inner {
                handler: Arc::new(handler),
                auth: Arc::new(authenticator),
                counters: Live::default(),
                core: Mutex::new(Core {
                    hub: Hub::new(config.clone(), epoch),
                    outboxes: HashMap::new(),
                }),
                config,
                runtime: OnceLock::new(),
                deadline,
                all_closed: Notify::new(),
                broker: RwLock::new(Arc::new(LocalOnly)),
                stopping: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// The application's handler.
    pub fn handler(&self) -> &Arc<H> {
        &self.inner.handler
    }

    /// The settings in force.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The seq lineage sent as `epoch` (see [`ServerConfig::epoch`]).
    pub fn epoch(&self) -> u32 {
        self.inner.lock().hub.epoch()
    }

    /// A handle to one resource's session, for broadcasting to it. Handles
    /// are cheap; a handle to a resource nobody is connected to delivers
    /// nothing.
    pub fn session(&self, resource_id: &str) -> SessionHandle<H> {
        SessionHandle {
            inner: self.inner.clone(),
            resource: Arc::from(resource_id),
        }
    }

    /// Sends every later broadcast to `broker` too (see [`crate::broker`]).
    pub fn set_broker(&self, broker: impl Broker) {
        *self
            .inner
            .broker
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(broker);
    }

    /// Delivers a `Delta`/`Deltas` frame published by another node to this
    /// node's connections of `resource`, bytes as they are. Returns how many
    /// connections it was queued for.
    pub fn deliver_published(
        &self,
        resource: &str,
        frame: bytes::Bytes,
        first: u64,
        last: u64,
    ) -> usize {
        self.inner
            .run(|hub| hub.deliver_deltas_frame(resource, frame, first, last))
    }

    /// The counters, as of now.
    pub fn counters(&self) -> Counters {
        let stats = self.inner.lock().hub.stats();
        self.inner
            .counters
            .snapshot(stats.bad_frames + stats.rate_limited)
    }

    /// Publishes [`counters`](Self::counters) and the open sessions to the
    /// process's [`metrics`](https://docs.rs/metrics) recorder (names in
    /// the crate docs, "Metrics, logs and health"). Call it before each scrape, or on a
    /// timer; without an installed recorder it does nothing. Action
    /// latencies, sync fetches and early refusals are recorded as they
    /// happen.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use ui_flow_server::{FlowServer, UnverifiedUserToken, counter::Counter};
    ///
    /// let flow = FlowServer::new(Counter::default(), UnverifiedUserToken);
    /// // With metrics-exporter-prometheus: `let handle = PrometheusBuilder::new().install_recorder()?;`
    /// let scrape = flow.clone();
    /// let app: Router = Router::new().route(
    ///     "/metrics",
    ///     get(move || async move {
    ///         scrape.record_metrics();
    ///         "render the exporter's text here"
    ///     }),
    /// );
    /// # let _ = app;
    /// ```
    pub fn record_metrics(&self) {
        crate::telemetry::publish(&self.counters(), self.session_count());
    }

    /// Whether [`shutdown`](Self::shutdown) has started: a health check
    /// should then report the node as not ready.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.stopping.load(Relaxed)
    }

    /// `GET /healthz`: `200 ok` while serving, `503 shutting down` once
    /// [`shutdown`](Self::shutdown) has started, so a load balancer stops
    /// sending new clients. Merges into a router with any state, like
    /// [`router`](Self::router). It checks this process only, not the
    /// application's own dependencies.
    pub fn health_router<S>(&self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let server = self.clone();
        axum::Router::new().route(
            "/healthz",
            axum::routing::get(move || {
                let stopping = server.is_shutting_down();
                async move {
                    if stopping {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "shutting down")
                    } else {
                        (axum::http::StatusCode::OK, "ok")
                    }
                }
            }),
        )
    }

    /// Open connections across all resources.
    pub fn connection_count(&self) -> usize {
        self.inner.lock().hub.connection_count()
    }

    /// Resources with at least one connection.
    pub fn session_count(&self) -> usize {
        self.inner.lock().hub.session_count()
    }

    /// Frames encoded so far (each broadcast counts once however many
    /// connections receive it).
    pub fn encode_count(&self) -> u64 {
        self.inner.lock().hub.stats().encodes
    }

    /// Tells every client to reconnect (`Error shutdown`, close 1001),
    /// refuses new connections, and waits until every connection has closed
    /// or [`close_grace`](ServerConfig::close_grace) has passed.
    pub async fn shutdown(&self) {
        self.inner.stopping.store(true, Relaxed);
        self.inner.run(|hub| hub.shutdown());
        let inner = self.inner.clone();
        let closed = async move {
            loop {
                let notified = inner.all_closed.notified();
                if inner.counters.connections_open.load(Relaxed) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(self.inner.config.close_grace, closed).await;
    }
}

/// The application's handle to one resource's session: broadcast deltas
/// and notifications, query presence.
///
/// Every method returns at once: it encodes the message once and queues
/// the bytes to each recipient's bounded outbound queue. A recipient that
/// cannot keep up is disconnected (it reconnects and resyncs); it never
/// slows the caller or anyone else.
///
/// ```
/// use ui_flow_server::{FlowServer, UnverifiedUserToken, counter::Counter};
///
/// let server = FlowServer::new(Counter::default(), UnverifiedUserToken);
/// let room = server.session("room-1");
/// assert_eq!(room.resource_id(), "room-1");
/// // Nobody is connected yet, so nothing is delivered.
/// assert_eq!(room.connection_count(), 0);
/// assert!(room.presence().is_empty());
/// ```
pub struct SessionHandle<H: FlowHandler> {
    pub(crate) inner: Arc<Inner<H>>,
    resource: Arc<str>,
}

impl<H: FlowHandler> Clone for SessionHandle<H> {
    fn clone(&self) -> Self {
        SessionHandle {
            inner: self.inner.clone(),
            resource: self.resource.clone(),
        }
    }
}

impl<H: FlowHandler> SessionHandle<H> {
    /// The resource this handle addresses.
    pub fn resource_id(&self) -> &str {
        &self.resource
    }

    /// Sends `Delta { delta, seq }` to every connection of the resource.
    /// Returns how many connections it was queued for.
    pub fn broadcast_delta(&self, delta: &H::Delta, seq: u64) -> Result<usize, EncodeError> {
        let fanout = self
            .inner
            .run(|hub| hub.broadcast_delta(Now::system(), &self.resource, delta, seq))?;
        self.publish_deltas(&fanout, seq, seq);
        Ok(fanout.reached)
    }

    /// Sends contiguous deltas ending at `seq` as one `Deltas` message.
    pub fn broadcast_deltas(&self, deltas: &[H::Delta], seq: u64) -> Result<usize, EncodeError> {
        let fanout = self
            .inner
            .run(|hub| hub.broadcast_deltas(Now::system(), &self.resource, deltas, seq))?;
        let first = seq.saturating_sub((deltas.len() as u64).saturating_sub(1));
        self.publish_deltas(&fanout, first, seq);
        Ok(fanout.reached)
    }

    fn publish_deltas(&self, fanout: &Fanout, first: u64, last: u64) {
        if let Some(frame) = &fanout.frame {
            self.inner.broker().publish(Publication::Deltas {
                resource: &self.resource,
                frame,
                first,
                last,
            });
        }
    }

    fn publish_notify(&self, fanout: &Fanout, user: Option<&str>, domain: &str) {
        if let Some(frame) = &fanout.frame {
            self.inner.broker().publish(Publication::Notify {
                resource: &self.resource,
                user,
                domain,
                frame,
            });
        }
    }

    /// Sends `Notify` to the connections subscribed to `domain` whose user
    /// passes [`FlowHandler::filter_notification`].
    pub fn broadcast_notify(
        &self,
        domain: &str,
        event: &H::Event,
        correlation_id: Option<OpId>,
    ) -> Result<usize, EncodeError> {
        let handler = self.inner.handler.clone();
        let mut filter =
            |user: &Identity, e: &H::Event| handler.filter_notification(user, domain, e);
        let fanout = self.inner.run(|hub| {
            hub.broadcast_notify(&self.resource, domain, event, correlation_id, &mut filter)
        })?;
        self.publish_notify(&fanout, None, domain);
        Ok(fanout.reached)
    }

    /// Like [`broadcast_notify`](Self::broadcast_notify), to one user's
    /// connections to this resource.
    pub fn notify_user(
        &self,
        user_id: &str,
        domain: &str,
        event: &H::Event,
        correlation_id: Option<OpId>,
    ) -> Result<usize, EncodeError> {
        let handler = self.inner.handler.clone();
        let mut filter =
            |user: &Identity, e: &H::Event| handler.filter_notification(user, domain, e);
        let fanout = self.inner.run(|hub| {
            hub.notify_user(
                &self.resource,
                user_id,
                domain,
                event,
                correlation_id,
                &mut filter,
            )
        })?;
        self.publish_notify(&fanout, Some(user_id), domain);
        Ok(fanout.reached)
    }

    /// Who is connected, one entry per user, ordered by user id.
    pub fn presence(&self) -> Vec<PresenceInfo> {
        self.inner.lock().hub.presence(&self.resource)
    }

    /// How many connections the resource has.
    pub fn connection_count(&self) -> usize {
        self.inner.lock().hub.session_len(&self.resource)
    }
}

impl<H: FlowHandler> Inner<H> {
    fn broker(&self) -> Arc<dyn Broker> {
        self.broker
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Core<H>> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies one input to the hub and drains its outputs.
    pub(crate) fn run<R>(self: &Arc<Self>, f: impl FnOnce(&mut Hub<H>) -> R) -> R {
        let mut core = self.lock();
        let result = f(&mut core.hub);
        self.drain(&mut core);
        let next = core.hub.poll_timeout();
        drop(core);
        self.deadline.send_if_modified(|d| {
            let changed = *d != next;
            *d = next;
            changed
        });
        result
    }

    /// Registers a new connection with its outbox.
    pub(crate) fn register(
        self: &Arc<Self>,
        resource: &str,
        user: Identity,
        resume: Option<(u64, Option<u32>)>,
        outbox: Arc<Outbox>,
    ) -> Result<ConnectionId, Refusal> {
        self.start_background();
        let mut core = self.lock();
        let id = core.hub.connect(Now::system(), resource, user, resume)?;
        core.outboxes.insert(id, outbox);
        self.drain(&mut core);
        drop(core);
        self.counters.connections_open.fetch_add(1, Relaxed);
        Live::add(&self.counters.connections_total, 1);
        Ok(id)
    }

    /// Forgets a connection whose task has ended.
    pub(crate) fn unregister(self: &Arc<Self>, id: ConnectionId) {
        self.run(|hub| hub.handle_departure(Now::system(), id, Departure::Gone));
        self.lock().outboxes.remove(&id);
        if self.counters.connections_open.fetch_sub(1, Relaxed) == 1 {
            self.all_closed.notify_waiters();
        }
    }

    fn drain(self: &Arc<Self>, core: &mut Core<H>) {
        loop {
            let mut slow = Vec::new();
            while let Some(transmit) = core.hub.poll_transmit() {
                match transmit {
                    Transmit::Frame { to, bytes } => {
                        for id in to.as_slice() {
                            let Some(outbox) = core.outboxes.get(id) else {
                                continue;
                            };
                            if let Pushed::Overflow { dropped } = outbox.push(bytes.clone()) {
                                Live::add(&self.counters.slow_disconnects, 1);
                                Live::add(&self.counters.drops, dropped as u64);
                                slow.push(*id);
                            }
                        }
                    }
                    Transmit::Close { conn, code, reason } => {
                        if let Some(outbox) = core.outboxes.get(&conn) {
                            outbox.close(code, reason);
                        }
                    }
                }
            }
            while let Some(request) = core.hub.poll_request() {
                self.spawn_request(request);
            }
            if slow.is_empty() {
                return;
            }
            let now = Now::system();
            for id in slow {
                core.hub.handle_departure(now, id, Departure::SlowConsumer);
            }
        }
    }

    /// Runs one handler call as a task, inside a `ui_flow_handler` span
    /// naming the call, the resource and (for actions) the user and op id.
    fn spawn_request(self: &Arc<Self>, request: Request<H::Action>) {
        let Some(runtime) = self.runtime.get() else {
            return;
        };
        let inner = self.clone();
        match request {
            Request::Snapshot { ticket, resource } => {
                crate::telemetry::sync_fetch("snapshot");
                let span =
                    tracing::info_span!("ui_flow_handler", call = "snapshot", resource = %resource);
                let task = async move {
                    let call = AssertUnwindSafe(inner.handler.snapshot(&resource)).catch_unwind();
                    let result = match call.await {
                        Ok(Ok(snapshot)) => Ok(snapshot),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("snapshot() panicked".to_owned()),
                    };
                    if let Err(e) = &result {
                        tracing::warn!(error = %e, "snapshot failed");
                    }
                    inner.run(|hub| hub.complete_snapshot(Now::system(), ticket, result));
                };
                runtime.spawn(task.instrument(span));
            }
            Request::Deltas {
                ticket,
                resource,
                after,
            } => {
                crate::telemetry::sync_fetch("deltas");
                let span = tracing::info_span!(
                    "ui_flow_handler",
                    call = "deltas_since",
                    resource = %resource,
                    after,
                );
                let task = async move {
                    let call = AssertUnwindSafe(inner.handler.deltas_since(&resource, after))
                        .catch_unwind();
                    let result = match call.await {
                        Ok(Ok(deltas)) => Ok(deltas),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("deltas_since() panicked".to_owned()),
                    };
                    if let Err(e) = &result {
                        tracing::warn!(error = %e, "deltas_since failed");
                    }
                    inner.run(|hub| hub.complete_deltas(Now::system(), ticket, result));
                };
                runtime.spawn(task.instrument(span));
            }
            Request::Action { key, user, action } => {
                let span = tracing::info_span!(
                    "ui_flow_handler",
                    call = "handle_action",
                    resource = %key.resource,
                    user = %user.user_id,
                    op_id = %key.op_id(),
                );
                let task = async move {
                    let ctx = ActionContext {
                        session: SessionHandle {
                            inner: inner.clone(),
                            resource: key_resource(&key),
                        },
                        user,
                        key: key.clone(),
                    };
                    let started = Instant::now();
                    let call = AssertUnwindSafe(inner.handler.handle_action(&ctx, action));
                    let outcome = match call.catch_unwind().await {
                        Ok(outcome) => outcome,
                        Err(_) => {
                            tracing::error!("handle_action panicked");
                            ActionOutcome::err("internal", "the action failed on the server")
                        }
                    };
                    let ok = matches!(outcome, ActionOutcome::Ok(_));
                    crate::telemetry::action_finished(started.elapsed(), ok);
                    tracing::debug!(ok, "action finished");
                    inner.run(|hub| hub.complete_action(Now::system(), &key, outcome));
                };
                runtime.spawn(task.instrument(span));
            }
        }
    }

    /// Remembers the runtime and starts the presence timer, once.
    fn start_background(self: &Arc<Self>) {
        if self.runtime.get().is_some() {
            return;
        }
        let Ok(handle) = Handle::try_current() else {
            return;
        };
        if self.runtime.set(handle.clone()).is_err() {
            return;
        }
        let weak = Arc::downgrade(self);
        let rx = self.deadline.subscribe();
        handle.spawn(presence_timer(weak, rx));
    }
}

fn key_resource(key: &crate::hub::OpKey) -> Arc<str> {
    key.resource.clone()
}

/// Calls `handle_timeout` whenever the hub's next deadline passes.
async fn presence_timer<H: FlowHandler>(
    inner: Weak<Inner<H>>,
    mut rx: watch::Receiver<Option<Instant>>,
) {
    loop {
        let next = *rx.borrow_and_update();
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {
                        let Some(inner) = inner.upgrade() else { return };
                        inner.run(|hub| hub.handle_timeout(Now::system()));
                    }
                    changed = rx.changed() => if changed.is_err() { return },
                }
            }
            None => {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A random epoch for this process, from the standard library's per-process
/// random hash keys (no extra dependency).
fn random_epoch() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() as u32
}

impl<H: FlowHandler> FlowServer<H> {
    /// The axum router serving `GET /realtime/{resource_id}` (the WebSocket
    /// upgrade), authenticated by the server's [`Authenticator`]. It carries
    /// its own state, so it merges into a router with any application state
    /// `S`; serve it alone as `router::<()>()`. For another path, the app's
    /// own state or middleware in the handler, mount a
    /// [`FlowUpgrade`](crate::FlowUpgrade) instead.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use ui_flow_server::{FlowServer, UnverifiedUserToken, counter::Counter};
    ///
    /// #[derive(Clone)]
    /// struct AppState {
    ///     name: &'static str,
    /// }
    ///
    /// let flow = FlowServer::new(Counter::default(), UnverifiedUserToken);
    /// let app: Router = Router::new()
    ///     .route("/", get(|axum::extract::State(s): axum::extract::State<AppState>| async move { s.name }))
    ///     .merge(flow.router())
    ///     .with_state(AppState { name: "board" });
    /// # let _ = app;
    /// ```
    pub fn router<S>(&self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        crate::endpoint::router(self.inner.clone())
    }
}
