//! Client-to-server vectors: `spec/vectors/client.json`.

use rmpv::Value;
use ui_flow::{PresenceStatus, SignalPayload};

use super::*;

pub(crate) fn client_vectors() -> Book {
    let mut b = Book::new(
        "client.json",
        "Client-to-server frames that must decode to `expected`; unless decode_only, encoding \
         `expected` must give exactly `hex`. See spec/PROTOCOL.md, \"Test vectors\".",
    );
    type M = DynClient;
    b.client(
        "ping_zero",
        "ts 0",
        M::Ping {
            ts: 0,
            presence: None,
        },
    );
    b.client(
        "ping_u64_max",
        "ts at u64::MAX",
        M::Ping {
            ts: u64::MAX,
            presence: None,
        },
    );
    for (status, note) in [
        (
            PresenceStatus::Active,
            "the user interacted since the last ping",
        ),
        (
            PresenceStatus::Idle,
            "the page is visible, nothing happened",
        ),
        (PresenceStatus::Away, "the page is hidden"),
    ] {
        b.client(
            &format!("ping_presence_{status}"),
            note,
            M::Ping {
                ts: TS,
                presence: Some(status),
            },
        );
    }
    b.client(
        "resync_snapshot_request",
        "no last_seq: send a snapshot",
        M::Resync {
            last_seq: None,
            epoch: None,
        },
    );
    b.client(
        "resync_last_seq",
        "catch up after seq 41 (a server with an epoch answers with a snapshot)",
        M::Resync {
            last_seq: Some(41),
            epoch: None,
        },
    );
    b.client(
        "resync_last_seq_epoch",
        "catch up after seq 41 of epoch 7",
        M::Resync {
            last_seq: Some(41),
            epoch: Some(7),
        },
    );
    b.client(
        "resync_boundaries",
        "last_seq at u64::MAX, epoch at u32::MAX",
        M::Resync {
            last_seq: Some(u64::MAX),
            epoch: Some(u32::MAX),
        },
    );
    b.client(
        "resync_epoch_only",
        "an epoch without last_seq still asks for a snapshot",
        M::Resync {
            last_seq: None,
            epoch: Some(7),
        },
    );
    b.client(
        "action",
        "an action payload (any serde value) and its OpId as bin(16)",
        M::Action {
            op_id: OP,
            action: map(vec![
                ("type", s("move")),
                ("dx", Value::from(1)),
                ("dy", Value::from(-2)),
            ]),
        },
    );
    b.client(
        "action_nil_payload_zero_op_id",
        "nil is a valid payload; the all-zero OpId",
        M::Action {
            op_id: OP_ZERO,
            action: Value::Nil,
        },
    );
    b.client(
        "action_bin_payload_max_op_id",
        "a bin payload; the all-ones OpId",
        M::Action {
            op_id: OP_MAX,
            action: bin(&[0, 1, 2, 0xff]),
        },
    );
    b.client(
        "action_depth_64",
        "63 nested arrays inside the frame's map: level 64, the deepest allowed",
        M::Action {
            op_id: OP,
            action: nested_arrays(63),
        },
    );
    b.client(
        "subscribe",
        "two domains",
        M::Subscribe {
            domains: vec!["world".into(), "rewards".into()],
        },
    );
    b.client(
        "subscribe_empty",
        "an empty list",
        M::Subscribe { domains: vec![] },
    );
    b.client(
        "subscribe_non_ascii",
        "empty and non-ASCII domain names",
        M::Subscribe {
            domains: vec![String::new(), "日本語".into(), "emoji 🎉".into()],
        },
    );
    b.client(
        "unsubscribe",
        "the frame the design's untagged sketch decoded as a Resync",
        M::Unsubscribe {
            domains: vec!["world".into()],
        },
    );
    b.client(
        "signal_offer_for_bob",
        "an offer for bob",
        M::Signal {
            target_user_id: "bob".into(),
            signal: SignalPayload::Offer { sdp: SDP.into() },
        },
    );
    b.client(
        "signal_candidate_for_bob",
        "a candidate for bob",
        M::Signal {
            target_user_id: "bob".into(),
            signal: candidate(),
        },
    );

    // ---- decode-only
    b.client_decodes(
        "ping_presence_nil",
        "nil for an optional field means absent",
        frame(vec![
            ("t", Value::from(0)),
            ("ts", Value::from(5)),
            ("presence", Value::Nil),
        ]),
        M::Ping {
            ts: 5,
            presence: None,
        },
    );
    b.client_decodes(
        "resync_nils",
        "nil for both optional fields: a snapshot request",
        frame(vec![
            ("t", Value::from(1)),
            ("last_seq", Value::Nil),
            ("epoch", Value::Nil),
        ]),
        M::Resync {
            last_seq: None,
            epoch: None,
        },
    );
    b.client_decodes(
        "action_fields_reordered",
        "the payload before the op_id",
        frame(vec![
            ("t", Value::from(1000)),
            ("action", s("undo")),
            ("op_id", bin(OP.as_bytes())),
        ]),
        M::Action {
            op_id: OP,
            action: s("undo"),
        },
    );
    b.client_decodes(
        "action_op_id_text",
        "an OpId may arrive as hyphenated UUID text",
        frame(vec![
            ("t", Value::from(1000)),
            ("op_id", s(OP_TEXT)),
            ("action", s("undo")),
        ]),
        M::Action {
            op_id: OP,
            action: s("undo"),
        },
    );
    b.client_decodes(
        "subscribe_unknown_fields",
        "unknown fields are skipped, also nested ones and ones with odd keys",
        frame(vec![
            ("t", Value::from(2000)),
            ("domains", arr(vec![s("world")])),
            (
                "filters",
                Value::Map(vec![(Value::from(1), arr(vec![map(vec![])]))]),
            ),
            ("", Value::Nil),
        ]),
        M::Subscribe {
            domains: vec!["world".into()],
        },
    );
    b.client_decodes(
        "ping_tag_as_int8",
        "\"t\" written as a signed int8 with a non-negative value",
        cat(&[&[0x82], &key("t"), &[0xd0, 0x00], &key("ts"), &[0x07]]),
        M::Ping {
            ts: 7,
            presence: None,
        },
    );
    b.unknown(
        "unknown_tag_4000",
        "client",
        "4000 is Notify's tag, but only from the server; a client never sends it",
        frame(vec![("t", Value::from(4000)), ("domain", s("world"))]),
        4000,
    );
    b.unknown(
        "unknown_tag_9999",
        "client",
        "an unassigned tag in the reserved range",
        frame(vec![
            ("t", Value::from(9999)),
            ("x", map(vec![("y", bin(&[]))])),
        ]),
        9999,
    );
    b
}
