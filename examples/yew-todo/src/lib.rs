//! A shared to-do list in [Yew](https://yew.rs) on `ui-flow-yew`.
//!
//! Build and run (see `examples/adapter-examples.sh`):
//!
//! ```text
//! examples/adapter-examples.sh build yew
//! cargo run -p adapter-server -- 127.0.0.1:8080 --static examples/yew-todo
//! open http://127.0.0.1:8080/?list=groceries&user=ann
//! ```
//!
//! The list and the status line are separate components under one
//! `FlowProvider`: the status line re-renders only when the status or
//! presence changes, not for every item.
#![cfg(target_arch = "wasm32")]

use todo_model::{
    DOMAIN, TodoAction, TodoModel, new_id, page_realtime_url, page_token, status_text,
};
use ui_flow::client::OpState;
use ui_flow_yew::{FlowProvider, UseFlowHandle, UseFlowOptions, use_flow_context};
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::HtmlInputElement;
use yew::prelude::*;

type Flow = UseFlowHandle<TodoModel>;

/// Mounts the app on the page's body.
#[wasm_bindgen(start)]
pub fn start() {
    yew::Renderer::<App>::new().render();
}

fn send(flow: &Flow, action: TodoAction) {
    let change = action.optimistic(&flow.state());
    // Refused only after close or with a full queue; the list shows why.
    let _ = flow.send(action, change);
}

#[component]
fn App() -> Html {
    let url = use_memo((), |_| page_realtime_url());
    html! {
        <FlowProvider<TodoModel>
            url={AttrValue::from((*url).clone())}
            options={UseFlowOptions::default().token(page_token()).subscribe([DOMAIN])}
        >
            <h1>{"ui-flow · Yew"}</h1>
            <StatusLine />
            <TodoList />
        </FlowProvider<TodoModel>>
    }
}

/// Status, people online and latency; re-renders only for those.
#[component]
fn StatusLine() -> Html {
    let Some(flow) = use_flow_context::<TodoModel>() else {
        return html! {};
    };
    let latency = flow
        .latency()
        .map(|d| format!(" · {} ms", d.as_millis()))
        .unwrap_or_default();
    html! {
        <p class="status">
            {status_text(&flow.status())}{" · "}{flow.presence().len()}{" online"}{latency}
        </p>
    }
}

/// The form, the items and the last rejection or notification.
#[component]
fn TodoList() -> Html {
    let input = use_node_ref();
    let Some(flow) = use_flow_context::<TodoModel>() else {
        return html! {};
    };
    let add = {
        let (flow, input) = (flow.clone(), input.clone());
        Callback::from(move |ev: SubmitEvent| {
            ev.prevent_default();
            if let Some(field) = input.cast::<HtmlInputElement>() {
                send(
                    &flow,
                    TodoAction::Add {
                        id: new_id(),
                        title: field.value(),
                    },
                );
                field.set_value("");
            }
        })
    };
    let rejected = flow.ops().iter().rev().find_map(|(_, state)| match state {
        OpState::Err { message, .. } => Some(format!("Rejected: {message}")),
        _ => None,
    });
    let heard = flow
        .notifications()
        .last()
        .map(|n| format!("{} added “{}”", n.event.by, n.event.title));
    let state = flow.state();
    let items = state.items.iter().map(|t| {
        let id = t.id;
        let toggle = {
            let flow = flow.clone();
            Callback::from(move |_| send(&flow, TodoAction::Toggle { id }))
        };
        let remove = {
            let flow = flow.clone();
            Callback::from(move |_| send(&flow, TodoAction::Remove { id }))
        };
        html! {
            <li key={id} data-id={id.to_string()} class={classes!(t.done.then_some("done"))}>
                <input type="checkbox" checked={t.done} onchange={toggle} />
                <span>{&t.title}</span>
                <button onclick={remove}>{"×"}</button>
            </li>
        }
    });
    html! {
        <>
            <form onsubmit={add}>
                <input ref={input} placeholder="What needs doing?" />
                <button type="submit">{"Add"}</button>
            </form>
            <ul>{for items}</ul>
            <p class="note">{rejected}</p>
            <p class="note">{heard}</p>
        </>
    }
}
