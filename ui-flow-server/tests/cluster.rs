//! Several nodes on one real nats-server (JetStream in a temporary
//! directory, a loopback port): one order per resource, actions run once
//! across nodes, nothing acknowledged lost when NATS restarts.
//!
//! The nodes here are `FlowServer`s in one process, each with its own NATS
//! connection, store, logs, hub and listening socket: what orders commits
//! (JetStream's expected-last-subject-sequence check) and what carries them
//! between nodes (the follow feeds) are the same as across processes, and
//! one process lets the test read every node's seqs. A node killed with -9
//! needs processes: `examples/demo/server/tests/cluster.rs` does that.
#![cfg(feature = "nats")]

mod common;

use std::time::Duration;

use common::{Client, Msg, STUCK, TestServer, serve, spawn_adds};
use ui_flow::OpId;
use ui_flow_nats_harness::NatsServer;
use ui_flow_server::counter::{Counter, CounterAction, CounterDelta};
use ui_flow_server::nats::{JetStreamStore, NatsConfig};
use ui_flow_server::store::Store;
use ui_flow_server::{FlowServer, ServerConfig, UnverifiedUserToken};

async fn store(nats: &NatsServer) -> JetStreamStore {
    JetStreamStore::connect(NatsConfig::new(nats.url()).prefix("cluster"))
        .await
        .expect("connect to nats")
}

async fn node(nats: &NatsServer) -> TestServer<Counter> {
    let store = store(nats).await;
    serve(FlowServer::with_store(
        Counter,
        UnverifiedUserToken,
        ServerConfig::default(),
        store,
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_three_nodes_see_every_commit_of_all_nodes_in_one_order() {
    let nats = NatsServer::start().expect("nats-server");
    let nodes = [node(&nats).await, node(&nats).await, node(&nats).await];
    let mut clients = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for i in 0..2 {
            let (client, joined) =
                Client::join(node.addr, "room", &format!("watcher{n}-{i}")).await;
            assert_eq!(joined.seq, 0);
            clients.push((client, joined.epoch));
        }
    }
    let epoch = clients[0].1;
    assert!(
        clients.iter().all(|(_, e)| *e == epoch),
        "one log, one epoch on every node"
    );
    // 3 nodes x 3 tasks x 20 commits, all racing for the same seqs.
    const TOTAL: u64 = 180;
    let committers: Vec<_> = nodes
        .iter()
        .flat_map(|node| (0..3).map(|_| spawn_adds(node.server.session("room"), 20)))
        .collect();
    let readers: Vec<_> = clients
        .into_iter()
        .map(|(mut c, _)| {
            tokio::spawn(async move {
                tokio::time::timeout(STUCK * 3, c.seqs_until(TOTAL))
                    .await
                    .expect("a client stalled")
            })
        })
        .collect();
    let mut assigned = Vec::new();
    for task in committers {
        let mine = task.await.expect("committer");
        assert!(mine.windows(2).all(|w| w[0] < w[1]));
        assigned.extend(mine);
    }
    assigned.sort_unstable();
    assert_eq!(
        assigned,
        (1..=TOTAL).collect::<Vec<_>>(),
        "every commit got its own seq, across nodes"
    );
    for reader in readers {
        assert_eq!(
            reader.await.expect("reader"),
            (1..=TOTAL).collect::<Vec<_>>(),
            "in order, no gap, no repeat, whichever node made each commit"
        );
    }
    for node in &nodes {
        let (value, seq) = node
            .server
            .session("room")
            .read(|s, seq| (s.value, seq))
            .await
            .expect("read");
        assert_eq!(
            (value, seq),
            (TOTAL as i64, TOTAL),
            "every node has the state"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transact_on_two_nodes_decides_on_the_latest_state() {
    let nats = NatsServer::start().expect("nats-server");
    let nodes = [node(&nats).await, node(&nats).await];
    // A watcher per node tells when that node has applied every commit (the
    // other node's reach it through its follower, a moment later).
    let mut watchers = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let (client, joined) = Client::join(node.addr, "capped", &format!("watcher{n}")).await;
        assert_eq!(joined.seq, 0);
        watchers.push(client);
    }
    // Both nodes try to take the counter from 0 to 50, one step at a time,
    // refusing beyond 50: a decide run on a stale state would overshoot.
    let tasks: Vec<_> = nodes
        .iter()
        .map(|node| {
            let session = node.server.session("capped");
            tokio::spawn(async move {
                let (mut took, mut refused) = (0, 0);
                for _ in 0..40 {
                    let result = session
                        .transact(|s| {
                            if s.value >= 50 {
                                return Err("full");
                            }
                            Ok(vec![CounterDelta { add: 1 }])
                        })
                        .await;
                    match result {
                        Ok(Some(_)) => took += 1,
                        Err(ui_flow_server::TransactError::Refused(_)) => refused += 1,
                        other => panic!("{other:?}"),
                    }
                }
                (took, refused)
            })
        })
        .collect();
    let mut took = 0;
    for task in tasks {
        took += task.await.expect("task").0;
    }
    assert_eq!(took, 50, "exactly 50 steps were taken over both nodes");
    for mut watcher in watchers {
        let seen = tokio::time::timeout(STUCK, watcher.seqs_until(50))
            .await
            .expect("a node stalled");
        assert_eq!(seen, (1..=50).collect::<Vec<_>>());
    }
    for node in &nodes {
        let value = node
            .server
            .session("capped")
            .read(|s, _| s.value)
            .await
            .expect("read");
        assert_eq!(value, 50);
    }
}

async fn act(client: &mut Client, op_id: OpId, amount: i64) -> Msg {
    client
        .send(&ui_flow::ClientMessage::Action {
            op_id,
            action: CounterAction::Add { amount },
        })
        .await;
    client
        .recv_until(|m| matches!(m, Msg::ActionOk { op_id: o, .. } | Msg::ActionErr { op_id: o, .. } if *o == op_id))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_retried_on_another_node_gets_its_first_outcome_and_does_not_run_again() {
    let nats = NatsServer::start().expect("nats-server");
    let (a, b) = (node(&nats).await, node(&nats).await);
    let (mut on_a, _) = Client::join(a.addr, "room", "ann").await;
    let op = OpId::new();
    let first = act(&mut on_a, op, 7).await;
    let Msg::ActionOk { result, .. } = &first else {
        panic!("{first:?}");
    };
    // The connection to A drops; the client retries the same op on B.
    drop(on_a);
    let (mut on_b, joined) = Client::join(b.addr, "room", "ann").await;
    assert_eq!(joined.seq, 1, "B has A's commit");
    let retried = act(&mut on_b, op, 7).await;
    let Msg::ActionOk { result: again, .. } = &retried else {
        panic!("{retried:?}");
    };
    assert_eq!(again, result, "the first outcome, value and all");
    for node in [&a, &b] {
        let (value, seq) = node
            .server
            .session("room")
            .read(|s, seq| (s.value, seq))
            .await
            .expect("read");
        assert_eq!((value, seq), (7, 1), "added once");
    }
    // A new op from the same user does run.
    let other = act(&mut on_b, OpId::new(), 1).await;
    assert!(matches!(other, Msg::ActionOk { .. }), "{other:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_burst_loses_no_acknowledged_commit() {
    let mut nats = NatsServer::start().expect("nats-server");
    let (a, b) = (node(&nats).await, node(&nats).await);
    let (mut watcher, _) = Client::join(b.addr, "room", "watcher").await;
    let session = a.server.session("room");
    let mut acknowledged: Vec<(u64, i64)> = Vec::new();
    let mut failed = 0u32;
    const COMMITS: i64 = 200;
    let deadline = tokio::time::Instant::now() + STUCK * 3;
    for add in 1..=COMMITS {
        if add == COMMITS / 2 {
            nats.restart().expect("restart nats-server");
        }
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "commits never resumed"
            );
            match session.commit(CounterDelta { add }).await {
                Ok(seq) => {
                    acknowledged.push((seq, add));
                    break;
                }
                Err(_) => {
                    // NATS is down: the commit was refused (or its answer
                    // lost); try again once the client has reconnected.
                    failed += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
    let last = acknowledged.last().expect("some").0;
    // Read the log back through a new connection.
    let reader = store(&nats).await;
    let entries = reader.entries("room", 0, 10_000).await.expect("entries");
    for (seq, add) in &acknowledged {
        let stored = entries
            .iter()
            .find(|e| e.seq == *seq)
            .unwrap_or_else(|| panic!("acknowledged seq {seq} is not in the log"));
        let expected =
            ui_flow::codec::encoded::encode_payload(&CounterDelta { add: *add }).expect("encode");
        assert_eq!(
            &stored.delta[..],
            &expected[..],
            "seq {seq} holds its delta"
        );
    }
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "one gapless line");
    // The watcher on the other node got every one, in order.
    let seen = tokio::time::timeout(STUCK * 2, watcher.seqs_until(last))
        .await
        .expect("the watcher stalled");
    assert_eq!(seen, (1..=last).collect::<Vec<_>>());
    eprintln!(
        "{} acknowledged, {failed} refused while NATS restarted",
        acknowledged.len()
    );
}
