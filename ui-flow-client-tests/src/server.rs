//! A real ui-flow-server running the journal app, for the client's tests.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use ui_flow_server::store::MemoryStore;
use ui_flow_server::{
    ActionContext, ActionOutcome, FlowHandler, FlowServer, ServerConfig, UnverifiedUserToken,
};

use crate::journal::{Appended, DOMAIN, Entry, Journal, JournalAction, JournalModel};

/// The epoch of every journal: the journal survives restarts (its store is
/// shared by every server incarnation), so a client's seq stays meaningful
/// and a resync can be served with deltas.
pub const EPOCH: u32 = 1;

/// The journal app. It keeps no state: each server incarnation keeps the
/// journals in the resource logs of one shared store, as a durable store
/// would across restarts.
#[derive(Debug, Clone, Default)]
pub struct JournalHandler {
    proxy: Proxy,
}

#[async_trait]
impl FlowHandler for JournalHandler {
    type Model = JournalModel;

    async fn handle_action(
        &self,
        ctx: &ActionContext<Self>,
        action: JournalAction,
    ) -> ActionOutcome {
        match action {
            JournalAction::Append { value } => {
                // A retry (after a reconnect or a server restart) is answered
                // by the server from its op record: this runs once per op.
                let seq = match ctx.commit(Entry { value }).await {
                    Ok(seq) => seq,
                    Err(e) => return ActionOutcome::err("not_committed", e.to_string()),
                };
                let event = Appended {
                    by: ctx.user().user_id.clone(),
                    value,
                };
                let _ = ctx
                    .session()
                    .broadcast_notify(DOMAIN, &event, Some(ctx.op_id()));
                ActionOutcome::ok_with(&seq).unwrap_or_else(|_| ActionOutcome::ok())
            }
            JournalAction::Reject { reason } => ActionOutcome::err("rejected", reason),
            JournalAction::CutConnections => {
                self.proxy.cut();
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

/// Routes that refuse every browser upgrade before it happens, one per
/// status, the way an application's own router can:
///
/// - `/same-host/{resource}`: a `FlowUpgrade` route of a server with the
///   default `OriginPolicy`, so a test page (served from another port)
///   gets 403;
/// - `/guarded/{resource}`: the application's own check, a `session`
///   cookie no test page has, so 401;
/// - `/flaky/{resource}`: every upgrade fails (503) but a plain `GET`
///   reaches the endpoint (426), as behind a failing gateway: retried;
/// - anything unknown: 404.
///
/// The application's own answers (401, 404) carry
/// `Access-Control-Allow-Origin: *` as an application's CORS layer would,
/// so the browser client's refusal probe can read them from the test
/// page's origin; ui-flow-server's own answers to the probe always do.
fn refusing_routes<S>(handler: &JournalHandler) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    use axum::extract::Path;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use ui_flow_server::FlowUpgrade;

    fn exposed(status: StatusCode, text: &'static str) -> Response {
        (status, [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], text).into_response()
    }
    // Default configuration: the Origin must name the request's host.
    let strict = FlowServer::new(handler.clone(), UnverifiedUserToken);
    let guarded = strict.clone();
    let mut any_origin = ServerConfig::default();
    any_origin.origins = ui_flow_server::OriginPolicy::Any;
    let flaky = FlowServer::with_config(handler.clone(), UnverifiedUserToken, any_origin);
    axum::Router::new()
        .route(
            "/same-host/{resource}",
            get(move |Path(resource): Path<String>, upgrade: FlowUpgrade| async move {
                upgrade.serve(&strict, resource)
            }),
        )
        .route(
            "/guarded/{resource}",
            get(
                move |Path(resource): Path<String>, headers: HeaderMap, upgrade: FlowUpgrade| async move {
                    let session = headers
                        .get_all(header::COOKIE)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .any(|v| v.split(';').any(|c| c.trim().starts_with("session=")));
                    if !session {
                        return exposed(StatusCode::UNAUTHORIZED, "log in first");
                    }
                    upgrade.serve(&guarded, resource)
                },
            ),
        )
        .route(
            "/flaky/{resource}",
            get(move |Path(resource): Path<String>, headers: HeaderMap, upgrade: FlowUpgrade| async move {
                // A gateway that fails every upgrade (the page sees only a
                // socket that never opened) while the endpoint behind it
                // answers the refusal probe: 426, so the client retries.
                if headers.contains_key(header::UPGRADE) {
                    return exposed(StatusCode::SERVICE_UNAVAILABLE, "try again");
                }
                upgrade.serve(&flaky, resource)
            }),
        )
        .fallback(|| async { exposed(StatusCode::NOT_FOUND, "no such route") })
}

/// A running ui-flow-server for the journal app, with a TCP proxy in front.
pub struct TestServer {
    handler: JournalHandler,
    store: Arc<MemoryStore>,
    addr: SocketAddr,
    proxy_addr: SocketAddr,
    /// The incarnation in use: serving (with its task), or not serving
    /// (between a stop and a restart, the application still writes).
    server: FlowServer<JournalHandler>,
    task: Option<JoinHandle<()>>,
    proxy_task: JoinHandle<()>,
    /// `ServerConfig::max_channels` of every incarnation.
    max_channels: u16,
}

impl TestServer {
    /// Starts the server and the proxy on free ports of 127.0.0.1.
    pub async fn start() -> io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().map_err(io::Error::other)?).await
    }

    /// Starts a server that serves no channels (`max_channels: 0`, as a
    /// server that predates them).
    pub async fn start_without_channels() -> io::Result<Self> {
        let addr = "127.0.0.1:0".parse().map_err(io::Error::other)?;
        Self::start_with(addr, 0).await
    }

    /// Starts the server on a free port and the proxy on `proxy_addr`.
    pub async fn start_on(proxy_addr: SocketAddr) -> io::Result<Self> {
        Self::start_with(proxy_addr, ServerConfig::default().max_channels).await
    }

    async fn start_with(proxy_addr: SocketAddr, max_channels: u16) -> io::Result<Self> {
        let handler = JournalHandler::default();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let proxy_listener = TcpListener::bind(proxy_addr).await?;
        let proxy_addr = proxy_listener.local_addr()?;
        let proxy_task = handler.proxy.spawn(proxy_listener, addr);
        let store = Arc::new(MemoryStore::new());
        let server = Self::incarnation(&handler, &store, max_channels);
        let mut server = TestServer {
            handler,
            store,
            addr,
            proxy_addr,
            server,
            task: None,
            proxy_task,
            max_channels,
        };
        server.serve(listener);
        Ok(server)
    }

    fn incarnation(
        handler: &JournalHandler,
        store: &Arc<MemoryStore>,
        max_channels: u16,
    ) -> FlowServer<JournalHandler> {
        let mut config = ServerConfig::default();
        config.max_channels = max_channels;
        config.epoch = Some(EPOCH);
        // The browser driver's test pages come from the test runner's port.
        config.origins = ui_flow_server::OriginPolicy::Any;
        FlowServer::with_store(handler.clone(), UnverifiedUserToken, config, store.clone())
    }

    fn serve(&mut self, listener: TcpListener) {
        let router = self.server.router().merge(refusing_routes(&self.handler));
        let serving = self.server.clone();
        self.task = Some(tokio::spawn(async move {
            let _ = serving.serve(listener, router).await;
        }));
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
        if let Some(task) = self.task.take() {
            self.server.shutdown().await;
            task.abort();
            let _ = task.await;
        }
    }

    /// Starts a new server incarnation on the same port, with the same
    /// store (so the same journals and epoch; its memory of running actions
    /// starts empty, like a real restart).
    pub async fn restart(&mut self) -> io::Result<()> {
        self.stop().await;
        self.server = Self::incarnation(&self.handler, &self.store, self.max_channels);
        let listener = TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }

    /// Appends as the application (a commit, sent to clients when the
    /// server runs); returns the seq.
    pub async fn append(&self, resource: &str, value: u32) -> u64 {
        self.server
            .session(resource)
            .commit(Entry { value })
            .await
            .expect("the memory store commits")
    }

    /// The resource's journal and seq.
    pub async fn head(&self, resource: &str) -> (Journal, u64) {
        self.server
            .session(resource)
            .read(|journal, seq| (journal.clone(), seq))
            .await
            .expect("the memory store opens")
    }

    /// Open WebSocket connections on the running server.
    pub fn connection_count(&self) -> usize {
        self.server.connection_count()
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
        if let Some(task) = &self.task {
            task.abort();
        }
        self.cut();
    }
}
