//! # ui-flow-server
//!
//! The server half of ui-flow: an application implements [`FlowHandler`]
//! (snapshot, deltas since a seq, actions, notification filter), and this
//! crate runs every WebSocket for it at `/realtime/{resource_id}`: one
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
//!   doing IO only, a bounded outbound queue per connection, one task that
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
//! ## Connection lifecycle
//!
//! 1. `GET /realtime/{resource_id}` with the token in `Sec-WebSocket-Protocol`
//!    (see [`auth`]) or `?token=`; the `Origin` is checked first (HTTP 403).
//!    Optional `?last_seq=N&epoch=E` asks to resume (served like a `Resync`).
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
//! ## Actions run once
//!
//! Outcomes are remembered per `(resource, user, op_id)`: a retried action
//! (after a reconnect, or after a restart with a durable store) joins the
//! run still in progress or gets the recorded `ActionOk`/`ActionErr` again,
//! and the handler is not called twice. Each outcome is kept for the retry
//! window ([`ServerConfig::op_memory`], default 120 s) whatever other users
//! do; a user with 4096 actions on one resource within the window, or a
//! server at [`ServerConfig::op_memory_bytes`], gets new actions refused
//! (`too_many_actions`, `server_busy`) rather than anyone's outcome
//! forgotten early.
//!
//! ## Several nodes
//!
//! Broadcasts can be forwarded to other nodes through a [`broker::Broker`];
//! see that module for what a multi-node deployment still has to decide.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `jwt` | no | `jwt::JwtAuthenticator` (jsonwebtoken, algorithms pinned, `exp` required) |

pub mod auth;
pub mod broker;
pub mod config;
mod connection;
pub mod counter;
mod counters;
pub mod handler;
pub mod hub;
#[cfg(feature = "jwt")]
pub mod jwt;
mod listen;
mod log;
mod outbox;
mod server;
mod socket;
pub mod store;

pub use auth::{AuthError, AuthRequest, Authenticator, Identity, TokenTable, UnverifiedUserToken};
pub use config::{LogConfig, OriginPolicy, RateLimit, ServerConfig};
pub use counters::Counters;
pub use handler::{ActionContext, ActionOutcome, BoxError, FlowHandler};
pub use log::{CommitError, Committed, TransactError};
pub use server::{FlowServer, SessionHandle};
