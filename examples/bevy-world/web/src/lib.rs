//! The Bevy world's page: a Leptos app on `ui-flow-leptos` (feature
//! `bevy`) that draws the entities `bevy-world-server` syncs and inspects
//! one of them.
//!
//! - `field`: every entity as a dot in an SVG square, each dot its own
//!   component reading its own `Position` and `Name` through
//!   `use_entity_component`, so a frame re-renders the dots that moved and
//!   nothing else;
//! - `inspector`: the selected entity's components, live, and a rename
//!   through the `Rename` action with its outcome (ok, or the server's
//!   refusal) shown.
//!
//! It builds for `wasm32-unknown-unknown` only (empty elsewhere).
//! `./scripts/demo.sh bevy` builds it and starts the server, which serves
//! the page and `/world.js`, the script that says where the world is
//! (`page`). Who you are comes from `?user=NAME` (default `viewer`).
#![cfg(target_arch = "wasm32")]

mod app;
mod field;
mod inspector;
mod page;

/// Mounts the app on the page's body; runs when the module is instantiated.
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
