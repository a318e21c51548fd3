//! # ui-flow
//!
//! Real-time UI state over one WebSocket: a server owns a state, clients mirror
//! it through a snapshot and then numbered deltas, send actions with
//! operation ids for optimistic UI, receive notifications by domain, see who
//! else is there (presence) and set up WebRTC peers (signalling).
//!
//! This crate is the part both sides share and the part that runs in a
//! browser: the protocol's messages ([`ServerMessage`], [`ClientMessage`]),
//! their MessagePack [`codec`], the [`FlowState`] trait, [`OpId`],
//! [`ConnectionStatus`], and the errors. It does no IO, so it builds for
//! `wasm32-unknown-unknown` as well as native targets.
//!
//! The [`client`] module holds the client: [`client::Client`], a sans-IO
//! state machine with all connection policy, and, behind features,
//! `FlowConnection` drivers that run it over a real WebSocket.
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `native` | no | `FlowConnection` on tokio + tokio-tungstenite (native targets) |
//! | `browser` | no | `FlowConnection` on the browser's `WebSocket` + timers (wasm32 only; nothing elsewhere) |
//!
//! Without features the crate has no async runtime and no IO dependency.
//!
//! It is not a server: use `ui-flow-server` for that. It is not a general
//! MessagePack library: payloads go through `rmp-serde`, and only the frame
//! envelope is ui-flow's own. The wire format is specified in
//! `spec/PROTOCOL.md`, with test vectors in `spec/vectors/`.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use ui_flow::{ServerMessage, codec::Decoded};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Moved { x: i32, y: i32 }
//!
//! let msg: ServerMessage<(), Moved, ()> = ServerMessage::Delta {
//!     delta: Moved { x: 1, y: -2 },
//!     seq: 42,
//!     timestamp: 1_700_000_000_000,
//!     epoch: None,
//!     prev: None,
//! };
//! let frame = msg.encode()?;
//! assert_eq!(frame[..4], [0x84, 0xa1, b't', 0xcd]); // a map, "t" first, then u16 1001
//! assert_eq!(ServerMessage::decode(&frame)?, Decoded::Message(msg));
//! # Ok::<(), ui_flow::Error>(())
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod channel;
pub mod client;
pub mod code;
pub mod codec;
mod error;
mod message;
pub mod model;
mod op;
mod presence;
mod quoted;
mod raw;
mod signal;
mod state;
mod status;
mod tag;

pub use channel::Channel;
#[cfg(any(
    all(feature = "native", not(target_arch = "wasm32")),
    all(feature = "browser", target_arch = "wasm32")
))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "native", feature = "browser"))))]
pub use client::{FlowConnection, FlowConnectionBuilder, FlowSocket, ResourceHandle};
pub use code::{CloseCode, ErrorCode};
pub use error::{
    ApiMisuse, ChannelError, DecodeError, EncodeError, Error, Incompatible, ProtocolViolation,
};
pub use message::{ClientMessage, ServerMessage};
pub use model::Model;
pub use op::{OpId, ParseOpIdError};
pub use presence::{PresenceDiff, PresenceInfo, PresenceStatus};
pub use raw::RawValue;
pub use signal::SignalPayload;
pub use state::FlowState;
pub use status::{CloseReason, ConnectionStatus};
pub use tag::{ClientTag, ServerTag, TagInfo, range_name};

/// The protocol version this build speaks, sent in `Connected`.
///
/// It changes only for breaking changes; additive changes (new optional
/// fields, new tags) keep it, because peers ignore what they do not know.
pub const PROTOCOL_VERSION: u8 = 1;

/// The crate README's examples, compiled and run as doctests.
#[cfg(all(doctest, feature = "native", not(target_arch = "wasm32")))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
