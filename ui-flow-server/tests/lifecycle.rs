//! The connection lifecycle over real WebSockets.

mod common;

use common::*;
use ui_flow::{ClientMessage, OpId, PresenceStatus};
use ui_flow_server::ServerConfig;
use ui_flow_server::counter::{Counter, CounterAction};

#[tokio::test]
async fn join_action_ping_round_trip() {
    let t = start(Counter, ServerConfig::default()).await;
    let (mut alice, joined) = Client::join(t.addr, "room", "alice").await;
    match &joined.connected {
        Msg::Connected {
            protocol_version,
            user_id,
            ..
        } => {
            assert_eq!(*protocol_version, ui_flow::PROTOCOL_VERSION);
            assert_eq!(user_id.as_deref(), Some("alice"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(joined.seq, 0);
    let (epoch, head) = t.server.session("room").position().await.expect("log");
    assert_eq!(
        (joined.epoch, joined.seq),
        (epoch, head),
        "each resource has its own epoch"
    );
    assert_eq!(joined.users.len(), 1);
    assert_eq!(joined.users[0].user_id, "alice");
    assert_eq!(joined.users[0].status, PresenceStatus::Active);

    alice
        .send(&ClientMessage::Subscribe {
            domains: vec!["counter".into()],
        } as &ClientMessage<CounterAction>)
        .await;
    let op = OpId::new();
    alice
        .send(&ClientMessage::Action {
            op_id: op,
            action: CounterAction::Add { amount: 5 },
        })
        .await;
    match alice.recv().await {
        Msg::Delta { seq, delta, .. } => {
            assert_eq!(seq, 1);
            assert_eq!(delta["add"].as_i64(), Some(5));
        }
        other => panic!("expected the delta first, got {other:?}"),
    }
    match alice.recv().await {
        Msg::Notify {
            domain,
            correlation_id,
            event,
        } => {
            assert_eq!(domain, "counter");
            assert_eq!(correlation_id, Some(op));
            assert_eq!(event["by"].as_str(), Some("alice"));
        }
        other => panic!("expected the notification, got {other:?}"),
    }
    match alice.recv().await {
        Msg::ActionOk { op_id, result } => {
            assert_eq!(op_id, op);
            let value: i64 = result.expect("result").decode().expect("i64");
            assert_eq!(value, 5);
        }
        other => panic!("expected ActionOk, got {other:?}"),
    }
    alice
        .send(&ClientMessage::<()>::Ping {
            ts: 1234,
            presence: None,
        })
        .await;
    match alice.recv().await {
        Msg::Pong {
            client_ts,
            server_ts,
        } => {
            assert_eq!(client_ts, 1234);
            assert!(server_ts > 1_600_000_000_000);
        }
        other => panic!("expected Pong, got {other:?}"),
    }
}

#[tokio::test]
async fn progress_then_outcome_and_action_errors() {
    let t = start(Counter, ServerConfig::default()).await;
    let (mut c, _) = Client::join(t.addr, "room", "alice").await;
    let op = OpId::new();
    c.send(&ClientMessage::Action {
        op_id: op,
        action: CounterAction::AddInSteps {
            amount: 10,
            steps: 4,
        },
    })
    .await;
    let mut percents = Vec::new();
    let mut deltas = Vec::new();
    loop {
        match c.recv().await {
            Msg::Progress { op_id, percent, .. } => {
                assert_eq!(op_id, op);
                percents.push(percent.expect("percent"));
            }
            Msg::Delta { delta, .. } => deltas.push(delta["add"].as_i64().expect("add")),
            Msg::ActionOk { op_id, .. } => {
                assert_eq!(op_id, op);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(percents, [25, 50, 75, 100]);
    assert_eq!(deltas.iter().sum::<i64>(), 10);
    let bad = OpId::new();
    c.send(&ClientMessage::Action {
        op_id: bad,
        action: CounterAction::Fail {
            reason: "nope".into(),
        },
    })
    .await;
    match c.recv().await {
        Msg::ActionErr {
            op_id,
            code,
            message,
        } => {
            assert_eq!(op_id, bad);
            assert_eq!(code.as_deref(), Some("rejected"));
            assert_eq!(message, "nope");
        }
        other => panic!("expected ActionErr, got {other:?}"),
    }
}

#[tokio::test]
async fn a_retried_action_after_reconnect_is_not_applied_twice() {
    let t = start(Counter, ServerConfig::default()).await;
    let op = OpId::new();
    let action = ClientMessage::Action {
        op_id: op,
        action: CounterAction::Add { amount: 7 },
    };
    let (mut first, _) = Client::join(t.addr, "room", "alice").await;
    first.send(&action).await;
    first
        .recv_until(|m| matches!(m, Msg::ActionOk { .. }))
        .await;
    drop(first);
    let (mut second, joined) = Client::join(t.addr, "room", "alice").await;
    assert_eq!(joined.seq, 1);
    second.send(&action).await;
    match second.recv().await {
        Msg::ActionOk { op_id, result } => {
            assert_eq!(op_id, op);
            assert_eq!(result.expect("result").decode::<i64>().expect("i64"), 7);
        }
        other => panic!("expected the remembered ActionOk, got {other:?}"),
    }
    assert_eq!(
        t.server
            .session("room")
            .read(|s, seq| (s.value, seq))
            .await
            .expect("read"),
        (7, 1)
    );
}

#[tokio::test]
async fn resync_matrix_over_websockets() {
    let t = start(Counter, ServerConfig::default()).await;
    let session = t.server.session("room");
    for _ in 0..400 {
        Counter::add(&session, 1).await.expect("commit");
    }
    let head = 400;
    let (mut c, joined) = Client::join(t.addr, "room", "alice").await;
    assert_eq!(joined.seq, head);
    let epoch = joined.epoch;
    // (last_seq, epoch, Some(deltas expected) or None for a snapshot)
    let cases = [
        (head, Some(epoch), Some(0)),
        (head - 1, Some(epoch), Some(1)),
        (head - 300, Some(epoch), Some(300)),
        (head - 301, Some(epoch), None),
        (head, Some(epoch.wrapping_add(1)), None),
        (head, None, None),
        (head + 1, Some(epoch), None),
    ];
    for (last_seq, e, expect) in cases {
        c.send(&ClientMessage::<()>::Resync {
            last_seq: Some(last_seq),
            epoch: e,
        })
        .await;
        let reply = c.recv().await;
        match (expect, &reply) {
            (
                Some(n),
                Msg::Deltas {
                    deltas,
                    seq,
                    epoch: got,
                    ..
                },
            ) => {
                assert_eq!(deltas.len(), n, "last_seq {last_seq}");
                assert_eq!((*seq, *got), (head, Some(epoch)));
            }
            (None, Msg::Snapshot { seq, state, .. }) => {
                assert_eq!(*seq, head, "last_seq {last_seq}");
                assert_eq!(state["value"].as_i64(), Some(400));
            }
            _ => panic!("last_seq {last_seq} epoch {e:?}: expected {expect:?}, got {reply:?}"),
        }
    }
}

#[tokio::test]
async fn resuming_on_connect_gets_deltas_instead_of_a_snapshot() {
    let t = start(Counter, ServerConfig::default()).await;
    let session = t.server.session("room");
    let (mut watcher, joined) = Client::join(t.addr, "room", "w").await;
    for _ in 0..5 {
        Counter::add(&session, 2).await.expect("commit");
    }
    for seq in 1..=5 {
        watcher
            .recv_until(|m| matches!(m, Msg::Delta { seq: s, .. } if *s == seq))
            .await;
    }
    let url = format!(
        "{}&last_seq=2&epoch={}",
        url(t.addr, "room", "alice"),
        joined.epoch
    );
    let mut c = Client::connect_url(&url).await;
    let resumed = c.read_join().await;
    match resumed.sync {
        Msg::Deltas { deltas, seq, .. } => {
            assert_eq!(seq, 5);
            assert_eq!(deltas.len(), 3);
        }
        other => panic!("expected Deltas, got {other:?}"),
    }
}

#[tokio::test]
async fn resume_parameters_that_do_not_parse_get_a_snapshot_not_a_refusal() {
    let t = start(Counter, ServerConfig::default()).await;
    let session = t.server.session("room");
    let (_watcher, joined) = Client::join(t.addr, "room", "w").await;
    Counter::add(&session, 2).await.expect("commit");
    for query in [
        "last_seq=abc".to_string(),
        "last_seq=-1".to_string(),
        "last_seq=18446744073709551616".to_string(),
        format!("last_seq=0&epoch=x{}", joined.epoch),
        // Issue 16 item 7: repeated resume values are ignored, not HTTP 400.
        "last_seq=0&last_seq=1".to_string(),
        "last_seq=0&last_seq=0".to_string(),
    ] {
        let url = format!("{}&{query}", url(t.addr, "room", "alice"));
        let mut c = Client::connect_url(&url).await;
        match c.read_join().await.sync {
            Msg::Snapshot { seq, .. } => assert_eq!(seq, 1, "{query}"),
            other => panic!("{query}: expected a Snapshot, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn presence_and_signals_between_two_users() {
    let t = start(Counter, ServerConfig::default()).await;
    let (mut alice, _) = Client::join(t.addr, "room", "alice").await;
    let (mut bob, joined) = Client::join(t.addr, "room", "bob").await;
    let ids: Vec<_> = joined.users.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(ids, ["alice", "bob"]);
    match alice.recv().await {
        Msg::PresenceDiff(d) => assert_eq!(d.joined[0].user_id, "bob"),
        other => panic!("expected a join diff, got {other:?}"),
    }
    let offer = ui_flow::SignalPayload::Offer { sdp: "v=0".into() };
    alice
        .send(&ClientMessage::<()>::Signal {
            target_user_id: "bob".into(),
            signal: offer.clone(),
        })
        .await;
    match bob.recv().await {
        Msg::Signal {
            from_user_id,
            signal,
        } => {
            assert_eq!(from_user_id, "alice");
            assert_eq!(signal, offer);
        }
        other => panic!("expected a signal, got {other:?}"),
    }
    alice
        .send(&ClientMessage::<()>::Signal {
            target_user_id: "carol".into(),
            signal: offer,
        })
        .await;
    assert_eq!(
        error_code(&alice.recv().await),
        Some(("unknown_target".into(), false))
    );
    // Bob hides his only tab: away.
    bob.send(&ClientMessage::<()>::Ping {
        ts: 1,
        presence: Some(PresenceStatus::Away),
    })
    .await;
    match alice.recv().await {
        Msg::PresenceDiff(d) => {
            assert_eq!(d.updated[0].user_id, "bob");
            assert_eq!(d.updated[0].status, PresenceStatus::Away);
        }
        other => panic!("expected an update diff, got {other:?}"),
    }
    let session = t.server.session("room");
    assert_eq!(session.presence().len(), 2);
    drop(bob);
    match alice.recv().await {
        Msg::PresenceDiff(d) => assert_eq!(d.left, ["bob"]),
        other => panic!("expected a leave diff, got {other:?}"),
    }
}

#[tokio::test]
async fn shutdown_tells_clients_to_reconnect() {
    let t = start(Counter, ServerConfig::default()).await;
    let (mut c, _) = Client::join(t.addr, "room", "alice").await;
    t.server.shutdown().await;
    let (msgs, close) = c.read_to_close().await;
    assert_eq!(
        msgs.iter().filter_map(error_code).collect::<Vec<_>>(),
        [("shutdown".to_owned(), true)]
    );
    assert_eq!(close_code(&close), Some(1001));
    assert_eq!(t.server.connection_count(), 0);
    // Newcomers are turned away the same way.
    let mut late = Client::connect(t.addr, "room", "bob").await;
    let (msgs, close) = late.read_to_close().await;
    assert_eq!(error_code(&msgs[0]), Some(("shutdown".to_owned(), true)));
    assert_eq!(close_code(&close), Some(1001));
}

/// A broker that hands every delta frame straight to another node.
struct Forward(ui_flow_server::FlowServer<Plain>);

impl ui_flow_server::broker::Broker for Forward {
    fn publish(&self, publication: ui_flow_server::broker::Publication<'_>) {
        if let ui_flow_server::broker::Publication::Deltas {
            resource,
            frame,
            first,
            last,
        } = publication
        {
            self.0
                .deliver_published(resource, frame.clone(), first, last);
        }
    }
}

#[tokio::test]
async fn a_broker_carries_broadcasts_to_another_node() {
    let node_a = start(Plain::default(), ServerConfig::default()).await;
    let node_b = start(Plain::default(), ServerConfig::default()).await;
    node_a.server.set_broker(Forward(node_b.server.clone()));
    let (mut on_a, _) = Client::join(node_a.addr, "room", "alice").await;
    let (mut on_b, _) = Client::join(node_b.addr, "room", "bob").await;
    let seq = node_a.push("room", "hello");
    for c in [&mut on_a, &mut on_b] {
        match c.recv().await {
            Msg::Delta { delta, seq: s, .. } => {
                assert_eq!(s, seq);
                assert_eq!(delta.as_str(), Some("hello"));
            }
            other => panic!("expected the delta, got {other:?}"),
        }
    }
}
