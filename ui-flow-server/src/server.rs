//! The tokio driver around the [`Hub`]: [`FlowServer`] and [`SessionHandle`].
//!
//! Each resource with something going on at this node has a *slot*: its
//! own [`Hub`] behind its own mutex, with the resource's delivery lane (see
//! [`crate::lane`]) and the outboxes of its connections not yet admitted.
//! Whoever feeds a resource (its connection tasks, the application
//! through a [`SessionHandle`], a finished handler call, the slot's timer
//! task, the mesh) locks that slot only, applies the input and drains the
//! hub's outputs: frames are queued on the resource's lane, requests are
//! spawned as tasks that call the [`FlowHandler`], and the next deadline is
//! handed to the slot's timer task. Then, with the slot's lock released,
//! the lane is delivered: frames go into the connections' outboxes (never
//! waiting) under that lane's lock only. So inputs for different resources
//! never wait on each other, and one resource's fan-out does not hold up
//! its own hub either.
//!
//! What the node shares sits apart, each piece behind a small lock or in
//! atomics held for a few map operations: the slot map, the hubs'
//! [`NodeShare`] (connection ids, connection counts per node and per user,
//! join buckets, remembered outcome bytes, the shutdown flag), the open
//! logs, the broker and the counters. A connection task keeps its slot from
//! the upgrade on, so its frames never touch the slot map. A slot whose hub
//! is idle ([`Hub::is_idle`]: no connection, handshake, closing socket,
//! running action, outcome within its retention window or other node's
//! presence) is retired from the map after the input that made it so; the
//! next input for the resource makes a new one.
//!
//! Lock order: a slot's lock (never two slots at once), then, briefly, the
//! slot map (to retire it), the log map (`close_resource`), the
//! [`NodeShare`] (inside the hub), a lane's queue (to queue) and the
//! broker's (to publish). The slot map is never held while a slot is
//! locked the other way round: a slot is looked up, the map released, then
//! the slot locked (a slot found retired by then is looked up again).
//! Delivery holds a lane's members lock and takes no other. No handler
//! method, `filter_notification` or `transact` closure runs under any of
//! them.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, Weak};
use std::time::Instant;

use futures::FutureExt;
use tokio::runtime::Handle;
use tokio::sync::{Notify, OnceCell, watch};
use tracing::Instrument;
use ui_flow::model::{ActionOf, DeltaOf, EventOf, StateOf};
use ui_flow::{EncodeError, OpId, PresenceInfo};

use crate::auth::{Authenticator, Identity};
use crate::broker::{Broker, LocalOnly, Publication};
use crate::config::ServerConfig;
use crate::counters::{Counters, Live};
use crate::handler::{ActionContext, ActionOutcome, FlowHandler};
use crate::hub::{
    BroadcastError, ConnectionId, Departure, Fanout, HandshakeError, Hub, HubStats, MeshEvent,
    NodeShare, Now, OpKey, Request, Transmit, outcome_frame,
};
use crate::lane::{DeliveryHold, Lane, LaneOp, Offered, Tally, Turn};
use crate::log::{CommitError, Committed, OpTag, ResourceLog, TransactError};
use crate::outbox::Outbox;
use crate::store::{MemoryStore, OpRecord, Outcome, Store};
use crate::view::{ViewFrames, ViewKey};

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

/// One resource's hub on this node and what the driver keeps beside it
/// (see the module docs).
pub(crate) struct Slot<H: FlowHandler> {
    resource: Arc<str>,
    core: Mutex<Core<H>>,
    /// The hub's next deadline, for the slot's timer task.
    deadline: watch::Sender<Option<Instant>>,
}

impl<H: FlowHandler> Slot<H> {
    fn lock(&self) -> MutexGuard<'_, Core<H>> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The live slots, and the stats of the hubs retired so far (so the
/// node's totals do not go down when a slot goes).
struct Slots<H: FlowHandler> {
    live: HashMap<Arc<str>, Arc<Slot<H>>>,
    retired: HubStats,
}

pub(crate) struct Core<H: FlowHandler> {
    pub(crate) hub: Hub<H::Model>,
    /// Set when the slot left the slot map: whoever finds it so looks the
    /// resource up again.
    retired: bool,
    /// Outboxes of connections not admitted to a resource (authenticating,
    /// or refused and closing): their few frames are pushed under the
    /// hub's lock.
    pending: HashMap<ConnectionId, Arc<Outbox>>,
    /// The resource and lane of each admitted connection.
    lane_of: HashMap<ConnectionId, (Arc<str>, Arc<Lane>)>,
    /// Each resource's lane on this node, with its admitted connections.
    lanes: HashMap<Arc<str>, (Arc<Lane>, usize)>,
    /// Lanes queued on since the hub's lock was taken, delivered once it
    /// is released.
    touched: Vec<Arc<Lane>>,
    /// The admitted connections that are another socket's channel, and
    /// where to tell that socket when the hub ends one (see
    /// `crate::channels`).
    members: HashMap<ConnectionId, crate::channels::MemberEnd<H>>,
}

impl<H: FlowHandler> Core<H> {
    /// Frames for `id` go to `resource`'s lane from now on.
    fn join_lane(&mut self, id: ConnectionId, resource: &str) {
        let Some(outbox) = self.pending.remove(&id) else {
            return;
        };
        self.enter_lane(id, resource, |lane| lane.enqueue(LaneOp::Join(id, outbox)));
    }

    /// A member's frames go to `resource`'s lane from now on, put on
    /// `channel`, starting with its `Joined`.
    fn join_lane_on(
        &mut self,
        id: ConnectionId,
        resource: &str,
        outbox: Arc<Outbox>,
        channel: ui_flow::Channel,
    ) {
        self.enter_lane(id, resource, |lane| {
            lane.enqueue(LaneOp::JoinOn(id, outbox, channel));
            lane.enqueue(LaneOp::Send(Transmit::Frame {
                to: crate::hub::Recipients::One(id),
                bytes: crate::channels::joined_frame(channel),
            }));
        });
    }

    fn enter_lane(&mut self, id: ConnectionId, resource: &str, enter: impl FnOnce(&Lane)) {
        let (key, lane) = match self.lanes.get_key_value(resource) {
            Some((key, (lane, _))) => (key.clone(), lane.clone()),
            None => (Arc::from(resource), Arc::new(Lane::default())),
        };
        self.lanes.entry(key.clone()).or_insert((lane.clone(), 0)).1 += 1;
        enter(&lane);
        self.lane_of.insert(id, (key, lane.clone()));
        self.touched.push(lane);
    }

    /// Queues a frame for an admitted connection on its lane, after what
    /// the hub queued for it.
    fn send_on_lane(&mut self, id: ConnectionId, bytes: bytes::Bytes) {
        if let Some((_, lane)) = self.lane_of.get(&id) {
            lane.enqueue(LaneOp::Send(Transmit::Frame {
                to: crate::hub::Recipients::One(id),
                bytes,
            }));
            let lane = lane.clone();
            self.touched.push(lane);
        }
    }

    /// Forgets `id`'s outbox (its task has ended).
    fn leave(&mut self, id: ConnectionId) {
        if self.pending.remove(&id).is_some() {
            return;
        }
        let Some((resource, lane)) = self.lane_of.remove(&id) else {
            return;
        };
        lane.enqueue(LaneOp::Leave(id));
        if let Some((_, members)) = self.lanes.get_mut(&resource) {
            *members -= 1;
            if *members == 0 {
                self.lanes.remove(&resource);
            }
        }
        self.touched.push(lane);
    }
}

/// Where one resource's log is, once a task has opened it.
type LogSlot<H> = Arc<OnceCell<Arc<ResourceLog<H>>>>;

pub(crate) struct Inner<H: FlowHandler> {
    pub(crate) handler: Arc<H>,
    pub(crate) auth: Arc<dyn Authenticator>,
    pub(crate) config: ServerConfig,
    pub(crate) counters: Live,
    /// The seq lineage every hub of this node announces.
    epoch: u32,
    node: Arc<NodeShare>,
    slots: Mutex<Slots<H>>,
    /// How many slots are live, for tests and diagnostics.
    slot_count: watch::Sender<usize>,
    /// Set once the node is one of a mesh: new hubs are meshed too.
    meshed: AtomicBool,
    runtime: OnceLock<Handle>,
    all_closed: Notify,
    broker: RwLock<Arc<dyn Broker>>,
    store: Arc<dyn Store>,
    /// The open resource logs; a cell is filled by the first task that needs it.
    logs: Mutex<HashMap<Arc<str>, LogSlot<H>>>,
    /// Set when [`FlowServer::shutdown`] starts.
    stopping: std::sync::atomic::AtomicBool,
    /// The resources with a gauge of their own at the last scrape.
    published_resources: Mutex<Vec<Arc<str>>>,
}

impl<H: FlowHandler> FlowServer<H> {
    /// A server with the default [`ServerConfig`].
    pub fn new(handler: H, authenticator: impl Authenticator) -> Self {
        Self::with_config(handler, authenticator, ServerConfig::default())
    }

    /// A server with the given settings, keeping resource logs in memory
    /// ([`MemoryStore`]).
    pub fn with_config(
        handler: H,
        authenticator: impl Authenticator,
        config: ServerConfig,
    ) -> Self {
        Self::with_store(handler, authenticator, config, MemoryStore::new())
    }

    /// A server with the given settings, keeping resource logs in `store`
    /// (for example a durable [`FileStore`](crate::store::FileStore), so a
    /// restarted server continues every resource's epoch and seq line).
    pub fn with_store(
        handler: H,
        authenticator: impl Authenticator,
        config: ServerConfig,
        store: impl Store,
    ) -> Self {
        let epoch = config.epoch.unwrap_or_else(random_epoch);
        let (slot_count, _) = watch::channel(0);
        FlowServer {
            inner: Arc::new(Inner {
                handler: Arc::new(handler),
                auth: Arc::new(authenticator),
                counters: Live::default(),
                epoch,
                node: Arc::new(NodeShare::new()),
                slots: Mutex::new(Slots {
                    live: HashMap::new(),
                    retired: HubStats::default(),
                }),
                slot_count,
                meshed: AtomicBool::new(false),
                config,
                runtime: OnceLock::new(),
                all_closed: Notify::new(),
                broker: RwLock::new(Arc::new(LocalOnly)),
                store: Arc::new(store),
                logs: Mutex::new(HashMap::new()),
                stopping: std::sync::atomic::AtomicBool::new(false),
                published_resources: Mutex::new(Vec::new()),
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
        self.inner.epoch
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

    /// Closes a resource nobody is connected to: its log leaves memory
    /// (the store keeps it; the next use reopens it). With `forget`, the
    /// store drops it too, so the next use starts a new log. Returns false,
    /// and does nothing, while the resource has connections.
    pub async fn close_resource(
        &self,
        resource_id: &str,
        forget: bool,
    ) -> Result<bool, crate::store::StoreError> {
        let resource: Arc<str> = Arc::from(resource_id);
        // Under the resource's lock, so no connection joins in between.
        let closed = self.inner.run(&resource, |hub| {
            if hub.session_len(resource_id) > 0 {
                return false;
            }
            self.inner
                .logs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&resource);
            true
        });
        if !closed {
            return Ok(false);
        }
        if forget {
            self.inner.store.remove(resource_id).await?;
        }
        Ok(true)
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
            .run_existing(resource, |hub| {
                hub.deliver_deltas_frame(resource, frame, first, last)
            })
            .unwrap_or(0)
    }

    /// A test seam: holds the delivery of `resource_id`'s frames on this
    /// node until the returned hold is dropped (`None` while the resource
    /// has no admitted connection here). The hub goes on meanwhile:
    /// handshakes, timers and other resources are not held.
    #[doc(hidden)]
    pub fn hold_delivery(&self, resource_id: &str) -> Option<DeliveryHold> {
        let slot = self.inner.existing(resource_id)?;
        let core = slot.lock();
        core.lanes.get(resource_id).map(|(lane, _)| lane.hold())
    }

    /// A test seam: holds `resource_id`'s lock on this node (making its
    /// slot if there is none) until the returned hold is dropped. Nothing
    /// of that resource moves meanwhile (its handshakes, frames, timers
    /// and commits' fan-out wait); other resources are not held.
    #[doc(hidden)]
    pub fn hold_resource(&self, resource_id: &str) -> ResourceHold {
        let slot = self.inner.slot(resource_id);
        let (held, is_held) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        // A thread of its own keeps the lock, so the hold can be kept across
        // awaits on any task.
        let thread = std::thread::spawn(move || {
            let core = slot.lock();
            let _ = held.send(());
            let _ = released.recv();
            drop(core);
        });
        let _ = is_held.recv();
        ResourceHold {
            release: Some(release),
            thread: Some(thread),
        }
    }

    /// How many resources have a slot (their own hub and lock) on this
    /// node: those with a connection, a handshake, a closing socket, a
    /// running action, an outcome within its retention window or another
    /// node's presence. For tests and diagnostics.
    #[doc(hidden)]
    pub fn live_slot_count(&self) -> usize {
        *self.inner.slot_count.borrow()
    }

    /// Waits until at most `count` resources have a slot on this node.
    #[doc(hidden)]
    pub async fn live_slots_at_most(&self, count: usize) {
        let mut rx = self.inner.slot_count.subscribe();
        let _ = rx.wait_for(|n| *n <= count).await;
    }

    /// The counters, as of now.
    pub fn counters(&self) -> Counters {
        let stats = self.inner.stats();
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
    ///
    /// Per resource, only the 16 busiest get `ui_flow_resource_connections{resource}`, so cardinality
    /// stays bounded; the rest are summed in
    /// `ui_flow_other_resource_connections`. A resource that leaves the
    /// top 16 is set to 0 (give the exporter an idle timeout to drop it).
    pub fn record_metrics(&self) {
        let counters = self.counters();
        crate::telemetry::publish(&counters, self.session_count());
        let busiest = self
            .inner
            .busiest_sessions(crate::telemetry::RESOURCE_GAUGES);
        let mut published = self
            .inner
            .published_resources
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *published =
            crate::telemetry::publish_resources(&busiest, &published, counters.connections_open);
    }

    /// Whether [`shutdown`](Self::shutdown) has started: a health check
    /// should then report the node as not ready.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.stopping.load(Relaxed)
    }

    /// `GET /healthz`: `200 ok` while serving, `503 shutting down` once
    /// [`shutdown`](Self::shutdown) has started, so a load balancer stops
    /// sending new clients, and `503 degraded: <reason>` while the
    /// [`Broker`] reports the path to the other nodes broken
    /// ([`Broker::health`]). Merges into a router with any state, like
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
                let broker = server.inner.broker().health();
                async move {
                    match (stopping, broker) {
                        (true, _) => (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "shutting down".to_owned(),
                        ),
                        (false, Err(why)) => (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            format!("degraded: {why}"),
                        ),
                        (false, Ok(())) => (axum::http::StatusCode::OK, "ok".to_owned()),
                    }
                }
            }),
        )
    }

    /// Open connections across all resources.
    pub fn connection_count(&self) -> usize {
        self.inner.node.connection_count()
    }

    /// Resources with at least one connection.
    pub fn session_count(&self) -> usize {
        self.inner.sum(|hub| hub.session_count())
    }

    /// Deadlines the hub holds (keepalives, handshake and close timeouts,
    /// idle statuses, presence windows), including stale ones that will do
    /// nothing when due. For tests and diagnostics: however many
    /// connections came and went, it stays within about twice the live
    /// deadlines plus 1,024.
    pub fn timer_count(&self) -> usize {
        self.inner.sum(Hub::timer_count)
    }

    /// Frames encoded so far (each broadcast counts once however many
    /// connections receive it).
    pub fn encode_count(&self) -> u64 {
        self.inner.stats().encodes
    }

    /// Frames projected and encoded for a view so far: one per changed view
    /// per commit, however many connections share the view.
    pub fn view_frame_count(&self) -> u64 {
        self.inner.stats().view_frames
    }

    /// Tells every client to reconnect (`Error shutdown`, close 1001),
    /// refuses new connections, and waits until every connection has closed
    /// or [`close_grace`](ServerConfig::close_grace) has passed.
    pub async fn shutdown(&self) {
        self.inner.stopping.store(true, Relaxed);
        // First the flag every hub checks, so a resource whose slot is made
        // from now on refuses too; then every live slot closes its own.
        self.inner.node.shut_down();
        for slot in self.inner.live_slots() {
            self.inner.run_on(&slot, Hub::shutdown);
        }
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

/// Holds one resource's lock until dropped (see
/// [`FlowServer::hold_resource`]).
#[doc(hidden)]
pub struct ResourceHold {
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ResourceHold {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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

    /// Commits one delta: the server applies it to the resource's state,
    /// gives it the next seq, keeps it in the store and sends it to every
    /// connection, encoded once. Returns its seq.
    ///
    /// Concurrent commits to one resource are applied and sent in one
    /// order; when this returns, the delta is in the store (as durably as
    /// the store promises) and queued to every connection.
    ///
    /// ```no_run
    /// # use ui_flow_server::{FlowServer, UnverifiedUserToken, counter::{Counter, CounterDelta}};
    /// # async fn run() -> Result<(), ui_flow_server::CommitError> {
    /// let server = FlowServer::new(Counter, UnverifiedUserToken);
    /// let seq = server.session("room-1").commit(CounterDelta { add: 5 }).await?;
    /// assert!(seq >= 1);
    /// # Ok(()) }
    /// ```
    pub async fn commit(&self, delta: DeltaOf<H::Model>) -> Result<u64, CommitError> {
        let committed = self.commit_all(vec![delta]).await?;
        Ok(committed.map_or(0, |c| c.last))
    }

    /// Commits several deltas as one step: consecutive seqs, one store
    /// write, one `Deltas` frame. `None` when `deltas` is empty.
    pub async fn commit_all(
        &self,
        deltas: Vec<DeltaOf<H::Model>>,
    ) -> Result<Option<Committed>, CommitError> {
        let mut once = Some(deltas);
        self.commit_tagged(None, move |_, previous| {
            Ok::<_, std::convert::Infallible>(previous.or_else(|| once.take()).unwrap_or_default())
        })
        .await
        .map_err(|e| match e {
            TransactError::Commit(e) => e,
            TransactError::Refused(never) => match never {},
        })
    }

    /// Decides and commits in one step: `decide` sees the state as it is
    /// (no other commit to this resource runs meanwhile) and returns the
    /// deltas to commit, or refuses. Check-then-act without a race:
    ///
    /// ```no_run
    /// # use ui_flow_server::{FlowServer, UnverifiedUserToken, TransactError, counter::{Counter, CounterDelta}};
    /// # async fn run() {
    /// # let server = FlowServer::new(Counter, UnverifiedUserToken);
    /// let room = server.session("room-1");
    /// let result = room
    ///     .transact(|state| {
    ///         if state.value >= 10 {
    ///             return Err("the counter is full");
    ///         }
    ///         Ok(vec![CounterDelta { add: 1 }])
    ///     })
    ///     .await;
    /// match result {
    ///     Ok(_) => {}
    ///     Err(TransactError::Refused(why)) => println!("refused: {why}"),
    ///     Err(TransactError::Commit(e)) => println!("not committed: {e}"),
    /// }
    /// # }
    /// ```
    ///
    /// `decide` may run more than once: when the store is shared by several
    /// nodes (a [`JetStreamStore`](crate::nats::JetStreamStore), feature
    /// `nats`) and another node committed first, the log catches up and
    /// `decide` runs again on the new state. Keep side effects out of it.
    pub async fn transact<E>(
        &self,
        mut decide: impl FnMut(&StateOf<H::Model>) -> Result<Vec<DeltaOf<H::Model>>, E> + Send,
    ) -> Result<Option<Committed>, TransactError<E>> {
        self.commit_tagged(None, move |state, _| decide(state))
            .await
    }

    /// Calls `read` with the resource's state and the seq it is at (the
    /// resource's log is opened if it is not yet).
    ///
    /// With a store several nodes share, this is the state as this node has
    /// applied it: a commit made on another node arrives through the
    /// follower a moment later. To decide on the latest state, use
    /// [`transact`](Self::transact), which catches up before it commits.
    pub async fn read<R>(
        &self,
        read: impl FnOnce(&StateOf<H::Model>, u64) -> R + Send,
    ) -> Result<R, CommitError> {
        let log = self.inner.log(&self.resource).await?;
        Ok(log.read(read).await)
    }

    /// The resource's epoch and head seq.
    pub async fn position(&self) -> Result<(u32, u64), CommitError> {
        let log = self.inner.log(&self.resource).await?;
        Ok(log.position().await)
    }

    pub(crate) async fn commit_tagged<E>(
        &self,
        op: Option<&OpTag>,
        decide: impl FnMut(
            &StateOf<H::Model>,
            Option<Vec<DeltaOf<H::Model>>>,
        ) -> Result<Vec<DeltaOf<H::Model>>, E>
        + Send,
    ) -> Result<Option<Committed>, TransactError<E>> {
        let log = self.inner.log(&self.resource).await?;
        let views = || {
            self.inner
                .with_existing(&self.resource, |hub| hub.views_of(&self.resource))
                .unwrap_or_default()
        };
        let fan_out = |frame: bytes::Bytes, views: ViewFrames, first: u64, last: u64| {
            let fanout = Fanout {
                reached: 0,
                frame: Some(frame.clone()),
            };
            self.inner.run_existing(&self.resource, |hub| {
                hub.deliver_view_frames(Now::system(), &self.resource, frame, &views, first, last)
            });
            self.publish_deltas(&fanout, first, last);
        };
        let now_ms = Now::system().unix_ms;
        let handler = &*self.inner.handler;
        let result = log
            .commit(handler, op, now_ms, decide, views, fan_out)
            .await;
        if let Err(TransactError::Commit(CommitError::Store(e))) = &result {
            if !(log.is_shared() && matches!(e, crate::store::StoreError::Io(_))) {
                self.inner.forget_log(&self.resource, &log);
            }
        }
        result
    }

    /// Asks [`FlowHandler::view`] and [`FlowHandler::presence_scope`]
    /// again for every connection of the resource (after permissions
    /// change, or a player moves). Each connection whose view changed
    /// resyncs with a fresh snapshot of its new view, so nothing its old
    /// view allowed stays in its state; each whose presence scope changed
    /// gets a fresh `Presence` list of its new scope (and so do the
    /// connections with a narrow scope, when a user's groups changed).
    /// Returns how many connections changed either. Both are called with no
    /// lock held.
    pub fn refresh_views(&self) -> usize {
        self.refresh_views_where(|_| true)
    }

    /// [`refresh_views`](Self::refresh_views) for the connections of one
    /// user only.
    pub fn refresh_views_of(&self, user_id: &str) -> usize {
        self.refresh_views_where(|user| user.user_id == user_id)
    }

    fn refresh_views_where(&self, pick: impl Fn(&Identity) -> bool) -> usize {
        let members = self
            .inner
            .with_existing(&self.resource, |hub| hub.members(&self.resource))
            .unwrap_or_default();
        let handler = &self.inner.handler;
        let views: Vec<_> = members
            .into_iter()
            .filter(|(_, user)| pick(user))
            .map(|(conn, user)| {
                // Views belong to the server-owned log (see `crate::view`).
                let view = if H::APP_OWNED_STATE {
                    ViewKey::ALL
                } else {
                    handler.view(&user, &self.resource)
                };
                (conn, view, handler.presence_scope(&user, &self.resource))
            })
            .collect();
        if views.is_empty() {
            return 0;
        }
        self.inner
            .run_existing(&self.resource, |hub| {
                let now = Now::system();
                views
                    .into_iter()
                    .filter(|(conn, view, scope)| {
                        let moved = hub.change_view(now, *conn, view.clone());
                        hub.change_presence_scope(now, *conn, scope.clone()) || moved
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// Escape hatch ([`FlowHandler::APP_OWNED_STATE`]): sends
    /// `Delta { delta, seq }`, numbered by the application, to every
    /// connection of the resource. `seq` must follow the last seq sent or
    /// synced ([`BroadcastError::OutOfOrder`] otherwise). Returns how many
    /// connections it was queued for.
    pub fn broadcast_delta(
        &self,
        delta: &DeltaOf<H::Model>,
        seq: u64,
    ) -> Result<usize, BroadcastError> {
        let fanout = self
            .inner
            .run_existing(&self.resource, |hub| {
                hub.broadcast_delta(Now::system(), &self.resource, delta, seq)
            })
            .unwrap_or_else(|| Ok(Fanout::default()))?;
        self.publish_deltas(&fanout, seq, seq);
        Ok(fanout.reached)
    }

    /// Escape hatch: sends contiguous deltas ending at `seq` as one
    /// `Deltas` message (see [`broadcast_delta`](Self::broadcast_delta)).
    pub fn broadcast_deltas(
        &self,
        deltas: &[DeltaOf<H::Model>],
        seq: u64,
    ) -> Result<usize, BroadcastError> {
        let fanout = self
            .inner
            .run_existing(&self.resource, |hub| {
                hub.broadcast_deltas(Now::system(), &self.resource, deltas, seq)
            })
            .unwrap_or_else(|| Ok(Fanout::default()))?;
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

    fn publish_notify(
        &self,
        fanout: &Fanout,
        user: Option<&str>,
        domain: &str,
        event: &EventOf<H::Model>,
        correlation_id: Option<OpId>,
    ) {
        let broker = self.inner.broker();
        if broker.forwards_events() {
            match rmp_serde::to_vec_named(event) {
                Ok(event) => broker.publish(Publication::Event {
                    resource: &self.resource,
                    user,
                    domain,
                    event: &event,
                    correlation_id,
                }),
                Err(e) => tracing::warn!(error = %e, "could not encode an event for other nodes"),
            }
        }
        if let Some(frame) = &fanout.frame {
            broker.publish(Publication::Notify {
                resource: &self.resource,
                user,
                domain,
                frame,
            });
        }
    }

    /// Sends `Notify` to the connections subscribed to `domain` whose user
    /// passes [`FlowHandler::filter_notification`] (called with no lock of
    /// the server's held).
    pub fn broadcast_notify(
        &self,
        domain: &str,
        event: &EventOf<H::Model>,
        correlation_id: Option<OpId>,
    ) -> Result<usize, EncodeError> {
        let fanout = self.notify(None, domain, event, correlation_id)?;
        self.publish_notify(&fanout, None, domain, event, correlation_id);
        Ok(fanout.reached)
    }

    /// Like [`broadcast_notify`](Self::broadcast_notify), to one user's
    /// connections to this resource.
    pub fn notify_user(
        &self,
        user_id: &str,
        domain: &str,
        event: &EventOf<H::Model>,
        correlation_id: Option<OpId>,
    ) -> Result<usize, EncodeError> {
        let fanout = self.notify(Some(user_id), domain, event, correlation_id)?;
        self.publish_notify(&fanout, Some(user_id), domain, event, correlation_id);
        Ok(fanout.reached)
    }

    /// Filters and sends a notification to this node's connections only.
    pub(crate) fn notify(
        &self,
        user: Option<&str>,
        domain: &str,
        event: &EventOf<H::Model>,
        correlation_id: Option<OpId>,
    ) -> Result<Fanout, EncodeError> {
        let candidates = self
            .inner
            .with_existing(&self.resource, |hub| {
                hub.notify_candidates(&self.resource, domain, user)
            })
            .unwrap_or_default();
        let handler = &self.inner.handler;
        let chosen: Vec<ConnectionId> = candidates
            .into_iter()
            .filter(|(_, who)| handler.filter_notification(who, domain, event))
            .map(|(id, _)| id)
            .collect();
        if chosen.is_empty() {
            return Ok(Fanout::default());
        }
        self.inner
            .run_existing(&self.resource, |hub| {
                hub.notify_connections(chosen, domain, event, correlation_id)
            })
            .unwrap_or_else(|| Ok(Fanout::default()))
    }

    /// Who is connected, one entry per user, ordered by user id. On a node
    /// of a mesh (`nats::NatsMesh`, feature `nats`) it is the merged
    /// list, with the users connected on other nodes even when nobody is
    /// connected to the resource on this one.
    pub fn presence(&self) -> Vec<PresenceInfo> {
        self.inner
            .with_existing(&self.resource, |hub| hub.presence(&self.resource))
            .unwrap_or_default()
    }

    /// How many connections the resource has.
    pub fn connection_count(&self) -> usize {
        self.inner
            .with_existing(&self.resource, |hub| hub.session_len(&self.resource))
            .unwrap_or(0)
    }
}

impl<H: FlowHandler> Inner<H> {
    /// The resource's log, opened (loaded from the store, or started from
    /// the handler's initial state) by the first caller that needs it.
    pub(crate) async fn log(
        self: &Arc<Self>,
        resource: &Arc<str>,
    ) -> Result<Arc<ResourceLog<H>>, CommitError> {
        if H::APP_OWNED_STATE {
            return Err(CommitError::AppOwnedState);
        }
        let cell = self
            .logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(resource.clone())
            .or_default()
            .clone();
        let log = cell
            .get_or_try_init(|| async {
                let epoch = self.config.epoch;
                let log = ResourceLog::open(
                    resource.clone(),
                    &*self.handler,
                    self.store.clone(),
                    self.config.log.clone(),
                    self.config.op_memory.1,
                    || epoch.unwrap_or_else(random_epoch),
                    self.deliver_to(resource.clone()),
                )
                .await
                .map(Arc::new)?;
                self.follow(resource, &log).await?;
                Ok::<_, CommitError>(log)
            })
            .await?;
        Ok(log.clone())
    }

    /// Queues frames of commits made on other nodes to this node's
    /// connections of `resource`.
    fn deliver_to(self: &Arc<Self>, resource: Arc<str>) -> crate::log::Deliver {
        let inner = Arc::downgrade(self);
        Box::new(move |frame, first, last| {
            if let Some(inner) = inner.upgrade() {
                inner.run_existing(&resource, |hub| {
                    hub.deliver_deltas_frame(&resource, frame, first, last)
                });
            }
        })
    }

    /// With a store several nodes share, applies the commits other nodes
    /// make to `log` (and delivers them here) while it is open.
    async fn follow(
        self: &Arc<Self>,
        resource: &Arc<str>,
        log: &Arc<ResourceLog<H>>,
    ) -> Result<(), CommitError> {
        let Some(feed) = self.store.follow(resource).await? else {
            return Ok(());
        };
        let Some(runtime) = self
            .runtime
            .get()
            .cloned()
            .or_else(|| Handle::try_current().ok())
        else {
            return Ok(());
        };
        let task = runtime.spawn(crate::log::follow(
            Arc::downgrade(log),
            self.store.clone(),
            feed,
        ));
        log.set_follower(task.abort_handle());
        Ok(())
    }

    /// Drops a log whose store write failed, so the next use reloads it.
    pub(crate) fn forget_log(&self, resource: &Arc<str>, log: &Arc<ResourceLog<H>>) {
        let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        if logs
            .get(resource)
            .and_then(|cell| cell.get())
            .is_some_and(|open| Arc::ptr_eq(open, log))
        {
            logs.remove(resource);
        }
    }

    pub(crate) fn broker(&self) -> Arc<dyn Broker> {
        self.broker
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The hubs' stats summed over the live slots and the retired ones.
    fn stats(&self) -> HubStats {
        let mut total = self.lock_slots().retired;
        for slot in self.live_slots() {
            add_stats(&mut total, slot.lock().hub.stats());
        }
        total
    }

    /// `count` summed over the live slots' hubs.
    fn sum(&self, count: impl Fn(&Hub<H::Model>) -> usize) -> usize {
        self.live_slots()
            .iter()
            .map(|slot| count(&slot.lock().hub))
            .sum()
    }

    /// The `k` resources with the most connections here, most first (ties
    /// by name).
    fn busiest_sessions(&self, k: usize) -> Vec<(Arc<str>, usize)> {
        let mut all: Vec<(Arc<str>, usize)> = self
            .live_slots()
            .iter()
            .flat_map(|slot| slot.lock().hub.busiest_sessions(k))
            .collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    fn lock_slots(&self) -> MutexGuard<'_, Slots<H>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live slots, as of now (the map is not held after).
    pub(crate) fn live_slots(&self) -> Vec<Arc<Slot<H>>> {
        self.lock_slots().live.values().cloned().collect()
    }

    /// The resource's slot, made (with its timer task) if it has none.
    pub(crate) fn slot(self: &Arc<Self>, resource: &str) -> Arc<Slot<H>> {
        self.start_background();
        let mut slots = self.lock_slots();
        if let Some(slot) = slots.live.get(resource) {
            return slot.clone();
        }
        let resource: Arc<str> = Arc::from(resource);
        let hub = Hub::new(self.config.clone(), self.epoch).with_node(self.node.clone());
        let mut hub = if H::APP_OWNED_STATE {
            hub
        } else {
            hub.with_logs()
        };
        if self.meshed.load(Relaxed) {
            hub.enable_mesh();
        }
        let (deadline, rx) = watch::channel(None);
        let slot = Arc::new(Slot {
            resource: resource.clone(),
            core: Mutex::new(Core {
                hub,
                retired: false,
                pending: HashMap::new(),
                lane_of: HashMap::new(),
                lanes: HashMap::new(),
                touched: Vec::new(),
                members: HashMap::new(),
            }),
            deadline,
        });
        slots.live.insert(resource, slot.clone());
        self.slot_count.send_replace(slots.live.len());
        drop(slots);
        if let Some(runtime) = self.runtime.get() {
            runtime.spawn(slot_timer(Arc::downgrade(self), Arc::downgrade(&slot), rx));
        }
        slot
    }

    /// The resource's slot, if it has one.
    pub(crate) fn existing(&self, resource: &str) -> Option<Arc<Slot<H>>> {
        self.lock_slots().live.get(resource).cloned()
    }

    /// Reads the resource's hub, if it has one (without draining it).
    pub(crate) fn with_existing<R>(
        &self,
        resource: &str,
        read: impl FnOnce(&Hub<H::Model>) -> R,
    ) -> Option<R> {
        let slot = self.existing(resource)?;
        let core = slot.lock();
        (!core.retired).then(|| read(&core.hub))
    }

    /// Reads a slot's hub under its lock (nothing is drained).
    #[cfg(feature = "nats")]
    pub(crate) fn read_slot<R>(&self, slot: &Slot<H>, read: impl FnOnce(&Hub<H::Model>) -> R) -> R {
        read(&slot.lock().hub)
    }

    /// Makes every hub, present and future, one node of a mesh.
    #[cfg(feature = "nats")]
    pub(crate) fn enable_mesh(self: &Arc<Self>) {
        self.meshed.store(true, Relaxed);
        for slot in self.live_slots() {
            self.run_on(&slot, Hub::enable_mesh);
        }
    }

    /// Applies one input to the resource's hub (making its slot if it has
    /// none) and drains its outputs.
    pub(crate) fn run<R>(
        self: &Arc<Self>,
        resource: &str,
        f: impl FnOnce(&mut Hub<H::Model>) -> R,
    ) -> R {
        self.run_in(resource, |core| f(&mut core.hub)).1
    }

    /// Like [`run`](Self::run), only when the resource has a slot (`None`
    /// otherwise: its hub would have nobody to act on).
    pub(crate) fn run_existing<R>(
        self: &Arc<Self>,
        resource: &str,
        f: impl FnOnce(&mut Hub<H::Model>) -> R,
    ) -> Option<R> {
        let slot = self.existing(resource)?;
        let core = slot.lock();
        if core.retired {
            return None;
        }
        Some(self.finish_run(&slot, core, |core| f(&mut core.hub)))
    }

    /// Applies one input to the hub of a slot the caller holds (a
    /// connection's, which is not retired while the connection is in it).
    pub(crate) fn run_on<R>(
        self: &Arc<Self>,
        slot: &Arc<Slot<H>>,
        f: impl FnOnce(&mut Hub<H::Model>) -> R,
    ) -> R {
        let core = slot.lock();
        self.finish_run(slot, core, |core| f(&mut core.hub))
    }

    /// Runs `f` on the resource's live slot, looking it up again if the one
    /// found was retired before it could be locked; returns the slot too.
    fn run_in<R>(
        self: &Arc<Self>,
        resource: &str,
        f: impl FnOnce(&mut Core<H>) -> R,
    ) -> (Arc<Slot<H>>, R) {
        loop {
            let slot = self.slot(resource);
            let core = slot.lock();
            if core.retired {
                continue;
            }
            let result = self.finish_run(&slot, core, f);
            return (slot, result);
        }
    }

    /// A socket that upgraded to `resource` and is about to authenticate:
    /// its hub starts the handshake timeout; frames for it go to `outbox`.
    pub(crate) fn begin(
        self: &Arc<Self>,
        resource: &str,
        outbox: Arc<Outbox>,
    ) -> (Arc<Slot<H>>, ConnectionId) {
        self.run_in(resource, |core| {
            let id = core.hub.begin_handshake(Now::system());
            core.pending.insert(id, outbox);
            id
        })
    }

    /// Authentication succeeded: the connection joins its resource (or is
    /// refused, with its `Error` and close queued).
    pub(crate) fn admit(
        self: &Arc<Self>,
        slot: &Arc<Slot<H>>,
        id: ConnectionId,
        user: Identity,
        resume: Option<(u64, Option<u32>)>,
    ) -> Result<(), HandshakeError> {
        let resource = &*slot.resource;
        // Views belong to the server-owned log (see `crate::view`).
        let view = if H::APP_OWNED_STATE {
            ViewKey::ALL
        } else {
            self.handler.view(&user, resource)
        };
        let scope = self.handler.presence_scope(&user, resource);
        let core = slot.lock();
        self.finish_run(slot, core, |core| {
            core.hub.set_presence_scope(id, scope);
            core.hub
                .complete_handshake(Now::system(), id, resource, user, resume)?;
            core.hub.set_view(id, view);
            core.join_lane(id, resource);
            Ok::<(), HandshakeError>(())
        })?;
        self.counters.connections_open.fetch_add(1, Relaxed);
        Live::add(&self.counters.connections_total, 1);
        Ok(())
    }

    /// A socket joins `resource` on `channel` as `user` (authorized by
    /// its task, see `crate::channels`): the member is registered in the
    /// socket's `table` under the slot's lock, so the hub cannot end it
    /// before the table knows it.
    pub(crate) fn join_member(
        self: &Arc<Self>,
        resource: &str,
        user: Identity,
        resume: Option<(u64, Option<u32>)>,
        seat: crate::channels::Seat<'_, H>,
    ) -> Result<(), crate::hub::Refusal> {
        let crate::channels::Seat {
            channel,
            outbox,
            table,
            share,
        } = seat;
        // Views belong to the server-owned log (see `crate::view`).
        let view = if H::APP_OWNED_STATE {
            ViewKey::ALL
        } else {
            self.handler.view(&user, resource)
        };
        let scope = self.handler.presence_scope(&user, resource);
        loop {
            let slot = self.slot(resource);
            let core = slot.lock();
            if core.retired {
                continue;
            }
            let held = slot.clone();
            return self.finish_run(&slot, core, |core| {
                let join = crate::hub::ChannelJoin {
                    resource,
                    user,
                    resume,
                    channel,
                    scope,
                    share,
                };
                let id = core.hub.join_channel(Now::system(), join)?;
                core.hub.set_view(id, view);
                core.join_lane_on(id, resource, outbox.clone(), channel);
                core.members
                    .insert(id, crate::channels::MemberEnd::new(channel, table));
                crate::channels::joined(table, channel, held, id);
                Ok(())
            });
        }
    }

    /// The socket's `Leave` for member `id`: it leaves the resource as a
    /// closed connection would, and its `Left` follows its last frame on
    /// the lane. False when the hub had ended it already (its `Left` with
    /// a code is then on its way).
    pub(crate) fn leave_member(self: &Arc<Self>, slot: &Arc<Slot<H>>, id: ConnectionId) -> bool {
        let core = slot.lock();
        self.finish_run(slot, core, |core| {
            let Some(end) = core.members.remove(&id) else {
                return false;
            };
            core.hub
                .handle_departure(Now::system(), id, Departure::Gone);
            core.send_on_lane(id, crate::channels::left_frame(end.channel()));
            core.leave(id);
            true
        })
    }

    /// The member's socket has ended.
    pub(crate) fn drop_member(self: &Arc<Self>, slot: &Arc<Slot<H>>, id: ConnectionId) {
        let core = slot.lock();
        self.finish_run(slot, core, |core| {
            core.members.remove(&id);
            core.hub
                .handle_departure(Now::system(), id, Departure::Gone);
            core.leave(id);
        });
    }

    /// Forgets a connection whose task has ended.
    pub(crate) fn unregister(
        self: &Arc<Self>,
        slot: &Arc<Slot<H>>,
        id: ConnectionId,
        admitted: bool,
    ) {
        let core = slot.lock();
        self.finish_run(slot, core, |core| {
            core.hub
                .handle_departure(Now::system(), id, Departure::Gone);
            core.leave(id);
        });
        if admitted && self.counters.connections_open.fetch_sub(1, Relaxed) == 1 {
            self.all_closed.notify_waiters();
        }
    }

    /// Applies `f` under the slot's lock, drains the hub, retires the slot
    /// if its hub is idle now, and, with the lock released, hands the next
    /// deadline to the slot's timer and delivers the lane.
    fn finish_run<R>(
        self: &Arc<Self>,
        slot: &Arc<Slot<H>>,
        mut core: MutexGuard<'_, Core<H>>,
        f: impl FnOnce(&mut Core<H>) -> R,
    ) -> R {
        let result = f(&mut core);
        self.drain(&mut core);
        let now = Instant::now();
        let idle = core.hub.is_idle(now) && core.pending.is_empty() && core.lane_of.is_empty();
        let next = if idle {
            self.retire(slot, &mut core);
            None
        } else {
            // With nobody connected, the hub may go once its remembered
            // outcomes age out: look again then.
            let aged = (core.hub.connection_count() == 0)
                .then(|| core.hub.retained_until())
                .flatten()
                .map(|at| at + std::time::Duration::from_millis(1));
            match (core.hub.poll_timeout(), aged) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        let mut touched = std::mem::take(&mut core.touched);
        drop(core);
        slot.deadline.send_if_modified(|d| {
            let changed = *d != next;
            *d = next;
            changed
        });
        touched.sort_unstable_by_key(Arc::as_ptr);
        touched.dedup_by(|a, b| Arc::ptr_eq(a, b));
        for lane in touched {
            self.deliver(&slot.resource, lane);
        }
        result
    }

    /// Takes an idle slot out of the map (under its lock, which the caller
    /// holds), keeping its hub's stats in the node's totals.
    fn retire(&self, slot: &Arc<Slot<H>>, core: &mut Core<H>) {
        if core.retired {
            return;
        }
        core.retired = true;
        let mut slots = self.lock_slots();
        if slots
            .live
            .get(&slot.resource)
            .is_some_and(|live| Arc::ptr_eq(live, slot))
        {
            slots.live.remove(&slot.resource);
        }
        add_stats(&mut slots.retired, core.hub.stats());
        self.slot_count.send_replace(slots.live.len());
    }

    /// Delivers what is queued on `lane` (with no lock of the hub's held);
    /// connections found too slow leave the hub as slow consumers. What is
    /// queued meanwhile is delivered by a task of its own.
    fn deliver(self: &Arc<Self>, resource: &Arc<str>, lane: Arc<Lane>) {
        let turn = lane.deliver(&Tally::of(&self.counters), self.runtime.get(), |slow| {
            self.depart_slow(resource, slow)
        });
        self.keep_delivering(resource, lane, turn);
    }

    /// With the turn of a lane that has more queued: one more batch per
    /// task, so other tasks run in between.
    fn keep_delivering(self: &Arc<Self>, resource: &Arc<str>, lane: Arc<Lane>, mut turn: Turn) {
        while turn == Turn::More {
            match self.runtime.get() {
                Some(runtime) => {
                    let inner = self.clone();
                    let resource = resource.clone();
                    runtime.spawn(async move {
                        let turn =
                            lane.resume(&Tally::of(&inner.counters), inner.runtime.get(), |slow| {
                                inner.depart_slow(&resource, slow)
                            });
                        inner.keep_delivering(&resource, lane, turn);
                    });
                    return;
                }
                None => {
                    turn = lane.resume(&Tally::of(&self.counters), None, |slow| {
                        self.depart_slow(resource, slow)
                    });
                }
            }
        }
    }

    fn depart_slow(self: &Arc<Self>, resource: &Arc<str>, slow: Vec<ConnectionId>) {
        self.run_existing(resource, |hub| {
            let now = Now::system();
            for id in slow {
                hub.handle_departure(now, id, Departure::SlowConsumer);
            }
        });
    }

    /// Hands the hub's outputs on, in the order the hub made them: frames
    /// for admitted connections are queued on their resource's lane
    /// (delivered once the lock is released), the few for connections
    /// not admitted are pushed here.
    fn drain(self: &Arc<Self>, core: &mut Core<H>) {
        let tally = Tally::of(&self.counters);
        let mut to_wake = Vec::new();
        loop {
            let mut slow = Vec::new();
            while let Some(transmit) = core.hub.poll_transmit() {
                let first = match &transmit {
                    Transmit::Frame { to, .. } => to.as_slice().first().copied(),
                    Transmit::Close { conn, .. }
                    | Transmit::Ping { conn }
                    | Transmit::Abort { conn } => Some(*conn),
                };
                let Some(first) = first else { continue };
                if let Transmit::Close { conn, code, .. } = &transmit {
                    // The hub ended a member (its `Left` is queued): the
                    // socket stays, its channel is free. Any other close
                    // of a member is its socket's (a slow consumer).
                    let ended = *code == ui_flow::CloseCode::NORMAL;
                    if let Some(end) = ended.then(|| core.members.remove(conn)).flatten() {
                        end.ended(*conn);
                        core.leave(*conn);
                        continue;
                    }
                }
                if let Some((_, lane)) = core.lane_of.get(&first) {
                    // A frame's recipients are all of one resource (the hub
                    // fans out per session), so they share the first's lane.
                    let lane = lane.clone();
                    if let Offered::Full(to) = lane.offer(transmit, self.config.lane_queue_bytes) {
                        // The lane is over its bound: the frame's
                        // recipients go as slow consumers (below).
                        for id in to.as_slice() {
                            lane.enqueue(LaneOp::Overflow(*id));
                            slow.push(*id);
                        }
                    }
                    core.touched.push(lane);
                    continue;
                }
                match transmit {
                    Transmit::Frame { to, bytes } if to.as_slice().len() > 1 => {
                        // Not the hub's usual shape: route each recipient.
                        for id in to.as_slice() {
                            let one = Transmit::Frame {
                                to: crate::hub::Recipients::One(*id),
                                bytes: bytes.clone(),
                            };
                            if let Some((_, lane)) = core.lane_of.get(id) {
                                lane.enqueue(LaneOp::Send(one));
                                let lane = lane.clone();
                                core.touched.push(lane);
                            } else {
                                crate::lane::push(
                                    &core.pending,
                                    one,
                                    &tally,
                                    false,
                                    &mut slow,
                                    &mut to_wake,
                                );
                            }
                        }
                    }
                    transmit => crate::lane::push(
                        &core.pending,
                        transmit,
                        &tally,
                        false,
                        &mut slow,
                        &mut to_wake,
                    ),
                }
            }
            while let Some(request) = core.hub.poll_request() {
                let view = match &request {
                    Request::Sync { ticket, .. } => core.hub.view(ticket.conn),
                    _ => ViewKey::ALL,
                };
                self.spawn_request(request, view);
            }
            self.publish_mesh(&mut core.hub);
            if slow.is_empty() {
                break;
            }
            let now = Now::system();
            for id in slow {
                core.hub.handle_departure(now, id, Departure::SlowConsumer);
            }
        }
        crate::lane::wake(self.runtime.get(), to_wake);
    }

    /// Hands what a meshed hub tells the other nodes to the broker, in order
    /// (under the hub's lock).
    fn publish_mesh(&self, hub: &mut Hub<H::Model>) {
        let Some(first) = hub.poll_mesh() else {
            return;
        };
        let broker = self.broker();
        let mut next = Some(first);
        while let Some(event) = next {
            match &event {
                MeshEvent::Presence {
                    resource,
                    user,
                    entry,
                } => broker.publish(Publication::Presence {
                    resource,
                    user,
                    entry: entry.as_ref(),
                }),
                MeshEvent::Signal {
                    resource,
                    target,
                    frame,
                } => broker.publish(Publication::Signal {
                    resource,
                    target,
                    frame,
                }),
            }
            next = hub.poll_mesh();
        }
    }

    /// Runs one handler call as a task, inside a `ui_flow_handler` span
    /// naming the call, the resource and (for actions) the user and op id.
    fn spawn_request(self: &Arc<Self>, request: Request<ActionOf<H::Model>>, view: ViewKey) {
        let Some(runtime) = self.runtime.get() else {
            return;
        };
        let inner = self.clone();
        match request {
            Request::Sync {
                ticket,
                resource,
                resume,
            } => {
                runtime.spawn(async move {
                    let cap = inner.config.max_resync_deltas;
                    let answer = async {
                        let log = inner.log(&resource).await?;
                        let now_ms = Now::system().unix_ms;
                        log.sync(resume, now_ms, cap, &view, &inner.handler).await
                    };
                    let result = answer.await.map_err(|e| e.to_string());
                    if let Ok((frame, _)) = &result {
                        let tag = ui_flow::codec::peek_tag(frame, &Default::default());
                        let kind = if tag == Ok(ui_flow::ServerTag::SNAPSHOT.0) {
                            "snapshot"
                        } else {
                            "deltas"
                        };
                        crate::telemetry::sync_fetch(kind);
                    }
                    if let Err(e) = &result {
                        tracing::warn!(resource = %resource, error = %e, "sync failed");
                    }
                    inner.run(&resource, |hub| {
                        hub.complete_sync(Now::system(), ticket, result)
                    });
                });
            }
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
                    inner.run(&resource, |hub| {
                        hub.complete_snapshot(Now::system(), ticket, result)
                    });
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
                    inner.run(&resource, |hub| {
                        hub.complete_deltas(Now::system(), ticket, result)
                    });
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
                    let started = Instant::now();
                    let (frame, ok) = inner.run_action(&key, user, action).await;
                    crate::telemetry::action_finished(started.elapsed(), ok);
                    tracing::debug!(ok, "action finished");
                    inner.run(&key.resource, |hub| {
                        hub.complete_action_frame(Now::system(), &key, frame)
                    });
                };
                runtime.spawn(task.instrument(span));
            }
        }
    }

    /// Runs one action (unless the store says it already ran) and returns
    /// its encoded outcome, recorded in the store first.
    async fn run_action(
        self: &Arc<Self>,
        key: &OpKey,
        user: Arc<Identity>,
        action: ActionOf<H::Model>,
    ) -> (bytes::Bytes, bool) {
        let logged = !H::APP_OWNED_STATE;
        if logged {
            match self
                .store
                .outcome(&key.resource, &key.user, key.op_id)
                .await
            {
                Ok(Some(Outcome::Answered(frame))) => {
                    let ok = ui_flow::codec::peek_tag(&frame, &Default::default())
                        == Ok(ui_flow::ServerTag::ACTION_OK.0);
                    return (frame, ok);
                }
                Ok(Some(Outcome::Committed)) => {
                    return (outcome_frame(key.op_id, ActionOutcome::ok()), true);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(op_id = %key.op_id, error = %e, "could not read the op record");
                    let outcome = ActionOutcome::err(
                        "unavailable",
                        "the server could not check whether this action already ran; send it again as a new action",
                    );
                    return (outcome_frame(key.op_id, outcome), false);
                }
            }
        }
        let ctx = ActionContext {
            session: SessionHandle {
                inner: self.clone(),
                resource: key.resource.clone(),
            },
            user,
            key: key.clone(),
            committed: AtomicBool::new(false),
        };
        let call = AssertUnwindSafe(self.handler.handle_action(&ctx, action));
        let span =
            tracing::debug_span!("handle_action", resource = %key.resource, op_id = %key.op_id);
        let outcome = match tracing::Instrument::instrument(call.catch_unwind(), span).await {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::error!(op_id = %key.op_id, "handle_action panicked");
                ActionOutcome::err("internal", "the action failed on the server")
            }
        };
        let plain_ok = outcome == ActionOutcome::ok();
        let ok = matches!(outcome, ActionOutcome::Ok(_));
        let frame = outcome_frame(key.op_id, outcome);
        // An action that committed and answered a plain Ok is already
        // recorded by its commit (a retry gets ActionOk from it).
        if logged && !(plain_ok && ctx.committed.load(Relaxed)) {
            let record = OpRecord {
                user: key.user.to_string(),
                op_id: key.op_id,
                at_unix_ms: Now::system().unix_ms,
                outcome: Outcome::Answered(frame.clone()),
            };
            let stored = match self.log(&key.resource).await {
                Ok(_) => self
                    .store
                    .append(&key.resource, Vec::new(), vec![record])
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = stored {
                tracing::warn!(op_id = %key.op_id, error = %e, "could not record the action's outcome; a retry after a restart may run it again");
            }
        }
        (frame, ok)
    }

    /// Remembers the runtime (slots made from then on get a timer task).
    fn start_background(&self) {
        if self.runtime.get().is_some() {
            return;
        }
        if let Ok(handle) = Handle::try_current() {
            let _ = self.runtime.set(handle);
        }
    }
}

/// Adds `more` to `total`.
fn add_stats(total: &mut HubStats, more: HubStats) {
    total.encodes += more.encodes;
    total.bad_frames += more.bad_frames;
    total.rate_limited += more.rate_limited;
    total.unknown_tags += more.unknown_tags;
    total.view_frames += more.view_frames;
}

/// Calls `handle_timeout` on a slot's hub whenever its next deadline passes
/// (every protocol timer is the hub's; this task only sleeps). It ends
/// with the slot.
async fn slot_timer<H: FlowHandler>(
    inner: Weak<Inner<H>>,
    slot: Weak<Slot<H>>,
    mut rx: watch::Receiver<Option<Instant>>,
) {
    loop {
        let next = *rx.borrow_and_update();
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {
                        let (Some(inner), Some(slot)) = (inner.upgrade(), slot.upgrade()) else {
                            return;
                        };
                        inner.run_on(&slot, |hub| hub.handle_timeout(Now::system()));
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
    /// upgrade), authenticated by the server's [`Authenticator`]. Serve it
    /// (or the app it is merged into) with [`serve`](Self::serve), which,
    /// unlike `axum::serve`, bounds what a socket may cost before its
    /// upgrade. It carries
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
    /// let flow = FlowServer::new(Counter, UnverifiedUserToken);
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
