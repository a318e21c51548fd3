//! The client: a sans-IO connection state machine, and thin drivers that run
//! it over a real WebSocket.
//!
//! [`Client`] holds all connection policy: status, reconnect with backoff,
//! resync, seq checking, pings, action tracking with optimistic changes,
//! presence and notifications. It does no IO, reads no clock and spawns
//! nothing; its documentation gives the call order. Drivers and framework
//! adapters are loops around it, so they all behave the same.
//!
//! `FlowConnection` is that loop over a real WebSocket, with a builder
//! (`url`, `token`, `on_snapshot`, `on_delta`, `on_state`, `on_notify`,
//! `on_status`, ..., `subscribe`, `connect`) and a cloneable handle
//! (`send_action`, `send_optimistic`, `subscribe`, `unsubscribe`,
//! `send_signal`, `resync`, `close`, `status`, `state`). It exists with the
//! `native` feature (tokio + tokio-tungstenite) or, on wasm32, the `browser`
//! feature (the browser's `WebSocket`, browser timers, and `online`/`visibilitychange`
//! listeners that bring a dropped connection back at once). Neither exposes
//! its dependencies' types.
//!
//! A `FlowConnection` also carries further resources on its socket:
//! `join::<R>(resource)` returns a `ResourceHandle<R>` with that resource's
//! own state, status, actions and callbacks (spec/PROTOCOL.md,
//! "Channels"), and `socket()` is the connection as a `FlowSocket`, without
//! its URL resource's model, for code that only joins.
//!
//! [`Binding`] is a `FlowConnection` as a UI shows it: the latest values
//! (the state as one shared `Arc`, status, actions sent, presence, recent
//! notifications), which of them changed, and the commands. The Leptos,
//! Yew and Seed adapters are mappings of it onto signals, re-renders and
//! messages, and take its [`FlowOptions`]. `Binding::join` is the same on
//! a resource joined on a shared socket.
//!
//! | default | value | field |
//! |---|---|---|
//! | first retry delay ceiling | 500 ms | [`ClientConfig::backoff_min`] |
//! | largest retry delay | 20 s | [`ClientConfig::backoff_max`] |
//! | ping interval | 15 s | [`ClientConfig::ping_interval`] |
//! | silence allowed beyond it | 10 s | [`ClientConfig::liveness_grace`] |
//! | unresolved actions (and waiting signals) | 256 | [`ClientConfig::queue_bound`] |
//! | settled actions still listed | 64 | [`ClientConfig::settled_ops_kept`] |
//!
//! ```
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//! use ui_flow::client::{Client, ClientConfig, Event, Instant, SocketCommand};
//! use ui_flow::{FlowState, Model, ServerMessage};
//!
//! #[derive(Clone, Default, Debug, PartialEq, Serialize, Deserialize)]
//! struct Counter(i64);
//!
//! impl FlowState for Counter {
//!     type Delta = i64;
//!     fn apply_delta(&mut self, delta: i64) { self.0 += delta; }
//! }
//!
//! struct Counting;
//! impl Model for Counting {
//!     type State = Counter;
//!     type Delta = i64;
//!     type Action = i64;
//!     type Event = ();
//! }
//!
//! let start = Instant::now();
//! let mut client: Client<Counting> = Client::new(ClientConfig::default(), start)?;
//! // The driver is told to open a socket, and reports back when it did.
//! let Some(SocketCommand::Open(socket)) = client.poll_socket() else { unreachable!() };
//! client.handle_open(start, socket);
//! let hello = ServerMessage::<Counter, i64, ()>::Connected {
//!     protocol_version: ui_flow::PROTOCOL_VERSION,
//!     connection_id: "c1".into(),
//!     user_id: None,
//!     channels: None,
//! };
//! client.handle_frame(start, socket, &hello.encode()?);
//! let snapshot = ServerMessage::<Counter, i64, ()>::Snapshot {
//!     state: Counter(40), seq: 7, timestamp: 0, epoch: None,
//! };
//! client.handle_frame(start, socket, &snapshot.encode()?);
//! // An optimistic action shows at once...
//! client.send_optimistic(2, 2)?;
//! assert_eq!(client.state(), &Counter(42));
//! assert_eq!(client.confirmed_state(), &Counter(40));
//! // ...and the driver has frames to send and a timer to arm.
//! assert!(client.poll_transmit().is_some());
//! assert_eq!(client.poll_timeout(), Some(start + Duration::from_secs(15)));
//! while let Some(event) = client.poll_event() {
//!     if let Event::Status(status) = event { println!("status: {status:?}"); }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod backoff;
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
pub mod binding;
#[cfg(all(feature = "browser", target_arch = "wasm32"))]
mod browser;
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
mod callbacks;
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
mod cell;
mod channels;
mod config;
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
mod connection;
mod cut;
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
mod driver;
mod event;
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
mod handle;
mod link;
mod machine;
mod mirror;
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
mod native;
mod ops;
mod probe;
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
mod queue;
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
mod socket;

pub use backoff::Backoff;
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "native", feature = "browser"))))]
pub use binding::{Binding, FlowOptions, Latest, Notification, Part};
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "native", feature = "browser"))))]
pub use callbacks::{MaybeSend, MaybeSync};
pub use channels::{Resource, ResourceEvent, ResourceStatus};
pub use config::ClientConfig;
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "native", feature = "browser"))))]
pub use connection::{FlowConnection, FlowConnectionBuilder};
pub use event::{Event, SocketCommand, SocketId};
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "native", feature = "browser"))))]
pub use handle::{ResourceBuilder, ResourceHandle};
pub use machine::Client;
pub use ops::OpState;
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "native", feature = "browser"))))]
pub use socket::FlowSocket;
/// The instant type every `now` argument takes: `std::time::Instant` on
/// native targets, a `performance.now()` clock in browsers.
pub use web_time::Instant;
