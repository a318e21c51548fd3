//! A shared to-do list in [Seed](https://seed-rs.org) on `ui-flow-seed`.
//!
//! Build and run (see `examples/adapter-examples.sh`):
//!
//! ```text
//! examples/adapter-examples.sh build seed
//! cargo run -p adapter-server -- 127.0.0.1:8080 --static examples/seed-todo
//! open http://127.0.0.1:8080/?list=groceries&user=ann
//! ```
//!
//! Connection events arrive in `update` as `Msg::Flow(..)`, like clicks.
#![cfg(target_arch = "wasm32")]

use std::sync::Arc;
use std::time::Duration;

use seed::prelude::*;
use seed::{C, attrs, button, div, form, h1, input, li, p, span, ul};
use todo_model::{
    DOMAIN, TodoAction, TodoEvent, TodoModel, TodoState, new_id, page_realtime_url, page_token,
    status_text,
};
use ui_flow::ConnectionStatus;
use ui_flow::client::OpState;
use ui_flow_seed::{Flow, FlowMsg, FlowOptions};

/// Mounts the app on `<div id="app">`.
#[wasm_bindgen(start)]
pub fn start() {
    App::start("app", init, update, view);
}

struct Model {
    flow: Flow<TodoModel>,
    todos: Arc<TodoState>,
    status: ConnectionStatus,
    online: usize,
    latency: Option<Duration>,
    title: String,
    note: Option<String>,
}

enum Msg {
    Flow(FlowMsg<TodoState, TodoEvent>),
    Title(String),
    Add,
    Toggle(u64),
    Remove(u64),
}

fn init(_: Url, orders: &mut impl Orders<Msg>) -> Model {
    let options = FlowOptions::default()
        .token(page_token())
        .subscribe([DOMAIN]);
    Model {
        flow: ui_flow_seed::connect(page_realtime_url(), options, orders, Msg::Flow),
        todos: Arc::default(),
        status: ConnectionStatus::Connecting,
        online: 0,
        latency: None,
        title: String::new(),
        note: None,
    }
}

fn send(model: &Model, action: TodoAction) {
    let change = action.optimistic(&model.todos);
    // Refused only after close or with a full queue; FlowMsg::Action says why.
    let _ = model.flow.send(action, change);
}

fn update(msg: Msg, model: &mut Model, _: &mut impl Orders<Msg>) {
    match msg {
        Msg::Flow(FlowMsg::State(todos)) => model.todos = todos,
        Msg::Flow(FlowMsg::Status(status)) => model.status = status,
        Msg::Flow(FlowMsg::Presence { members, .. }) => model.online = members.len(),
        Msg::Flow(FlowMsg::Latency(rtt)) => model.latency = Some(rtt),
        Msg::Flow(FlowMsg::Action {
            state: OpState::Err { message, .. },
            ..
        }) => model.note = Some(format!("Rejected: {message}")),
        Msg::Flow(FlowMsg::Notify { event, .. }) => {
            model.note = Some(format!("{} added “{}”", event.by, event.title));
        }
        Msg::Flow(_) => {}
        Msg::Title(title) => model.title = title,
        Msg::Add => {
            let title = std::mem::take(&mut model.title);
            send(
                model,
                TodoAction::Add {
                    id: new_id(),
                    title,
                },
            );
        }
        Msg::Toggle(id) => send(model, TodoAction::Toggle { id }),
        Msg::Remove(id) => send(model, TodoAction::Remove { id }),
    }
}

fn view(model: &Model) -> Node<Msg> {
    let latency = model
        .latency
        .map(|d| format!(" · {} ms", d.as_millis()))
        .unwrap_or_default();
    div![
        h1!["ui-flow · Seed"],
        p![
            C!["status"],
            format!(
                "{} · {} online{latency}",
                status_text(&model.status),
                model.online
            )
        ],
        form![
            ev(Ev::Submit, |event| {
                event.prevent_default();
                Msg::Add
            }),
            input![
                attrs! {At::Placeholder => "What needs doing?", At::Value => model.title},
                input_ev(Ev::Input, Msg::Title),
            ],
            button![attrs! {At::Type => "submit"}, "Add"],
        ],
        ul![model.todos.items.iter().map(|t| {
            let id = t.id;
            li![
                C![t.done.then_some("done")],
                attrs! {At::from("data-id") => id},
                input![
                    attrs! {At::Type => "checkbox", At::Checked => t.done.as_at_value()},
                    ev(Ev::Change, move |_| Msg::Toggle(id)),
                ],
                span![&t.title],
                button!["×", ev(Ev::Click, move |_| Msg::Remove(id))],
            ]
        })],
        p![C!["note"], model.note.clone().unwrap_or_default()],
    ]
}
