//! The README's server snippet is the compiled `examples/readme.rs`.

#[test]
fn the_readme_server_snippet_is_the_compiled_example() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../examples/readme.rs");
    let marked = example
        .split("// README: begin\n")
        .nth(1)
        .and_then(|rest| rest.split("// README: end\n").next())
        .expect("the example marks the README's lines");
    let expected = marked.to_owned();
    let section = readme
        .split("## A server")
        .nth(1)
        .expect("the README has a server section");
    let shown = section
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("```\n").next())
        .expect("the section shows Rust");
    assert_eq!(shown, expected, "update README.md from examples/readme.rs");
}
