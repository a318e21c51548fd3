//! The Leptos snippet of the repository's README, compiled for wasm32 (and
//! linted with `-D warnings` by `scripts/test.sh`) so it cannot rot.
//! `ui-flow-client-tests/tests/readme.rs` checks that the README shows
//! exactly the lines between the markers. Elsewhere it is an empty program.

// Not formatted: the README shows these lines as they are.
#[cfg(target_arch = "wasm32")]
#[rustfmt::skip]
mod snippet {
    use leptos::prelude::*;
    use todo_model::{TodoAction, TodoModel};
    use ui_flow_leptos::{UseFlowOptions, use_flow_with_options};

    pub fn mount() {
        leptos::mount::mount_to_body(Todos);
    }

    fn session_token() -> String {
        todo_model::page_token()
    }

// README: begin
#[component]
fn Todos() -> impl IntoView {
    let flow = use_flow_with_options::<TodoModel>(
        "wss://host/realtime/list-1", UseFlowOptions::default().token(session_token()).subscribe(["todos"]));
    let add = move |_| { let a = TodoAction::Add { id: 7, title: "Milk".into() };
        let _ = flow.send(a.clone(), a.optimistic(&flow.state.get_untracked())); };
    view! { <p>{move || format!("{:?}", flow.status.get())}</p>
        <ul>{move || flow.state.get().items.iter().map(|t| view! { <li>{t.title.clone()}</li> }).collect_view()}</ul>
        <button on:click=add>"Add"</button> }
}
// README: end
}

fn main() {
    #[cfg(target_arch = "wasm32")]
    snippet::mount();
}
