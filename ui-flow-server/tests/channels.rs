//! Channels on a server that does not serve them (`Connected` without
//! `channels`): frames that name a channel other than 0 never act on the
//! URL's resource. Join and Leave go unanswered, as the spec says for such
//! a server; every other frame on a channel gets the documented
//! `unknown_channel` on that channel, and an Action still gets exactly one
//! outcome. Real WebSockets on 127.0.0.1, frames built with `encode_on`.

mod common;

use common::*;
use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use ui_flow::codec::Decoded;
use ui_flow::{Channel, ClientMessage, ErrorCode, OpId, SignalPayload};
use ui_flow_server::ServerConfig;

/// The next ui-flow message with the channel it came on.
async fn recv_on(client: &mut Client) -> (Channel, Msg) {
    loop {
        let next = tokio::time::timeout(STUCK, client.ws.next())
            .await
            .expect("stuck waiting for a frame");
        match next {
            Some(Ok(Message::Binary(b))) => {
                match Msg::decode_routed(&b).expect("server frames decode") {
                    (channel, Decoded::Message(m)) => return (channel, m),
                    (_, Decoded::Unknown { .. }) => continue,
                }
            }
            Some(Ok(Message::Close(c))) => panic!("expected a message, got close {c:?}"),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => panic!("the connection ended"),
        }
    }
}

async fn send_on(client: &mut Client, msg: &ClientMessage<String>, channel: u16) {
    let bytes = msg.encode_on(Channel(channel)).expect("encode");
    client.send_raw(bytes).await;
}

/// Sends a Ping and reads up to its Pong; returns what came before it.
async fn until_pong(client: &mut Client, ts: u64) -> Vec<(Channel, Msg)> {
    client
        .send(&ClientMessage::<String>::Ping { ts, presence: None })
        .await;
    let mut before = Vec::new();
    loop {
        match recv_on(client).await {
            (Channel::URL, Msg::Pong { client_ts, .. }) if client_ts == ts => return before,
            other => before.push(other),
        }
    }
}

fn unknown_channel_error(m: &(Channel, Msg)) -> Option<Channel> {
    match m {
        (c, Msg::Error { code, fatal, .. }) if *code == Some(ErrorCode::UNKNOWN_CHANNEL) => {
            assert!(!fatal, "unknown_channel is not fatal");
            Some(*c)
        }
        _ => None,
    }
}

#[tokio::test]
async fn connected_has_no_channels_and_join_and_leave_go_unanswered() {
    let t = start(Plain::default(), ServerConfig::default()).await;
    let (mut client, joined) = Client::join(t.addr, "room", "ann").await;
    match &joined.connected {
        Msg::Connected { channels, .. } => assert_eq!(*channels, None),
        other => panic!("{other:?}"),
    }
    let join = ClientMessage::<String>::Join {
        resource: "other".into(),
        last_seq: None,
        epoch: None,
    };
    send_on(&mut client, &join, 1).await;
    send_on(&mut client, &ClientMessage::Leave, 2).await;
    // Frames are answered in order: nothing came for the Join and Leave.
    assert_eq!(until_pong(&mut client, 1).await, vec![]);
    assert_eq!(t.server.session("other").connection_count(), 0);
    assert_eq!(t.server.session("room").connection_count(), 1);
}

#[tokio::test]
async fn an_action_on_a_channel_gets_unknown_channel_there_and_does_not_run() {
    let t = start(Plain::default(), ServerConfig::default()).await;
    let (mut client, _) = Client::join(t.addr, "room", "ann").await;
    let op_id = OpId::from_u128(41);
    let action = ClientMessage::Action {
        op_id,
        action: "hello".to_owned(),
    };
    send_on(&mut client, &action, 5).await;
    match recv_on(&mut client).await {
        (
            Channel(5),
            Msg::ActionErr {
                op_id: got, code, ..
            },
        ) => {
            assert_eq!(got, op_id);
            assert_eq!(code.as_deref(), Some("unknown_channel"));
        }
        other => panic!("expected ActionErr on channel 5, got {other:?}"),
    }
    // Exactly one outcome: nothing else about it before a Pong.
    assert_eq!(until_pong(&mut client, 2).await, vec![]);
    // It was not run, nor remembered: the same op_id on channel 0 runs now
    // and gets the application's result.
    client.send(&action).await;
    match recv_on(&mut client).await {
        (Channel::URL, Msg::ActionOk { op_id: got, result }) => {
            assert_eq!(got, op_id);
            let result: String = result.expect("a result").decode().expect("a string");
            assert_eq!(result, "hello");
        }
        other => panic!("expected ActionOk on channel 0, got {other:?}"),
    }
}

#[tokio::test]
async fn other_frames_on_a_channel_get_unknown_channel_there_and_the_connection_stays() {
    let t = start(Plain::default(), ServerConfig::default()).await;
    let (mut client, _) = Client::join(t.addr, "room", "ann").await;
    let (mut bob, _) = Client::join(t.addr, "room", "bob").await;
    client.recv().await; // bob's join diff
    send_on(
        &mut client,
        &ClientMessage::Subscribe {
            domains: vec!["news".into()],
        },
        7,
    )
    .await;
    send_on(
        &mut client,
        &ClientMessage::Resync {
            last_seq: Some(0),
            epoch: None,
        },
        8,
    )
    .await;
    send_on(
        &mut client,
        &ClientMessage::Signal {
            target_user_id: "bob".into(),
            signal: SignalPayload::Offer { sdp: "v=0".into() },
        },
        300,
    )
    .await;
    let answers = until_pong(&mut client, 3).await;
    let channels: Vec<_> = answers.iter().map(unknown_channel_error).collect();
    assert_eq!(
        channels,
        vec![Some(Channel(7)), Some(Channel(8)), Some(Channel(300))],
        "{answers:?}"
    );
    // The Signal was not relayed on the URL's resource: bob gets nothing
    // before his own Pong.
    assert_eq!(until_pong(&mut bob, 4).await, vec![]);
    // The Subscribe did not subscribe the URL's resource either.
    let reached = t
        .server
        .session("room")
        .broadcast_notify("news", &"item".to_owned(), None)
        .expect("notify");
    assert_eq!(reached, 0);
}

#[tokio::test]
async fn frames_that_do_not_decode_are_answered_on_their_channel() {
    let t = start(Plain::default(), ServerConfig::default()).await;
    let (mut client, _) = Client::join(t.addr, "room", "ann").await;
    // An Action whose payload is not the application's (a number, not a
    // string): still exactly one outcome, on its channel.
    let op_id = OpId::from_u128(9);
    let bad_action = ClientMessage::Action {
        op_id,
        action: 17u32,
    }
    .encode_on(Channel(3))
    .expect("encode");
    client.send_raw(bad_action).await;
    match recv_on(&mut client).await {
        (
            Channel(3),
            Msg::ActionErr {
                op_id: got, code, ..
            },
        ) => {
            assert_eq!(got, op_id);
            assert_eq!(code.as_deref(), Some("bad_action"));
        }
        other => panic!("expected ActionErr on channel 3, got {other:?}"),
    }
    // A Subscribe whose domains are not strings: bad_frame, on its channel.
    let frame = rmp_frame(&[
        ("t", rmpv::Value::from(2000)),
        ("c", rmpv::Value::from(4)),
        ("domains", rmpv::Value::from(vec![rmpv::Value::from(1)])),
    ]);
    client.send_raw(frame).await;
    match recv_on(&mut client).await {
        (Channel(4), Msg::Error { code, fatal, .. }) => {
            assert_eq!(code, Some(ErrorCode::BAD_FRAME));
            assert!(!fatal);
        }
        other => panic!("expected Error bad_frame on channel 4, got {other:?}"),
    }
    // A `c` that is not a uint16 makes the frame a bad_frame; the answer
    // cannot name the channel, so it is on channel 0.
    let frame = rmp_frame(&[
        ("t", rmpv::Value::from(2000)),
        ("c", rmpv::Value::from(70_000)),
        ("domains", rmpv::Value::Array(vec![])),
    ]);
    client.send_raw(frame).await;
    match recv_on(&mut client).await {
        (Channel::URL, Msg::Error { code, fatal, .. }) => {
            assert_eq!(code, Some(ErrorCode::BAD_FRAME));
            assert!(!fatal);
        }
        other => panic!("expected Error bad_frame on channel 0, got {other:?}"),
    }
    // A `c` on a Ping is an unknown field: it is answered as any Ping.
    let frame = rmp_frame(&[
        ("t", rmpv::Value::from(0)),
        ("c", rmpv::Value::from(6)),
        ("ts", rmpv::Value::from(77)),
    ]);
    client.send_raw(frame).await;
    match recv_on(&mut client).await {
        (Channel::URL, Msg::Pong { client_ts, .. }) => assert_eq!(client_ts, 77),
        other => panic!("expected a Pong, got {other:?}"),
    }
}

/// A frame written by hand: a map of `fields` in order.
fn rmp_frame(fields: &[(&str, rmpv::Value)]) -> Vec<u8> {
    let map = rmpv::Value::Map(
        fields
            .iter()
            .map(|(k, v)| (rmpv::Value::from(*k), v.clone()))
            .collect(),
    );
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &map).expect("encode");
    out
}
