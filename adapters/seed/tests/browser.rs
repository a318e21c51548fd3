//! `ui_flow_seed::connect` in headless Chromium against a real
//! `examples/adapter-server` (run by `adapters/test.sh`): the shared
//! scenarios of `adapters/test-support` on a small Seed app driven with
//! messages, as a user's clicks would, and what only Seed has (signals as
//! messages).
#![cfg(target_arch = "wasm32")]

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use seed::prelude::*;
use seed::{attrs, div, li, p, ul};
use todo_model::{TodoAction, TodoEvent, TodoModel, TodoState};
use ui_flow::client::{FlowConnection, FlowOptions};
use ui_flow::{ConnectionStatus, OpId, PresenceStatus, SignalPayload};
use ui_flow_adapter_test_support::scenario::{TodoApp, note_text, op_label};
use ui_flow_adapter_test_support::{
    endpoint_url, fresh_resource, mount_point, rows, scenarios, server_url, until,
};
use ui_flow_seed::{Flow, FlowMsg};
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

struct Model {
    flow: Option<Flow<TodoModel>>,
    todos: Arc<TodoState>,
    status: ConnectionStatus,
    latency_seen: bool,
    members: Vec<String>,
    notes: Vec<(Option<OpId>, TodoEvent)>,
}

enum Msg {
    Flow(FlowMsg<TodoState, TodoEvent>),
    Act(TodoAction),
    Presence(Option<PresenceStatus>),
    Disconnect,
}

fn update(msg: Msg, model: &mut Model, _: &mut impl Orders<Msg>) {
    match msg {
        Msg::Flow(FlowMsg::State(todos)) => {
            STATES.with(|s| {
                s.borrow_mut()
                    .push(todos.items.iter().map(|t| t.id).collect())
            });
            model.todos = todos;
        }
        Msg::Flow(FlowMsg::Status(status)) => model.status = status,
        Msg::Flow(FlowMsg::Latency(_)) => model.latency_seen = true,
        Msg::Flow(FlowMsg::Presence { members, .. }) => {
            model.members = members.iter().map(|m| m.user_id.clone()).collect();
        }
        Msg::Flow(FlowMsg::Notify {
            event,
            correlation_id,
            ..
        }) => model.notes.push((correlation_id, event)),
        Msg::Flow(FlowMsg::Signal {
            from_user_id,
            signal,
        }) => SIGNALS.with(|s| s.borrow_mut().push((from_user_id, signal))),
        // Re-renders the actions, which the view reads from the Flow.
        Msg::Flow(_) => {}
        Msg::Presence(report) => {
            if let Some(flow) = &model.flow {
                flow.set_presence(report).expect("set");
            }
        }
        Msg::Act(action) => {
            let change = action.optimistic(&model.todos);
            if let Some(flow) = &model.flow {
                LAST_OP.set(Some(flow.send(action, change).expect("sent")));
            }
        }
        Msg::Disconnect => model.flow = None,
    }
}

fn view(model: &Model) -> Node<Msg> {
    let ops = model.flow.as_ref().map(Flow::ops).unwrap_or_default();
    div![
        p![
            attrs! {At::Class => "status"},
            format!("{:?}", model.status)
        ],
        p![
            attrs! {At::Class => "latency"},
            if model.latency_seen { "measured" } else { "" }
        ],
        ul![model
            .todos
            .items
            .iter()
            .map(|t| li![attrs! {At::from("data-id") => t.id}, &t.title])],
        ul![model
            .members
            .iter()
            .map(|m| li![attrs! {At::from("data-user") => m}])],
        ul![ops.iter().map(|(id, state)| li![
            attrs! {At::from("data-op") => id.to_string(), At::from("data-op-state") => op_label(state)}
        ])],
        ul![model.notes.iter().map(|(op, event)| li![
            attrs! {At::from("data-note") => op.map(|o| o.to_string()).unwrap_or_default()},
            note_text(event)
        ])],
    ]
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
                todos: Arc::default(),
                status: ConnectionStatus::Connecting,
                latency_seen: false,
                members: Vec::new(),
                notes: Vec::new(),
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
    /// Every `FlowMsg::Resource` the shared-socket app's joined flow sent.
    static RESOURCE: RefCell<Vec<ui_flow_seed::ResourceStatus>> = const { RefCell::new(Vec::new()) };
    /// How many items the other resource's latest state has.
    static OTHER_ITEMS: RefCell<Option<usize>> = const { RefCell::new(None) };
}

/// A page with one connection and a second resource joined on its socket.
struct SharedModel {
    /// Held for the app's life: dropping them closes or leaves.
    _board: Flow<TodoModel>,
    _other: Flow<TodoModel>,
    board_status: ConnectionStatus,
}

enum SharedMsg {
    Board(FlowMsg<TodoState, TodoEvent>),
    Other(FlowMsg<TodoState, TodoEvent>),
}

#[wasm_bindgen_test]
async fn join_shares_the_connections_socket_and_joins_another_resource() {
    let resource = fresh_resource("seed-shared");
    let other_resource = format!("{resource}-other");
    let root: Element = mount_point().into();
    let app = App::start(
        root.clone(),
        move |_, orders| {
            let options = FlowOptions::default().token("ann");
            let board = ui_flow_seed::connect(
                endpoint_url(&resource),
                options.clone(),
                orders,
                SharedMsg::Board,
            );
            let socket = board.socket().expect("connected");
            let other =
                ui_flow_seed::join(&socket, other_resource, options, orders, SharedMsg::Other);
            SharedModel {
                _board: board,
                _other: other,
                board_status: ConnectionStatus::Connecting,
            }
        },
        |msg, model: &mut SharedModel, _| match msg {
            SharedMsg::Board(FlowMsg::Status(status)) => model.board_status = status,
            SharedMsg::Other(FlowMsg::Resource(status)) => {
                RESOURCE.with(|r| r.borrow_mut().push(status));
            }
            SharedMsg::Other(FlowMsg::State(state)) => {
                OTHER_ITEMS.with(|n| *n.borrow_mut() = Some(state.items.len()));
            }
            _ => {}
        },
        |model: &SharedModel| p![format!("{:?}", model.board_status)],
    );
    until("the board open", || {
        root.text_content().unwrap_or_default().contains("Open")
    })
    .await;
    // The server serves channels: the other resource is joined on the
    // same socket and gets its own state.
    until("the other resource joined with its own state", || {
        RESOURCE.with(|r| r.borrow().last() == Some(&ui_flow_seed::ResourceStatus::Joined))
            && OTHER_ITEMS.with(|n| *n.borrow() == Some(2))
    })
    .await;
    let _ = app;
}
