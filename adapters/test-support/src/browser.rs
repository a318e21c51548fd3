use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Element, HtmlElement, MutationObserver, MutationObserverInit, MutationRecord};

/// How long [`until`] waits before failing the test.
pub const WAIT_MS: f64 = 10_000.0;

/// The WebSocket URL of `resource` on the test server, as user `user`.
///
/// Panics (failing the test with instructions) when the tests were built
/// without `UI_FLOW_ADAPTER_SERVER`.
pub fn server_url(resource: &str, user: &str) -> String {
    let Some(base) = option_env!("UI_FLOW_ADAPTER_SERVER") else {
        panic!(
            "UI_FLOW_ADAPTER_SERVER was not set when these tests were built; \
             run adapters/test.sh, which starts examples/adapter-server and sets it"
        );
    };
    format!("{base}/realtime/{resource}?token={user}")
}

/// The WebSocket URL of `resource` on the test server, with no token in
/// it: pass the user as the adapter's token option (the test server takes
/// any token as the user id).
pub fn endpoint_url(resource: &str) -> String {
    let url = server_url(resource, "");
    url.trim_end_matches("?token=").to_owned()
}

/// A resource id no other test uses, so every test starts from the
/// server's seeded list.
pub fn fresh_resource(test: &str) -> String {
    format!("{test}-{}", ui_flow::OpId::new())
}

/// An id for a new to-do item that no other test run uses.
pub fn fresh_id() -> u64 {
    let bytes = ui_flow::OpId::new();
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes.as_bytes()[..8]);
    // Stay within JavaScript's safe integers, like an app would.
    u64::from_le_bytes(id) >> 12
}

/// Waits until `cond` holds, checking every 10 ms; panics naming `what`
/// after [`WAIT_MS`].
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = js_sys::Date::now() + WAIT_MS;
    while !cond() {
        assert!(
            js_sys::Date::now() < deadline,
            "timed out after {WAIT_MS} ms waiting for {what}"
        );
        TimeoutFuture::new(10).await;
    }
}

/// A fresh `<div>` appended to the page's body, to mount a test app in.
pub fn mount_point() -> HtmlElement {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("a browser document");
    let div = document.create_element("div").expect("create a div");
    document
        .body()
        .expect("a body")
        .append_child(&div)
        .expect("append the div");
    div.unchecked_into()
}

/// The `(id, title)` of every element with a `data-id` under `root`, in
/// document order.
pub fn rows(root: &Element) -> Vec<(u64, String)> {
    let list = root
        .query_selector_all("[data-id]")
        .expect("a valid selector");
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|node| node.dyn_into::<Element>().ok())
        .filter_map(|el| {
            let id = el.get_attribute("data-id")?.parse().ok()?;
            Some((id, el.text_content().unwrap_or_default()))
        })
        .collect()
}

/// The title shown for item `id` under `root`, if it is shown.
pub fn row(root: &Element, id: u64) -> Option<String> {
    rows(root)
        .into_iter()
        .find(|(row, _)| *row == id)
        .map(|(_, title)| title)
}

/// What happened to a `data-id` row, as a [`RowLog`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowChange {
    /// An element with this `data-id` was inserted.
    Added(u64),
    /// An element with this `data-id` was removed.
    Removed(u64),
}

/// Records every insertion and removal of `data-id` elements under a root,
/// so a test can tell that a row was shown and then taken away even when
/// both happen between two of its checks.
pub struct RowLog {
    observer: MutationObserver,
    changes: Rc<RefCell<Vec<RowChange>>>,
    _callback: Closure<dyn FnMut(Vec<MutationRecord>)>,
}

impl RowLog {
    /// Starts recording under `root`.
    pub fn watch(root: &Element) -> RowLog {
        let changes = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&changes);
        let callback =
            Closure::<dyn FnMut(Vec<MutationRecord>)>::new(move |records: Vec<MutationRecord>| {
                let mut sink = sink.borrow_mut();
                for record in &records {
                    note(&mut sink, record);
                }
            });
        let observer =
            MutationObserver::new(callback.as_ref().unchecked_ref()).expect("a MutationObserver");
        let init = MutationObserverInit::new();
        init.set_child_list(true);
        init.set_subtree(true);
        observer
            .observe_with_options(root, &init)
            .expect("observe the root");
        RowLog {
            observer,
            changes,
            _callback: callback,
        }
    }

    /// Everything recorded so far, for row `id`.
    pub fn changes_of(&self, id: u64) -> Vec<RowChange> {
        // Deliver records the browser has queued but not yet reported.
        let pending = self.observer.take_records();
        let mut changes = self.changes.borrow_mut();
        for record in pending.iter() {
            note(&mut changes, &record.unchecked_into());
        }
        changes
            .iter()
            .filter(|c| matches!(c, RowChange::Added(x) | RowChange::Removed(x) if *x == id))
            .cloned()
            .collect()
    }
}

impl Drop for RowLog {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

/// Appends what one mutation record did to `data-id` rows.
fn note(changes: &mut Vec<RowChange>, record: &MutationRecord) {
    let added = record.added_nodes();
    for i in 0..added.length() {
        if let Some(id) = added.item(i).and_then(|n| data_id(&n)) {
            changes.push(RowChange::Added(id));
        }
    }
    let removed = record.removed_nodes();
    for i in 0..removed.length() {
        if let Some(id) = removed.item(i).and_then(|n| data_id(&n)) {
            changes.push(RowChange::Removed(id));
        }
    }
}

fn data_id(node: &web_sys::Node) -> Option<u64> {
    node.dyn_ref::<Element>()?
        .get_attribute("data-id")?
        .parse()
        .ok()
}
