//! The connection lifecycle over real WebSockets.

mod common;

use common::*;
use ui_flow::{ClientMessage, OpId, PresenceStatus};
use ui_flow_server::ServerConfig;
use ui_flow_server::counter::{Counter, CounterAction};

#[tokio::test]
async fn join_action_ping_round_trip() {
    let t = start(Counter::default(), ServerConfig::default()).await;
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
    assert_eq!(joined.epoch, t.server.epoch());
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
