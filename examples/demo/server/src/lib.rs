//! # demo-server
//!
//! The flagship demo's server: a small hexagonal world per resource, kept in
//! memory, served over ui-flow at `/realtime/{resource_id}`, together with
//! the static files of its two frontends (the Leptos app at `/` and the
//! plain JavaScript page at `/plain/`).
//!
//! It is an example, not a game server: one process serves every world (kept
//! in a file with [`Demo::on_disk`], or in memory with [`Demo::new`]), or
//! several nodes serve the same worlds from NATS ([`Demo::on_nats`],
//! `scripts/demo.sh --cluster N`), and anyone may claim any user id (the
//! token *is* the user id, [`UnverifiedUserToken`]).
//!
//! What it shows of the protocol:
//!
//! - every change is committed to the server's log for that world: one seq
//!   per change, a `Delta`, or a `Deltas` when a move also picks something
//!   up; the log keeps recent changes so a reconnecting client catches up
//!   with `Deltas` rather than a snapshot;
//! - actions: `enter` and `move` answer at once, illegal moves get
//!   `ActionErr` with a [`Refusal`](demo_world::Refusal) code; `dig` reports
//!   `Progress` four times before `ActionOk` with a
//!   [`DigResult`](demo_world::DigResult);
//! - notifications: `world` events to every subscriber, `rewards` loot only
//!   to its finder (`notify_user`), both correlated with the action that
//!   caused them;
//! - presence and the WebRTC signalling relay come from `ui-flow-server` as
//!   they are.
//!
//! What it bounds: at most [`MAX_ROOMS`] worlds, checked on every path that
//! may create one (a connection's snapshot and an action, even one sent in
//! the same write as the upgrade); a world nobody has been connected to for
//! [`Settings::forget_after`] is forgotten.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use demo_server::{Demo, Settings};
//!
//! let demo = Demo::new("target/demo/site", Settings::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! demo.serve(listener, std::future::pending()).await
//! # }
//! ```

pub mod room;
pub mod steward;
mod worlds;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::services::ServeDir;
use ui_flow_server::nats::{JetStreamStore, MeshConfig, MeshError, NatsConfig, NatsMesh};
use ui_flow_server::store::{FileStore, StoreError};
use ui_flow_server::{FlowServer, ServerConfig, UnverifiedUserToken};

pub use worlds::{MAX_ROOMS, Settings, TOO_MANY_WORLDS, Worlds};

/// The subject prefix of the demo's streams and mesh on NATS.
const NATS_PREFIX: &str = "demo";

/// How often the [`steward`] tends the worlds.
pub const STEWARD_TICK: Duration = Duration::from_millis(500);

/// The demo's server settings: ui-flow's defaults, with presence turning
/// `idle` after 20 s instead of 60 s so that it shows in a demo.
pub fn server_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.idle_after = Duration::from_secs(20);
    config
}

/// Why a demo node could not join its cluster ([`Demo::on_nats`]).
#[derive(Debug)]
pub enum ClusterError {
    /// The worlds' streams on JetStream could not be reached or created.
    Store(StoreError),
    /// The mesh (presence, signals, notifications) could not be joined.
    Mesh(MeshError),
}

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterError::Store(e) => write!(f, "the worlds' store on NATS: {e}"),
            ClusterError::Mesh(e) => write!(f, "the cluster's mesh on NATS: {e}"),
        }
    }
}

impl std::error::Error for ClusterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClusterError::Store(e) => Some(e),
            ClusterError::Mesh(e) => Some(e),
        }
    }
}

/// The demo: a ui-flow server for [`Worlds`] and the static site beside it.
pub struct Demo {
    server: FlowServer<Worlds>,
    site: PathBuf,
    /// Worlds are kept on disk (closing one keeps it there).
    durable: bool,
    prometheus: Option<PrometheusHandle>,
    /// This node's membership of the cluster (with [`Demo::on_nats`]):
    /// kept for as long as the demo serves.
    mesh: Option<NatsMesh>,
}

impl Demo {
    /// A demo serving the static files in `site` (built by
    /// `scripts/demo.sh`) and fresh worlds with these settings.
    pub fn new(site: impl Into<PathBuf>, settings: Settings) -> Self {
        let server =
            FlowServer::with_config(Worlds::new(settings), UnverifiedUserToken, server_config());
        Demo {
            server,
            site: site.into(),
            durable: false,
            prometheus: None,
            mesh: None,
        }
    }

    /// A demo whose worlds are kept on disk in `data` (the folder is created
    /// if missing; the worlds are in `worlds.redb` inside it). A demo
    /// started again on the same folder continues every world where it was:
    /// same epoch, same seq line, so clients resume with the deltas they
    /// missed. Fails, naming the file, when it cannot be opened (held by
    /// another demo server, damaged, or written by another version).
    pub fn on_disk(
        site: impl Into<PathBuf>,
        settings: Settings,
        data: &std::path::Path,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data).map_err(|e| StoreError::Open {
            path: data.to_owned(),
            reason: e.to_string(),
        })?;
        let store = FileStore::open(data.join("worlds.redb"))?;
        let server = FlowServer::with_store(
            Worlds::new(settings),
            UnverifiedUserToken,
            server_config(),
            store,
        );
        Ok(Demo {
            server,
            site: site.into(),
            durable: true,
            prometheus: None,
            mesh: None,
        })
    }

    /// A demo node whose worlds live in NATS JetStream at `nats_url` (see
    /// `docs/cluster.md`): any number of nodes started on the same NATS
    /// serve the same worlds, and a client whose node died resumes on
    /// another with the deltas it missed.
    ///
    /// The node also joins the cluster's mesh (`docs/cluster-mesh.md`, on
    /// the same `demo` subject prefix): presence is merged across nodes, so
    /// every node's [`steward`] sees the players connected to the other
    /// nodes as present and leaves them on the grid; signals and `rewards`
    /// notifications reach a user on any node; `/healthz` turns red when
    /// the path through NATS stops.
    ///
    /// Fails when NATS cannot be reached or its streams cannot be created.
    pub async fn on_nats(
        site: impl Into<PathBuf>,
        settings: Settings,
        nats_url: &str,
    ) -> Result<Self, ClusterError> {
        let store = JetStreamStore::connect(NatsConfig::new(nats_url).prefix(NATS_PREFIX))
            .await
            .map_err(ClusterError::Store)?;
        let server = FlowServer::with_store(
            Worlds::new(settings),
            UnverifiedUserToken,
            server_config(),
            store,
        );
        // After the store: the mesh passes deltas on to the broker the
        // store installed. Before serving: no connection misses the merge.
        let mut mesh_config = MeshConfig::default();
        NATS_PREFIX.clone_into(&mut mesh_config.prefix);
        let mesh = NatsMesh::join(&server, nats_url, mesh_config)
            .await
            .map_err(ClusterError::Mesh)?;
        Ok(Demo {
            server,
            site: site.into(),
            durable: true,
            prometheus: None,
            mesh: Some(mesh),
        })
    }

    /// This node's id in the cluster's mesh (with [`Demo::on_nats`]).
    pub fn mesh_node(&self) -> Option<&str> {
        self.mesh.as_ref().map(NatsMesh::node_id)
    }

    /// The ui-flow server, to broadcast or to read its counters.
    pub fn server(&self) -> &FlowServer<Worlds> {
        &self.server
    }

    /// Serves the metrics at `/metrics` in Prometheus' text format, from
    /// this recorder (installed by the caller: a process has one).
    pub fn with_metrics(mut self, prometheus: PrometheusHandle) -> Self {
        self.prometheus = Some(prometheus);
        self
    }

    /// The HTTP routes: the realtime endpoint, `/healthz`, `/metrics` (with
    /// [`with_metrics`](Self::with_metrics)), then the static site.
    pub fn router(&self) -> axum::Router {
        let mut app = self.server.router().merge(self.server.health_router());
        if let Some(prometheus) = self.prometheus.clone() {
            let server = self.server.clone();
            app = app.route(
                "/metrics",
                axum::routing::get(move || async move {
                    server.record_metrics();
                    prometheus.render()
                }),
            );
        }
        app.fallback_service(ServeDir::new(&self.site))
    }

    /// Serves on `listener` until `stop` completes, then tells every client
    /// to reconnect and waits briefly for them to go. Starts the
    /// [`steward`] on the current runtime.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let steward = tokio::spawn(steward::run(
            self.server.clone(),
            STEWARD_TICK,
            self.durable,
        ));
        let server = self.server.clone();
        let result = self
            .server
            .serve_until(listener, self.router(), async move {
                stop.await;
                server.shutdown().await;
            })
            .await;
        steward.abort();
        drop(self.mesh);
        result
    }
}
