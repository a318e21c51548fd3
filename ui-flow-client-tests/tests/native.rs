//! The native driver against a real ui-flow-server over real sockets on
//! 127.0.0.1: restarts, cut and silent connections, actions, notifications
//! and presence. Every wait is for an event, bounded by [`LIMIT`]; nothing
//! here measures time.

#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use ui_flow::client::{ClientConfig, Event, OpState};
use ui_flow::{CloseCode, CloseReason, ConnectionStatus, ErrorCode, FlowConnection, OpId};
use ui_flow_client_tests::journal::{
    Appended, DOMAIN, Entry, Journal, JournalAction, JournalModel,
};
use ui_flow_client_tests::server::TestServer;

/// The bound on any single wait: a test that needs longer has failed.
const LIMIT: Duration = Duration::from_secs(30);

type Conn = FlowConnection<JournalModel>;

/// Quick retries so a test spends its time on behaviour, not on waiting.
fn fast() -> ClientConfig {
    ClientConfig {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(300),
        ..ClientConfig::default()
    }
}

/// What one client saw, from its events.
#[derive(Debug, Default)]
struct Seen {
    /// The state rebuilt from Snapshot and Delta events alone.
    mirror: Vec<u32>,
    seq: Option<u64>,
    /// Deltas that did not follow the seq before them.
    violations: Vec<String>,
    statuses: Vec<ConnectionStatus>,
    outcomes: HashMap<OpId, Vec<OpState>>,
    notes: Vec<(Appended, Option<OpId>)>,
    /// Every state shown (`on_state`).
    shown: Vec<Vec<u32>>,
}

impl Seen {
    fn record(&mut self, event: &Event<Journal, Appended>) {
        match event {
            Event::Snapshot { state, seq, .. } => {
                self.mirror = state.entries.clone();
                self.seq = Some(*seq);
            }
            Event::Delta { delta, seq } => {
                if self.seq.map(|s| s + 1) != Some(*seq) {
                    self.violations
                        .push(format!("delta {seq} after {:?}", self.seq));
                }
                self.mirror.push(delta.value);
                self.seq = Some(*seq);
            }
            Event::Status(status) => self.statuses.push(status.clone()),
            Event::Action { op_id, state } if state.is_settled() => {
                self.outcomes.entry(*op_id).or_default().push(state.clone());
            }
            Event::Notify {
                event,
                correlation_id,
                ..
            } => self.notes.push((event.clone(), *correlation_id)),
            _ => {}
        }
    }

    fn reconnects(&self) -> usize {
        self.statuses
            .iter()
            .filter(|s| matches!(s, ConnectionStatus::Reconnecting { .. }))
            .count()
    }
}

/// A connection and what it saw, with a way to wait for what comes next.
struct Probe {
    conn: Conn,
    seen: Arc<Mutex<Seen>>,
    changes: watch::Receiver<u64>,
    issued: Vec<(OpId, u32)>,
}

impl Probe {
    fn connect(url: String, config: ClientConfig, domains: &[&str]) -> Probe {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (tick, changes) = watch::channel(0u64);
        let tick = Arc::new(tick);
        let (record, shown) = (Arc::clone(&seen), Arc::clone(&seen));
        let (ticks, state_ticks) = (Arc::clone(&tick), tick);
        let conn = Conn::builder()
            .url(url)
            .config(config)
            .subscribe(domains.iter().copied())
            .on_event(move |event| {
                lock(&record).record(event);
                ticks.send_modify(|n| *n += 1);
            })
            .on_state(move |state| {
                lock(&shown).shown.push(state.entries.clone());
                state_ticks.send_modify(|n| *n += 1);
            })
            .connect()
            .expect("connects");
        Probe {
            conn,
            seen,
            changes,
            issued: Vec::new(),
        }
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        lock(&self.seen)
    }

    /// Waits until `done` holds, re-checking after each event.
    async fn until(&mut self, what: &str, done: impl Fn(&Probe) -> bool) {
        let wait = async {
            while !done(self) {
                self.changes.changed().await.expect("the driver is alive");
            }
        };
        if tokio::time::timeout(LIMIT, wait).await.is_err() {
            panic!(
                "never {what}: status {:?}, seq {:?}, seen {:?}",
                self.conn.status(),
                self.conn.seq(),
                self.seen()
            );
        }
    }

    /// Waits until the client holds `seq` and every action it sent settled.
    async fn until_synced(&mut self, seq: u64) {
        self.until(&format!("synced at seq {seq}"), |p| {
            p.conn.status().is_open()
                && p.conn.seq() == Some(seq)
                && p.seen().seq == Some(seq)
                && p.issued
                    .iter()
                    .all(|(op, _)| p.seen().outcomes.contains_key(op))
        })
        .await;
    }

    fn append(&mut self, value: u32) {
        let op = self
            .conn
            .send_action(JournalAction::Append { value })
            .expect("accepted");
        self.issued.push((op, value));
    }

    /// The client ended exactly at the server's journal, saw every delta
    /// once and in order, and each action settled once, successfully.
    fn assert_converged(&self, journal: &Journal) {
        let seen = self.seen();
        assert_eq!(seen.violations, Vec::<String>::new(), "a gap or a repeat");
        assert_eq!(&seen.mirror, &journal.entries, "rebuilt from events");
        assert_eq!(&self.conn.state(), journal, "the state to show");
        for (op, value) in &self.issued {
            let outcomes = &seen.outcomes[op];
            assert_eq!(outcomes.len(), 1, "op for {value} settled {outcomes:?}");
            assert!(matches!(outcomes[0], OpState::Ok { .. }), "{outcomes:?}");
            let copies = journal.entries.iter().filter(|v| *v == value).count();
            assert_eq!(copies, 1, "{value} applied {copies} times");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_converges_after_the_server_restarts_mid_stream() {
    let mut server = TestServer::start().await.expect("server starts");
    let room = "restart";
    let mut probes: Vec<Probe> = ["alice", "bob", "carol"]
        .iter()
        .map(|user| Probe::connect(server.direct_url(room, user), fast(), &[]))
        .collect();
    for p in &mut probes {
        p.until_synced(0).await;
    }

    // Live traffic: the app appends while every client acts.
    let mut value = 0;
    for round in 0..4u32 {
        for (i, p) in probes.iter_mut().enumerate() {
            p.append(1000 * (i as u32 + 1) + round);
        }
        for _ in 0..10 {
            value += 1;
            server.append(room, value).await;
        }
    }

    // The server goes away mid-stream; the data (a database) stays.
    server.stop().await;
    for p in &mut probes {
        p.until("saw the server go", |p| p.seen().reconnects() > 0)
            .await;
    }
    for (i, p) in probes.iter_mut().enumerate() {
        p.append(1000 * (i as u32 + 1) + 50); // queued while disconnected
    }
    for v in 500..510 {
        server.append(room, v).await; // written while no server runs
    }

    // A new incarnation on the same port; traffic goes on.
    server.restart().await.expect("the port is free again");
    for round in 60..62u32 {
        for (i, p) in probes.iter_mut().enumerate() {
            p.append(1000 * (i as u32 + 1) + round);
        }
        for v in 0..5 {
            server.append(room, 700 + round * 10 + v).await;
        }
    }

    // 60 appends by the app, 7 actions by each of 3 clients.
    let seq = 60 + 3 * 7;
    for p in &mut probes {
        p.until_synced(seq).await;
    }
    let (journal, head) = server.head(room).await;
    assert_eq!(head, seq);
    for p in &probes {
        p.assert_converged(&journal);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_is_replaced_and_resynced() {
    let server = TestServer::start().await.expect("server starts");
    let room = "cut";
    let mut a = Probe::connect(server.url(room, "alice"), fast(), &[]);
    let mut b = Probe::connect(server.url(room, "bob"), fast(), &[]);
    a.until_synced(0).await;
    b.until_synced(0).await;
    for v in 1..=5 {
        server.append(room, v).await;
    }
    server.cut();
    for v in 6..=10 {
        server.append(room, v).await; // some land on dead sockets
    }
    a.append(100);
    b.append(200);
    for p in [&mut a, &mut b] {
        p.until("reconnected", |p| p.seen().reconnects() > 0).await;
        p.until_synced(12).await;
    }
    let (journal, _) = server.head(room).await;
    assert_eq!(journal.entries[..10], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    a.assert_converged(&journal);
    b.assert_converged(&journal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_given_up_and_replaced() {
    let server = TestServer::start().await.expect("server starts");
    let room = "silent";
    let config = ClientConfig {
        ping_interval: Duration::from_millis(200),
        liveness_grace: Duration::from_millis(200),
        ..fast()
    };
    let mut a = Probe::connect(server.url(room, "alice"), config, &[]);
    a.until_synced(0).await;
    server.freeze();
    for v in 1..=3 {
        server.append(room, v).await; // queued on a socket that no longer moves
    }
    a.until("gave up the silent socket", |p| p.seen().reconnects() > 0)
        .await;
    let (journal, seq) = server.head(room).await;
    a.until_synced(seq).await;
    a.assert_converged(&journal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_resolve_once_through_a_server_cut_of_their_own_connection() {
    let server = TestServer::start().await.expect("server starts");
    let room = "self-cut";
    let mut a = Probe::connect(server.url(room, "alice"), fast(), &[]);
    a.until_synced(0).await;
    let cut = a
        .conn
        .send_action(JournalAction::CutConnections)
        .expect("accepted");
    a.append(1);
    a.until("got the cut's outcome", |p| {
        p.seen().outcomes.contains_key(&cut)
    })
    .await;
    a.until_synced(1).await;
    assert!(a.seen().reconnects() > 0);
    assert_eq!(a.seen().outcomes[&cut].len(), 1);
    a.assert_converged(&server.head(room).await.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_action_rolls_back_exactly_its_optimistic_change() {
    let server = TestServer::start().await.expect("server starts");
    let room = "optimistic";
    let mut a = Probe::connect(server.url(room, "alice"), fast(), &[]);
    a.until_synced(0).await;
    server.append(room, 1).await;
    a.until_synced(1).await;
    let bad = a
        .conn
        .send_optimistic(
            JournalAction::Reject {
                reason: "no".into(),
            },
            Entry { value: 99 },
        )
        .expect("accepted");
    let good = a
        .conn
        .send_optimistic(JournalAction::Append { value: 2 }, Entry { value: 2 })
        .expect("accepted");
    a.until("both settled", |p| {
        let seen = p.seen();
        seen.outcomes.contains_key(&bad) && seen.outcomes.contains_key(&good)
    })
    .await;
    assert!(matches!(
        &a.seen().outcomes[&bad][..],
        [OpState::Err { code: Some(code), .. }] if code == "rejected"
    ));
    // The change was shown (the state is copied for on_state in the same
    // step that sends the action, before any answer can exist), then
    // exactly it was taken back.
    assert!(
        a.seen().shown.iter().any(|s| s.starts_with(&[1, 99])),
        "{:?}",
        a.seen().shown
    );
    assert_eq!(a.conn.state().entries, [1, 2]);
    a.until("showed the rollback", |p| {
        p.seen().shown.last().map(Vec::as_slice) == Some(&[1, 2][..])
    })
    .await;
    assert_eq!(a.conn.state(), server.head(room).await.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_subscribers_and_presence_lists_everyone() {
    let server = TestServer::start().await.expect("server starts");
    let room = "notify";
    let mut a = Probe::connect(server.url(room, "alice"), fast(), &[DOMAIN]);
    let mut b = Probe::connect(server.url(room, "bob"), fast(), &[]);
    a.until_synced(0).await;
    b.until_synced(0).await;
    a.until("saw both users", |p| {
        let mut users: Vec<_> = p.conn.presence().into_iter().map(|u| u.user_id).collect();
        users.sort();
        users == ["alice", "bob"]
    })
    .await;

    // Alice's own action settling proves her subscription is in force (a
    // connection's frames are handled in order).
    a.append(1);
    a.until_synced(1).await;
    b.append(2);
    let (bobs, _) = b.issued[0];
    a.until("got bob's notification", |p| p.seen().notes.len() == 2)
        .await;
    assert_eq!(
        a.seen().notes[1],
        (
            Appended {
                by: "bob".into(),
                value: 2
            },
            Some(bobs)
        )
    );

    // Bob, not subscribed, got nothing so far; subscribed now, he gets the
    // note of his next action, and no earlier one would come after it.
    b.conn.subscribe([DOMAIN]).expect("open");
    b.append(3);
    b.until_synced(3).await;
    b.until("got his own notification", |p| !p.seen().notes.is_empty())
        .await;
    assert_eq!(b.seen().notes.len(), 1);
    assert_eq!(b.seen().notes[0].0.value, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_closes_for_good() {
    let server = TestServer::start().await.expect("server starts");
    let url = server.url("closed", "alice").replace("?token=alice", "");
    let mut a = Probe::connect(url, fast(), &[]);
    a.until("closed", |p| {
        matches!(p.conn.status(), ConnectionStatus::Closed { .. })
    })
    .await;
    let reason = match a.conn.status() {
        ConnectionStatus::Closed { reason } => reason,
        other => panic!("{other:?}"),
    };
    assert!(
        matches!(
            &reason,
            CloseReason::Fatal { code: Some(code), .. } if *code == ErrorCode::UNAUTHORIZED
        ) || matches!(
            &reason,
            CloseReason::Final { code, .. } if *code == CloseCode::UNAUTHORIZED
        ),
        "{reason:?}"
    );
    assert_eq!(a.seen().reconnects(), 0, "never retried");
    assert!(
        a.conn
            .send_action(JournalAction::Append { value: 1 })
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_can_travel_in_the_subprotocol_header_instead_of_the_url() {
    let server = TestServer::start().await.expect("server starts");
    let url = server
        .url("header", "ignored")
        .replace("?token=ignored", "");
    let seen = Arc::new(Mutex::new(None));
    let user = Arc::clone(&seen);
    let (tick, mut changes) = watch::channel(());
    let conn = Conn::builder()
        .url(url.clone())
        .token("dora.the-explorer_1")
        .on_event(move |event| {
            if let Event::Connected { user_id, .. } = event {
                *lock(&user) = user_id.clone();
                tick.send_replace(());
            }
        })
        .connect()
        .expect("connects");
    tokio::time::timeout(LIMIT, changes.changed())
        .await
        .expect("connected in time")
        .expect("driver alive");
    assert_eq!(lock(&seen).as_deref(), Some("dora.the-explorer_1"));
    conn.close();

    let refused = Conn::builder().url(url).token("no spaces").connect();
    assert!(matches!(
        refused.err(),
        Some(ui_flow::Error::Misuse(ui_flow::ApiMisuse::Config(_)))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_that_is_not_a_websocket_url_fails_at_connect() {
    for bad in ["not a url", "http://127.0.0.1:9/realtime/r", "ws://", ""] {
        let result = Conn::builder().url(bad).connect();
        match result.err() {
            Some(ui_flow::Error::Misuse(ui_flow::ApiMisuse::Config(message))) => {
                assert!(message.contains("WebSocket URL"), "{bad:?}: {message}");
            }
            other => panic!("{bad:?}: expected a configuration error, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_refused_with_404_closes_for_good() {
    let server = TestServer::start().await.expect("server starts");
    let url = server
        .direct_url("r", "alice")
        .replace("/realtime/", "/no-such-endpoint/");
    let mut a = Probe::connect(url, fast(), &[]);
    a.until("closed", |p| {
        matches!(p.conn.status(), ConnectionStatus::Closed { .. })
    })
    .await;
    assert_eq!(
        a.conn.status(),
        ConnectionStatus::Closed {
            reason: CloseReason::Refused { status: 404 }
        }
    );
    assert_eq!(a.seen().reconnects(), 0, "never retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_provider_is_asked_before_every_reconnect() {
    let server = TestServer::start().await.expect("server starts");
    let url = server.url("refresh", "x").replace("?token=x", "");
    let asked = Arc::new(Mutex::new(0u32));
    let count = Arc::clone(&asked);
    let users = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&users);
    let (tick, mut changes) = watch::channel(0usize);
    let conn = Conn::builder()
        .url(url)
        .config(fast())
        .token_provider(move || {
            let mut n = lock(&count);
            *n += 1;
            Some(format!("user-{n}"))
        })
        .on_event(move |event| {
            if let Event::Connected { user_id, .. } = event {
                let mut users = lock(&seen);
                users.push(user_id.clone().unwrap_or_default());
                tick.send_replace(users.len());
            }
        })
        .connect()
        .expect("connects");
    tokio::time::timeout(LIMIT, changes.wait_for(|n| *n == 1))
        .await
        .expect("connected in time")
        .expect("driver alive");
    server.cut();
    tokio::time::timeout(LIMIT, changes.wait_for(|n| *n == 2))
        .await
        .expect("reconnected in time")
        .expect("driver alive");
    let users = lock(&users).clone();
    // Each dial asked again; the server saw the fresh token each time.
    assert_eq!(users.first().map(String::as_str), Some("user-1"));
    assert_eq!(users.last(), Some(&format!("user-{}", lock(&asked))));
    assert_ne!(users[0], users[1]);
    conn.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_closes_the_connection() {
    let server = TestServer::start().await.expect("server starts");
    let (tick, mut statuses) = watch::channel(ConnectionStatus::Connecting);
    let conn = Conn::builder()
        .url(server.url("dropped", "alice"))
        .on_status(move |status| {
            tick.send_replace(status.clone());
        })
        .connect()
        .expect("connects");
    let open = tokio::time::timeout(LIMIT, statuses.wait_for(ConnectionStatus::is_open));
    open.await.expect("opened in time").expect("driver alive");
    let copy = conn.clone();
    drop(conn);
    assert!(copy.status().is_open(), "a clone keeps it open");
    drop(copy);
    let closed = tokio::time::timeout(
        LIMIT,
        statuses.wait_for(|s| {
            *s == ConnectionStatus::Closed {
                reason: CloseReason::Requested,
            }
        }),
    );
    closed.await.expect("closed in time").expect("status sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_may_call_back_into_the_connection() {
    let server = TestServer::start().await.expect("server starts");
    let slot: Arc<Mutex<Option<Conn>>> = Arc::default();
    let from_callback = Arc::clone(&slot);
    let (tick, mut settled) = watch::channel(None);
    let conn = Conn::builder()
        .url(server.url("reentrant", "alice"))
        .on_event(move |_| {
            // Runs on the driver task, with the client unlocked.
            if let Some(conn) = lock(&from_callback).take() {
                let _ = conn.status(); // a read, then a command
                conn.send_action(JournalAction::Append { value: 42 })
                    .expect("accepted");
            }
        })
        .on_action(move |_, state| {
            if state.is_settled() {
                tick.send_replace(Some(state.clone()));
            }
        })
        .connect()
        .expect("connects");
    // The callback gets a clone (taken and dropped after one use, so it does
    // not keep the connection alive).
    *lock(&slot) = Some(conn.clone());
    // Any later event fires the callback; a presence report brings a Pong
    // (a latency event) at the latest.
    conn.set_presence(Some(ui_flow::PresenceStatus::Idle));
    let done = tokio::time::timeout(LIMIT, settled.wait_for(Option::is_some));
    let outcome = done.await.expect("settled in time").expect("sent").clone();
    assert!(matches!(outcome, Some(OpState::Ok { .. })), "{outcome:?}");
    assert_eq!(server.head("reentrant").await.0.entries, [42]);
    conn.close();
}

thread_local! {
    /// What the running connection's state scope set (0 outside any).
    static SCOPE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A journal that records, per delta, what the state scope said while the
/// delta was applied: the per-connection context a `FlowState` cannot get
/// through the trait.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
struct Scoped(Journal);

impl ui_flow::FlowState for Scoped {
    type Delta = Entry;

    fn apply_delta(&mut self, delta: Entry) {
        let context = SCOPE.with(std::cell::Cell::get);
        self.0.entries.push(delta.value * 1000 + context);
    }
}

/// The journal's payload types with the scoped state.
struct ScopedModel;

impl ui_flow::Model for ScopedModel {
    type State = Scoped;
    type Delta = Entry;
    type Action = JournalAction;
    type Event = Appended;
}

/// What the two scoped connections reported: snapshots, and every state
/// shown.
#[derive(Debug, Default)]
struct ScopedSeen {
    snapshots: usize,
    shown: Vec<u32>,
}

/// The builder's `state_scope` runs around every input that may apply a
/// delta (ui-flow-js's per-client `applyDelta` depends on it): two
/// connections with different scopes each apply the server's deltas in
/// their own context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_connection_applies_deltas_inside_its_own_state_scope() {
    let server = TestServer::start().await.expect("server starts");
    let url = server.direct_url("scoped", "alice");
    let (tick, mut changes) = watch::channel(ScopedSeen::default());
    let tick = Arc::new(tick);
    let connect = |context: u32| {
        let (snapshots, states) = (Arc::clone(&tick), Arc::clone(&tick));
        FlowConnection::<ScopedModel>::builder()
            .url(url.clone())
            .config(fast())
            .state_scope(move |work| {
                let outer = SCOPE.with(|s| s.replace(context));
                work();
                SCOPE.with(|s| s.set(outer));
            })
            .on_snapshot(move |_, _| snapshots.send_modify(|seen| seen.snapshots += 1))
            .on_state(move |state: &Scoped| {
                states.send_modify(|seen| seen.shown.extend(&state.0.entries));
            })
            .connect()
            .expect("connects")
    };
    let (one, two) = (connect(1), connect(2));
    tokio::time::timeout(LIMIT, changes.wait_for(|seen| seen.snapshots == 2))
        .await
        .expect("both snapshots within the limit")
        .expect("the watch lives");
    for value in [7, 8] {
        server.append("scoped", value).await;
        let want = [value * 1000 + 1, value * 1000 + 2];
        tokio::time::timeout(
            LIMIT,
            changes.wait_for(|seen| want.iter().all(|w| seen.shown.contains(w))),
        )
        .await
        .unwrap_or_else(|_| panic!("{value} applied in both scopes within the limit"))
        .expect("the watch lives");
    }
    assert_eq!(one.state().0.entries, [7001, 8001]);
    assert_eq!(two.state().0.entries, [7002, 8002]);
    one.close();
    two.close();
}
