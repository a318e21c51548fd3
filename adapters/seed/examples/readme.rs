//! The Seed snippet of the repository's README, compiled for wasm32 (and
//! linted with `-D warnings` by `scripts/test.sh`) so it cannot rot.
//! `ui-flow-client-tests/tests/readme.rs` checks that the README shows
//! exactly the lines between the markers. Elsewhere it is an empty program.

// Not formatted: the README shows these lines as they are.
#[cfg(target_arch = "wasm32")]
#[rustfmt::skip]
mod snippet {
    use std::sync::Arc;

    use seed::prelude::*;
    use seed::{button, div};
    use todo_model::{TodoAction, TodoEvent, TodoModel, TodoState};
    use ui_flow_seed::{Flow, FlowMsg, FlowOptions};

    fn session_token() -> String {
        todo_model::page_token()
    }

    fn view(model: &Model) -> Node<Msg> {
        div![
            model.todos.items.len(),
            button!["Add", ev(Ev::Click, |_| Msg::Add("Milk".into()))]
        ]
    }

    pub fn start() {
        App::start("app", init, update, view);
    }

// README: begin
struct Model { flow: Flow<TodoModel>, todos: Arc<TodoState> }
enum Msg { Flow(FlowMsg<TodoState, TodoEvent>), Add(String) }
fn init(_: Url, orders: &mut impl Orders<Msg>) -> Model {
    let flow = ui_flow_seed::connect("wss://host/realtime/list-1", FlowOptions::default().token(session_token()), orders, Msg::Flow);
    Model { flow, todos: Arc::default() }
}
fn update(msg: Msg, model: &mut Model, _: &mut impl Orders<Msg>) {
    match msg {
        Msg::Flow(FlowMsg::State(todos)) => model.todos = todos,
        Msg::Flow(_) => {}
        Msg::Add(title) => { let a = TodoAction::Add { id: 7, title };
            let _ = model.flow.send(a.clone(), a.optimistic(&model.todos)); }
    }
}
// README: end
}

fn main() {
    #[cfg(target_arch = "wasm32")]
    snippet::start();
}
