//! # ui-flow-js
//!
//! ui-flow for plain JavaScript: a wasm-bindgen build of the ui-flow client
//! that exports `FlowResource`, a resource's handle with callbacks for what
//! the server sends and a `sendAction` that returns a Promise (resolved on
//! `ActionOk`, rejected on `ActionErr`), and `FlowSocket`, which joins
//! further resources on the same WebSocket as `FlowResource`s (each with
//! its own `applyDelta`). The npm package (`adapters/js/package`, built by
//! `adapters/js/build.sh`) adds its entry `index.js`, where `FlowClient`
//! (a connection and its URL's resource) is a `FlowResource` subclass with
//! the static `connect`, and TypeScript typings in `index.d.ts`, which
//! document every option and value shape.
//!
//! It is only a mapping of `ui_flow::client::Binding`, the layer under the
//! other adapters (`ui-flow-leptos`, `ui-flow-yew`, `ui-flow-seed`): the
//! options, commands, op tracking and a connection that cannot start come
//! from there, and reconnecting, resyncing, seq checks and optimistic
//! updates from `ui_flow::client` below it. What is here is JavaScript
//! values, callbacks, a promise per action and the per-client (or
//! per-resource) `applyDelta`, released at `close()`.
//! Rust apps use those adapters, or `ui_flow::client::FlowConnection`
//! directly, not this crate.
//!
//! Payloads (state, deltas, actions, events) cross as plain JavaScript
//! values; integers beyond ±(2^53 − 1) cross as BigInt (see the `payload`
//! module). The app's state lives on the JavaScript side: with an
//! `applyDelta(state, delta)` option the shim keeps the state to show,
//! optimistic changes included; without it the app keeps its own copy from
//! `onSnapshot` and `onDelta`.
//!
//! ```js
//! import init, { FlowClient } from "ui-flow-js";
//! await init();
//! const client = FlowClient.connect("ws://127.0.0.1:9000/realtime/list-1", {
//!   token: "ann", // or tokenProvider: () => freshToken(), asked before every reconnect
//!   applyDelta: (state, delta) => reduce(state, delta),
//!   onState: (state) => render(state),
//!   onStatus: (status) => badge(status.kind),
//! });
//! const { opId } = await client.sendAction({ type: "add", id: 3, title: "Milk" },
//!                                          { optimistic: { type: "added", item: { id: 3, title: "Milk", done: false } } });
//! ```
//!
//! The crate targets `wasm32-unknown-unknown`; on other targets it is empty.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(target_arch = "wasm32")]
mod callbacks;
#[cfg(target_arch = "wasm32")]
mod payload;
#[cfg(target_arch = "wasm32")]
mod resource;
#[cfg(target_arch = "wasm32")]
mod shape;
#[cfg(target_arch = "wasm32")]
mod socket;
#[cfg(target_arch = "wasm32")]
mod state;

#[cfg(target_arch = "wasm32")]
pub use resource::FlowResource;
#[cfg(target_arch = "wasm32")]
pub use socket::FlowSocket;

/// The package's allocator: talc rather than the Rust default (dlmalloc),
/// for size (see BENCHMARKS.md, "Tenth pass"). Like dlmalloc it gives freed
/// memory back for reuse, so a long-lived page does not grow without bound
/// (checked by the browser test "a long-running page's WebAssembly memory
/// stops growing after warm-up"). It is the npm package's choice: a Rust
/// crate that linked this one's rlib would get it too (none does; Rust apps
/// use the other adapters).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
