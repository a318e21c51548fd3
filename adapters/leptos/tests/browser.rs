//! `use_flow` in headless Chromium against a real `examples/adapter-server`
//! (run by `adapters/test.sh`): a snapshot rendered, a delta from another
//! client applied, an optimistic action confirmed, and one rolled back after
//! `ActionErr`.
#![cfg(target_arch = "wasm32")]

use leptos::mount::mount_to;
use leptos::prelude::*;
use todo_model::{DOMAIN, TodoAction, TodoModel, code};
use ui_flow::ConnectionStatus;
use ui_flow::client::{FlowConnection, OpState};
use ui_flow_adapter_test_support::{
    RowChange, RowLog, endpoint_url, fresh_id, fresh_resource, mount_point, row, rows, server_url,
    until,
};
use ui_flow_leptos::{UseFlow, UseFlowOptions, use_flow_with_options};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

type Flow = UseFlow<TodoModel>;

/// Mounts a small to-do view on `resource` as user "ann" (the token option,
/// not the URL) and returns its root, the value `use_flow` returned, and the
/// handle that unmounts it (disposing the scope) when dropped.
fn mount(resource: &str) -> (web_sys::HtmlElement, Flow, impl Sized) {
    mount_with(resource, UseFlowOptions::default().token("ann"))
}

fn mount_with(
    resource: &str,
    options: UseFlowOptions,
) -> (web_sys::HtmlElement, Flow, impl Sized + use<>) {
    let root = mount_point();
    let (flow_out, set_flow_out) = std::sync::mpsc::channel();
    let url = endpoint_url(resource);
    let handle = mount_to(root.clone(), move || {
        let flow = use_flow_with_options::<TodoModel>(url, options.subscribe([DOMAIN]));
        let _ = flow_out.send(flow);
        view! {
            <p class="status">{move || format!("{:?}", flow.status.get())}</p>
            <ul>
                <For
                    each=move || flow.state.get().items
                    key=|item| (item.id, item.title.clone(), item.done)
                    children=|item| view! { <li data-id=item.id.to_string()>{item.title}</li> }
                />
            </ul>
        }
    });
    let flow = set_flow_out.try_recv().expect("the component ran");
    (root, flow, handle)
}

fn op_state(flow: &Flow, op_id: ui_flow::OpId) -> Option<OpState> {
    flow.ops
        .get_untracked()
        .into_iter()
        .find(|(id, _)| *id == op_id)
        .map(|(_, state)| state)
}

#[wasm_bindgen_test]
async fn snapshot_is_rendered_with_status_presence_and_latency() {
    let resource = fresh_resource("leptos-snapshot");
    let (root, flow, _mounted) = mount(&resource);
    until("the seeded items", || {
        rows(&root)
            == [
                (1, "Read the protocol".to_owned()),
                (2, "Try an adapter".to_owned()),
            ]
    })
    .await;
    until("status Open", || flow.status.get_untracked().is_open()).await;
    until("our user in presence", || {
        flow.presence
            .get_untracked()
            .iter()
            .any(|p| p.user_id == "ann")
    })
    .await;
    until("a latency measurement", || {
        flow.latency.get_untracked().is_some()
    })
    .await;
}

#[wasm_bindgen_test]
async fn the_token_provider_is_asked_and_names_the_user() {
    let asked = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let count = std::rc::Rc::clone(&asked);
    let options = UseFlowOptions::default().token_provider(move || {
        count.set(count.get() + 1);
        Some("pat".to_owned())
    });
    let (_root, flow, _mounted) = mount_with(&fresh_resource("leptos-token"), options);
    until("Pat in presence", || {
        flow.presence
            .get_untracked()
            .iter()
            .any(|p| p.user_id == "pat")
    })
    .await;
    assert_eq!(asked.get(), 1, "asked once per dial");
}

#[wasm_bindgen_test]
async fn a_delta_from_another_client_is_applied() {
    let resource = fresh_resource("leptos-delta");
    let (root, _flow, _mounted) = mount(&resource);
    until("the snapshot", || rows(&root).len() == 2).await;

    let other = FlowConnection::<TodoModel>::builder()
        .url(server_url(&resource, "bob"))
        .connect()
        .expect("a second connection");
    let id = fresh_id();
    other
        .send_action(TodoAction::Add {
            id,
            title: "From Bob".into(),
        })
        .expect("sent");
    until("Bob's item", || {
        row(&root, id).as_deref() == Some("From Bob")
    })
    .await;
    other.close();
}

#[wasm_bindgen_test]
async fn an_optimistic_action_is_confirmed() {
    let resource = fresh_resource("leptos-confirm");
    let (root, flow, _mounted) = mount(&resource);
    until("the snapshot", || rows(&root).len() == 2).await;

    let id = fresh_id();
    let action = TodoAction::Add {
        id,
        title: "Buy milk".into(),
    };
    let change = action.optimistic(&flow.state.get_untracked());
    let op_id = flow.send(action, change).expect("sent");
    until("the action's ActionOk", || {
        matches!(op_state(&flow, op_id), Some(OpState::Ok { .. }))
    })
    .await;
    // Confirmed: no optimistic change is left, and the item is still shown.
    assert_eq!(row(&root, id).as_deref(), Some("Buy milk"));
    until("the notification it caused", || {
        flow.notifications.get_untracked().iter().any(|n| {
            n.correlation_id == Some(op_id) && n.event.title == "Buy milk" && n.event.by == "ann"
        })
    })
    .await;
    assert!(matches!(
        flow.status.get_untracked(),
        ConnectionStatus::Open
    ));
}

#[wasm_bindgen_test]
async fn a_rejected_optimistic_action_is_rolled_back() {
    let resource = fresh_resource("leptos-reject");
    let (root, flow, _mounted) = mount(&resource);
    until("the snapshot", || rows(&root).len() == 2).await;
    let log = RowLog::watch(&root);

    // A blank title is shown at once, then refused by the server.
    let id = fresh_id();
    let action = TodoAction::Add {
        id,
        title: "   ".into(),
    };
    let change = action.optimistic(&flow.state.get_untracked());
    let op_id = flow.send(action, change).expect("sent");
    until("the action's ActionErr", || {
        matches!(op_state(&flow, op_id), Some(OpState::Err { .. }))
    })
    .await;
    let Some(OpState::Err { code: err_code, .. }) = op_state(&flow, op_id) else {
        unreachable!("checked above")
    };
    assert_eq!(err_code.as_deref(), Some(code::INVALID_TITLE));
    until("the row to go", || row(&root, id).is_none()).await;
    assert_eq!(
        log.changes_of(id),
        [RowChange::Added(id), RowChange::Removed(id)],
        "the optimistic row was shown, then rolled back"
    );
    assert_eq!(rows(&root).len(), 2, "the seeded items are untouched");
}

#[wasm_bindgen_test]
async fn unmounting_closes_the_connection() {
    let resource = fresh_resource("leptos-cleanup");
    let (root, flow, mounted) = mount(&resource);
    until("the snapshot", || rows(&root).len() == 2).await;
    let other = FlowConnection::<TodoModel>::builder()
        .url(server_url(&resource, "bob"))
        .connect()
        .expect("a second connection");
    let present = |user: &str| other.presence().iter().any(|p| p.user_id == user);
    until("Bob to see Ann", || present("ann")).await;

    drop(mounted);
    until("Bob to see Ann leave", || !present("ann")).await;
    let err = flow
        .send_action(TodoAction::Toggle { id: 1 })
        .expect_err("the scope is gone");
    assert!(matches!(
        err,
        ui_flow::Error::Misuse(ui_flow::ApiMisuse::Closed)
    ));
    other.close();
}

/// Issue 12 item 7: an upgrade refused with a 4xx ends the connection and
/// the status signal says why. Here the server's own 400 for a resource id
/// over 256 bytes, which the page can read across origins (the browser
/// driver's refusal probe; 404/403/401 are covered in ui-flow-client-tests).
#[wasm_bindgen_test]
async fn a_refused_upgrade_shows_as_closed_with_its_status() {
    let resource = "r".repeat(300);
    let (root, flow, _mounted) = mount(&resource);
    let refused = ConnectionStatus::Closed {
        reason: ui_flow::CloseReason::Refused { status: 400 },
    };
    until("closed with HTTP 400", || {
        flow.status.get_untracked() == refused
    })
    .await;
    until("the status shown", || {
        root.text_content()
            .unwrap_or_default()
            .contains("Refused { status: 400 }")
    })
    .await;
}
