//! `use_flow`, `FlowProvider` and `use_flow_context` in headless Chromium
//! against a real `examples/adapter-server` (run by `adapters/test.sh`):
//! the shared scenarios of `adapters/test-support` on a small Yew app (and
//! its shared-socket scenarios on a `FlowProvider` page with a
//! `use_flow_on` component per joined resource), and
//! what only Yew has (components re-rendering only for what they read,
//! signals through the options, commands after unmount).
#![cfg(target_arch = "wasm32")]

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

use todo_model::{DOMAIN, TodoAction, TodoModel, TodoState};
use ui_flow::client::{FlowConnection, FlowOptions};
use ui_flow::{OpId, PresenceStatus, SignalPayload};
use ui_flow_adapter_test_support::scenario::{TodoApp, note_text, op_label};
use ui_flow_adapter_test_support::shared_socket::SharedSocketApp;
use ui_flow_adapter_test_support::{
    RowChange, RowLog, endpoint_url, fresh_id, fresh_resource, mount_point, row, rows, scenarios,
    server_url, shared_socket_scenarios, until,
};
use ui_flow_yew::{FlowProvider, UseFlowHandle, use_flow, use_flow_context, use_flow_on};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::Element;
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

/// Where a component leaves its handle, how often it rendered, the item
/// ids it ever rendered, and the signals it received.
#[derive(Default)]
struct Seen {
    flow: RefCell<Option<Flow>>,
    renders: Cell<u32>,
    items: RefCell<HashSet<u64>>,
    signals: RefCell<Vec<(String, SignalPayload)>>,
}

impl Seen {
    fn flow(&self) -> Flow {
        self.flow.borrow().clone().expect("the component rendered")
    }

    /// Notes a render of `flow`.
    fn rendering(&self, flow: &Flow) {
        self.renders.set(self.renders.get() + 1);
        self.items
            .borrow_mut()
            .extend(flow.state().items.iter().map(|t| t.id));
        *self.flow.borrow_mut() = Some(flow.clone());
    }
}

#[derive(Properties, PartialEq)]
struct AppProps {
    url: AttrValue,
    #[prop_or_default]
    options: FlowOptions,
    seen: Probe<Seen>,
}

fn item_rows(state: &TodoState) -> Html {
    state
        .items
        .iter()
        .map(|t| html! { <li key={t.id} data-id={t.id.to_string()}>{&t.title}</li> })
        .collect()
}

/// One component that owns its connection, rendered by the conventions of
/// the shared scenarios.
#[component]
fn App(props: &AppProps) -> Html {
    let flow = use_flow::<TodoModel>(&props.url, props.options.clone());
    props.seen.0.rendering(&flow);
    flow_view(&flow)
}

/// A flow's view by the conventions of the shared scenarios.
fn flow_view(flow: &Flow) -> Html {
    html! {
        <>
            <p class="status">{format!("{:?}", flow.status())}</p>
            <p class="latency">{flow.latency().map(|_| "measured")}</p>
            <p class="resource">{flow.resource_status().map(|s| format!("{s:?}"))}</p>
            <ul>{item_rows(&flow.state())}</ul>
            <ul>{for flow.presence().iter().map(|m| html! { <li data-user={m.user_id.clone()}></li> })}</ul>
            <ul>{for flow.ops().iter().map(|(id, state)| html! { <li data-op={id.to_string()} data-op-state={op_label(state)}></li> })}</ul>
            <ul>{for flow.notifications().iter().map(|n| html! {
                <li data-note={n.correlation_id.map(|o| o.to_string()).unwrap_or_default()}>{note_text(&n.event)}</li>
            })}</ul>
        </>
    }
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

/// [`App`] mounted, with what it saw and the handle that unmounts it.
struct YewApp {
    root: Element,
    seen: Probe<Seen>,
    log: RowLog,
    app: AppHandle<App>,
}

impl TodoApp for YewApp {
    fn mount(url: String, options: FlowOptions) -> Self {
        let root = mount_point();
        let seen = Probe::default();
        let props = AppProps {
            url: url.into(),
            options,
            seen: seen.clone(),
        };
        let app = yew::Renderer::<App>::with_root_and_props(root.clone().into(), props).render();
        let root: Element = root.into();
        YewApp {
            log: RowLog::watch(&root),
            root,
            seen,
            app,
        }
    }

    fn root(&self) -> &Element {
        &self.root
    }

    fn act(&self, action: TodoAction) -> OpId {
        let flow = self.seen.0.flow();
        let change = action.optimistic(&flow.state());
        flow.send(action, change).expect("sent")
    }

    fn was_shown(&self, id: u64) -> bool {
        self.log.changes_of(id).contains(&RowChange::Added(id))
    }

    fn unmount(self) {
        self.app.destroy();
    }
}

scenarios!(YewApp);

async fn snapshot_shown(root: &Element) {
    until("the seeded items", || rows(root).len() == 2).await;
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
    let signals = Probe::<Seen>::default();
    let sink = signals.clone();
    let options = FlowOptions::default()
        .token("ann")
        .on_signal(move |from: &str, signal| {
            sink.0.signals.borrow_mut().push((from.to_owned(), signal));
        });
    let app = YewApp::mount(endpoint_url(&resource), options);
    snapshot_shown(&app.root).await;
    let seen = &signals;
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

    let flow = app.seen.0.flow();
    flow.set_presence(Some(PresenceStatus::Away)).expect("set");
    until("Ann away", || ann_is(PresenceStatus::Away)).await;
    flow.set_presence(Some(PresenceStatus::Active))
        .expect("set");
    until("Ann active again", || ann_is(PresenceStatus::Active)).await;
    bob.close();
}

#[wasm_bindgen_test]
async fn commands_after_unmount_fail_as_closed() {
    let options = FlowOptions::default().token("ann").subscribe([DOMAIN]);
    let app = YewApp::mount(endpoint_url(&fresh_resource("yew-unmounted")), options);
    snapshot_shown(&app.root).await;
    let flow = app.seen.0.flow();
    app.unmount();
    until("the connection closed", || !flow.status().is_open()).await;
    let err = flow
        .send_action(TodoAction::Toggle { id: 1 })
        .expect_err("the component is gone");
    assert!(matches!(
        err,
        ui_flow::Error::Misuse(ui_flow::ApiMisuse::Closed)
    ));
}

#[derive(Properties, PartialEq)]
struct OnProps {
    resource: AttrValue,
    seen: Probe<Seen>,
}

/// A component that asks for `resource` on the provider's socket.
#[component]
fn On(props: &OnProps) -> Html {
    let flow = use_flow_on::<TodoModel>(&props.resource, FlowOptions::default());
    *props.seen.0.flow.borrow_mut() = flow.clone();
    html! { <p>{format!("{:?}", flow.map(|f| f.resource_status()))}</p> }
}

#[derive(Properties, PartialEq)]
struct PageProps {
    resource: AttrValue,
    same: Probe<Seen>,
}

/// One provider and one component asking for its URL's resource.
#[component]
fn Page(props: &PageProps) -> Html {
    let url = AttrValue::from(server_url(&props.resource, "ann"));
    html! {
        <FlowProvider<TodoModel> {url}>
            <On resource={props.resource.clone()} seen={props.same.clone()} />
        </FlowProvider<TodoModel>>
    }
}

/// What only Yew's `use_flow_on` has: asked for the provider URL's own
/// resource it is the provider's connection, not a join (the
/// shared-socket scenarios below cover the joined resources).
#[wasm_bindgen_test]
async fn use_flow_on_of_the_providers_resource_is_the_providers_connection() {
    let root = mount_point();
    let same = Probe::<Seen>::default();
    let props = PageProps {
        resource: fresh_resource("yew-shared").into(),
        same: same.clone(),
    };
    let _app = yew::Renderer::<Page>::with_root_and_props(root.clone().into(), props).render();
    until("the component rendered", || same.0.flow.borrow().is_some()).await;
    let same = same.0.flow();
    until("the provider's snapshot", || {
        same.status().is_open() && same.state().items.len() == 2
    })
    .await;
    assert_eq!(same.resource_status(), None, "the URL's own resource");
}

/// A component on a resource joined on the provider's socket, shown in
/// its own `data-resource` element.
#[derive(Properties, PartialEq)]
struct JoinedProps {
    index: usize,
    resource: AttrValue,
    options: FlowOptions,
    seen: Probe<Seen>,
}

#[component]
fn JoinedResource(props: &JoinedProps) -> Html {
    let Some(flow) = use_flow_on::<TodoModel>(&props.resource, props.options.clone()) else {
        return html! {};
    };
    props.seen.0.rendering(&flow);
    html! { <div data-resource={props.index.to_string()}>{flow_view(&flow)}</div> }
}

#[derive(Properties, PartialEq)]
struct SeenProps {
    seen: Probe<Seen>,
}

/// The provider URL's resource, through the context.
#[component]
fn UrlResource(props: &SeenProps) -> Html {
    let flow = use_flow_context::<TodoModel>().expect("a provider");
    props.seen.0.rendering(&flow);
    html! { <div data-resource="0">{flow_view(&flow)}</div> }
}

#[derive(Properties, PartialEq, Clone)]
struct SharedPageProps {
    url: AttrValue,
    options: FlowOptions,
    joined: Vec<AttrValue>,
    /// Which joined resources are mounted (by index, 0 unused).
    shown: Vec<bool>,
    seen: Vec<Probe<Seen>>,
}

/// One provider, its URL's resource, and a component per joined resource.
#[component]
fn SharedPage(props: &SharedPageProps) -> Html {
    let joined = props
        .joined
        .iter()
        .enumerate()
        .map(|(i, resource)| (i + 1, resource))
        .filter(|(index, _)| props.shown[*index])
        .map(|(index, resource)| {
            html! {
                <JoinedResource key={index} {index} resource={resource.clone()}
                    options={props.options.clone()} seen={props.seen[index].clone()} />
            }
        });
    html! {
        <FlowProvider<TodoModel> url={props.url.clone()} options={props.options.clone()}>
            <UrlResource seen={props.seen[0].clone()} />
            {for joined}
        </FlowProvider<TodoModel>>
    }
}

/// [`SharedPage`] mounted, with its props (changed to unmount a joined
/// resource) and the handle that unmounts it.
struct YewPage {
    page: Element,
    props: RefCell<SharedPageProps>,
    app: RefCell<Option<AppHandle<SharedPage>>>,
}

impl SharedSocketApp for YewPage {
    fn mount(url: String, options: FlowOptions, joined: Vec<String>) -> Self {
        let root = mount_point();
        let props = SharedPageProps {
            url: url.into(),
            options,
            shown: vec![true; joined.len() + 1],
            seen: (0..=joined.len()).map(|_| Probe::default()).collect(),
            joined: joined.into_iter().map(AttrValue::from).collect(),
        };
        let app =
            yew::Renderer::<SharedPage>::with_root_and_props(root.clone().into(), props.clone())
                .render();
        YewPage {
            page: root.into(),
            props: RefCell::new(props),
            app: RefCell::new(Some(app)),
        }
    }

    fn page(&self) -> &Element {
        &self.page
    }

    fn act(&self, resource: usize, action: TodoAction) -> OpId {
        let flow = self.props.borrow().seen[resource].0.flow();
        let change = action.optimistic(&flow.state());
        flow.send(action, change).expect("sent")
    }

    fn was_shown(&self, resource: usize, id: u64) -> bool {
        self.props.borrow().seen[resource]
            .0
            .items
            .borrow()
            .contains(&id)
    }

    fn leave(&self, resource: usize) {
        let mut props = self.props.borrow_mut();
        props.shown[resource] = false;
        if let Some(app) = self.app.borrow_mut().as_mut() {
            app.update(props.clone());
        }
    }

    fn unmount(self) {
        if let Some(app) = self.app.take() {
            app.destroy();
        }
    }
}

shared_socket_scenarios!(YewPage);

#[wasm_bindgen_test]
async fn use_flow_on_without_a_provider_is_none() {
    let root = mount_point();
    let seen = Probe::<Seen>::default();
    let props = OnProps {
        resource: "anything".into(),
        seen: seen.clone(),
    };
    let _app = yew::Renderer::<On>::with_root_and_props(root.clone().into(), props).render();
    until("the component rendered", || {
        root.text_content().unwrap_or_default() == "None"
    })
    .await;
    assert!(seen.0.flow.borrow().is_none());
}
