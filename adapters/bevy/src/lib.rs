//! # ui-flow-bevy
//!
//! Serves a Bevy ECS world as one ui-flow resource. Register components
//! with [`SyncApp::sync_component`]; clients (the native `FlowConnection`,
//! the Leptos, Yew, Seed or JavaScript adapters) get the registered
//! components of every entity as a snapshot, then one delta per sync tick
//! with only what changed; their actions arrive in the app as
//! [`ClientAction`] messages that systems answer.
//!
//! It is not a Bevy client or a replication layer between Bevy apps
//! (clients mirror a [`SyncedWorld`], not a `World`), not a renderer, and it
//! pulls in only `bevy_ecs` and `bevy_app`. With interest management
//! (`UiFlowPlugin::interest`, feature `server`) each user sees only the
//! entities their `Interest` sees, over ui-flow-server's per-user views;
//! without it every client sees every synced entity.
//!
//! ## Shape
//!
//! - [`world`]: [`SyncedWorld`] (entity → component name → value) and
//!   [`WorldDelta`] (one sync tick, coalesced). No Bevy inside: this is all
//!   a client needs, and all that builds without the `server` feature.
//!   Both travel column by column (each component's name once per snapshot
//!   or delta, no field names; see `wire`).
//! - `UiFlowPlugin` (feature `server`): binds the socket, runs a ui-flow
//!   server on a tokio runtime on its own thread, and adds the systems that
//!   mark changes every frame and commit them on each sync tick. One tick
//!   with changes is one commit, so one seq; a quiet tick commits nothing.
//!   Snapshots come from the server's log, which holds exactly the
//!   committed ticks.
//!   The app hands ticks to the server thread through a queue of
//!   `TICK_QUEUE` (64) ticks and never waits: when the server thread falls
//!   behind and the queue is full, ticks coalesce (their changes go, with
//!   each component's latest value, in the next tick that finds room: one
//!   commit for several ticks); none is dropped (`SyncServer::coalesced_ticks`
//!   counts them).
//! - `Interest` and `Interests` (feature `server`): interest management,
//!   a per-user filter over the synced entities on ui-flow-server's
//!   per-user views; each tick is projected and encoded once per distinct
//!   interest.
//! - `ClientAction` (feature `server`): one client's action, answered once
//!   (ok, ok with a result, err) with optional progress before; the answer
//!   reaches the client after the commit of the tick that answered it.
//!
//! A connection holds nothing in the app: its state is the server's, and
//! leaves with it (see `SyncServer::connection_count`).
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `server` | yes | the plugin, `bevy_ecs`, `bevy_app`, `ui-flow-server` and tokio (native only) |

mod wire;
pub mod world;

#[cfg(feature = "server")]
mod action;
#[cfg(feature = "server")]
mod interest;
#[cfg(feature = "server")]
mod plugin;
#[cfg(feature = "server")]
mod server;

#[cfg(feature = "server")]
pub use action::ClientAction;
#[cfg(feature = "server")]
pub use interest::{Interest, Interests};
#[cfg(feature = "server")]
pub use plugin::{Mark, SyncApp, SyncServer, UiFlowPlugin};
#[cfg(feature = "server")]
pub use server::TICK_QUEUE;
pub use world::{
    ComponentValue, Components, EntityId, SyncedModel, SyncedWorld, WorldDelta, component_name,
    get_component,
};
