//! `use_flow`, `FlowProvider` and `use_flow_context` in headless Chromium
//! against a real `examples/adapter-server` (run by `adapters/test.sh`): a
//! snapshot rendered, a delta from another client applied, an optimistic
//! action confirmed, one rolled back after `ActionErr`, and components
//! re-rendering only for what they read.
#![cfg(target_arch = "wasm32")]

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use todo_model::{DOMAIN, TodoAction, TodoModel, TodoState, code};
use ui_flow::client::{FlowConnection, OpState};
use ui_flow::{PresenceStatus, SignalPayload};
use ui_flow_adapter_test_support::{
    RowChange, RowLog, endpoint_url, fresh_id, fresh_resource, mount_point, row, rows, server_url,
    until,
};
use ui_flow_yew::{FlowProvider, UseFlowHandle, UseFlowOptions, use_flow, use_flow_context};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use yew::prelude::*;

wasm_bindgen_test_configure!(run_in_browser);

type Flow = UseFlowHandle<TodoModel>;

/// Something a test shares with the components it renders; props compare
/// it by identity.
#[derive(Default)]
struct Probe<T>(Rc<T>);

impl<T> Clone for Probe<T> {
    fn clone(&self) -> Self {
        Probe(Rc::clone(&self.0))
    }
}

impl<T> PartialEq for Probe<T> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// Where a component leaves its handle, how often it rendered, and the
/// signals it received.
#[derive(Default)]
struct Seen {
    flow: RefCell<Option<Flow>>,
    renders: Cell<u32>,
    signals: RefCell<Vec<(String, SignalPayload)>>,
}

impl Seen {
    fn flow(&self) -> Flow {
        self.flow.borrow().clone().expect("the component rendered")
    }
}

#[derive(Properties, PartialEq)]
struct AppProps {
    url: AttrValue,
    seen: Probe<Seen>,
}

fn item_rows(state: &TodoState) -> Html {
    state
        .items
        .iter()
        .map(|t| html! { <li key={t.id} data-id={t.id.to_string()}>{&t.title}</li> })
        .collect()
}

/// One component that owns its connection.
#[component]
fn App(props: &AppProps) -> Html {
    let options = use_memo(props.seen.clone(), |seen| {
        let seen = seen.clone();
        UseFlowOptions::default()
            .token("ann")
            .subscribe([DOMAIN])
            .on_signal(Callback::from(move |signal| {
                seen.0.signals.borrow_mut().push(signal);
            }))
    });
    let flow = use_flow::<TodoModel>(&props.url, (*options).clone());
    props.seen.0.renders.set(props.seen.0.renders.get() + 1);
    *props.seen.0.flow.borrow_mut() = Some(flow.clone());
    html! { <ul>{item_rows(&flow.state())}</ul> }
}

/// A connection badge that reads only the status.
#[component]
fn Badge(props: &AppProps) -> Html {
    let flow = use_flow_context::<TodoModel>().expect("a provider");
    props.seen.0.renders.set(props.seen.0.renders.get() + 1);
    *props.seen.0.flow.borrow_mut() = Some(flow.clone());
    html! { <p>{format!("{:?}", flow.status())}</p> }
}

/// A list that reads only the state.
#[component]
fn Items(props: &AppProps) -> Html {
    let flow = use_flow_context::<TodoModel>().expect("a provider");
    props.seen.0.renders.set(props.seen.0.renders.get() + 1);
    *props.seen.0.flow.borrow_mut() = Some(flow.clone());
    html! { <ul>{item_rows(&flow.state())}</ul> }
}

#[derive(Properties, PartialEq)]
struct SharedProps {
    url: AttrValue,
    badge: Probe<Seen>,
    items: Probe<Seen>,
}

/// Two components sharing one connection through the provider.
#[component]
fn Shared(props: &SharedProps) -> Html {
    html! {
        <FlowProvider<TodoModel> url={props.url.clone()}>
            <Badge url={props.url.clone()} seen={props.badge.clone()} />
            <Items url={props.url.clone()} seen={props.items.clone()} />
        </FlowProvider<TodoModel>>
    }
}

/// Renders [`App`] on `resource` as user "ann" (the token option, not the
/// URL).
fn mount(resource: &str) -> (web_sys::HtmlElement, Probe<Seen>, AppHandle<App>) {
    let root = mount_point();
    let seen = Probe::default();
    let props = AppProps {
        url: endpoint_url(resource).into(),
        seen: seen.clone(),
    };
    let app = yew::Renderer::<App>::with_root_and_props(root.clone().into(), props).render();
    (root, seen, app)
}

async fn snapshot_shown(root: &web_sys::HtmlElement) {
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
    let (root, seen, _app) = mount(&fresh_resource("yew-snapshot"));
    snapshot_shown(&root).await;
    let flow = seen.0.flow();
    until("status Open", || flow.status().is_open()).await;
    until("our user in presence", || {
        flow.presence().iter().any(|p| p.user_id == "ann")
    })
    .await;
    until("a latency measurement", || flow.latency().is_some()).await;
}

#[wasm_bindgen_test]
async fn a_delta_from_another_client_is_applied() {
    let resource = fresh_resource("yew-delta");
    let (root, _seen, _app) = mount(&resource);
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
    let (root, seen, _app) = mount(&fresh_resource("yew-confirm"));
    snapshot_shown(&root).await;
    let flow = seen.0.flow();

    let id = fresh_id();
    let action = TodoAction::Add {
        id,
        title: "Buy milk".into(),
    };
    let change = action.optimistic(&flow.state());
    let op_id = flow.send(action, change).expect("sent");
    until("the action's ActionOk", || {
        matches!(flow.op(op_id), Some(OpState::Ok { .. }))
    })
    .await;
    // Confirmed: no optimistic change is left, and the item is still shown.
    until("the confirmed item", || {
        row(&root, id).as_deref() == Some("Buy milk")
    })
    .await;
    until("the notification it caused", || {
        flow.notifications().iter().any(|n| {
            n.correlation_id == Some(op_id) && n.event.title == "Buy milk" && n.event.by == "ann"
        })
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_rejected_optimistic_action_is_rolled_back() {
    let (root, seen, _app) = mount(&fresh_resource("yew-reject"));
    snapshot_shown(&root).await;
    let flow = seen.0.flow();
    let log = RowLog::watch(&root);

    // A blank title is shown at once, then refused by the server.
    let id = fresh_id();
    let action = TodoAction::Add {
        id,
        title: "   ".into(),
    };
    let change = action.optimistic(&flow.state());
    let op_id = flow.send(action, change).expect("sent");
    until("the action's ActionErr", || {
        matches!(flow.op(op_id), Some(OpState::Err { .. }))
    })
    .await;
    let Some(OpState::Err { code: err_code, .. }) = flow.op(op_id) else {
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
async fn components_rerender_only_for_what_they_read() {
    let root = mount_point();
    let (badge, items) = (Probe::<Seen>::default(), Probe::<Seen>::default());
    let props = SharedProps {
        url: server_url(&fresh_resource("yew-selective"), "ann").into(),
        badge: badge.clone(),
        items: items.clone(),
    };
    let _app = yew::Renderer::<Shared>::with_root_and_props(root.clone().into(), props).render();
    snapshot_shown(&root).await;
    let status = badge.0.flow();
    until("status Open", || status.status().is_open()).await;
    // Let the badge show Open before counting.
    until("the badge to show Open", || {
        root.text_content().unwrap_or_default().contains("Open")
    })
    .await;
    let (badge_before, items_before) = (badge.0.renders.get(), items.0.renders.get());

    let flow = items.0.flow();
    let ids: Vec<u64> = (0..3).map(|_| fresh_id()).collect();
    for (n, id) in ids.iter().enumerate() {
        let action = TodoAction::Add {
            id: *id,
            title: format!("item {n}"),
        };
        let change = action.optimistic(&flow.state());
        flow.send(action, change).expect("sent");
    }
    until("the three items", || {
        ids.iter().all(|id| row(&root, *id).is_some())
    })
    .await;
    until("every action settled", || {
        ids.len() == flow.ops().len() && flow.ops().iter().all(|(_, s)| s.is_settled())
    })
    .await;
    assert!(items.0.renders.get() > items_before, "the list re-rendered");
    assert_eq!(
        badge.0.renders.get(),
        badge_before,
        "the badge reads only the status, which did not change"
    );
}

#[wasm_bindgen_test]
async fn signals_arrive_and_presence_reports_go_out() {
    let resource = fresh_resource("yew-signal");
    let (root, seen, _app) = mount(&resource);
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

    let offer = SignalPayload::Offer { sdp: "v=0".into() };
    bob.send_signal("ann", offer.clone()).expect("sent");
    until("the signal", || !seen.0.signals.borrow().is_empty()).await;
    assert_eq!(*seen.0.signals.borrow(), [("bob".to_owned(), offer)]);

    let flow = seen.0.flow();
    flow.set_presence(Some(PresenceStatus::Away)).expect("set");
    until("Ann away", || ann_is(PresenceStatus::Away)).await;
    flow.set_presence(Some(PresenceStatus::Active))
        .expect("set");
    until("Ann active again", || ann_is(PresenceStatus::Active)).await;
    bob.close();
}

#[wasm_bindgen_test]
async fn unmounting_closes_the_connection() {
    let resource = fresh_resource("yew-cleanup");
    let (root, seen, app) = mount(&resource);
    snapshot_shown(&root).await;
    let other = FlowConnection::<TodoModel>::builder()
        .url(server_url(&resource, "bob"))
        .connect()
        .expect("a second connection");
    let present = |user: &str| other.presence().iter().any(|p| p.user_id == user);
    until("Bob to see Ann", || present("ann")).await;

    app.destroy();
    until("Bob to see Ann leave", || !present("ann")).await;
    let err = seen
        .0
        .flow()
        .send_action(TodoAction::Toggle { id: 1 })
        .expect_err("the component is gone");
    assert!(matches!(
        err,
        ui_flow::Error::Misuse(ui_flow::ApiMisuse::Closed)
    ));
    other.close();
}

/// Issue 12 item 7: an upgrade refused with a 4xx ends the connection and
/// the hook's status says why. Here the server's own 400 for a resource id
/// over 256 bytes, which the page can read across origins (the browser
/// driver's refusal probe; 404/403/401 are covered in ui-flow-client-tests).
#[wasm_bindgen_test]
async fn a_refused_upgrade_shows_as_closed_with_its_status() {
    let (_root, seen, _app) = mount(&"r".repeat(300));
    let refused = ui_flow::ConnectionStatus::Closed {
        reason: ui_flow::CloseReason::Refused { status: 400 },
    };
    until("closed with HTTP 400", || {
        let flow = seen.0.flow.borrow();
        flow.as_ref().is_some_and(|flow| flow.status() == refused)
    })
    .await;
}
