//! The shared-socket browser scenarios every adapter passes, written once
//! over [`SharedSocketApp`]: one WebSocket carrying three resources, the
//! socket URL's own and two joined on it (spec/PROTOCOL.md, "Channels").
//! [`shared_socket_scenarios!`](crate::shared_socket_scenarios) turns them
//! into `wasm_bindgen_test`s; the `shared_socket` list of `scenarios.json`
//! names them for the JavaScript tests, and the generated tests check that
//! both lists agree.
//!
//! A shared-socket app renders each resource in its own element with
//! `data-resource` set to the resource's index (0: the socket URL's
//! resource; 1, 2: the joined ones, in the order given to
//! [`SharedSocketApp::mount`]). Inside it, the conventions of
//! [`scenario`](crate::scenario) apply (rows, `.status`, `data-user`,
//! `data-op`, `data-note`), and a joined resource's `.resource` is the
//! `Debug` text of its `ResourceStatus` (`Joined`).
//!
//! What this is not: the single-resource scenarios (see
//! [`scenario`](crate::scenario)), nor tests of one framework's own API
//! (such as `use_flow_on` without a provider), which stay in that
//! adapter's test file.

use todo_model::{TodoAction, code};
use ui_flow::OpId;
use ui_flow::client::FlowOptions;
use web_sys::Element;

use crate::browser::{endpoint_url, fresh_id, fresh_resource, row, rows, until};
use crate::scenario::{attrs_of, bob, members, op, options, status, text_of};

/// An adapter's test app with one socket and several resources on it, by
/// the framework's idiom (a provider with components that join, or a
/// connection's socket with flows joined on it), rendered by the
/// conventions of the [module](self).
pub trait SharedSocketApp: Sized + 'static {
    /// Mounts the app in a fresh element: one connection to `url` with
    /// `options` (resource 0), and each of `joined` joined on its socket
    /// (resources 1, 2, ...) with the same options (their token and
    /// connection policy are the socket's).
    fn mount(url: String, options: FlowOptions, joined: Vec<String>) -> Self;
    /// The element the app was mounted in.
    fn page(&self) -> &Element;
    /// Sends `action` on resource `resource` with its optimistic change, as
    /// a click in that resource's view would, and returns its op id.
    fn act(&self, resource: usize, action: TodoAction) -> OpId;
    /// Whether item `id` was ever shown in resource `resource`'s view since
    /// mounting, even briefly.
    fn was_shown(&self, resource: usize, id: u64) -> bool;
    /// Unmounts the view of joined resource `resource` (1 or more), which
    /// leaves that resource; the socket and the other resources stay.
    fn leave(&self, resource: usize);
    /// Unmounts the app, closing its socket.
    fn unmount(self);
}

/// The element resource `resource` rendered into, while it is shown.
fn view_of<A: SharedSocketApp>(app: &A, resource: usize) -> Option<Element> {
    app.page()
        .query_selector(&format!("[data-resource=\"{resource}\"]"))
        .ok()
        .flatten()
}

/// What `read` says of resource `resource`'s view; `T::default()` while it
/// is not shown.
fn read<A: SharedSocketApp, T: Default>(
    app: &A,
    resource: usize,
    read: impl Fn(&Element) -> T,
) -> T {
    view_of(app, resource)
        .map(|el| read(&el))
        .unwrap_or_default()
}

/// A socket resource id no other test uses, and two resources to join on
/// it (their ids start with it, so [`sockets_to`] counts every socket any
/// of them might open).
fn three(test: &str) -> [String; 3] {
    let url = fresh_resource(test);
    let (chat, inbox) = (format!("{url}-chat"), format!("{url}-inbox"));
    [url, chat, inbox]
}

fn mount<A: SharedSocketApp>(names: &[String; 3]) -> A {
    A::mount(endpoint_url(&names[0]), options("ann"), names[1..].to_vec())
}

const SEEDED: [(u64, &str); 2] = [(1, "Read the protocol"), (2, "Try an adapter")];

fn is_seeded(rows: &[(u64, String)]) -> bool {
    rows.len() == SEEDED.len()
        && rows
            .iter()
            .zip(SEEDED)
            .all(|((id, title), (want_id, want))| *id == want_id && title == want)
}

/// Waits until all three views show the seeded rows, resources 1 and 2
/// are `Joined`, and every view shows the shared socket `Open`.
async fn all_live<A: SharedSocketApp>(app: &A) {
    for resource in 0..3 {
        until("the resource's seeded items", || {
            is_seeded(&read(app, resource, rows))
        })
        .await;
        until("the shared socket's status Open", || {
            read(app, resource, status) == "Open"
        })
        .await;
    }
    for resource in 1..3 {
        until("the joined resource Joined", || {
            read(app, resource, |el| text_of(el, ".resource")) == "Joined"
        })
        .await;
    }
}

/// Counts every `new WebSocket(url)` the page makes from now on, by URL,
/// in `window.__uiFlowSocketUrls` (installed once per page).
fn count_sockets() {
    let shim = r#"(() => {
        window.__uiFlowSocketUrls = [];
        if (window.__uiFlowSocketsCounted) { return; }
        window.__uiFlowSocketsCounted = true;
        const Native = window.WebSocket;
        function Counted(...args) {
            window.__uiFlowSocketUrls.push(String(args[0]));
            return new Native(...args);
        }
        Counted.prototype = Native.prototype;
        for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) { Counted[k] = Native[k]; }
        window.WebSocket = Counted;
    })()"#;
    js_sys::eval(shim).expect("the WebSocket counter installs");
}

/// How many WebSockets the page opened, since [`count_sockets`], to a URL
/// containing `resource`.
fn sockets_to(resource: &str) -> usize {
    let urls = js_sys::eval("window.__uiFlowSocketUrls").expect("the counter is installed");
    js_sys::Array::from(&urls)
        .iter()
        .filter_map(|url| url.as_string())
        .filter(|url| url.contains(resource))
        .count()
}

/// One socket, three resources, each with its own seeded snapshot and its
/// own deltas from another user.
pub async fn three_resources_share_one_socket_each_live<A: SharedSocketApp>() {
    count_sockets();
    let names = three("shared-live");
    let app = mount::<A>(&names);
    all_live(&app).await;
    assert_eq!(
        sockets_to(&names[0]),
        1,
        "one WebSocket for three resources"
    );

    let bobs: Vec<_> = names.iter().map(|name| bob(name)).collect();
    let ids: Vec<u64> = (0..3).map(|_| fresh_id()).collect();
    for (resource, (other, id)) in bobs.iter().zip(&ids).enumerate() {
        other
            .send_action(TodoAction::Add {
                id: *id,
                title: format!("From Bob on {resource}"),
            })
            .expect("sent");
    }
    for (resource, id) in ids.iter().enumerate() {
        let title = format!("From Bob on {resource}");
        until("bob's item on its resource", || {
            read(&app, resource, |el| row(el, *id)).as_deref() == Some(title.as_str())
        })
        .await;
    }
    for (resource, id) in ids.iter().enumerate() {
        for other in (0..3).filter(|r| *r != resource) {
            assert!(
                !app.was_shown(other, *id),
                "resource {resource}'s item never shown in resource {other}'s view"
            );
        }
    }
    assert_eq!(
        sockets_to(&names[0]),
        1 + bobs.len(),
        "ann's one WebSocket and bob's own, nothing reopened"
    );
    bobs.iter().for_each(|b| b.close());
    app.unmount();
}

/// A confirmed action stays on its resource, with its notification there;
/// a rejected one is rolled back on its resource and nowhere else is
/// touched.
pub async fn optimistic_actions_settle_on_their_own_resource<A: SharedSocketApp>() {
    let names = three("shared-actions");
    let app = mount::<A>(&names);
    all_live(&app).await;

    let kept = fresh_id();
    let confirmed = app.act(
        1,
        TodoAction::Add {
            id: kept,
            title: "Buy milk".into(),
        },
    );
    until("the action ok on resource 1", || {
        read(&app, 1, |el| op(el, confirmed)).as_deref() == Some("ok")
    })
    .await;
    assert_eq!(
        read(&app, 1, |el| row(el, kept)).as_deref(),
        Some("Buy milk")
    );
    let note = format!("[data-note=\"{confirmed}\"]");
    until("its notification on resource 1", || {
        read(&app, 1, |el| text_of(el, &note)) == "ann:Buy milk"
    })
    .await;

    let refused = fresh_id();
    let rejected = app.act(
        2,
        TodoAction::Add {
            id: refused,
            title: "   ".into(),
        },
    );
    until("the action err on resource 2", || {
        read(&app, 2, |el| op(el, rejected)).is_some_and(|s| s.starts_with("err"))
    })
    .await;
    assert_eq!(
        read(&app, 2, |el| op(el, rejected)),
        Some(format!("err:{}", code::INVALID_TITLE))
    );
    until("the refused row to go", || {
        read(&app, 2, |el| row(el, refused)).is_none()
    })
    .await;
    assert!(
        app.was_shown(2, refused),
        "the optimistic row was shown first"
    );
    assert!(
        is_seeded(&read(&app, 2, rows)),
        "resource 2 is back to its seeded items"
    );

    assert!(is_seeded(&read(&app, 0, rows)), "resource 0 untouched");
    assert_eq!(
        read(&app, 1, rows).len(),
        3,
        "resource 1: seeded items and its own"
    );
    for (resource, id) in [(0, kept), (2, kept), (0, refused), (1, refused)] {
        assert!(
            !app.was_shown(resource, id),
            "item {id} never shown in resource {resource}'s view"
        );
    }
    let ops_of = |resource| read(&app, resource, |el| attrs_of(el, "[data-op]", "data-op"));
    assert!(ops_of(0).is_empty(), "resource 0 lists no action");
    assert_eq!(
        ops_of(1),
        [confirmed.to_string()],
        "resource 1 lists its own action only"
    );
    assert_eq!(
        ops_of(2),
        [rejected.to_string()],
        "resource 2 lists its own action only"
    );
    for resource in [0, 2] {
        assert_eq!(
            read(&app, resource, |el| text_of(el, &note)),
            "",
            "the notification on its own resource only"
        );
    }
    app.unmount();
}

/// Each resource has its own presence: the user is in all three, and
/// another user in one of them appears in that one alone.
pub async fn presence_is_per_resource<A: SharedSocketApp>() {
    let names = three("shared-presence");
    let app = mount::<A>(&names);
    all_live(&app).await;
    for resource in 0..3 {
        until("ann in the resource's presence", || {
            read(&app, resource, members).contains(&"ann".into())
        })
        .await;
    }
    let other = bob(&names[1]);
    until("bob in resource 1's presence", || {
        read(&app, 1, members).contains(&"bob".into())
    })
    .await;
    until("bob to see ann on resource 1", || {
        other.presence().iter().any(|p| p.user_id == "ann")
    })
    .await;
    for resource in [0, 2] {
        assert!(
            !read(&app, resource, members).contains(&"bob".into()),
            "bob is not in resource {resource}'s presence"
        );
    }
    other.close();
    app.unmount();
}

/// Unmounting one resource's view leaves that resource (another user sees
/// the user go) while the others stay live on the same socket.
pub async fn leaving_one_resource_keeps_the_others_live<A: SharedSocketApp>() {
    count_sockets();
    let names = three("shared-leave");
    let app = mount::<A>(&names);
    all_live(&app).await;
    let on_chat = bob(&names[1]);
    let present = |user: &str| on_chat.presence().iter().any(|p| p.user_id == user);
    until("bob to see ann on resource 1", || present("ann")).await;

    app.leave(1);
    until("bob to see ann leave resource 1", || !present("ann")).await;
    until("resource 1's view gone", || view_of(&app, 1).is_none()).await;
    assert_eq!(read(&app, 0, status), "Open", "the socket stays open");

    let on_inbox = bob(&names[2]);
    let id = fresh_id();
    on_inbox
        .send_action(TodoAction::Add {
            id,
            title: "Still live".into(),
        })
        .expect("sent");
    until("bob's item on resource 2", || {
        read(&app, 2, |el| row(el, id)).as_deref() == Some("Still live")
    })
    .await;
    let mine = fresh_id();
    let op_id = app.act(
        0,
        TodoAction::Add {
            id: mine,
            title: "Mine".into(),
        },
    );
    until("the action ok on resource 0", || {
        read(&app, 0, |el| op(el, op_id)).as_deref() == Some("ok")
    })
    .await;
    assert_eq!(read(&app, 0, |el| row(el, mine)).as_deref(), Some("Mine"));
    assert_eq!(
        sockets_to(&names[0]),
        1 + 2,
        "ann's one WebSocket and bob's two, nothing reopened"
    );
    on_chat.close();
    on_inbox.close();
    app.unmount();
}

/// Fails unless `names` are exactly the ids of the `shared_socket` list of
/// `scenarios.json`, in order.
pub fn check_list(names: &[&str]) {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../scenarios.json")).expect("scenarios.json parses");
    let ids: Vec<&str> = file["shared_socket"]
        .as_array()
        .expect("a shared_socket list")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(
        names, ids,
        "shared_socket_scenarios! and scenarios.json list the same scenarios"
    );
}

/// Defines one `wasm_bindgen_test` per shared-socket scenario for the app
/// type `$app` (a [`SharedSocketApp`]), and one that checks the list
/// against `scenarios.json`. The calling test crate needs
/// `wasm-bindgen-test`.
#[macro_export]
macro_rules! shared_socket_scenarios {
    ($app:ty) => {
        $crate::shared_socket_scenarios!(@each $app;
            three_resources_share_one_socket_each_live,
            optimistic_actions_settle_on_their_own_resource,
            presence_is_per_resource,
            leaving_one_resource_keeps_the_others_live
        );
    };
    (@each $app:ty; $($name:ident),*) => {
        /// The shared-socket scenarios (`adapters/test-support`).
        mod shared_socket_scenarios {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[::wasm_bindgen_test::wasm_bindgen_test]
                async fn $name() {
                    $crate::shared_socket::$name::<$app>().await;
                }
            )*

            #[::wasm_bindgen_test::wasm_bindgen_test]
            fn shared_socket_list_is_the_shared_one() {
                $crate::shared_socket::check_list(&[$(stringify!($name)),*]);
            }
        }
    };
}
