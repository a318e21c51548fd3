//! The shared-socket scenarios of `adapters/test-support` on a Leptos
//! page: `provide_flow_socket` for the socket URL's resource and one
//! component per joined resource calling `use_flow_on_with_options`, each
//! shown while its signal says so (hiding it disposes its scope, which
//! leaves the resource). Against an `examples/adapter-server` that serves
//! channels (spec/PROTOCOL.md, "Channels").
//!
//! Run by `adapters/test.sh rust` with the adapters' other browser tests.
#![cfg(target_arch = "wasm32")]

use std::sync::mpsc::{Sender, channel};

use leptos::mount::mount_to;
use leptos::prelude::*;
use todo_model::{TodoAction, TodoModel};
use ui_flow::OpId;
use ui_flow::client::FlowOptions;
use ui_flow_adapter_test_support::scenario::{note_text, op_label};
use ui_flow_adapter_test_support::shared_socket::SharedSocketApp;
use ui_flow_adapter_test_support::{RowChange, RowLog, mount_point, shared_socket_scenarios};
use ui_flow_leptos::{UseFlow, provide_flow_socket, use_flow_on_with_options};
use wasm_bindgen_test::wasm_bindgen_test_configure;
use web_sys::Element;

wasm_bindgen_test_configure!(run_in_browser);

type Flow = UseFlow<TodoModel>;

/// One resource's view, by the conventions of the shared scenarios.
#[component]
fn ResourceView(index: usize, flow: Flow) -> impl IntoView {
    view! {
        <div data-resource=index.to_string()>
            <p class="status">{move || format!("{:?}", flow.status.get())}</p>
            <p class="resource">{move || flow.resource_status.get().map(|s| format!("{s:?}")).unwrap_or_default()}</p>
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
        </div>
    }
}

/// A component on a joined resource of the provider's socket.
#[component]
fn Joined(
    index: usize,
    resource: String,
    options: StoredValue<FlowOptions, LocalStorage>,
    out: Sender<(usize, Flow)>,
) -> impl IntoView {
    let flow = use_flow_on_with_options::<TodoModel>(resource, options.get_value());
    let _ = out.send((index, flow));
    view! { <ResourceView index=index flow=flow /> }
}

/// The page: its mount point, each resource's value (by index), the
/// signals that show the joined resources' components, and the handle
/// that unmounts it.
struct LeptosPage {
    page: Element,
    flows: Vec<Flow>,
    shown: Vec<RwSignal<bool>>,
    logs: Vec<RowLog>,
    _mounted: Box<dyn std::any::Any>,
}

impl SharedSocketApp for LeptosPage {
    fn mount(url: String, options: FlowOptions, joined: Vec<String>) -> Self {
        let root = mount_point();
        let (out, flows) = channel();
        let shown: Vec<RwSignal<bool>> = (0..=joined.len()).map(|_| RwSignal::new(true)).collect();
        let signals = shown.clone();
        let mounted = mount_to(root.clone(), move || {
            let joined_options = StoredValue::new_local(options.clone());
            let flow = provide_flow_socket::<TodoModel>(url, options);
            let _ = out.send((0, flow));
            let children = joined
                .into_iter()
                .enumerate()
                .map(|(i, resource)| {
                    let (index, shown, out) = (i + 1, signals[i + 1], out.clone());
                    move || {
                        shown.get().then(|| {
                            view! {
                                <Joined index=index resource=resource.clone() options=joined_options out=out.clone() />
                            }
                        })
                    }
                })
                .collect_view();
            view! {
                <ResourceView index=0 flow=flow />
                {children}
            }
        });
        let mut received: Vec<(usize, Flow)> = flows.try_iter().collect();
        received.sort_by_key(|(index, _)| *index);
        assert_eq!(received.len(), shown.len(), "every component ran");
        let page: Element = root.into();
        let logs = (0..shown.len())
            .map(|i| {
                let view = page
                    .query_selector(&format!("[data-resource=\"{i}\"]"))
                    .ok()
                    .flatten()
                    .expect("rendered at once");
                RowLog::watch(&view)
            })
            .collect();
        LeptosPage {
            page,
            flows: received.into_iter().map(|(_, flow)| flow).collect(),
            shown,
            logs,
            _mounted: Box::new(mounted),
        }
    }

    fn page(&self) -> &Element {
        &self.page
    }

    fn act(&self, resource: usize, action: TodoAction) -> OpId {
        let flow = self.flows[resource];
        let change = action.optimistic(&flow.state.get_untracked());
        flow.send(action, change).expect("sent")
    }

    fn was_shown(&self, resource: usize, id: u64) -> bool {
        self.logs[resource]
            .changes_of(id)
            .contains(&RowChange::Added(id))
    }

    fn leave(&self, resource: usize) {
        self.shown[resource].set(false);
    }

    fn unmount(self) {}
}

shared_socket_scenarios!(LeptosPage);
