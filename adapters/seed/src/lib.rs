//! # ui-flow-seed
//!
//! [Seed](https://seed-rs.org) bindings for ui-flow, in Seed's own shape:
//! [`connect`] opens a ui-flow connection from `init` (or `update`) and
//! turns its events into the app's messages through `Orders`, so `update`
//! receives [`FlowMsg::State`], [`FlowMsg::Status`], [`FlowMsg::Action`],
//! ... like any other message. The returned [`Flow`] lives in the model and
//! sends actions; dropping it closes the connection. [`join`] puts another
//! resource on that connection's socket ([`Flow::socket`]) instead of
//! opening a second one, with its messages through `Orders` the same way
//! and [`FlowMsg::Resource`] for where it stands; dropping its `Flow`
//! leaves the resource.
//!
//! It is only a mapping of `ui_flow::client::Binding` (options, values,
//! commands and action tracking shared by every adapter) onto messages:
//! reconnecting, resyncing, seq checks and optimistic updates are all done
//! by `ui_flow::client`, exactly as in the other
//! adapters (`ui-flow-leptos`, `ui-flow-yew`, `ui-flow-js`).
//!
//! The crate targets `wasm32-unknown-unknown` in a browser; on other targets
//! it is empty. It needs Seed 0.10.
//!
//! In an app (browser-only, so not run as a doctest; `examples/seed-todo`
//! is a complete app that CI builds and drives in Chromium):
//!
//! ```text
//! use seed::{prelude::*, *};
//! use todo_model::{TodoModel, TodoAction, TodoEvent, TodoState};
//! use ui_flow_seed::{Flow, FlowMsg, FlowOptions};
//!
//! struct Model { flow: Flow<TodoModel>, todos: TodoState }
//! enum Msg { Flow(FlowMsg<TodoState, TodoEvent>), Add(String) }
//!
//! fn init(_: Url, orders: &mut impl Orders<Msg>) -> Model {
//!     let url = "ws://127.0.0.1:9000/realtime/list-1";
//!     // In Sec-WebSocket-Protocol, never in the URL; `token_provider`
//!     // refreshes it before every reconnect instead.
//!     let options = FlowOptions::default().token("ann");
//!     let flow = ui_flow_seed::connect(url, options, orders, Msg::Flow);
//!     Model { flow, todos: TodoState::default() }
//! }
//!
//! fn update(msg: Msg, model: &mut Model, _: &mut impl Orders<Msg>) {
//!     match msg {
//!         Msg::Flow(FlowMsg::State(todos)) => model.todos = todos,
//!         Msg::Flow(_) => {}
//!         Msg::Add(title) => {
//!             let action = TodoAction::Add { id: 3, title };
//!             let change = action.optimistic(&model.todos);
//!             let _ = model.flow.send(action, change);
//!         }
//!     }
//! }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(target_arch = "wasm32")]
mod flow;

#[cfg(target_arch = "wasm32")]
pub use flow::{Flow, FlowMsg, connect, join};
/// The shared connection [`join`] puts a resource on ([`Flow::socket`]).
#[cfg(target_arch = "wasm32")]
pub use ui_flow::FlowSocket;
/// The options every adapter shares, from [`ui_flow::client`], and where a
/// joined resource stands.
#[cfg(target_arch = "wasm32")]
pub use ui_flow::client::{FlowOptions, ResourceStatus};
