//! The Yew snippet of the repository's README, compiled for wasm32 (and
//! linted with `-D warnings` by `scripts/test.sh`) so it cannot rot.
//! `ui-flow-client-tests/tests/readme.rs` checks that the README shows
//! exactly the lines between the markers. Elsewhere it is an empty program.

// Not formatted: the README shows these lines as they are.
#[cfg(target_arch = "wasm32")]
#[rustfmt::skip]
mod snippet {
    use todo_model::{TodoAction, TodoModel};
    use ui_flow_yew::{UseFlowOptions, use_flow};
    use yew::prelude::*;

    pub fn mount() {
        yew::Renderer::<Todos>::new().render();
    }

    fn session_token() -> String {
        todo_model::page_token()
    }

// README: begin
#[component]
fn Todos() -> Html {
    let flow = use_flow::<TodoModel>("wss://host/realtime/list-1", UseFlowOptions::default().token(session_token()));
    let add = { let flow = flow.clone(); Callback::from(move |_| {
        let a = TodoAction::Add { id: 7, title: "Milk".into() };
        let _ = flow.send(a.clone(), a.optimistic(&flow.state())); }) };
    html! { <>  // re-renders only for what it reads: status and state here
        <p>{format!("{:?}", flow.status())}</p>
        <ul>{for flow.state().items.iter().map(|t| html! { <li key={t.id}>{&t.title}</li> })}</ul>
        <button onclick={add}>{"Add"}</button> </> }
}
// README: end
}

fn main() {
    #[cfg(target_arch = "wasm32")]
    snippet::mount();
}
