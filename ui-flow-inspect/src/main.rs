//! Frame inspector (see issue 2, item 7).
fn main() {}
