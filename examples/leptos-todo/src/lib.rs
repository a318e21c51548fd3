//! A shared to-do list in [Leptos](https://leptos.dev) on `ui-flow-leptos`.
//!
//! Build and run (see `examples/adapter-examples.sh`):
//!
//! ```text
//! examples/adapter-examples.sh build leptos
//! cargo run -p adapter-server -- 127.0.0.1:8080 --static examples/leptos-todo
//! open http://127.0.0.1:8080/?list=groceries&user=ann
//! ```
//!
//! Open it twice with different `user`s: items added in one tab appear in
//! the other. An empty title is shown at once and then rolled back when the
//! server rejects it.
#![cfg(target_arch = "wasm32")]

use leptos::prelude::*;
use todo_model::{
    DOMAIN, TodoAction, TodoModel, new_id, page_realtime_url, page_token, status_text,
};
use ui_flow::client::OpState;
use ui_flow_leptos::{UseFlow, UseFlowOptions, use_flow_with_options};
use wasm_bindgen::prelude::wasm_bindgen;

type Flow = UseFlow<TodoModel>;

/// Mounts the app on the page's body.
#[wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(App);
}

fn send(flow: Flow, action: TodoAction) {
    let change = action.optimistic(&flow.state.get_untracked());
    // Refused only after close or with a full queue; the list shows why.
    let _ = flow.send(action, change);
}

#[component]
fn App() -> impl IntoView {
    let flow: Flow = use_flow_with_options(
        page_realtime_url(),
        UseFlowOptions::default()
            .token(page_token())
            .subscribe([DOMAIN]),
    );
    let title = RwSignal::new(String::new());
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        send(
            flow,
            TodoAction::Add {
                id: new_id(),
                title: title.get_untracked(),
            },
        );
        title.set(String::new());
    };
    let rejected = move || {
        flow.ops
            .get()
            .iter()
            .rev()
            .find_map(|(_, state)| match state {
                OpState::Err { message, .. } => Some(format!("Rejected: {message}")),
                _ => None,
            })
    };
    let heard = move || {
        flow.notifications
            .get()
            .last()
            .map(|n| format!("{} added “{}”", n.event.by, n.event.title))
    };
    view! {
        <h1>"ui-flow · Leptos"</h1>
        <p class="status">{move || status_text(&flow.status.get())}</p>
        <form on:submit=add>
            <input
                placeholder="What needs doing?"
                prop:value=title
                on:input=move |ev| title.set(event_target_value(&ev))
            />
            <button type="submit">"Add"</button>
        </form>
        <ul>
            <For
                each=move || flow.state.get().items.clone()
                key=|t| (t.id, t.done, t.title.clone())
                children=move |t| {
                    let id = t.id;
                    view! {
                        <li data-id=id.to_string() class:done=t.done>
                            <input
                                type="checkbox"
                                prop:checked=t.done
                                on:change=move |_| send(flow, TodoAction::Toggle { id })
                            />
                            <span>{t.title}</span>
                            <button on:click=move |_| send(flow, TodoAction::Remove { id })>"×"</button>
                        </li>
                    }
                }
            />
        </ul>
        <p class="meta">
            {move || format!("{} online", flow.presence.get().len())}
            {move || flow.latency.get().map(|d| format!(" · {} ms", d.as_millis())).unwrap_or_default()}
        </p>
        <p class="note">{rejected}</p>
        <p class="note">{heard}</p>
    }
}
