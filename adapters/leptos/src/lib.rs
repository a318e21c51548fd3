//! # ui-flow-leptos
//!
//! [Leptos](https://leptos.dev) bindings for ui-flow: [`use_flow`] opens a
//! ui-flow connection for the current reactive scope and hands back signals
//! (the state to show, connection status, latency, the state's epoch,
//! actions, presence, notifications) and methods to act on it. The
//! connection closes when the scope is disposed (the component unmounts).
//!
//! It is only a mapping of `ui_flow::client::Binding` (options, values,
//! commands and action tracking shared by every adapter) onto signals:
//! reconnecting, resyncing, seq checks and optimistic updates are all done
//! by `ui_flow::client`, exactly as in the other adapters (`ui-flow-yew`, `ui-flow-seed`, `ui-flow-js`). It is not a
//! server integration.
//!
//! One socket per page: [`provide_flow_socket`] opens the connection high
//! up, and every [`use_flow_on`]`::<M>(resource)` below it joins its
//! resource on that socket (spec/PROTOCOL.md, "Channels") and leaves it
//! when its scope is cleaned up; for the socket URL's own resource it is
//! the provider's value. A plain [`use_flow`] still opens a socket of its
//! own.
//!
//! The crate targets `wasm32-unknown-unknown` in a browser; on other targets
//! it is empty. It needs Leptos 0.8 with the `csr` feature in the app.
//!
//! In a component (browser-only, so not run as a doctest; `examples/leptos-todo`
//! is a complete app that CI builds and drives in Chromium):
//!
//! ```text
//! use leptos::prelude::*;
//! use todo_model::{TodoModel, TodoAction, TodoEvent, TodoState};
//! use ui_flow_leptos::{UseFlowOptions, use_flow_with_options};
//!
//! #[component]
//! fn Todos() -> impl IntoView {
//!     // The token travels in Sec-WebSocket-Protocol, never in the URL;
//!     // `token_provider` instead refreshes it before every reconnect.
//!     let flow = use_flow_with_options::<TodoModel>(
//!         "ws://127.0.0.1:9000/realtime/list-1",
//!         UseFlowOptions::default().token("ann"),
//!     );
//!     let add = move |_| {
//!         let action = TodoAction::Add { id: 3, title: "Milk".into() };
//!         let change = action.optimistic(&flow.state.get_untracked());
//!         let _ = flow.send(action, change);
//!     };
//!     view! {
//!         <p>{move || format!("{:?}", flow.status.get())}</p>
//!         <ul>{move || flow.state.get().items.iter().map(|t| view! { <li>{t.title.clone()}</li> }).collect_view()}</ul>
//!         <button on:click=add>"Add"</button>
//!     }
//! }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(target_arch = "wasm32")]
mod flow;

#[cfg(all(target_arch = "wasm32", feature = "bevy"))]
mod world;

#[cfg(target_arch = "wasm32")]
pub use flow::{
    SignalModel, UseFlow, provide_flow_socket, use_flow, use_flow_on, use_flow_on_with_options,
    use_flow_with_options,
};
/// The options and notification type every adapter shares, from
/// [`ui_flow::client`]; `UseFlowOptions` is the name this crate used before.
#[cfg(target_arch = "wasm32")]
pub use ui_flow::client::{
    FlowOptions, FlowOptions as UseFlowOptions, Notification, ResourceStatus,
};
#[cfg(all(target_arch = "wasm32", feature = "bevy"))]
pub use world::{use_component, use_entities, use_entity_component};
