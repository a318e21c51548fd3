//! `ui_flow_seed::connect` in headless Chromium against a real
//! `examples/adapter-server` (run by `adapters/test.sh`): a snapshot
//! rendered, a delta from another client applied, an optimistic action
//! confirmed, one rolled back after `ActionErr`, and dropping the `Flow`
//! closing the connection. Each test starts a small Seed app and drives it
//! with messages, as a user's clicks would.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::collections::HashMap;

use seed::prelude::*;
use seed::{attrs, div, li, p, ul};
use todo_model::{DOMAIN, TodoAction, TodoEvent, TodoModel, TodoState, code};
use ui_flow::client::{FlowConnection, OpState};
use ui_flow::{ConnectionStatus, OpId, PresenceStatus, SignalPayload};
use ui_flow_adapter_test_support::{
    endpoint_url, fresh_id, fresh_resource, mount_point, row, rows, server_url, until,
};
use ui_flow_seed::{Flow, FlowMsg, FlowOptions};
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
}

struct Model {
    flow: Option<Flow<TodoModel>>,
    todos: TodoState,
    status: ConnectionStatus,
    latency_seen: bool,
    members: Vec<String>,
    /// The item each action was about, and the action's state.
    ops: HashMap<OpId, (u64, OpState)>,
    notes: Vec<(Option<OpId>, TodoEvent)>,
}

enum Msg {
    Flow(FlowMsg<TodoState, TodoEvent>),
    Add { id: u64, title: String },
    Presence(Option<PresenceStatus>),
    Disconnect,
}

fn init(url: String, orders: &mut impl Orders<Msg>) -> Model {
    let options = FlowOptions::default().token("ann").subscribe([DOMAIN]);
    Model {
        flow: Some(ui_flow_seed::connect(url, options, orders, Msg::Flow)),
        todos: TodoState::default(),
        status: ConnectionStatus::Connecting,
        latency_seen: false,
        members: Vec::new(),
        ops: HashMap::new(),
        notes: Vec::new(),
    }
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
            model.members = members.into_iter().map(|m| m.user_id).collect();
        }
        Msg::Flow(FlowMsg::Action { op_id, state }) => {
            if let Some(op) = model.ops.get_mut(&op_id) {
                op.1 = state;
            }
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
        Msg::Flow(_) => {}
        Msg::Presence(report) => {
            if let Some(flow) = &model.flow {
                flow.set_presence(report).expect("set");
            }
        }
        Msg::Add { id, title } => {
            let action = TodoAction::Add { id, title };
            let change = action.optimistic(&model.todos);
            if let Some(flow) = &model.flow {
                let op_id = flow.send(action, change).expect("sent");
                model.ops.insert(op_id, (id, OpState::Pending));
            }
        }
        Msg::Disconnect => model.flow = None,
    }
}

fn op_label(state: &OpState) -> String {
    match state {
        OpState::Pending | OpState::Progress { .. } => "pending".into(),
        OpState::Ok { .. } => "ok".into(),
        OpState::Err { code, .. } => format!("err:{}", code.as_deref().unwrap_or("")),
    }
}

fn view(model: &Model) -> Node<Msg> {
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
        ul![model.ops.values().map(|(item, state)| li![
            attrs! {At::from("data-op-item") => item, At::from("data-op-state") => op_label(state)}
        ])],
        ul![model.notes.iter().map(|(op, event)| li![
            attrs! {At::from("data-note") => op.map(|o| o.to_string()).unwrap_or_default()},
            format!("{}:{}", event.by, event.title)
        ])],
    ]
}

fn start(resource: &str) -> (web_sys::HtmlElement, App<Msg, Model, Node<Msg>>) {
    let root = mount_point();
    let url = endpoint_url(resource);
    let app = App::start(
        Element::from(root.clone()),
        move |_, orders| init(url, orders),
        update,
        view,
    );
    (root, app)
}

fn attr_of(root: &Element, selector: &str, attr: &str) -> Option<String> {
    root.query_selector(selector).ok()??.get_attribute(attr)
}

fn text_of(root: &Element, selector: &str) -> String {
    root.query_selector(selector)
        .ok()
        .flatten()
        .and_then(|el| el.text_content())
        .unwrap_or_default()
}

fn op_state_of(root: &Element, item: u64) -> Option<String> {
    attr_of(root, &format!("[data-op-item=\"{item}\"]"), "data-op-state")
}

async fn snapshot_shown(root: &Element) {
    until("the seeded items", || {
        rows(root)
            == [
                (1, "Read the protocol".to_owned()),
                (2, "Try an adapter".to_owned()),
            ]
    })
    .await;
}

#[wasm_bindgen_test]
async fn snapshot_is_rendered_with_status_presence_and_latency() {
    let (root, _app) = start(&fresh_resource("seed-snapshot"));
    snapshot_shown(&root).await;
    until("status Open", || text_of(&root, ".status") == "Open").await;
    until("our user in presence", || {
        root.query_selector("[data-user=\"ann\"]")
            .ok()
            .flatten()
            .is_some()
    })
    .await;
    until("a latency measurement", || {
        text_of(&root, ".latency") == "measured"
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_delta_from_another_client_is_applied() {
    let resource = fresh_resource("seed-delta");
    let (root, _app) = start(&resource);
    snapshot_shown(&root).await;

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
    let (root, app) = start(&fresh_resource("seed-confirm"));
    snapshot_shown(&root).await;

    let id = fresh_id();
    app.update(Msg::Add {
        id,
        title: "Buy milk".into(),
    });
    until("the action's ActionOk", || {
        op_state_of(&root, id).as_deref() == Some("ok")
    })
    .await;
    // Confirmed: no optimistic change is left, and the item is still shown.
    until("the confirmed item", || {
        row(&root, id).as_deref() == Some("Buy milk")
    })
    .await;
    until("the notification it caused", || {
        let notes = root.query_selector_all("[data-note]").expect("a selector");
        (0..notes.length()).any(|i| {
            notes.item(i).and_then(|n| n.text_content()).as_deref() == Some("ann:Buy milk")
        })
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_rejected_optimistic_action_is_rolled_back() {
    let (root, app) = start(&fresh_resource("seed-reject"));
    snapshot_shown(&root).await;

    // A blank title is shown at once, then refused by the server.
    let id = fresh_id();
    app.update(Msg::Add {
        id,
        title: "   ".into(),
    });
    until("the action's ActionErr", || {
        op_state_of(&root, id) == Some(format!("err:{}", code::INVALID_TITLE))
    })
    .await;
    until("the row to go", || row(&root, id).is_none()).await;
    let shown: Vec<bool> = STATES.with(|s| {
        s.borrow()
            .iter()
            .filter(|ids| ids.contains(&id) || ids.len() == 2)
            .map(|ids| ids.contains(&id))
            .collect()
    });
    // `update` received the state with the optimistic row, then without it.
    let first = shown.iter().position(|with| *with);
    assert!(
        first.is_some(),
        "the optimistic row was never shown: {shown:?}"
    );
    assert!(
        first.is_some_and(|at| shown[at..].contains(&false)),
        "the optimistic row was never rolled back: {shown:?}"
    );
    assert_eq!(rows(&root).len(), 2, "the seeded items are untouched");
}

#[wasm_bindgen_test]
async fn signals_arrive_and_presence_reports_go_out() {
    let resource = fresh_resource("seed-signal");
    let (root, app) = start(&resource);
    snapshot_shown(&root).await;
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

#[wasm_bindgen_test]
async fn dropping_the_flow_closes_the_connection() {
    let resource = fresh_resource("seed-drop");
    let (root, app) = start(&resource);
    snapshot_shown(&root).await;
    let other = FlowConnection::<TodoModel>::builder()
        .url(server_url(&resource, "bob"))
        .connect()
        .expect("a second connection");
    let present = |user: &str| other.presence().iter().any(|p| p.user_id == user);
    until("Bob to see Ann", || present("ann")).await;

    app.update(Msg::Disconnect);
    until("Bob to see Ann leave", || !present("ann")).await;
    other.close();
}

/// Issue 12 item 7: an upgrade refused with a 4xx ends the connection and
/// `FlowMsg::Status` says why. Here the server's own 400 for a resource id
/// over 256 bytes, which the page can read across origins (the browser
/// driver's refusal probe; 404/403/401 are covered in ui-flow-client-tests).
#[wasm_bindgen_test]
async fn a_refused_upgrade_shows_as_closed_with_its_status() {
    let (root, _app) = start(&"r".repeat(300));
    until("closed with HTTP 400", || {
        text_of(&root, ".status") == "Closed { reason: Refused { status: 400 } }"
    })
    .await;
}
