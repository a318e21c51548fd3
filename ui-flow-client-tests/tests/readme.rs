//! The README's client and adapter snippets are compiled example files:
//! each test checks that the README shows exactly the lines an example
//! marks with `// README: begin` and `// README: end` (less the example's
//! indentation), so the README cannot drift from code that compiles. The
//! examples are compiled by `cargo test` (native) and by the wasm32 clippy
//! steps of `scripts/test.sh` (the adapters', which exist only on wasm32).
//! The JavaScript snippet is type-checked by `adapters/js/tests` instead.

#![cfg(not(target_arch = "wasm32"))]

const README: &str = include_str!("../../README.md");

/// The lines between the markers, with `indent` spaces taken off each.
fn marked(example: &str, indent: usize) -> String {
    let lines = example
        .split("// README: begin\n")
        .nth(1)
        .and_then(|rest| rest.split("// README: end\n").next())
        .expect("the example marks the README's lines");
    let pad = " ".repeat(indent);
    lines
        .lines()
        .map(|line| line.strip_prefix(&pad).unwrap_or(line).trim_end())
        .map(|line| format!("{line}\n"))
        .collect::<String>()
        .trim_end_matches([' ', '\n'])
        .to_owned()
        + "\n"
}

/// The first code block of `lang` after `heading` in the README.
fn shown(heading: &str, lang: &str) -> String {
    let section = README
        .split(&format!("\n{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("the README has a {heading:?} section"));
    section
        .split(&format!("```{lang}\n"))
        .nth(1)
        .and_then(|rest| rest.split("```\n").next())
        .unwrap_or_else(|| panic!("the {heading:?} section shows {lang}"))
        .to_owned()
}

#[test]
fn the_client_snippet_is_the_compiled_example() {
    let example = include_str!("../examples/readme_client.rs");
    assert_eq!(
        shown("## A client", "rust"),
        marked(example, 4),
        "update README.md from ui-flow-client-tests/examples/readme_client.rs"
    );
}

#[test]
fn the_adapter_snippets_are_the_compiled_examples() {
    let examples = [
        (
            "### In Leptos",
            include_str!("../../adapters/leptos/examples/readme.rs"),
        ),
        (
            "### In Yew",
            include_str!("../../adapters/yew/examples/readme.rs"),
        ),
        (
            "### In Seed",
            include_str!("../../adapters/seed/examples/readme.rs"),
        ),
    ];
    for (heading, example) in examples {
        assert_eq!(
            shown(heading, "rust"),
            marked(example, 0),
            "update README.md's {heading:?} from its adapter's examples/readme.rs"
        );
    }
}
