//! The channel field on the wire: what `encode_on` and `decode_routed` add
//! to the codec, beyond what the vectors pin (spec/PROTOCOL.md, "Channels").

use rmpv::Value;
use ui_flow::codec::{Decoded, encode_relayed_signal, encode_relayed_signal_on};
use ui_flow::{Channel, ClientMessage, DecodeError, OpId, ServerMessage, SignalPayload};

type Server = ServerMessage<Value, Value, Value>;
type Client = ClientMessage<Value>;

const OP: OpId = OpId::from_u128(7);

fn resource_server_messages() -> Vec<Server> {
    vec![
        Server::Snapshot {
            state: Value::from("s"),
            seq: 3,
            timestamp: 4,
            epoch: Some(5),
        },
        Server::Delta {
            delta: Value::from(1),
            seq: 4,
            timestamp: 4,
            epoch: None,
            prev: None,
        },
        Server::Notify {
            domain: "chat".into(),
            event: Value::Nil,
            correlation_id: Some(OP),
        },
        Server::ActionErr {
            op_id: OP,
            code: None,
            message: "no".into(),
        },
    ]
}

fn resource_client_messages() -> Vec<Client> {
    vec![
        Client::Resync {
            last_seq: Some(1),
            epoch: None,
        },
        Client::Action {
            op_id: OP,
            action: Value::from(2),
        },
        Client::Subscribe {
            domains: vec!["chat".into()],
        },
    ]
}

#[test]
fn channel_zero_writes_the_bytes_of_a_connection_without_channels() {
    for m in resource_server_messages() {
        let plain = m.encode().expect("ok");
        assert_eq!(m.encode_on(Channel::URL).expect("ok"), plain, "{m:?}");
        assert_ne!(m.encode_on(Channel(1)).expect("ok"), plain, "{m:?}");
    }
    for m in resource_client_messages() {
        let plain = m.encode().expect("ok");
        assert_eq!(m.encode_on(Channel::URL).expect("ok"), plain, "{m:?}");
        assert_ne!(m.encode_on(Channel(1)).expect("ok"), plain, "{m:?}");
    }
}

#[test]
fn every_resource_message_round_trips_on_every_kind_of_channel() {
    for channel in [
        Channel::URL,
        Channel(1),
        Channel(255),
        Channel(256),
        Channel(u16::MAX),
    ] {
        for m in resource_server_messages() {
            let bytes = m.encode_on(channel).expect("ok");
            let (got, back) = Server::decode_routed(&bytes).expect("ok");
            assert_eq!((got, back), (channel, Decoded::Message(m.clone())));
        }
        for m in resource_client_messages() {
            let bytes = m.encode_on(channel).expect("ok");
            let (got, back) = Client::decode_routed(&bytes).expect("ok");
            assert_eq!((got, back), (channel, Decoded::Message(m.clone())));
        }
    }
}

#[test]
fn c_is_written_right_after_t() {
    let bytes = Client::Leave.encode_on(Channel(300)).expect("ok");
    // map of 2, "t", 3, "c", uint16 300
    assert_eq!(
        bytes,
        [0x82, 0xa1, b't', 0x03, 0xa1, b'c', 0xcd, 0x01, 0x2c]
    );
}

#[test]
fn plain_decode_drops_the_channel_and_routed_decode_keeps_it() {
    let m = Server::Joined;
    let bytes = m.encode_on(Channel(9)).expect("ok");
    assert_eq!(
        Server::decode(&bytes).expect("ok"),
        Decoded::Message(Server::Joined)
    );
    assert_eq!(
        Server::decode_routed(&bytes).expect("ok"),
        (Channel(9), Decoded::Message(Server::Joined))
    );
}

#[test]
fn messages_that_name_a_channel_refuse_channel_zero() {
    let join = Client::Join {
        resource: "chat".into(),
        last_seq: None,
        epoch: None,
    };
    for error in [
        join.encode().expect_err("refused"),
        Client::Leave.encode().expect_err("refused"),
        Server::Joined.encode().expect_err("refused"),
        Server::Left {
            code: None,
            message: None,
        }
        .encode()
        .expect_err("refused"),
    ] {
        assert_eq!(error.field, "c");
        assert!(
            error.reason.contains("needs a channel other than 0"),
            "{error}"
        );
    }
}

#[test]
fn messages_of_the_connection_refuse_other_channels_and_leave_the_buffer_alone() {
    let ping = Client::Ping {
        ts: 1,
        presence: None,
    };
    let mut buf = vec![0xAA];
    let error = ping
        .encode_on_into(Channel(2), &mut buf)
        .expect_err("refused");
    assert_eq!(error.field, "c");
    assert!(
        error.reason.contains("Ping belongs to the connection"),
        "{error}"
    );
    assert_eq!(buf, [0xAA]);
    let pong = Server::Pong {
        client_ts: 1,
        server_ts: 2,
    };
    assert!(pong.encode_on(Channel(2)).is_err());
    let connected = Server::Connected {
        protocol_version: 1,
        connection_id: "c".into(),
        user_id: None,
        channels: Some(16),
    };
    assert!(connected.encode_on(Channel(2)).is_err());
    assert!(connected.encode_on(Channel::URL).is_ok());
}

#[test]
fn a_join_on_channel_zero_is_a_typed_decode_error() {
    // What a sender that ignores encode_on's check would write by hand.
    let mut bytes = Vec::new();
    rmpv::encode::write_value(
        &mut bytes,
        &Value::Map(vec![
            (Value::from("t"), Value::from(2)),
            (Value::from("c"), Value::from(0)),
            (Value::from("resource"), Value::from("chat")),
        ]),
    )
    .expect("ok");
    match Client::decode_routed(&bytes) {
        Err(DecodeError::InvalidField { message, field, .. }) => {
            assert_eq!((message, field), ("Join", "c"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_relayed_signal_carries_its_channel() {
    let signal = SignalPayload::Offer { sdp: "v=0".into() };
    let sender = Client::Signal {
        target_user_id: "bob".into(),
        signal: signal.clone(),
    };
    let sent = sender.encode_on(Channel(4)).expect("ok");
    let payload = ui_flow::codec::field_bytes(&sent, &Default::default(), "signal").expect("ok");
    let on_url = encode_relayed_signal("alice", payload).expect("ok");
    assert_eq!(
        encode_relayed_signal_on(Channel::URL, "alice", payload).expect("ok"),
        on_url
    );
    let relayed = encode_relayed_signal_on(Channel(4), "alice", payload).expect("ok");
    assert_eq!(
        Server::decode_routed(&relayed).expect("ok"),
        (
            Channel(4),
            Decoded::Message(Server::Signal {
                from_user_id: "alice".into(),
                signal
            })
        )
    );
}
