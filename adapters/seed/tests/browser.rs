//! `ui_flow_seed::connect` in headless Chromium against a real
//! `examples/adapter-server` (run by `adapters/test.sh`): the shared
//! scenarios of `adapters/test-support` on a small Seed app driven with
//! messages, as a user's clicks would (and its shared-socket scenarios on a
//! page joining resources on one connection's socket with
//! `ui_flow_seed::join`), and what only Seed has (signals as messages).
#![cfg(target_arch = "wasm32")]

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use seed::prelude::*;
use seed::{attrs, div, li, p, ul};
use todo_model::{TodoAction, TodoEvent, TodoModel, TodoState};
use ui_flow::client::{FlowConnection, FlowOptions};
use ui_flow::{ConnectionStatus, OpId, PresenceStatus, SignalPayload};
use ui_flow_adapter_test_support::scenario::{TodoApp, note_text, op_label};
use ui_flow_adapter_test_support::shared_socket::SharedSocketApp;
use ui_flow_adapter_test_support::{
    endpoint_url, fresh_resource, mount_point, rows, scenarios, server_url,
    shared_socket_scenarios, until,
};
use ui_flow_seed::{Flow, FlowMsg, ResourceStatus};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::Element;

wasm_bindgen_test_configure!(run_in_browser);

thread_local! {
    /// The item ids of every `FlowMsg::State` any test app received, in
    /// order. Seed renders once per animation frame, so a state that lasts
    /// less than a frame reaches `update` but may never reach the DOM.
    static STATES: RefCell<Vec<Vec<u64>>> = const { RefCell::new(Vec::new()) };
    /// Every `FlowMsg::Signal` any test app received.
    static SIGNALS: RefCell<Vec<(String, SignalPayload)>> = const { RefCell::new(Vec::new()) };
    /// The op id of the last action `update` sent.
    static LAST_OP: Cell<Option<OpId>> = const { Cell::new(None) };
}

/// What one resource's view shows, kept from its flow's messages.
struct Shown {
    todos: Arc<TodoState>,
    status: ConnectionStatus,
    latency_seen: bool,
    resource: Option<ResourceStatus>,
    members: Vec<String>,
    notes: Vec<(Option<OpId>, TodoEvent)>,
}

impl Default for Shown {
    fn default() -> Self {
        Shown {
            todos: Arc::default(),
            status: ConnectionStatus::Connecting,
            latency_seen: false,
            resource: None,
            members: Vec::new(),
            notes: Vec::new(),
        }
    }
}

impl Shown {
    /// Keeps what `msg` tells; a signal goes to `SIGNALS`.
    fn apply(&mut self, msg: FlowMsg<TodoState, TodoEvent>) {
        match msg {
            FlowMsg::State(todos) => self.todos = todos,
            FlowMsg::Status(status) => self.status = status,
            FlowMsg::Latency(_) => self.latency_seen = true,
            FlowMsg::Resource(status) => self.resource = Some(status),
            FlowMsg::Presence { members, .. } => {
                self.members = members.iter().map(|m| m.user_id.clone()).collect();
            }
            FlowMsg::Notify {
                event,
                correlation_id,
                ..
            } => self.notes.push((correlation_id, event)),
            FlowMsg::Signal {
                from_user_id,
                signal,
            } => SIGNALS.with(|s| s.borrow_mut().push((from_user_id, signal))),
            // Re-renders the actions, which the view reads from the Flow.
            _ => {}
        }
    }

    /// The view by the conventions of the shared scenarios, with the
    /// actions of `flow`.
    fn view<Ms: 'static>(&self, flow: Option<&Flow<TodoModel>>) -> Vec<Node<Ms>> {
        let ops = flow.map(Flow::ops).unwrap_or_default();
        vec![
            p![attrs! {At::Class => "status"}, format!("{:?}", self.status)],
            p![
                attrs! {At::Class => "latency"},
                if self.latency_seen { "measured" } else { "" }
            ],
            p![
                attrs! {At::Class => "resource"},
                self.resource
                    .as_ref()
                    .map(|s| format!("{s:?}"))
                    .unwrap_or_default()
            ],
            ul![self
                .todos
                .items
                .iter()
                .map(|t| li![attrs! {At::from("data-id") => t.id}, &t.title])],
            ul![self
                .members
                .iter()
                .map(|m| li![attrs! {At::from("data-user") => m}])],
            ul![ops.iter().map(|(id, state)| li![
                attrs! {At::from("data-op") => id.to_string(), At::from("data-op-state") => op_label(state)}
            ])],
            ul![self.notes.iter().map(|(op, event)| li![
                attrs! {At::from("data-note") => op.map(|o| o.to_string()).unwrap_or_default()},
                note_text(event)
            ])],
        ]
    }
}

struct Model {
    flow: Option<Flow<TodoModel>>,
    shown: Shown,
}

enum Msg {
    Flow(FlowMsg<TodoState, TodoEvent>),
    Act(TodoAction),
    Presence(Option<PresenceStatus>),
    Disconnect,
}

fn update(msg: Msg, model: &mut Model, _: &mut impl Orders<Msg>) {
    match msg {
        Msg::Flow(msg) => {
            if let FlowMsg::State(todos) = &msg {
                STATES.with(|s| {
                    s.borrow_mut()
                        .push(todos.items.iter().map(|t| t.id).collect())
                });
            }
            model.shown.apply(msg);
        }
        Msg::Presence(report) => {
            if let Some(flow) = &model.flow {
                flow.set_presence(report).expect("set");
            }
        }
        Msg::Act(action) => {
            let change = action.optimistic(&model.shown.todos);
            if let Some(flow) = &model.flow {
                LAST_OP.set(Some(flow.send(action, change).expect("sent")));
            }
        }
        Msg::Disconnect => model.flow = None,
    }
}

fn view(model: &Model) -> Node<Msg> {
    div![model.shown.view(model.flow.as_ref())]
}

/// A running Seed app on one connection.
struct SeedApp {
    root: Element,
    app: App<Msg, Model, Node<Msg>>,
}

impl TodoApp for SeedApp {
    fn mount(url: String, options: FlowOptions) -> Self {
        let root: Element = mount_point().into();
        let app = App::start(
            root.clone(),
            move |_, orders| Model {
                flow: Some(ui_flow_seed::connect(url, options, orders, Msg::Flow)),
                shown: Shown::default(),
            },
            update,
            view,
        );
        SeedApp { root, app }
    }

    fn root(&self) -> &Element {
        &self.root
    }

    fn act(&self, action: TodoAction) -> OpId {
        LAST_OP.set(None);
        self.app.update(Msg::Act(action));
        LAST_OP
            .get()
            .expect("update ran at once and sent the action")
    }

    fn was_shown(&self, id: u64) -> bool {
        STATES.with(|s| s.borrow().iter().any(|ids| ids.contains(&id)))
    }

    fn unmount(self) {
        self.app.update(Msg::Disconnect);
    }
}

scenarios!(SeedApp);

async fn snapshot_shown(root: &Element) {
    until("the seeded items", || rows(root).len() == 2).await;
}

#[wasm_bindgen_test]
async fn signals_arrive_and_presence_reports_go_out() {
    let resource = fresh_resource("seed-signal");
    let app = SeedApp::mount(endpoint_url(&resource), FlowOptions::default().token("ann"));
    snapshot_shown(&app.root).await;
    let app = &app.app;
    let bob = FlowConnection::<TodoModel>::builder()
        .url(server_url(&resource, "bob"))
        .connect()
        .expect("a second connection");
    let ann_is = |status| {
        bob.presence()
            .iter()
            .any(|p| p.user_id == "ann" && p.status == status)
    };
    until("Bob to see Ann", || ann_is(PresenceStatus::Active)).await;

    let answer = SignalPayload::Answer { sdp: "v=0".into() };
    bob.send_signal("ann", answer.clone()).expect("sent");
    let from_bob = || {
        SIGNALS.with(|s| {
            s.borrow()
                .iter()
                .filter(|(from, _)| from == "bob")
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    until("the signal", || !from_bob().is_empty()).await;
    assert_eq!(from_bob(), [("bob".to_owned(), answer)]);

    app.update(Msg::Presence(Some(PresenceStatus::Away)));
    until("Ann away", || ann_is(PresenceStatus::Away)).await;
    app.update(Msg::Presence(Some(PresenceStatus::Active)));
    until("Ann active again", || ann_is(PresenceStatus::Active)).await;
    bob.close();
}

thread_local! {
    /// The resource index and item ids of every `FlowMsg::State` any
    /// shared-socket page received, in order (see `STATES`).
    static SHARED_STATES: RefCell<Vec<(usize, Vec<u64>)>> = const { RefCell::new(Vec::new()) };
}

/// A page with one connection (resource 0) and resources joined on its
/// socket with `ui_flow_seed::join` (1, 2, ...); a flow dropped from the
/// model leaves its resource.
struct SharedModel {
    flows: Vec<Option<Flow<TodoModel>>>,
    shown: Vec<Shown>,
}

enum SharedMsg {
    Flow(usize, FlowMsg<TodoState, TodoEvent>),
    Act(usize, TodoAction),
    Leave(usize),
    Disconnect,
}

fn shared_update(msg: SharedMsg, model: &mut SharedModel, _: &mut impl Orders<SharedMsg>) {
    match msg {
        SharedMsg::Flow(index, msg) => {
            if let FlowMsg::State(todos) = &msg {
                let ids = todos.items.iter().map(|t| t.id).collect();
                SHARED_STATES.with(|s| s.borrow_mut().push((index, ids)));
            }
            model.shown[index].apply(msg);
        }
        SharedMsg::Act(index, action) => {
            let change = action.optimistic(&model.shown[index].todos);
            if let Some(flow) = &model.flows[index] {
                LAST_OP.set(Some(flow.send(action, change).expect("sent")));
            }
        }
        SharedMsg::Leave(index) => model.flows[index] = None,
        SharedMsg::Disconnect => model.flows.iter_mut().for_each(|f| *f = None),
    }
}

fn shared_view(model: &SharedModel) -> Node<SharedMsg> {
    div![
        model
            .flows
            .iter()
            .zip(&model.shown)
            .enumerate()
            .filter_map(|(index, (flow, shown))| {
                let flow = flow.as_ref()?;
                Some(div![
                    attrs! {At::from("data-resource") => index},
                    shown.view(Some(flow))
                ])
            })
    ]
}

/// A running shared-socket Seed page.
struct SeedPage {
    root: Element,
    app: App<SharedMsg, SharedModel, Node<SharedMsg>>,
}

impl SharedSocketApp for SeedPage {
    fn mount(url: String, options: FlowOptions, joined: Vec<String>) -> Self {
        let root: Element = mount_point().into();
        let app = App::start(
            root.clone(),
            move |_, orders| {
                let main = ui_flow_seed::connect(url, options.clone(), orders, |msg| {
                    SharedMsg::Flow(0, msg)
                });
                let socket = main.socket().expect("connected");
                let mut flows = vec![Some(main)];
                for (i, resource) in joined.into_iter().enumerate() {
                    let flow = ui_flow_seed::join(
                        &socket,
                        resource,
                        options.clone(),
                        orders,
                        move |msg| SharedMsg::Flow(i + 1, msg),
                    );
                    flows.push(Some(flow));
                }
                SharedModel {
                    shown: flows.iter().map(|_| Shown::default()).collect(),
                    flows,
                }
            },
            shared_update,
            shared_view,
        );
        SeedPage { root, app }
    }

    fn page(&self) -> &Element {
        &self.root
    }

    fn act(&self, resource: usize, action: TodoAction) -> OpId {
        LAST_OP.set(None);
        self.app.update(SharedMsg::Act(resource, action));
        LAST_OP
            .get()
            .expect("update ran at once and sent the action")
    }

    fn was_shown(&self, resource: usize, id: u64) -> bool {
        SHARED_STATES.with(|s| {
            s.borrow()
                .iter()
                .any(|(index, ids)| *index == resource && ids.contains(&id))
        })
    }

    fn leave(&self, resource: usize) {
        self.app.update(SharedMsg::Leave(resource));
    }

    fn unmount(self) {
        self.app.update(SharedMsg::Disconnect);
    }
}

shared_socket_scenarios!(SeedPage);
