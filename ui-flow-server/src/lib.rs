//! # ui-flow-server
//!
//! The server half of ui-flow: an application implements [`FlowHandler`]
//! (snapshot, deltas since a seq, actions, notification filter), and this
//! crate runs every WebSocket for it at `/realtime/{resource_id}` (or a
//! route of the app's own, see [`FlowUpgrade`]): one
//! session per resource, presence, WebRTC signalling relay, resync,
//! action de-duplication, limits and counters.
//!
//! It is not a client (use `ui-flow` for that) and not a general WebSocket
//! server: it speaks only the ui-flow protocol (`spec/PROTOCOL.md`).
//!
//! ## Shape
//!
//! - [`hub::Hub`] is the sans-IO core: connection events and frames in,
//!   `(recipients, bytes)` transmits out, no `async`, no clock, no sockets.
//!   Work that needs the application (snapshots, actions) leaves it as a
//!   [`hub::Request`] and comes back through a `complete_*` call.
//! - [`FlowServer`] drives a hub on tokio and axum: one task per connection
//!   doing IO only, a bounded outbound queue per connection, a bounded
//!   delivery queue per resource (frames made, not yet handed to the
//!   outbound queues), one task that
//!   sleeps until the hub's next deadline (every protocol timer is the
//!   hub's). [`FlowServer::serve`] is the accept loop, with bounds before
//!   the upgrade that `axum::serve` lacks.
//! - [`SessionHandle`] is what the application keeps to broadcast.
//!
//! ## Running a server
//!
//! ```no_run
//! use ui_flow_server::{FlowServer, UnverifiedUserToken, counter::Counter};
//!
//! # async fn run() -> std::io::Result<()> {
//! // `Counter` is a small in-memory handler shipped as an example.
//! let server = FlowServer::new(Counter, UnverifiedUserToken);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("ws://{}/realtime/room-1?token=alice", listener.local_addr()?);
//! let app = server.router();
//! let serving = server.clone();
//! tokio::spawn(async move { serving.serve(listener, app).await });
//!
//! // Broadcast from anywhere: each broadcast is encoded once.
//! let room = server.session("room-1");
//! # let _ = room;
//! # Ok(()) }
//! ```
//!
//! The same server runs as a program: `cargo run -p ui-flow-server --example
//! counter -- 127.0.0.1:9000` (prints the address it listens on).
//!
//! ## Keeping logs on disk
//!
//! The server numbers and keeps every resource's deltas in a
//! [`store::Store`]. The default, [`store::MemoryStore`], forgets them when
//! the process ends. [`store::FileStore`] keeps them in one database file, so
//! a restarted server continues each resource's epoch and seq line: its
//! clients resume with `Deltas`, and a retried action gets its first outcome
//! instead of running again. By default an action's `ActionOk` is sent only
//! after its deltas are `fsync`ed ([`store::Durability`]).
//!
//! ```no_run
//! use ui_flow_server::store::FileStore;
//! use ui_flow_server::{FlowServer, ServerConfig, UnverifiedUserToken, counter::Counter};
//!
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! std::fs::create_dir_all("data")?;
//! let (handler, auth, config) = (Counter::default(), UnverifiedUserToken, ServerConfig::default());
//! // Fails, naming the file, if it is locked, damaged or of another version.
//! let server = FlowServer::with_store(handler, auth, config, FileStore::open("data/flow.redb")?);
//! # let _ = server;
//! # Ok(()) }
//! ```
//!
//! ## Several nodes (feature `nats`)
//!
//! With [`nats::JetStreamStore`] every resource's log lives in NATS
//! JetStream, so any number of nodes behind a load balancer serve the same
//! resources: any node commits (JetStream orders the commits: one wins each
//! seq, a node that lost catches up and decides again), every node follows
//! the commits of the resources its clients use and sends them on, encoded
//! once per node, and a client whose node died resumes on another with
//! `Deltas` in the same epoch. Subjects, failure behaviour, the delivery
//! guarantee and sizing: `docs/cluster.md`.
//!
//! ```no_run
//! # #[cfg(feature = "nats")]
//! # async fn run() -> Result<(), ui_flow_server::store::StoreError> {
//! use ui_flow_server::nats::{JetStreamStore, NatsConfig};
//! use ui_flow_server::{FlowServer, ServerConfig, UnverifiedUserToken, counter::Counter};
//!
//! let store = JetStreamStore::connect(NatsConfig::new("nats://127.0.0.1:4222").prefix("myapp")).await?;
//! let server = FlowServer::with_store(Counter, UnverifiedUserToken, ServerConfig::default(), store);
//! # let _ = server;
//! # Ok(()) }
//! ```
//!
//! ## Connection lifecycle
//!
//! 1. `GET /realtime/{resource_id}` (or the app's own route with a
//!    [`FlowUpgrade`]) with the token in `Sec-WebSocket-Protocol` (see
//!    [`auth`]) or `?token=`; the `Origin` is checked first (HTTP 403; by
//!    default only the same host, see [`OriginPolicy`]). Optional
//!    `?last_seq=N&epoch=E` asks to resume (served like a `Resync`).
//! 2. Authentication within the handshake timeout; failure: `Error
//!    unauthorized` (fatal) and close 4001. Over a limit (connections per
//!    node or user, joins per second per user): `Error too_many_connections`
//!    (fatal) and close 4006, without `Connected`.
//! 3. `Connected { protocol_version, connection_id, user_id }`, then
//!    `Snapshot` (or `Deltas` when resuming), then the full `Presence` list,
//!    then live traffic. Presence changes come as `PresenceDiff` (tag 2001).
//! 4. `Ping` → `Pong`; `Subscribe`/`Unsubscribe`; `Action` → `Progress`* →
//!    `ActionOk` | `ActionErr`; `Resync` → `Deltas` or `Snapshot`;
//!    `Signal` → relayed to the target user's connections in the resource.
//!
//! A `Deltas` reply to a `Resync` always starts at `last_seq + 1`; a client
//! that kept applying live deltas after sending the `Resync` skips the ones
//! at or below its seq.
//!
//! ## Limits and codes
//!
//! See [`ServerConfig`] for every limit, its default and the error and close
//! codes it produces. Bad frames (truncated, malformed, too deep, wrong
//! fields, text instead of binary) get a non-fatal `Error` and the
//! connection goes on; unknown tags are ignored; only an oversized frame is
//! fatal.
//!
//! ## Presence
//!
//! One entry per user per resource, however many connections (tabs,
//! devices) the user has. After the full `Presence` list on join, changes
//! arrive as `PresenceDiff` (tag 2001): `joined`, `updated`, `left`. The
//! status:
//!
//! - **away** when every one of the user's connections last reported
//!   `presence: away` in a `Ping` (every tab hidden);
//! - otherwise **active** when any of them interacted within
//!   [`ServerConfig::idle_after`] (default 60 s): connected, sent an
//!   `Action`, or sent a `Ping` reporting `active`;
//! - otherwise **idle**.
//!
//! `connected_at` is when the user's earliest live connection opened. A
//! connection that dies without a close frame leaves when its socket ends,
//! or when it leaves a WebSocket ping unanswered: at most
//! [`ServerConfig::ping_interval`] + [`ServerConfig::pong_timeout`] (14 s)
//! after the last thing it sent. Changes within
//! [`ServerConfig::presence_batch`] (50 ms) of the first are sent together
//! as one `PresenceDiff`.
//!
//! On several nodes joined by `nats::NatsMesh` (feature `nats`), the list is
//! the cluster's: one entry per user whichever nodes their tabs are on
//! (active if active anywhere, earliest `connected_at`), and a node that
//! dies or loses NATS takes its users out of the others' lists within 4 s.
//!
//! ## Actions run once
//!
//! Outcomes are remembered per `(resource, user, op_id)`: a retried action
//! (after a reconnect, or after a restart with a durable store) joins the
//! run still in progress or gets the recorded `ActionOk`/`ActionErr` again,
//! and the handler is not called twice. Each outcome is kept for the retry
//! window ([`ServerConfig::op_memory`], default 300 s, and longer while
//! memory allows) whatever other users do; a user with 16 384 actions on
//! one resource within the window, or a
//! server at [`ServerConfig::op_memory_bytes`], gets new actions refused
//! (`too_many_actions`, `server_busy`) rather than anyone's outcome
//! forgotten early.
//!
//! ## Several nodes
//!
//! Broadcasts can be forwarded to other nodes through a [`broker::Broker`];
//! see that module for what a multi-node deployment still has to decide.
//! With the `nats` feature, `nats::NatsMesh` merges presence across nodes,
//! relays signals and targeted notifications to whichever node has the
//! target, and turns `/healthz` red when the path through NATS stops.
//!
//! ## In an existing axum app
//!
//! [`FlowServer::router`] merges into a `Router<AppState>` before
//! `.with_state`. To choose the path, use the app's state or let the app's
//! middleware authenticate, mount a [`FlowUpgrade`] on a route of the app's
//! own: [`FlowUpgrade::serve`] lets the [`Authenticator`] see the request's
//! headers, cookies and extensions ([`AuthRequest`]), and
//! [`FlowUpgrade::serve_as`] takes the identity the handler already knows.
//! Browser pages from another origin than the request's host are refused
//! (HTTP 403) unless [`ServerConfig::origins`] allows them.
//!
//! ## Metrics, logs and health
//!
//! Logs are `tracing` events: one `ui_flow_connection` span per connection
//! (resource, connection id, user) and one `ui_flow_handler` span around
//! every handler call (`call`, resource, and for actions the user and op
//! id). No token is ever logged. Metrics go through the `metrics` facade:
//! nothing is recorded until the app installs a recorder (such as
//! `metrics-exporter-prometheus`), and [`FlowServer::record_metrics`]
//! publishes the counters before a scrape.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `ui_flow_connections_open` | gauge | | connections open now |
//! | `ui_flow_sessions_open` | gauge | | resources with a connection |
//! | `ui_flow_connections_total` | counter | | connections accepted |
//! | `ui_flow_connections_refused_total` | counter | | upgrades refused, all reasons |
//! | `ui_flow_refusals_total` | counter | `reason`: `origin`, `resource_id` | refusals before the upgrade |
//! | `ui_flow_frames_in_total`, `ui_flow_bytes_in_total` | counter | | client frames and bytes |
//! | `ui_flow_frames_out_total`, `ui_flow_bytes_out_total` | counter | | frames and bytes written |
//! | `ui_flow_drops_total` | counter | | frames dropped (see [`Counters::drops`]) |
//! | `ui_flow_slow_disconnects_total` | counter | | slow consumers disconnected |
//! | `ui_flow_liveness_timeouts_total` | counter | | silent connections closed |
//! | `ui_flow_sync_fetches_total` | counter | `kind`: `snapshot`, `deltas` | handler calls for joins and resyncs |
//! | `ui_flow_action_duration_seconds` | histogram | `outcome`: `ok`, `err` | `handle_action` run time |
//!
//! Labels take a few fixed values, never a resource id, user id or token,
//! so the number of series stays bounded. [`FlowServer::health_router`]
//! serves `GET /healthz` (503 once [`FlowServer::shutdown`] has started).
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `jwt` | no | `jwt::JwtAuthenticator` (jsonwebtoken, algorithms pinned, `exp` required) |
//! | `nats` | no | `nats::NatsMesh`: presence, signals and notifications across nodes over NATS (async-nats) |

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod broker;
mod channels;
pub mod config;
pub mod counter;
mod counters;
pub mod endpoint;
pub mod handler;
pub mod hub;
mod identity;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;
mod lane;
mod listen;
mod log;
/// Several nodes on NATS: each log in JetStream ([`nats::JetStreamStore`]);
/// presence, signals and notifications across nodes ([`nats::NatsMesh`]).
#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub mod nats;
mod origin;
mod outbox;
mod outcome;
mod server;
mod shutdown;
mod socket;
pub mod store;
mod telemetry;
pub mod view;

pub use auth::{
    AuthError, AuthRequest, Authenticator, Identity, JoinRequest, TokenTable, UnverifiedUserToken,
};
pub use config::{LogConfig, OriginPolicy, RateLimit, ServerConfig};
pub use counters::Counters;
pub use endpoint::FlowUpgrade;
pub use handler::{ActionContext, ActionOutcome, BoxError, FlowHandler};
#[doc(hidden)]
pub use lane::{DeliveryHold, HoldProbe};
pub use log::{CommitError, Committed, TransactError};
pub use server::{FlowServer, SessionHandle};
pub use shutdown::shutdown_signal;
pub use view::{PresenceScope, Projected, ViewKey};

/// The crate README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
