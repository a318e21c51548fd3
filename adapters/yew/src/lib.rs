//! # ui-flow-yew
//!
//! [Yew](https://yew.rs) bindings for ui-flow: the [`use_flow`] hook opens a
//! ui-flow connection for a component and returns a [`UseFlowHandle`] with
//! the connection's latest values (the state to show, status, latency,
//! actions, presence, notifications) and methods to act on it. To share one
//! connection, wrap components in a [`FlowProvider`] and call
//! [`use_flow_context`] in each; [`use_flow_on`] under the same provider
//! joins another resource on that socket (one socket per page, see
//! spec/PROTOCOL.md, "Channels").
//!
//! Components re-render only for what they read: reading `state()` during
//! a render subscribes the component to state changes, reading `status()`
//! to status changes, and so on. A connection badge does not re-render for
//! every delta.
//!
//! It is only a mapping of `ui_flow::client::Binding` (options, values,
//! commands and action tracking shared by every adapter) onto hooks and
//! re-renders: reconnecting, resyncing, seq checks and optimistic updates
//! are all done by `ui_flow::client`, exactly as in the other adapters (`ui-flow-leptos`, `ui-flow-seed`, `ui-flow-js`). The connection
//! closes when the owning component unmounts.
//!
//! The crate targets `wasm32-unknown-unknown` in a browser; on other targets
//! it is empty. It needs Yew 0.23 with the `csr` feature in the app.
//!
//! In a component (browser-only, so not run as a doctest; `examples/yew-todo`
//! is a complete app that CI builds and drives in Chromium):
//!
//! ```text
//! use todo_model::{TodoModel, TodoAction, TodoEvent, TodoState};
//! use ui_flow_yew::{UseFlowOptions, use_flow};
//! use yew::prelude::*;
//!
//! #[component]
//! fn Todos() -> Html {
//!     let flow = use_flow::<TodoModel>(
//!         "ws://127.0.0.1:9000/realtime/list-1",
//!         // In Sec-WebSocket-Protocol, never in the URL; `token_provider`
//!         // refreshes it before every reconnect instead.
//!         UseFlowOptions::default().token("ann"),
//!     );
//!     let add = {
//!         let flow = flow.clone();
//!         Callback::from(move |_| {
//!             let action = TodoAction::Add { id: 3, title: "Milk".into() };
//!             let change = action.optimistic(&flow.state());
//!             let _ = flow.send(action, change);
//!         })
//!     };
//!     html! {
//!         <>
//!             <p>{format!("{:?}", flow.status())}</p>
//!             <ul>{for flow.state().items.iter().map(|t| html! { <li key={t.id}>{&t.title}</li> })}</ul>
//!             <button onclick={add}>{"Add"}</button>
//!         </>
//!     }
//! }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(target_arch = "wasm32")]
mod hook;
#[cfg(target_arch = "wasm32")]
mod store;

#[cfg(target_arch = "wasm32")]
pub use hook::{
    FlowProvider, FlowProviderProps, UseFlowHandle, use_flow, use_flow_context, use_flow_on,
};
#[cfg(target_arch = "wasm32")]
/// The options and notification type every adapter shares, from
/// [`ui_flow::client`]; `UseFlowOptions` is the name this crate used before.
#[cfg(target_arch = "wasm32")]
pub use ui_flow::client::{
    FlowOptions, FlowOptions as UseFlowOptions, Notification, ResourceStatus,
};
