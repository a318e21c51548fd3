//! The failure paths, as exact as the happy path (issue 15): every Action
//! answered once, signals relayed byte for byte, text frames and duplicate
//! keys answered as the spec says, and every limit doing what the spec's
//! Limits table says. Real WebSockets on 127.0.0.1.

mod common;

use std::collections::HashMap;

use common::*;
use futures::SinkExt;
use rmpv::Value;
use tokio_tungstenite::tungstenite::Message;
use ui_flow::codec::{Decoded, field_bytes};
use ui_flow::{ClientMessage, OpId, PresenceStatus};
use ui_flow_server::{RateLimit, ServerConfig};

fn enc(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).expect("writing to a Vec");
    out
}

fn frame(entries: Vec<(&str, Value)>) -> Vec<u8> {
    enc(&Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    ))
}

fn ping(ts: u64) -> ClientMessage<String> {
    ClientMessage::Ping { ts, presence: None }
}

/// The outcome of an action: its op id and the ActionErr code, if any.
fn outcome(m: &Msg) -> Option<(OpId, Option<String>)> {
    match m {
        Msg::ActionOk { op_id, .. } => Some((*op_id, None)),
        Msg::ActionErr { op_id, code, .. } => Some((*op_id, code.clone())),
        _ => None,
    }
}

fn slow_rate(burst: u32) -> ServerConfig {
    let mut config = ServerConfig::default();
    // One token per 1000 s: nothing refills while a test runs.
    config.rate_limit = RateLimit {
        per_second: 0.001,
        burst,
    };
    config
}

#[tokio::test]
async fn every_action_in_a_flood_gets_exactly_one_outcome() {
    let t = start(Plain::default(), slow_rate(100)).await;
    let (mut alice, _) = Client::join(t.addr, "room", "alice").await;
    let ops: Vec<OpId> = (1..=150u128).map(OpId::from_u128).collect();
    for op in &ops {
        alice
            .send(&ClientMessage::Action {
                op_id: *op,
                action: "step".to_owned(),
            })
            .await;
    }
    let mut seen: HashMap<OpId, Vec<Option<String>>> = HashMap::new();
    let mut errors = Vec::new();
    while seen.len() < ops.len() {
        let m = alice.recv().await;
        if let Some((op, code)) = outcome(&m) {
            seen.entry(op).or_default().push(code);
        } else if let Some(e) = error_code(&m) {
            errors.push(e);
        }
    }
    // Nothing else is on its way: a Ping (itself over the limit now) gets
    // the run's one shared Error, and no outcome arrives before it.
    alice.send(&ping(1)).await;
    loop {
        let m = alice.recv().await;
        if let Some((op, code)) = outcome(&m) {
            seen.entry(op).or_default().push(code);
        } else if let Some(e) = error_code(&m) {
            assert_eq!(e, ("rate_limited".to_owned(), false));
            break;
        }
    }
    assert!(
        errors.is_empty(),
        "no Error for refused actions: {errors:?}"
    );
    assert!(seen.values().all(|codes| codes.len() == 1), "{seen:?}");
    let refused = seen
        .values()
        .filter(|c| c[0].as_deref() == Some("rate_limited"))
        .count();
    assert_eq!(refused, 50, "the burst is 100, and nothing refills");
    assert_eq!(seen.values().filter(|c| c[0].is_none()).count(), 100);
}

#[tokio::test]
async fn an_action_the_app_cannot_read_gets_action_err_bad_action() {
    let t = start(Plain::default(), ServerConfig::default()).await;
    let (mut alice, _) = Client::join(t.addr, "room", "alice").await;
    let op = OpId::from_u128(42);
    // Plain's Action is a String; 5 is not one.
    alice
        .send(&ClientMessage::Action {
            op_id: op,
            action: 5u32,
        })
        .await;
    let m = alice.recv().await;
    match &m {
        Msg::ActionErr { op_id, code, .. } => {
            assert_eq!((*op_id, code.as_deref()), (op, Some("bad_action")));
        }
        other => panic!("expected ActionErr, got {other:?}"),
    }
    // An Action with a fault after its op_id is still an Action.
    let other = OpId::from_u128(43);
    alice
        .send_raw(frame(vec![
            ("t", Value::from(1000)),
            ("op_id", Value::Binary(other.as_bytes().to_vec())),
            ("action", Value::from("a")),
            ("action", Value::from("b")),
        ]))
        .await;
    let m = alice.recv().await;
    assert_eq!(outcome(&m), Some((other, Some("bad_action".to_owned()))));
    // A frame that is not an Action but carries an op_id gets an Error
    // naming it.
    alice
        .send_raw(frame(vec![
            ("t", Value::from(0)),
            ("op_id", Value::Binary(op.as_bytes().to_vec())),
            ("ts", Value::from("not a number")),
        ]))
        .await;
    match alice.recv().await {
        Msg::Error {
            code: Some(code),
            fatal: false,
            op_id,
            ..
        } => assert_eq!((code.as_str(), op_id), ("bad_frame", Some(op))),
        other => panic!("expected Error, got {other:?}"),
    }
}

#[tokio::test]
async fn text_frames_count_against_the_rate_limit() {
    let t = start(Plain::default(), slow_rate(10)).await;
    let (mut alice, _) = Client::join(t.addr, "room", "alice").await;
    for _ in 0..1000 {
        alice
            .ws
            .feed(Message::Text("hello".into()))
            .await
            .expect("send");
    }
    alice.ws.flush().await.expect("flush");
    alice.ws.close(None).await.expect("close");
    let (msgs, _) = alice.read_to_close().await;
    let errors: Vec<_> = msgs.iter().filter_map(error_code).collect();
    let mut want = vec![("bad_frame".to_owned(), false); 10];
    want.push(("rate_limited".to_owned(), false));
    assert_eq!(errors, want);
}

#[tokio::test]
async fn a_repeated_unknown_key_is_refused() {
    let t = start(Plain::default(), ServerConfig::default()).await;
    let (mut alice, _) = Client::join(t.addr, "room", "alice").await;
    alice
        .send_raw(frame(vec![
            ("t", Value::from(0)),
            ("ts", Value::from(100)),
            ("x", Value::from(1)),
            ("x", Value::from(2)),
        ]))
        .await;
    alice.send(&ping(2)).await;
    let first = alice.recv().await;
    assert_eq!(error_code(&first), Some(("bad_frame".to_owned(), false)));
    assert!(matches!(alice.recv().await, Msg::Pong { client_ts: 2, .. }));
}

#[tokio::test]
async fn signals_are_relayed_byte_for_byte() {
    let t = start(Plain::default(), ServerConfig::default()).await;
    let (mut alice, _) = Client::join(t.addr, "room", "alice").await;
    let (mut bob, _) = Client::join(t.addr, "room", "bob").await;
    alice.recv().await; // bob joined
    // Keys out of order, a nil, a wide integer and a key no build knows.
    let payload = Value::Map(vec![
        (
            Value::from("x-extension"),
            Value::Map(vec![(Value::from("v"), Value::from(2))]),
        ),
        (
            Value::from("candidate"),
            Value::from("candidate:1 1 udp 1 192.0.2.1 9 typ host"),
        ),
        (Value::from("usernameFragment"), Value::Nil),
        (Value::from("type"), Value::from("candidate")),
    ]);
    let mut sent = enc(&payload);
    // sdpMLineIndex 0 as a uint 16: not canonical, still the sender's bytes.
    sent[0] += 1;
    sent.extend_from_slice(&[0xad]);
    sent.extend_from_slice(b"sdpMLineIndex");
    sent.extend_from_slice(&[0xcd, 0x00, 0x00]);
    let mut signal = frame(vec![
        ("t", Value::from(3000)),
        ("target_user_id", Value::from("bob")),
    ]);
    signal[0] += 1;
    signal.extend_from_slice(&enc(&Value::from("signal")));
    signal.extend_from_slice(&sent);
    alice.send_raw(signal).await;
    let got = bob.raw_frame().await;
    let limits = ui_flow::codec::Limits::default();
    assert_eq!(field_bytes(&got, &limits, "signal"), Some(&sent[..]));
    match Msg::decode(&got).expect("decodes") {
        Decoded::Message(Msg::Signal { from_user_id, .. }) => assert_eq!(from_user_id, "alice"),
        other => panic!("expected Signal, got {other:?}"),
    }
}

#[tokio::test]
async fn the_signal_cap_measures_the_encoded_payload() {
    let t = start(Plain::default(), ServerConfig::default()).await;
    let (mut alice, _) = Client::join(t.addr, "room", "alice").await;
    let (mut bob, _) = Client::join(t.addr, "room", "bob").await;
    alice.recv().await; // bob joined
    // A short sdp, and an unknown key that takes the payload over 16 KiB.
    let big = frame(vec![
        ("t", Value::from(3000)),
        ("target_user_id", Value::from("bob")),
        (
            "signal",
            Value::Map(vec![
                (Value::from("type"), Value::from("offer")),
                (Value::from("sdp"), Value::from("v=0")),
                (Value::from("x-padding"), Value::from("p".repeat(16 * 1024))),
            ]),
        ),
    ]);
    alice.send_raw(big).await;
    let m = alice.recv().await;
    assert_eq!(error_code(&m), Some(("signal_too_large".to_owned(), false)));
    // Bob got nothing: the next thing he sees is his own Pong.
    bob.send(&ping(7)).await;
    assert!(matches!(bob.recv().await, Msg::Pong { client_ts: 7, .. }));
}

#[tokio::test]
async fn long_domains_are_refused_and_the_first_domains_are_kept() {
    let t = start(Plain::default(), ServerConfig::default()).await;
    let (mut alice, _) = Client::join(t.addr, "room", "alice").await;
    // 64 domains of 60,000 bytes, each in its own frame: all refused.
    for i in 0..64u8 {
        let mut name = "d".repeat(60_000);
        name.push(char::from(b'0' + i % 10));
        alice
            .send(&ClientMessage::<String>::Subscribe {
                domains: vec![name.clone()],
            })
            .await;
        let m = alice.recv().await;
        assert_eq!(
            error_code(&m),
            Some(("subscription_limit".to_owned(), false))
        );
        let room = t.server.session("room");
        assert_eq!(
            room.broadcast_notify(&name, &"e".to_owned(), None)
                .expect("notify"),
            0
        );
    }
    // 70 short domains: the first 64 are kept, the last 6 refused.
    let names: Vec<String> = (0..70).map(|i| format!("domain-{i:02}")).collect();
    alice
        .send(&ClientMessage::<String>::Subscribe {
            domains: names.clone(),
        })
        .await;
    let m = alice.recv().await;
    assert_eq!(
        error_code(&m),
        Some(("subscription_limit".to_owned(), false))
    );
    let room = t.server.session("room");
    let reached: Vec<usize> = names
        .iter()
        .map(|d| {
            room.broadcast_notify(d, &"e".to_owned(), None)
                .expect("notify")
        })
        .collect();
    assert_eq!(reached[..64], [1; 64]);
    assert_eq!(reached[64..], [0; 6]);
}

#[tokio::test]
async fn the_17th_connection_of_a_user_gets_an_error_and_4006_without_connected() {
    let mut config = ServerConfig::default();
    // Sixteen tabs at once: beyond the join rate's burst, which has its own test.
    config.join_rate = ui_flow_server::RateLimit {
        per_second: 1000.0,
        burst: 100,
    };
    let t = start(Plain::default(), config).await;
    let (mut watcher, _) = Client::join(t.addr, "room", "watcher").await;
    let mut tabs = Vec::new();
    for _ in 0..16 {
        tabs.push(Client::join(t.addr, "room", "alice").await.0);
    }
    let mut extra = Client::connect(t.addr, "room", "alice").await;
    let (msgs, close) = extra.read_to_close().await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(
        error_code(&msgs[0]),
        Some(("too_many_connections".to_owned(), true))
    );
    assert_eq!(close_code(&close), Some(4006));
    // Alice's other connections are untouched, and presence shows one alice.
    assert_eq!(t.server.session("room").connection_count(), 17);
    let alice = t
        .server
        .session("room")
        .presence()
        .into_iter()
        .filter(|u| u.user_id == "alice")
        .count();
    assert_eq!(alice, 1);
    tabs[0].send(&ping(3)).await;
    assert!(matches!(
        tabs[0].recv_until(|m| matches!(m, Msg::Pong { .. })).await,
        Msg::Pong { client_ts: 3, .. }
    ));
    // The watcher saw alice join once and never leave.
    watcher
        .send(&ClientMessage::<String>::Ping {
            ts: 4,
            presence: Some(PresenceStatus::Active),
        })
        .await;
    loop {
        match watcher.recv().await {
            Msg::PresenceDiff(d) => assert!(d.left.is_empty(), "{d:?}"),
            Msg::Pong { client_ts: 4, .. } => break,
            _ => {}
        }
    }
}
