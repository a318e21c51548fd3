//! Shared pieces of the ui-flow client's end-to-end tests.
//!
//! - [`journal`]: a tiny application (an append-only list of numbers) whose
//!   state, delta, action and event types both sides use. Its deltas do not
//!   commute, so a lost, repeated or reordered delta shows in the state.
//! - `server` (native targets only): a real `ui-flow-server` running the
//!   journal app, which can be stopped and restarted on the same port while
//!   its data survives (as a database's would), behind a TCP proxy that can
//!   cut or freeze every connection, to fail sockets the way networks do.
//!
//! The tests themselves:
//!
//! - `tests/simulation.rs`: client cores against the server's sans-IO hub
//!   on one virtual clock, no sockets (a property test over fault schedules);
//! - `tests/native.rs`: the tokio driver against a real server on 127.0.0.1;
//! - `tests/browser.rs`: the browser driver in headless Chromium
//!   (wasm-bindgen-test), against the `flow-test-server` binary; see
//!   `browser-tests.sh` for how they are run.
//!
//! `examples/minimal_browser_client.rs` is the app whose wasm size
//! `wasm-size.sh` measures for BENCHMARKS.md.
//!
//! This crate is not published and is not an example of how to write a
//! ui-flow app: the server side cuts connections on request.

pub mod journal;
#[cfg(not(target_arch = "wasm32"))]
pub mod server;
