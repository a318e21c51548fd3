//! The TypeScript declarations of the to-do payloads, generated from the
//! Rust types by ts-rs, are the committed `adapters/js/tests/todo-model.d.ts`
//! that the JavaScript tests type-check a client against with `tsc --strict`.
//! Run with `UPDATE_TS=1` to rewrite the file after changing a type.

#![cfg(not(target_arch = "wasm32"))]

use todo_model::{Todo, TodoAction, TodoDelta, TodoEvent, TodoState};
use ts_rs::TS;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../adapters/js/tests/todo-model.d.ts"
);

fn declarations() -> String {
    let cfg = ts_rs::Config::default();
    let mut out = String::from(
        "// Generated from examples/todo-model by ts-rs (tests/typescript.rs);\n\
         // do not edit: run `UPDATE_TS=1 cargo test -p todo-model --test typescript`.\n",
    );
    for decl in [
        Todo::decl(&cfg),
        TodoState::decl(&cfg),
        TodoDelta::decl(&cfg),
        TodoAction::decl(&cfg),
        TodoEvent::decl(&cfg),
    ] {
        out.push_str("\nexport ");
        out.push_str(&decl);
        out.push('\n');
    }
    out
}

#[test]
fn the_typescript_declarations_match_the_rust_types() {
    let generated = declarations();
    if std::env::var_os("UPDATE_TS").is_some() {
        std::fs::write(PATH, &generated).expect("writes the declarations");
    }
    let committed = std::fs::read_to_string(PATH).expect("reads the declarations");
    assert_eq!(
        committed, generated,
        "the Rust types changed: run UPDATE_TS=1 cargo test -p todo-model --test typescript"
    );
    // The shapes the wire uses (serde's tag and names), not Rust's.
    assert!(generated.contains("\"type\": \"added\""), "{generated}");
    assert!(generated.contains("id: number | bigint"), "{generated}");
}
