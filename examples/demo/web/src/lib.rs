//! # demo-web
//!
//! The flagship demo's frontend: a Leptos app that joins a shared hex world
//! through `ui-flow-leptos`. Everything the protocol does is on screen:
//!
//! - the board is the `World` from the snapshot, kept current by deltas;
//!   a step shows at once (an optimistic change) and slides back with a red
//!   flash when the server refuses it;
//! - digging reports progress; the action log lists every action with its
//!   progress and outcome;
//! - notifications in the `world` and `rewards` domains, each of which can be
//!   switched off, linked to the action that caused them;
//! - who is here, active, idle or away;
//! - while disconnected, a page that does not look live: stale parts dimmed,
//!   steps and digs paused, a line saying so; after a server restart that
//!   replaced the world (a new epoch), a banner that says so, with the
//!   notifications from before it marked;
//! - a direct chat with another player over a WebRTC data channel, set up
//!   through the server's signalling relay;
//! - the connection: status, the round trips of the last minute as a
//!   sparkline, the countdown to the next attempt while reconnecting, and
//!   why it closed, in words.
//!
//! It is not a library: it builds for `wasm32-unknown-unknown` only (on
//! other targets the crate is empty) and `scripts/demo.sh` turns it into
//! `target/demo/site/pkg/` with `wasm-bindgen --target web`; `demo-server`
//! serves it.
//!
//! Who you are comes from the page address: `?user=ID&name=NAME&world=ID`,
//! or a fresh id per browser tab (kept across reloads of that tab).

#[cfg(target_arch = "wasm32")]
mod actions;
#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod board;
#[cfg(target_arch = "wasm32")]
mod chat;
#[cfg(target_arch = "wasm32")]
mod game;
#[cfg(target_arch = "wasm32")]
mod identity;
#[cfg(target_arch = "wasm32")]
mod news;
#[cfg(target_arch = "wasm32")]
mod peer;
#[cfg(target_arch = "wasm32")]
mod people;
#[cfg(target_arch = "wasm32")]
mod reset;
#[cfg(target_arch = "wasm32")]
mod round_trip;
#[cfg(target_arch = "wasm32")]
mod status;

/// Mounts the app on the page's body; runs when the module is instantiated.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
