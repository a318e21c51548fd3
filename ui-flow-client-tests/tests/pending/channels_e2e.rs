//! Resource handles end to end against the real `ui-flow-server` once it
//! serves channels (spec/PROTOCOL.md, "Channels"): one socket, three
//! resources, each with live state, optimistic actions with rollback and
//! presence; a server restart resumes all three.
//!
//! NOT COMPILED YET: this file is not a test target (a `tests/`
//! subdirectory without `main.rs` is not picked up by Cargo), because
//! today's server announces no `Connected.channels`. To enable it when the
//! server lands, add to `ui-flow-client-tests/Cargo.toml`:
//!
//! ```toml
//! [[test]]
//! name = "channels_e2e"
//! path = "tests/pending/channels_e2e.rs"
//! ```
//!
//! and run `cargo test -p ui-flow-client-tests --test channels_e2e`.
//! Every wait is for an event, bounded by [`LIMIT`]; nothing measures time.

#![cfg(not(target_arch = "wasm32"))]

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use ui_flow::client::{ClientConfig, OpState, ResourceStatus};
use ui_flow::{ConnectionStatus, FlowConnection, ResourceHandle};
use ui_flow_client_tests::journal::{Entry, JournalAction, JournalModel};
use ui_flow_client_tests::server::TestServer;

/// The bound on any single wait: a test that needs longer has failed.
const LIMIT: Duration = Duration::from_secs(30);

const RESOURCES: [&str; 3] = ["chat", "inbox", "map"];

type Conn = FlowConnection<JournalModel>;
type Handle = ResourceHandle<JournalModel>;

fn fast() -> ClientConfig {
    ClientConfig {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(300),
        ..ClientConfig::default()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection to `board` and handles on the three resources, every
/// callback of which bumps one counter.
struct Page {
    conn: Conn,
    handles: Vec<Handle>,
    changes: watch::Receiver<u64>,
    /// Every state each handle's `on_shared_state` was given.
    shown: Vec<Arc<Mutex<Vec<Vec<u32>>>>>,
}

impl Page {
    fn open(server: &TestServer, user: &str) -> Page {
        let (tick, changes) = watch::channel(0u64);
        let tick = Arc::new(tick);
        let ticks = Arc::clone(&tick);
        let conn = Conn::builder()
            .url(server.direct_url("board", user))
            .config(fast())
            .on_event(move |_| ticks.send_modify(|n| *n += 1))
            .connect()
            .expect("connects");
        let mut handles = Vec::new();
        let mut shown = Vec::new();
        for resource in RESOURCES {
            let states = Arc::new(Mutex::new(Vec::new()));
            let keep = Arc::clone(&states);
            let (t1, t2, t3, t4) = (
                Arc::clone(&tick),
                Arc::clone(&tick),
                Arc::clone(&tick),
                Arc::clone(&tick),
            );
            let handle = conn
                .resource::<JournalModel>(resource)
                .on_shared_state(move |state| {
                    lock(&keep).push(state.entries.clone());
                    t1.send_modify(|n| *n += 1);
                })
                .on_status(move |_| t2.send_modify(|n| *n += 1))
                .on_action(move |_, _| t3.send_modify(|n| *n += 1))
                .on_presence(move |_| t4.send_modify(|n| *n += 1))
                .join()
                .expect("joins before Connected");
            handles.push(handle);
            shown.push(states);
        }
        Page {
            conn,
            handles,
            changes,
            shown,
        }
    }

    async fn until(&mut self, what: &str, done: impl Fn(&Page) -> bool) {
        let wait = async {
            while !done(self) {
                self.changes.changed().await.expect("the driver is alive");
            }
        };
        if tokio::time::timeout(LIMIT, wait).await.is_err() {
            let statuses: Vec<_> = self.handles.iter().map(Handle::status).collect();
            panic!(
                "never {what}: connection {:?}, resources {statuses:?}",
                self.conn.status()
            );
        }
    }

    async fn until_joined(&mut self) {
        self.until("every resource joined", |p| {
            p.conn.status().is_open()
                && p.handles
                    .iter()
                    .all(|h| h.status() == ResourceStatus::Joined && h.seq().is_some())
        })
        .await;
    }

    /// Waits until every handle shows its resource's journal on the server.
    async fn until_converged(&mut self, server: &TestServer) {
        let mut heads = Vec::new();
        for resource in RESOURCES {
            heads.push(server.head(resource).await);
        }
        self.until("every resource converged", |p| {
            p.handles
                .iter()
                .zip(&heads)
                .all(|(h, (journal, seq))| h.seq() == Some(*seq) && h.state() == *journal)
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_resources_share_one_socket_each_with_live_state() {
    let server = TestServer::start().await.expect("server starts");
    let mut page = Page::open(&server, "ann");
    page.until_joined().await;
    assert_eq!(
        server.connection_count(),
        1,
        "one socket for four resources"
    );

    for (i, resource) in RESOURCES.iter().enumerate() {
        for value in 0..5 {
            server.append(resource, 100 * i as u32 + value).await;
        }
    }
    page.until_converged(&server).await;
    for (i, handle) in page.handles.iter().enumerate() {
        let expected: Vec<u32> = (0..5).map(|v| 100 * i as u32 + v).collect();
        assert_eq!(handle.state().entries, expected, "{}", RESOURCES[i]);
    }
    assert_eq!(
        page.conn.state().entries,
        Vec::<u32>::new(),
        "the board is apart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_optimistic_action_on_one_resource_rolls_back_alone() {
    let server = TestServer::start().await.expect("server starts");
    let mut page = Page::open(&server, "ann");
    page.until_joined().await;
    let chat = page.handles[0].clone();
    let kept = chat
        .send_optimistic(JournalAction::Append { value: 7 }, Entry { value: 7 })
        .expect("sent");
    let refused = chat
        .send_optimistic(
            JournalAction::Reject {
                reason: "no".into(),
            },
            Entry { value: 99 },
        )
        .expect("sent");
    page.until("both settled and the refusal rolled back", |p| {
        matches!(chat.op(kept), Some(OpState::Ok { .. }))
            && matches!(chat.op(refused), Some(OpState::Err { .. }))
            && lock(&p.shown[0]).last() == Some(&vec![7])
    })
    .await;
    assert!(
        lock(&page.shown[0]).iter().any(|s| s.contains(&99)),
        "the refused change was shown first"
    );
    assert_eq!(server.head("chat").await.0.entries, [7]);
    for handle in &page.handles[1..] {
        assert_eq!(handle.state().entries, Vec::<u32>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_joined_resource_lists_its_own_users() {
    let server = TestServer::start().await.expect("server starts");
    let mut ann = Page::open(&server, "ann");
    ann.until_joined().await;
    // Bob opens the chat as his URL's resource, on a socket of his own.
    let (bob_tick, mut bob_changes) = watch::channel(0u64);
    let bob = Conn::builder()
        .url(server.direct_url("chat", "bob"))
        .config(fast())
        .on_event(move |_| bob_tick.send_modify(|n| *n += 1))
        .connect()
        .expect("connects");
    ann.until("ann's chat lists bob and herself", |p| {
        let mut users: Vec<String> = p.handles[0]
            .presence()
            .into_iter()
            .map(|u| u.user_id)
            .collect();
        users.sort();
        users == ["ann", "bob"]
    })
    .await;
    for handle in &ann.handles[1..] {
        let users: Vec<String> = handle.presence().into_iter().map(|u| u.user_id).collect();
        assert_eq!(users, ["ann"], "{}", handle.resource_id());
    }
    // Ann leaves the chat: bob's list loses her, her other resources stay.
    let chat = ann.handles.remove(0);
    drop(chat);
    let wait = async {
        loop {
            let users: Vec<String> = bob.presence().into_iter().map(|u| u.user_id).collect();
            if users == ["bob"] {
                return;
            }
            bob_changes.changed().await.expect("bob's driver is alive");
        }
    };
    tokio::time::timeout(LIMIT, wait)
        .await
        .expect("bob's chat lost ann");
    assert!(
        ann.handles
            .iter()
            .all(|h| h.status() == ResourceStatus::Joined)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_resumes_all_three_resources() {
    let mut server = TestServer::start().await.expect("server starts");
    let mut page = Page::open(&server, "ann");
    page.until_joined().await;
    for resource in RESOURCES {
        server.append(resource, 1).await;
    }
    page.until_converged(&server).await;

    server.stop().await;
    page.until("the connection was lost", |p| {
        matches!(p.conn.status(), ConnectionStatus::Reconnecting { .. })
    })
    .await;
    // Written while no server runs (a database's data stays).
    for resource in RESOURCES {
        server.append(resource, 2).await;
    }
    // An action queued on a joined resource while disconnected.
    let queued = page.handles[2]
        .send_action(JournalAction::Append { value: 3 })
        .expect("queued");
    server.restart().await.expect("server restarts");

    page.until_joined().await;
    page.until("the queued action settled", |p| {
        matches!(p.handles[2].op(queued), Some(OpState::Ok { .. }))
    })
    .await;
    page.until_converged(&server).await;
    assert_eq!(page.handles[0].state().entries, [1, 2]);
    assert_eq!(page.handles[1].state().entries, [1, 2]);
    assert_eq!(page.handles[2].state().entries, [1, 2, 3]);
    assert_eq!(server.connection_count(), 1, "still one socket");
}
