//! One page, one WebSocket, three resources (Leptos `provide_flow_socket`
//! and `use_flow_on`), against an `examples/adapter-server` that serves
//! channels (spec/PROTOCOL.md, "Channels").
//!
//! Run by `adapters/test.sh rust` with the adapters' other browser tests.
#![cfg(target_arch = "wasm32")]

use leptos::mount::mount_to;
use leptos::prelude::*;
use todo_model::{TodoAction, TodoModel};
use ui_flow::client::{FlowOptions, OpState, ResourceStatus};
use ui_flow_adapter_test_support::{endpoint_url, fresh_id, fresh_resource, mount_point, until};
use ui_flow_leptos::{UseFlow, provide_flow_socket, use_flow_on};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

type Flow = UseFlow<TodoModel>;

/// Counts every `new WebSocket(...)` the page makes from now on, in
/// `window.__uiFlowSockets`.
fn count_sockets() {
    let shim = r#"(() => {
        if (window.__uiFlowSockets !== undefined) { window.__uiFlowSockets = 0; return; }
        const Original = window.WebSocket;
        window.__uiFlowSockets = 0;
        function Counted(...args) { window.__uiFlowSockets += 1; return new Original(...args); }
        Counted.prototype = Original.prototype;
        for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) { Counted[k] = Original[k]; }
        window.WebSocket = Counted;
    })()"#;
    js_sys::eval(shim).expect("the shim installs");
}

fn sockets_opened() -> f64 {
    js_sys::eval("window.__uiFlowSockets")
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(-1.0)
}

#[component]
fn Joined(resource: String, out: std::sync::mpsc::Sender<(String, Flow)>) -> impl IntoView {
    let flow = use_flow_on::<TodoModel>(resource.clone());
    let _ = out.send((resource, flow));
    view! { <p>{move || format!("{:?}", flow.resource_status.get())}</p> }
}

#[wasm_bindgen_test]
async fn one_page_one_socket_three_resources_each_live() {
    count_sockets();
    let board = fresh_resource("shared-board");
    let (chat, inbox) = (format!("{board}-chat"), format!("{board}-inbox"));
    let (out, flows) = std::sync::mpsc::channel();
    let url = endpoint_url(&board);
    let (c, i) = (chat.clone(), inbox.clone());
    let _mounted = mount_to(mount_point(), move || {
        let options = FlowOptions::default().token("ann");
        let flow = provide_flow_socket::<TodoModel>(url, options);
        let _ = out.send(("board".to_owned(), flow));
        view! {
            <Joined resource=c out=out.clone() />
            <Joined resource=i out=out.clone() />
        }
    });
    let flows: Vec<(String, Flow)> = flows.try_iter().collect();
    assert_eq!(flows.len(), 3);
    let find = |name: &str| {
        flows
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| *f)
            .expect("rendered")
    };
    let (board_flow, chat_flow, inbox_flow) = (find("board"), find(&chat), find(&inbox));

    until("all three live with their seeded items", || {
        board_flow.state.get_untracked().items.len() == 2
            && [chat_flow, inbox_flow].iter().all(|f| {
                f.resource_status.get_untracked() == Some(ResourceStatus::Joined)
                    && f.state.get_untracked().items.len() == 2
            })
    })
    .await;
    assert_eq!(sockets_opened(), 1.0, "one WebSocket for three resources");

    // An optimistic action on one joined resource is shown, refused and
    // rolled back there alone.
    let id = fresh_id();
    let add = TodoAction::Add {
        id,
        title: "   ".into(),
    };
    let change = add.optimistic(&chat_flow.state.get_untracked());
    let op = chat_flow.send(add, change).expect("sent");
    until("refused", || {
        matches!(chat_flow.op(op), Some(OpState::Err { .. }))
    })
    .await;
    until("rolled back", || {
        chat_flow
            .state
            .get_untracked()
            .items
            .iter()
            .all(|t| t.id != id)
    })
    .await;
    assert_eq!(inbox_flow.state.get_untracked().items.len(), 2);
    assert_eq!(board_flow.state.get_untracked().items.len(), 2);

    // Each resource lists the user on its own.
    for flow in [board_flow, chat_flow, inbox_flow] {
        until("ann in the resource's presence", || {
            flow.presence
                .get_untracked()
                .iter()
                .any(|m| m.user_id == "ann")
        })
        .await;
    }
    assert_eq!(sockets_opened(), 1.0, "still one WebSocket");
}
