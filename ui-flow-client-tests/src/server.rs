//! A real ui-flow-server running the journal app, for the client's tests.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use ui_flow::OpId;
use ui_flow_server::{
    ActionContext, ActionOutcome, BoxError, FlowHandler, FlowServer, ServerConfig, SessionHandle,
    UnverifiedUserToken,
};

use crate::journal::{Appended, DOMAIN, Entry, Journal, JournalAction};

/// The seq lineage every incarnation of the test server announces: the
/// journal survives restarts, so a client's seq stays meaningful and a
/// resync can be served with deltas.
pub const EPOCH: u32 = 1;

/// How many past deltas each resource keeps for resyncs.
const HISTORY: usize = 1000;

/// One resource's journal, as a database would keep it.
#[derive(Debug, Default)]
struct Room {
    journal: Journal,
    seq: u64,
    history: VecDeque<(Entry, u64)>,
    /// Op ids already carried out, with the seq they produced: a retry
    /// after a server restart (when the server's own op memory is gone) is
    /// answered without appending again.
    done: HashMap<OpId, u64>,
}

impl Room {
    fn push(&mut self, value: u32) -> u64 {
        self.journal.entries.push(value);
        self.seq += 1;
        self.history.push_back((Entry { value }, self.seq));
        if self.history.len() > HISTORY {
            self.history.pop_front();
        }
        self.seq
    }
}

/// The journal app: one journal per resource, shared by every server
/// incarnation built from clones of the same handler.
#[derive(Debug, Clone, Default)]
pub struct JournalHandler {
    rooms: Arc<Mutex<HashMap<String, Room>>>,
    proxy: Proxy,
}

impl JournalHandler {
    fn rooms(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `value` as the application itself (not a client action) and
    /// broadcasts it through `session` when a server is running.
    pub fn append(&self, resource: &str, value: u32, session: Option<&SessionHandle<Self>>) -> u64 {
        let mut rooms = self.rooms();
        let room = rooms.entry(resource.to_owned()).or_default();
        let seq = room.push(value);
        if let Some(session) = session {
            // While holding the room, so seqs leave in order.
            let _ = session.broadcast_delta(&Entry { value }, seq);
        }
        seq
    }

    /// The resource's journal and seq.
    pub fn head(&self, resource: &str) -> (Journal, u64) {
        self.rooms()
            .get(resource)
            .map_or_else(Default::default, |r| (r.journal.clone(), r.seq))
    }
}

#[async_trait]
impl FlowHandler for JournalHandler {
    type State = Journal;
    type Delta = Entry;
    type Event = Appended;
    type Action = JournalAction;

    async fn snapshot(&self, resource_id: &str) -> Result<(Journal, u64), BoxError> {
        Ok(self.head(resource_id))
    }

    async fn deltas_since(
        &self,
        resource_id: &str,
        seq: u64,
    ) -> Result<Vec<(Entry, u64)>, BoxError> {
        Ok(self
            .rooms()
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
        action: JournalAction,
    ) -> ActionOutcome {
        let op = ctx.op_id();
        match action {
            JournalAction::Append { value } => {
                let seq = {
                    let mut rooms = self.rooms();
                    let room = rooms.entry(ctx.resource_id().to_owned()).or_default();
                    if let Some(seq) = room.done.get(&op) {
                        return ActionOutcome::ok_with(seq).unwrap_or_else(|_| ActionOutcome::ok());
                    }
                    let seq = room.push(value);
                    let _ = ctx.session().broadcast_delta(&Entry { value }, seq);
                    room.done.insert(op, seq);
                    seq
                };
                let event = Appended {
                    by: ctx.user().user_id.clone(),
                    value,
                };
                let _ = ctx.session().broadcast_notify(DOMAIN, &event, Some(op));
                ActionOutcome::ok_with(&seq).unwrap_or_else(|_| ActionOutcome::ok())
            }
            JournalAction::Reject { reason } => ActionOutcome::err("rejected", reason),
            JournalAction::CutConnections => {
                let first = {
                    let mut rooms = self.rooms();
                    let room = rooms.entry(ctx.resource_id().to_owned()).or_default();
                    room.done.insert(op, room.seq).is_none()
                };
                if first {
                    self.proxy.cut();
                }
                ActionOutcome::ok()
            }
        }
    }
}

/// What the proxy does to the connections it carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Faults {
    /// Connections accepted before the latest cut are closed (TCP FIN, no
    /// WebSocket close frame).
    cuts: u64,
    /// Connections accepted before the latest freeze stop forwarding but
    /// stay open: the peer hears nothing, as behind a dead NAT entry.
    freezes: u64,
}

/// Control of a TCP proxy's faults. Clones control the same proxy.
#[derive(Debug, Clone)]
pub struct Proxy {
    faults: Arc<watch::Sender<Faults>>,
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy {
            faults: Arc::new(watch::Sender::new(Faults::default())),
        }
    }
}

impl Proxy {
    /// Closes every connection open now.
    pub fn cut(&self) {
        self.faults.send_modify(|f| f.cuts += 1);
    }

    /// Silences every connection open now (until the next cut).
    pub fn freeze(&self) {
        self.faults.send_modify(|f| f.freezes += 1);
    }

    /// Accepts on `listener` and forwards each connection to `upstream`.
    fn spawn(&self, listener: TcpListener, upstream: SocketAddr) -> JoinHandle<()> {
        let faults = self.faults.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue; // the server is down: the client sees the socket close
                };
                tokio::spawn(pipe(client, server, faults.subscribe()));
            }
        })
    }
}

/// Forwards bytes both ways until either side closes or a fault hits.
async fn pipe(mut a: TcpStream, mut b: TcpStream, mut faults: watch::Receiver<Faults>) {
    let born = *faults.borrow_and_update();
    let frozen = tokio::select! {
        _ = copy_bidirectional(&mut a, &mut b) => return,
        changed = faults.wait_for(|f| f.cuts > born.cuts || f.freezes > born.freezes) => {
            matches!(changed, Ok(f) if f.cuts == born.cuts)
        }
    };
    if frozen {
        // Hold both sockets, silent, until a cut or the proxy goes away.
        let _ = faults.wait_for(|f| f.cuts > born.cuts).await;
    }
}

/// A running ui-flow-server for the journal app, with a TCP proxy in front.
pub struct TestServer {
    handler: JournalHandler,
    addr: SocketAddr,
    proxy_addr: SocketAddr,
    running: Option<(FlowServer<JournalHandler>, JoinHandle<()>)>,
    proxy_task: JoinHandle<()>,
}

impl TestServer {
    /// Starts the server and the proxy on free ports of 127.0.0.1.
    pub async fn start() -> io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().map_err(io::Error::other)?).await
    }

    /// Starts the server on a free port and the proxy on `proxy_addr`.
    pub async fn start_on(proxy_addr: SocketAddr) -> io::Result<Self> {
        let handler = JournalHandler::default();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let proxy_listener = TcpListener::bind(proxy_addr).await?;
        let proxy_addr = proxy_listener.local_addr()?;
        let proxy_task = handler.proxy.spawn(proxy_listener, addr);
        let mut server = TestServer {
            handler,
            addr,
            proxy_addr,
            running: None,
            proxy_task,
        };
        server.serve(listener);
        Ok(server)
    }

    fn serve(&mut self, listener: TcpListener) {
        let mut config = ServerConfig::default();
        config.epoch = Some(EPOCH);
        // The browser driver's test pages come from the test runner's port.
        config.origins = ui_flow_server::OriginPolicy::Any;
        let server = FlowServer::with_config(self.handler.clone(), UnverifiedUserToken, config);
        let router = server.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        self.running = Some((server, task));
    }

    /// The URL of a resource through the proxy (which [`cut`](Self::cut)
    /// and [`freeze`](Self::freeze) act on).
    pub fn url(&self, resource: &str, user: &str) -> String {
        format!("ws://{}/realtime/{resource}?token={user}", self.proxy_addr)
    }

    /// The URL of a resource on the server itself.
    pub fn direct_url(&self, resource: &str, user: &str) -> String {
        format!("ws://{}/realtime/{resource}?token={user}", self.addr)
    }

    /// The proxy's address.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy_addr
    }

    /// Stops the server: clients are told to reconnect (close 1001), then
    /// the port is released. The journal stays.
    pub async fn stop(&mut self) {
        if let Some((server, task)) = self.running.take() {
            server.shutdown().await;
            task.abort();
            let _ = task.await;
        }
    }

    /// Starts a new server incarnation on the same port, with the same
    /// journal and epoch (its op memory starts empty, like a real restart).
    pub async fn restart(&mut self) -> io::Result<()> {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }

    /// Appends as the application, broadcasting when the server runs.
    pub fn append(&self, resource: &str, value: u32) -> u64 {
        let session = self.running.as_ref().map(|(s, _)| s.session(resource));
        self.handler.append(resource, value, session.as_ref())
    }

    /// The resource's journal and seq.
    pub fn head(&self, resource: &str) -> (Journal, u64) {
        self.handler.head(resource)
    }

    /// Open WebSocket connections on the running server.
    pub fn connection_count(&self) -> usize {
        self.running
            .as_ref()
            .map_or(0, |(s, _)| s.connection_count())
    }

    /// Closes every proxied connection open now.
    pub fn cut(&self) {
        self.handler.proxy.cut();
    }

    /// Silences every proxied connection open now.
    pub fn freeze(&self) {
        self.handler.proxy.freeze();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.proxy_task.abort();
        if let Some((_, task)) = &self.running {
            task.abort();
        }
        self.cut();
    }
}
