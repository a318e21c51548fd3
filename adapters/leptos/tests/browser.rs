//! `use_flow` in headless Chromium against a real `examples/adapter-server`
//! (run by `adapters/test.sh`): the shared scenarios of
//! `adapters/test-support` on a small Leptos view, and what only Leptos
//! has (commands on the `Copy` value after its scope is gone).
#![cfg(target_arch = "wasm32")]

use leptos::mount::mount_to;
use leptos::prelude::*;
use todo_model::{DOMAIN, TodoAction, TodoModel};
use ui_flow::client::FlowOptions;
use ui_flow::{ConnectionStatus, OpId};
use ui_flow_adapter_test_support::scenario::{TodoApp, note_text, op_label};
use ui_flow_adapter_test_support::{
    RowChange, RowLog, endpoint_url, fresh_resource, mount_point, rows, scenarios, until,
};
use ui_flow_leptos::{UseFlow, provide_flow_socket, use_flow_on, use_flow_with_options};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::Element;

wasm_bindgen_test_configure!(run_in_browser);

type Flow = UseFlow<TodoModel>;

/// A small to-do view, mounted with its root, the value `use_flow`
/// returned, and the handle that unmounts it (disposing the scope).
struct LeptosApp {
    root: Element,
    flow: Flow,
    log: RowLog,
    _mounted: Box<dyn std::any::Any>,
}

impl TodoApp for LeptosApp {
    fn mount(url: String, options: FlowOptions) -> Self {
        let root = mount_point();
        let (flow_out, flow_in) = std::sync::mpsc::channel();
        let mounted = mount_to(root.clone(), move || {
            let flow = use_flow_with_options::<TodoModel>(url, options);
            let _ = flow_out.send(flow);
            view! {
                <p class="status">{move || format!("{:?}", flow.status.get())}</p>
                <p class="latency">{move || flow.latency.get().map(|_| "measured")}</p>
                <ul>
                    <For
                        each=move || flow.state.get().items.clone()
                        key=|item| (item.id, item.title.clone(), item.done)
                        children=|item| view! { <li data-id=item.id.to_string()>{item.title}</li> }
                    />
                </ul>
                <ul>{move || flow.presence.get().iter().map(|m| view! { <li data-user=m.user_id.clone()></li> }).collect_view()}</ul>
                <ul>{move || flow.ops.get().iter().map(|(id, state)| view! { <li data-op=id.to_string() data-op-state=op_label(state)></li> }).collect_view()}</ul>
                <ul>{move || flow.notifications.get().iter().map(|n| view! {
                    <li data-note=n.correlation_id.map(|o| o.to_string()).unwrap_or_default()>{note_text(&n.event)}</li>
                }).collect_view()}</ul>
            }
        });
        let flow = flow_in.try_recv().expect("the component ran");
        let root: Element = root.into();
        LeptosApp {
            log: RowLog::watch(&root),
            root,
            flow,
            _mounted: Box::new(mounted),
        }
    }

    fn root(&self) -> &Element {
        &self.root
    }

    fn act(&self, action: TodoAction) -> OpId {
        let change = action.optimistic(&self.flow.state.get_untracked());
        self.flow.send(action, change).expect("sent")
    }

    fn was_shown(&self, id: u64) -> bool {
        self.log.changes_of(id).contains(&RowChange::Added(id))
    }

    fn unmount(self) {}
}

scenarios!(LeptosApp);

#[wasm_bindgen_test]
async fn commands_after_the_scope_is_disposed_fail_as_closed() {
    let options = FlowOptions::default().token("ann").subscribe([DOMAIN]);
    let app = LeptosApp::mount(endpoint_url(&fresh_resource("leptos-disposed")), options);
    until("the snapshot", || rows(&app.root).len() == 2).await;
    let flow = app.flow;
    app.unmount();
    until("the scope disposed", || {
        flow.status.try_get_untracked().is_none()
    })
    .await;
    let err = flow
        .send_action(TodoAction::Toggle { id: 1 })
        .expect_err("the scope is gone");
    assert!(matches!(
        err,
        ui_flow::Error::Misuse(ui_flow::ApiMisuse::Closed)
    ));
}

/// The provider's value and a child's `use_flow_on` of the socket URL's
/// own resource, on one page.
fn mount_same(resource: String) -> (Flow, Flow, Box<dyn std::any::Any>) {
    let root = mount_point();
    let (out, flows) = std::sync::mpsc::channel();
    let url = endpoint_url(&resource);
    let mounted = mount_to(root, move || {
        let options = FlowOptions::default().token("ann").subscribe([DOMAIN]);
        let board = provide_flow_socket::<TodoModel>(url, options);
        let _ = out.send(board);
        view! { <Child resource=resource.clone() out=out.clone() /> }
    });
    let received: Vec<Flow> = flows.try_iter().collect();
    assert_eq!(received.len(), 2, "the provider and its child ran");
    (received[0], received[1], Box::new(mounted))
}

#[component]
fn Child(resource: String, out: std::sync::mpsc::Sender<Flow>) -> impl IntoView {
    let flow = use_flow_on::<TodoModel>(resource);
    let _ = out.send(flow);
    view! { <p>{move || format!("{:?}", flow.resource_status.get())}</p> }
}

/// What only Leptos's `use_flow_on` has: asked for the socket URL's own
/// resource it is the provider's value, not a join (the shared-socket
/// scenarios in `shared_socket_e2e.rs` cover the joined resources).
#[wasm_bindgen_test]
async fn use_flow_on_of_the_socket_urls_resource_is_the_providers_value() {
    let (board, same, _mounted) = mount_same(fresh_resource("leptos-shared"));
    until("the provider's snapshot", || {
        board.status.get_untracked().is_open() && board.state.get_untracked().items.len() == 2
    })
    .await;
    let op = same
        .send_action(TodoAction::Toggle { id: 1 })
        .expect("sent");
    until("the provider lists the action as settled", || {
        board
            .ops
            .get_untracked()
            .iter()
            .any(|(id, state)| *id == op && state.is_settled())
    })
    .await;
    assert_eq!(
        same.resource_status.get_untracked(),
        None,
        "not a joined resource"
    );
}

#[wasm_bindgen_test]
async fn use_flow_on_without_a_provider_is_closed_as_misconfigured() {
    let root = mount_point();
    let (out, flows) = std::sync::mpsc::channel();
    let _mounted = mount_to(root, move || {
        let _ = out.send(use_flow_on::<TodoModel>("anything"));
        view! { <p></p> }
    });
    let flow = flows.try_recv().expect("the component ran");
    assert!(matches!(
        flow.status.get_untracked(),
        ConnectionStatus::Closed {
            reason: ui_flow::CloseReason::Misconfigured { .. }
        }
    ));
    assert!(matches!(
        flow.send_action(TodoAction::Toggle { id: 1 }),
        Err(ui_flow::Error::Misuse(ui_flow::ApiMisuse::Closed))
    ));
}
