//! The server-owned resource log over real WebSockets on 127.0.0.1: commit
//! order under concurrency, failed commits, a failing store, the escape
//! hatch's seq check.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use common::{Client, Msg, Plain, TestServer, serve, spawn_adds, start};
use serde::{Deserialize, Serialize, Serializer};
use ui_flow::{FlowState, OpId};
use ui_flow_server::counter::{Counter, CounterDelta};
use ui_flow_server::hub::BroadcastError;
use ui_flow_server::store::{
    Checkpoint, Entry, Loaded, MemoryStore, OpRecord, Outcome, Store, StoreError,
};
use ui_flow_server::{
    ActionContext, ActionOutcome, CommitError, FlowHandler, FlowServer, ServerConfig,
    UnverifiedUserToken,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tasks_commit_a_thousand_deltas_and_twenty_clients_see_one_order() {
    let t = start(Counter, ServerConfig::default()).await;
    let mut clients = Vec::new();
    for i in 0..20 {
        let (client, joined) = Client::join(t.addr, "room", &format!("watcher{i}")).await;
        assert_eq!(joined.seq, 0);
        clients.push(client);
    }
    let committers: Vec<_> = (0..50)
        .map(|_| spawn_adds(t.server.session("room"), 20))
        .collect();
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut c| tokio::spawn(async move { c.seqs_until(1000).await }))
        .collect();
    let mut assigned = Vec::new();
    for task in committers {
        let mine = task.await.expect("committer");
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "one task's commits keep their order"
        );
        assigned.extend(mine);
    }
    assigned.sort_unstable();
    assert_eq!(
        assigned,
        (1..=1000).collect::<Vec<_>>(),
        "every commit got its own seq"
    );
    for reader in readers {
        let seen = reader.await.expect("reader");
        assert_eq!(
            seen,
            (1..=1000).collect::<Vec<_>>(),
            "in order, no gap, no repeat"
        );
    }
    let (value, head) = t
        .server
        .session("room")
        .read(|s, seq| (s.value, seq))
        .await
        .expect("read");
    assert_eq!((value, head), (1000, 1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_joining_during_a_burst_gets_a_snapshot_and_then_every_later_delta() {
    let t = start(Counter, ServerConfig::default()).await;
    let session = t.server.session("room");
    let burst = tokio::spawn(async move {
        for _ in 0..500 {
            session
                .commit(CounterDelta { add: 2 })
                .await
                .expect("commit");
        }
    });
    let (mut late, joined) = Client::join(t.addr, "room", "late").await;
    let Msg::Snapshot { state, seq, .. } = &joined.sync else {
        panic!("a snapshot, got {:?}", joined.sync);
    };
    assert_eq!(
        state["value"].as_i64(),
        Some(2 * *seq as i64),
        "the snapshot is the state at its seq"
    );
    let from = *seq;
    burst.await.expect("burst");
    if from < 500 {
        let seen = late.seqs_until(500).await;
        assert_eq!(seen, (from + 1..=500).collect::<Vec<_>>());
    }
}

/// A delta that refuses to encode when asked to.
#[derive(Debug, Clone, Deserialize)]
struct Fragile {
    add: i64,
    #[serde(default)]
    poison: bool,
}

impl Serialize for Fragile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.poison {
            return Err(serde::ser::Error::custom("this delta does not encode"));
        }
        #[derive(Serialize)]
        struct Plain {
            add: i64,
        }
        Plain { add: self.add }.serialize(s)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Sum {
    value: i64,
}

impl FlowState for Sum {
    type Delta = Fragile;
    fn apply_delta(&mut self, d: Fragile) {
        self.value += d.add;
    }
}

struct Sums;

/// The types of the fragile-delta handler.
struct SumsModel;

impl ui_flow::Model for SumsModel {
    type State = Sum;
    type Delta = Fragile;
    type Event = ();
    type Action = ();
}

#[async_trait]
impl FlowHandler for Sums {
    type Model = SumsModel;

    async fn handle_action(&self, _: &ActionContext<Self>, _: ()) -> ActionOutcome {
        ActionOutcome::ok()
    }
}

#[tokio::test]
async fn a_delta_that_does_not_encode_is_an_error_to_its_caller_and_is_never_sent() {
    let t = start(Sums, ServerConfig::default()).await;
    let (mut watcher, _) = Client::join(t.addr, "room", "w").await;
    let session = t.server.session("room");
    let bad = vec![
        Fragile {
            add: 1,
            poison: false,
        },
        Fragile {
            add: 5,
            poison: true,
        },
    ];
    let refused = session.commit_all(bad).await;
    assert!(
        matches!(refused, Err(CommitError::Encode(_))),
        "{refused:?}"
    );
    assert_eq!(
        session.position().await.expect("log").1,
        0,
        "nothing of the batch was committed"
    );
    let seq = session
        .commit(Fragile {
            add: 3,
            poison: false,
        })
        .await
        .expect("commit");
    assert_eq!(seq, 1);
    match watcher
        .recv_until(|m| matches!(m, Msg::Delta { .. } | Msg::Deltas { .. }))
        .await
    {
        Msg::Delta { seq, delta, .. } => {
            assert_eq!(seq, 1);
            assert_eq!(delta["add"].as_i64(), Some(3));
        }
        other => panic!("{other:?}"),
    }
}

/// A store whose appends fail while `down` is set.
struct Flaky {
    inner: MemoryStore,
    down: Arc<AtomicBool>,
}

#[async_trait]
impl Store for Flaky {
    async fn load(&self, resource: &str) -> Result<Option<Loaded>, StoreError> {
        self.inner.load(resource).await
    }
    async fn create(&self, resource: &str, checkpoint: Checkpoint) -> Result<(), StoreError> {
        self.inner.create(resource, checkpoint).await
    }
    async fn append(
        &self,
        resource: &str,
        entries: Vec<Entry>,
        ops: Vec<OpRecord>,
    ) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Io("the disk is gone".into()));
        }
        self.inner.append(resource, entries, ops).await
    }
    async fn entries(
        &self,
        resource: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.inner.entries(resource, after, limit).await
    }
    async fn checkpoint(
        &self,
        resource: &str,
        c: Checkpoint,
        keep_from: u64,
    ) -> Result<(), StoreError> {
        self.inner.checkpoint(resource, c, keep_from).await
    }
    async fn outcome(
        &self,
        resource: &str,
        user: &str,
        op_id: OpId,
    ) -> Result<Option<Outcome>, StoreError> {
        self.inner.outcome(resource, user, op_id).await
    }
    async fn forget_ops(&self, resource: &str, before: u64) -> Result<(), StoreError> {
        self.inner.forget_ops(resource, before).await
    }
    async fn remove(&self, resource: &str) -> Result<(), StoreError> {
        self.inner.remove(resource).await
    }
}

#[tokio::test]
async fn a_commit_the_store_does_not_keep_is_not_sent_and_the_log_reloads_from_the_store() {
    let down = Arc::new(AtomicBool::new(false));
    let store = Flaky {
        inner: MemoryStore::new(),
        down: down.clone(),
    };
    let server =
        FlowServer::with_store(Counter, UnverifiedUserToken, ServerConfig::default(), store);
    let TestServer { server, addr } = serve(server).await;

    let session = server.session("room");
    let (mut watcher, _) = Client::join(addr, "room", "w").await;
    assert_eq!(
        session
            .commit(CounterDelta { add: 1 })
            .await
            .expect("commit"),
        1
    );
    down.store(true, Ordering::SeqCst);
    let failed = session.commit(CounterDelta { add: 100 }).await;
    assert!(matches!(failed, Err(CommitError::Store(_))), "{failed:?}");
    down.store(false, Ordering::SeqCst);
    assert_eq!(
        session
            .commit(CounterDelta { add: 10 })
            .await
            .expect("commit"),
        2
    );
    let value = session.read(|s, _| s.value).await.expect("read");
    assert_eq!(value, 11, "the failed delta was never applied");
    let mut sent = Vec::new();
    while sent.len() < 2 {
        if let Msg::Delta { seq, delta, .. } = watcher.recv().await {
            sent.push((seq, delta["add"].as_i64()));
        }
    }
    assert_eq!(
        sent,
        [(1, Some(1)), (2, Some(10))],
        "the failed commit never reached a client"
    );
}

#[tokio::test]
async fn an_app_owned_broadcast_that_does_not_follow_the_head_is_refused() {
    let t = start(Plain::default(), ServerConfig::default()).await;
    let (_watcher, joined) = Client::join(t.addr, "room", "w").await;
    assert_eq!(joined.seq, 0);
    let session = t.server.session("room");
    assert_eq!(t.push("room", "one"), 1);
    let skipped = session.broadcast_delta(&"three".to_owned(), 3);
    assert!(
        matches!(
            skipped,
            Err(BroadcastError::OutOfOrder {
                expected: 2,
                got: 3
            })
        ),
        "{skipped:?}"
    );
    let repeated = session.broadcast_delta(&"one again".to_owned(), 1);
    assert!(matches!(repeated, Err(BroadcastError::OutOfOrder { .. })));
    let committed = session.commit("nope".to_owned()).await;
    assert!(
        matches!(committed, Err(CommitError::AppOwnedState)),
        "the escape hatch has no log"
    );
}

async fn act(client: &mut Client, op_id: OpId, amount: i64) -> Msg {
    client
        .send(&ui_flow::ClientMessage::Action {
            op_id,
            action: ui_flow_server::counter::CounterAction::Add { amount },
        })
        .await;
    client
        .recv_until(|m| matches!(m, Msg::ActionOk { op_id: o, .. } | Msg::ActionErr { op_id: o, .. } if *o == op_id))
        .await
}

#[tokio::test]
async fn another_users_actions_never_push_out_a_victims_outcome_so_a_retry_never_runs_twice() {
    let mut config = ServerConfig::default();
    config.op_memory = (3, std::time::Duration::from_secs(600));
    let t = start(Counter, config).await;
    let (mut victim, _) = Client::join(t.addr, "room", "victim").await;
    let op = OpId::new();
    let first = act(&mut victim, op, 1).await;
    assert!(matches!(first, Msg::ActionOk { .. }), "{first:?}");

    // The flooder stays within every rate limit and fills only its own memory.
    let (mut flooder, _) = Client::join(t.addr, "room", "flooder").await;
    let mut refused = 0;
    for _ in 0..10 {
        match act(&mut flooder, OpId::new(), 1000).await {
            Msg::ActionOk { .. } => {}
            Msg::ActionErr { code, .. } => {
                assert_eq!(code.as_deref(), Some("too_many_actions"));
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(refused, 7, "three actions fit the flooder's own memory");

    // The victim reconnects and retries: the first outcome, not a second run.
    drop(victim);
    let (mut again, _) = Client::join(t.addr, "room", "victim").await;
    let retried = act(&mut again, op, 1).await;
    assert_eq!(retried, first, "the same answer as the first run");
    let value = t
        .server
        .session("room")
        .read(|s, _| s.value)
        .await
        .expect("read");
    assert_eq!(value, 1 + 3 * 1000, "the victim's action ran once");
}
