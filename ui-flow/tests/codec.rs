//! Codec behaviour that the vectors alone do not make obvious.

use rmpv::Value;
use serde::{Deserialize, Serialize};
use ui_flow::codec::{Decoded, Limits};
use ui_flow::{
    ClientMessage, DecodeError, OpId, PresenceDiff, PresenceInfo, PresenceStatus, RawValue,
    ServerMessage, SignalPayload,
};

type Dyn = ServerMessage<Value, Value, Value>;

fn encode_value(v: &Value) -> Vec<u8> {
    let mut buf = Vec::new();
    rmpv::encode::write_value(&mut buf, v).expect("vec write");
    buf
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Move {
    dx: i8,
    dy: i8,
}

#[test]
fn unsubscribe_is_not_mistaken_for_resync() {
    // The design's flatten + untagged sketch decodes this frame as Resync.
    let frame = encode_value(&map(vec![
        ("t", Value::from(2001)),
        ("domains", Value::Array(vec![Value::from("world")])),
    ]));
    assert_eq!(
        ClientMessage::<Value>::decode(&frame),
        Ok(Decoded::Message(ClientMessage::Unsubscribe {
            domains: vec!["world".into()]
        }))
    );
}

#[test]
fn unknown_tags_are_reported_not_errors() {
    let frame = encode_value(&map(vec![("t", Value::from(6123)), ("x", Value::from(1))]));
    assert_eq!(Dyn::decode(&frame), Ok(Decoded::Unknown { tag: 6123 }));
    assert_eq!(
        ClientMessage::<Value>::decode(&frame),
        Ok(Decoded::Unknown { tag: 6123 })
    );
}

#[test]
fn unknown_fields_are_skipped_and_nil_means_absent() {
    let frame = encode_value(&map(vec![
        ("t", Value::from(5000)),
        (
            "future",
            map(vec![("deep", Value::Array(vec![Value::Nil]))]),
        ),
        ("op_id", Value::Binary(vec![7; 16])),
        ("percent", Value::Nil),
        ("message", Value::from("half way")),
    ]));
    assert_eq!(
        Dyn::decode(&frame),
        Ok(Decoded::Message(ServerMessage::Progress {
            op_id: OpId::from_bytes([7; 16]),
            percent: None,
            message: Some("half way".into()),
        }))
    );
}

#[test]
fn typed_payloads_round_trip_and_encoding_is_deterministic() {
    let op_id = OpId::from_u128(1);
    let msg = ClientMessage::Action {
        op_id,
        action: Move { dx: 1, dy: -1 },
    };
    let a = msg.encode().expect("encode");
    let b = msg.clone().encode().expect("encode");
    assert_eq!(a, b);
    assert_eq!(ClientMessage::decode(&a), Ok(Decoded::Message(msg)));
    // The same frame decodes with a dynamic payload type.
    let Ok(Decoded::Message(ClientMessage::Action { action, .. })) =
        ClientMessage::<Value>::decode(&a)
    else {
        panic!("dynamic decode failed");
    };
    assert_eq!(
        action,
        map(vec![("dx", Value::from(1)), ("dy", Value::from(-1))])
    );
}

#[test]
fn every_server_variant_round_trips() {
    let op_id = OpId::from_u128(42);
    let user = PresenceInfo {
        user_id: "ada".into(),
        name: Some("Ada".into()),
        status: PresenceStatus::Idle,
        connected_at: u64::MAX,
    };
    let msgs: Vec<ServerMessage<Vec<u8>, Move, String>> = vec![
        ServerMessage::Connected {
            protocol_version: 1,
            connection_id: "c1".into(),
            user_id: Some("ada".into()),
            channels: None,
        },
        ServerMessage::Pong {
            client_ts: 0,
            server_ts: u64::MAX,
        },
        ServerMessage::Error {
            code: Some(ui_flow::ErrorCode::BAD_FRAME),
            message: "ünïcode".into(),
            fatal: false,
            op_id: None,
        },
        ServerMessage::Snapshot {
            state: vec![1, 2, 3],
            seq: 7,
            timestamp: 9,
            epoch: Some(u32::MAX),
        },
        ServerMessage::Delta {
            delta: Move { dx: 0, dy: 0 },
            seq: 8,
            timestamp: 9,
            epoch: None,
            prev: None,
        },
        ServerMessage::Deltas {
            deltas: vec![],
            seq: 8,
            timestamp: 9,
            epoch: Some(3),
            prev: None,
        },
        ServerMessage::Presence {
            users: vec![user.clone()],
        },
        ServerMessage::PresenceDiff(PresenceDiff {
            joined: vec![user],
            updated: vec![],
            left: vec!["bob".into()],
        }),
        ServerMessage::Signal {
            from_user_id: "ada".into(),
            signal: SignalPayload::IceCandidate {
                candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
                username_fragment: None,
            },
        },
        ServerMessage::Notify {
            domain: "world".into(),
            event: "boom".into(),
            correlation_id: Some(op_id),
        },
        ServerMessage::Progress {
            op_id,
            percent: Some(100),
            message: None,
        },
        ServerMessage::ActionOk {
            op_id,
            result: Some(RawValue::encode(&(u64::MAX, serde_bytes_like())).expect("raw")),
        },
        ServerMessage::ActionErr {
            op_id,
            code: None,
            message: String::new(),
        },
    ];
    for msg in msgs {
        let frame = msg.encode().expect("encode");
        assert_eq!(ServerMessage::decode(&frame), Ok(Decoded::Message(msg)));
    }
}

fn serde_bytes_like() -> Vec<u8> {
    vec![0xff, 0x00]
}

#[test]
fn malformed_frames_give_typed_errors() {
    let good = ClientMessage::<()>::Ping {
        ts: 5,
        presence: None,
    }
    .encode()
    .expect("encode");
    let truncated = &good[..good.len() - 1];
    assert!(matches!(
        ClientMessage::<()>::decode(truncated),
        Err(DecodeError::Truncated { .. })
    ));
    let mut trailing = good.clone();
    trailing.push(0xc0);
    assert_eq!(
        ClientMessage::<()>::decode(&trailing),
        Err(DecodeError::TrailingBytes { extra: 1 })
    );
    assert_eq!(
        ClientMessage::<()>::decode_with(&good, &Limits::default().max_frame_len(3)),
        Err(DecodeError::TooLarge {
            len: good.len(),
            max: 3
        })
    );
    let wrong_type = encode_value(&map(vec![("t", Value::from(0)), ("ts", Value::from("x"))]));
    assert!(matches!(
        ClientMessage::<()>::decode(&wrong_type),
        Err(DecodeError::InvalidField {
            message: "Ping",
            field: "ts",
            ..
        })
    ));
    let missing = encode_value(&map(vec![("t", Value::from(0))]));
    assert_eq!(
        ClientMessage::<()>::decode(&missing),
        Err(DecodeError::MissingField {
            message: "Ping",
            field: "ts"
        })
    );
    let tag_second = encode_value(&map(vec![("ts", Value::from(1)), ("t", Value::from(0))]));
    assert_eq!(
        ClientMessage::<()>::decode(&tag_second),
        Err(DecodeError::MissingTag)
    );
    assert_eq!(
        ClientMessage::<()>::decode(&[0x93, 1, 2, 3]),
        Err(DecodeError::NotAMap)
    );
}

#[test]
fn depth_bombs_are_rejected_before_serde_sees_them() {
    // An Action whose payload is 10,000 nested arrays.
    let mut frame = encode_value(&map(vec![
        ("t", Value::from(1000)),
        ("op_id", Value::Binary(vec![0; 16])),
    ]));
    frame[0] = 0x83;
    frame.extend_from_slice(&[0xa6, b'a', b'c', b't', b'i', b'o', b'n']);
    frame.extend(std::iter::repeat_n(0x91, 10_000));
    frame.push(0xc0);
    assert!(matches!(
        ClientMessage::<Value>::decode(&frame),
        Err(DecodeError::TooDeep { max: 64, .. })
    ));
}

/// Payloads are read in place, not walked first: the payload reader holds
/// them to what the frame's depth limit (64) leaves below the frame's own
/// map, and, as the frame's walk does, counts arrays and maps but not
/// extension values. A type that would take any depth (`rmpv::Value`)
/// shows the limit is the reader's.
#[test]
fn payloads_read_in_place_keep_the_frames_depth_limit() {
    // `levels` nested arrays around `inner`, as an Action's and a Delta's
    // payload.
    let nested =
        |levels: usize, inner: Value| (0..levels).fold(inner, |value, _| Value::Array(vec![value]));
    let action = |payload: Value| {
        encode_value(&map(vec![
            ("t", Value::from(1000)),
            ("op_id", Value::Binary(vec![7; 16])),
            ("action", payload),
        ]))
    };
    let delta = |payload: Value| {
        encode_value(&map(vec![
            ("t", Value::from(1001)),
            ("seq", Value::from(1)),
            ("timestamp", Value::from(0)),
            ("delta", payload),
        ]))
    };
    let ext = Value::Ext(5, vec![1, 2, 3]);
    for inner in [Value::Nil, ext] {
        let deepest = nested(63, inner.clone());
        let frame = action(deepest.clone());
        match ClientMessage::<Value>::decode(&frame) {
            Ok(Decoded::Message(ClientMessage::Action { action, .. })) => {
                assert_eq!(action, deepest)
            }
            other => panic!("63 levels in an Action: {other:?}"),
        }
        match Dyn::decode(&delta(deepest.clone())) {
            Ok(Decoded::Message(ServerMessage::Delta { delta, .. })) => assert_eq!(delta, deepest),
            other => panic!("63 levels in a Delta: {other:?}"),
        }
        let too_deep = nested(64, inner);
        assert!(matches!(
            ClientMessage::<Value>::decode(&action(too_deep.clone())),
            Err(DecodeError::TooDeep { max: 64, .. })
        ));
        assert!(matches!(
            Dyn::decode(&delta(too_deep)),
            Err(DecodeError::TooDeep { max: 64, .. })
        ));
    }
}

#[test]
fn a_nil_action_result_is_encoded_as_no_result() {
    let op_id = OpId::from_u128(9);
    let nil = ServerMessage::<(), (), ()>::ActionOk {
        op_id,
        result: Some(RawValue::encode(&()).expect("raw")),
    };
    let none = ServerMessage::<(), (), ()>::ActionOk {
        op_id,
        result: None,
    };
    let frame = nil.encode().expect("encode");
    assert_eq!(frame, none.encode().expect("encode"));
    assert_eq!(ServerMessage::decode(&frame), Ok(Decoded::Message(none)));
}

/// Payloads are deserialized where the reader finds them, not after the
/// frame: the first bad field in frame order is the one reported, whether
/// it is a payload or an envelope field.
#[test]
fn a_payload_error_comes_in_frame_order() {
    let bad_move = map(vec![("dx", Value::from("left")), ("dy", Value::from(0))]);
    let good_move = map(vec![("dx", Value::from(1)), ("dy", Value::from(0))]);
    type Moves = ServerMessage<Move, Move, Move>;
    // The bad payload first, a repeated seq after it: the payload is named.
    let frame = encode_value(&map(vec![
        ("t", Value::from(1001)),
        ("delta", bad_move.clone()),
        ("seq", Value::from(1)),
        ("seq", Value::from(2)),
        ("timestamp", Value::from(0)),
    ]));
    assert!(matches!(
        Moves::decode(&frame),
        Err(DecodeError::InvalidField {
            message: "Delta",
            field: "delta",
            ..
        })
    ));
    // The repeated seq first: it is named, the payload after it never read.
    let frame = encode_value(&map(vec![
        ("t", Value::from(1001)),
        ("seq", Value::from(1)),
        ("seq", Value::from(2)),
        ("delta", bad_move.clone()),
        ("timestamp", Value::from(0)),
    ]));
    assert_eq!(
        Moves::decode(&frame),
        Err(DecodeError::DuplicateField {
            message: "Delta",
            field: "seq"
        })
    );
    // A bad entry of Deltas is named as "deltas", a missing field after a
    // bad state still loses to the state.
    let frame = encode_value(&map(vec![
        ("t", Value::from(1002)),
        ("deltas", Value::Array(vec![good_move, bad_move.clone()])),
        ("seq", Value::from(2)),
        ("timestamp", Value::from(0)),
    ]));
    assert!(matches!(
        Moves::decode(&frame),
        Err(DecodeError::InvalidField {
            message: "Deltas",
            field: "deltas",
            ..
        })
    ));
    let frame = encode_value(&map(vec![("t", Value::from(1000)), ("state", bad_move)]));
    assert!(matches!(
        Moves::decode(&frame),
        Err(DecodeError::InvalidField {
            message: "Snapshot",
            field: "state",
            ..
        })
    ));
}
