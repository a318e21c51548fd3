//! The browser scenarios every adapter passes, written once over
//! [`TodoApp`], the small trait each adapter's test implements.
//! [`scenarios!`](crate::scenarios) turns them into `wasm_bindgen_test`s;
//! `scenarios.json` (next to this crate's `Cargo.toml`) lists them for the
//! JavaScript tests, and the generated tests check that both lists agree.
//!
//! A scenario reads what the app rendered, by these conventions:
//! - each to-do item is an element with `data-id` and its title as text;
//! - the status is the `Debug` text of `ConnectionStatus` in `.status`;
//! - `.latency` is non-empty once a round trip was measured;
//! - each member is an element with `data-user`;
//! - each action sent is an element with `data-op` (its op id) and
//!   `data-op-state` ([`op_label`]);
//! - each notification is an element with `data-note` (the op id that
//!   caused it, or empty) and [`note_text`] as text.

use std::cell::Cell;
use std::rc::Rc;

use todo_model::{DOMAIN, TodoAction, TodoEvent, TodoModel, code};
use ui_flow::OpId;
use ui_flow::client::{FlowConnection, FlowOptions, OpState};
use web_sys::Element;

use crate::browser::{endpoint_url, fresh_id, fresh_resource, row, rows, server_url, until};

/// An adapter's test app: a to-do view on one connection, rendered by the
/// conventions of the [module](self).
pub trait TodoApp: Sized + 'static {
    /// Mounts the app in a fresh element, connecting to `url` with
    /// `options` (the scenario sets the token and subscriptions).
    fn mount(url: String, options: FlowOptions) -> Self;
    /// The element the app rendered into.
    fn root(&self) -> &Element;
    /// Sends `action` with its optimistic change, as a click would, and
    /// returns its op id.
    fn act(&self, action: TodoAction) -> OpId;
    /// Whether item `id` was ever shown since mounting, even briefly.
    fn was_shown(&self, id: u64) -> bool;
    /// Unmounts the app (or drops its connection, in the framework's way).
    fn unmount(self);
}

/// How an app renders an action's state in `data-op-state`.
pub fn op_label(state: &OpState) -> String {
    match state {
        OpState::Pending | OpState::Progress { .. } => "pending".into(),
        OpState::Ok { .. } => "ok".into(),
        OpState::Err { code, .. } => format!("err:{}", code.as_deref().unwrap_or("")),
    }
}

/// How an app renders a notification's event.
pub fn note_text(event: &TodoEvent) -> String {
    format!("{}:{}", event.by, event.title)
}

pub(crate) fn options(user: &str) -> FlowOptions {
    FlowOptions::default().token(user).subscribe([DOMAIN])
}

pub(crate) fn text_of(root: &Element, selector: &str) -> String {
    root.query_selector(selector)
        .ok()
        .flatten()
        .and_then(|el| el.text_content())
        .unwrap_or_default()
}

pub(crate) fn attrs_of(root: &Element, selector: &str, attr: &str) -> Vec<String> {
    let list = root.query_selector_all(selector).expect("a valid selector");
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|node| wasm_bindgen::JsCast::dyn_into::<Element>(node).ok())
        .filter_map(|el| el.get_attribute(attr))
        .collect()
}

pub(crate) fn status(root: &Element) -> String {
    text_of(root, ".status")
}

pub(crate) fn op(root: &Element, op_id: OpId) -> Option<String> {
    attrs_of(root, &format!("[data-op=\"{op_id}\"]"), "data-op-state")
        .into_iter()
        .next()
}

pub(crate) fn members(root: &Element) -> Vec<String> {
    attrs_of(root, "[data-user]", "data-user")
}

async fn seeded(root: &Element) {
    until("the seeded items", || {
        rows(root)
            == [
                (1, "Read the protocol".to_owned()),
                (2, "Try an adapter".to_owned()),
            ]
    })
    .await;
}

pub(crate) fn bob(resource: &str) -> FlowConnection<TodoModel> {
    FlowConnection::<TodoModel>::builder()
        .url(server_url(resource, "bob"))
        .connect()
        .expect("a second connection")
}

/// The seeded list, the status `Open`, our user in presence and a
/// latency measurement.
pub async fn snapshot_is_rendered_with_status_presence_and_latency<A: TodoApp>() {
    let app = A::mount(endpoint_url(&fresh_resource("snapshot")), options("ann"));
    let root = app.root();
    seeded(root).await;
    until("status Open", || status(root) == "Open").await;
    until("ann in presence", || members(root).contains(&"ann".into())).await;
    until("a latency measurement", || {
        !text_of(root, ".latency").is_empty()
    })
    .await;
    app.unmount();
}

/// The token provider is asked once per dial, and its token names the
/// user.
pub async fn the_token_provider_is_asked_and_names_the_user<A: TodoApp>() {
    let asked = Rc::new(Cell::new(0u32));
    let count = Rc::clone(&asked);
    let options = FlowOptions::default().token_provider(move || {
        count.set(count.get() + 1);
        Some("pat".to_owned())
    });
    let app = A::mount(endpoint_url(&fresh_resource("token")), options);
    until("pat in presence", || {
        members(app.root()).contains(&"pat".into())
    })
    .await;
    assert_eq!(asked.get(), 1, "asked once per dial");
    app.unmount();
}

/// Another client's action reaches the view.
pub async fn a_delta_from_another_client_is_applied<A: TodoApp>() {
    let resource = fresh_resource("delta");
    let app = A::mount(endpoint_url(&resource), options("ann"));
    seeded(app.root()).await;
    let other = bob(&resource);
    let id = fresh_id();
    other
        .send_action(TodoAction::Add {
            id,
            title: "From Bob".into(),
        })
        .expect("sent");
    until("bob's item", || {
        row(app.root(), id).as_deref() == Some("From Bob")
    })
    .await;
    other.close();
    app.unmount();
}

/// An optimistic add is confirmed, stays shown, and its notification names
/// the action.
pub async fn an_optimistic_action_is_confirmed<A: TodoApp>() {
    let app = A::mount(endpoint_url(&fresh_resource("confirm")), options("ann"));
    let root = app.root();
    seeded(root).await;
    let id = fresh_id();
    let op_id = app.act(TodoAction::Add {
        id,
        title: "Buy milk".into(),
    });
    until("the action's ActionOk", || {
        op(root, op_id).as_deref() == Some("ok")
    })
    .await;
    assert_eq!(row(root, id).as_deref(), Some("Buy milk"));
    let note = format!("[data-note=\"{op_id}\"]");
    until("the notification it caused", || {
        text_of(root, &note) == "ann:Buy milk"
    })
    .await;
    assert_eq!(status(root), "Open");
    app.unmount();
}

/// A blank title is shown at once, refused by the server, and taken away.
pub async fn a_rejected_optimistic_action_is_rolled_back<A: TodoApp>() {
    let app = A::mount(endpoint_url(&fresh_resource("reject")), options("ann"));
    let root = app.root();
    seeded(root).await;
    let id = fresh_id();
    let op_id = app.act(TodoAction::Add {
        id,
        title: "   ".into(),
    });
    let refused = format!("err:{}", code::INVALID_TITLE);
    until("the action's ActionErr", || {
        op(root, op_id).is_some_and(|s| s.starts_with("err"))
    })
    .await;
    assert_eq!(op(root, op_id), Some(refused));
    until("the row to go", || row(root, id).is_none()).await;
    assert!(app.was_shown(id), "the optimistic row was shown first");
    assert_eq!(rows(root).len(), 2, "the seeded items are untouched");
    app.unmount();
}

/// Unmounting closes the connection: another user sees us leave.
pub async fn closing_leaves_the_resource<A: TodoApp>() {
    let resource = fresh_resource("close");
    let app = A::mount(endpoint_url(&resource), options("ann"));
    seeded(app.root()).await;
    let other = bob(&resource);
    let present = |user: &str| other.presence().iter().any(|p| p.user_id == user);
    until("bob to see ann", || present("ann")).await;
    app.unmount();
    until("bob to see ann leave", || !present("ann")).await;
    other.close();
}

/// The server's own 400 for a resource id over 256 bytes ends the
/// connection, and the status says why.
pub async fn a_refused_upgrade_shows_as_closed_with_its_status<A: TodoApp>() {
    let app = A::mount(endpoint_url(&"r".repeat(300)), options("ann"));
    until("closed with HTTP 400", || {
        status(app.root()) == "Closed { reason: Refused { status: 400 } }"
    })
    .await;
    app.unmount();
}

/// A URL that is not `ws://` or `wss://` is never dialled; the status says
/// so at once.
pub async fn a_url_that_is_not_a_websocket_url_is_refused<A: TodoApp>() {
    let app = A::mount("http://127.0.0.1:9/realtime/x".into(), options("ann"));
    until("closed as misconfigured", || {
        status(app.root()).starts_with("Closed { reason: Misconfigured")
    })
    .await;
    app.unmount();
}

/// Fails unless `names` are exactly the ids of the `scenarios` list of
/// `scenarios.json`, in order.
pub fn check_list(names: &[&str]) {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../scenarios.json")).expect("scenarios.json parses");
    let ids: Vec<&str> = file["scenarios"]
        .as_array()
        .expect("a scenarios list")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(
        names, ids,
        "scenarios! and scenarios.json list the same scenarios"
    );
}

/// Defines one `wasm_bindgen_test` per shared scenario for the app type
/// `$app` (a [`TodoApp`]), and one that checks the list against
/// `scenarios.json`. The calling test crate needs `wasm-bindgen-test`.
#[macro_export]
macro_rules! scenarios {
    ($app:ty) => {
        $crate::scenarios!(@each $app;
            snapshot_is_rendered_with_status_presence_and_latency,
            the_token_provider_is_asked_and_names_the_user,
            a_delta_from_another_client_is_applied,
            an_optimistic_action_is_confirmed,
            a_rejected_optimistic_action_is_rolled_back,
            closing_leaves_the_resource,
            a_refused_upgrade_shows_as_closed_with_its_status,
            a_url_that_is_not_a_websocket_url_is_refused
        );
    };
    (@each $app:ty; $($name:ident),*) => {
        /// The shared scenarios (`adapters/test-support`).
        mod shared_scenarios {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[::wasm_bindgen_test::wasm_bindgen_test]
                async fn $name() {
                    $crate::scenario::$name::<$app>().await;
                }
            )*

            #[::wasm_bindgen_test::wasm_bindgen_test]
            fn scenario_list_is_the_shared_one() {
                $crate::scenario::check_list(&[$(stringify!($name)),*]);
            }
        }
    };
}
