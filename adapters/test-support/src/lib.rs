//! Helpers shared by the browser tests of `ui-flow-leptos`, `ui-flow-yew`
//! and `ui-flow-seed` (wasm32 only; empty elsewhere). Not published.
//!
//! The tests talk to a real `examples/adapter-server`, whose address is
//! baked in at build time from `UI_FLOW_ADAPTER_SERVER` (for example
//! `ws://127.0.0.1:40123`); `adapters/test.sh` starts the server and sets it.
//!
//! Test views follow one convention: each to-do item is an element with a
//! `data-id` attribute holding its id and its title as text; [`scenario`]
//! holds the browser scenarios every adapter runs (see its conventions),
//! and [`shared_socket`] those of one socket carrying several resources.

#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
pub mod scenario;
#[cfg(target_arch = "wasm32")]
pub mod shared_socket;

#[cfg(target_arch = "wasm32")]
pub use browser::*;
