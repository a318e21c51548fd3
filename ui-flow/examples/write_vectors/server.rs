//! Server-to-client vectors: `spec/vectors/server.json`.

use rmpv::Value;
use ui_flow::{ErrorCode, PresenceDiff, PresenceStatus, SignalPayload};

use super::*;

fn every_value_kind() -> Value {
    map(vec![
        ("nil", Value::Nil),
        ("true", Value::from(true)),
        ("false", Value::from(false)),
        ("zero", Value::from(0)),
        ("fixint_max", Value::from(127)),
        ("uint8_min", Value::from(128)),
        ("uint16_min", Value::from(256)),
        ("uint32_min", Value::from(65_536)),
        ("uint64_min", Value::from(4_294_967_296u64)),
        ("json_safe_max", Value::from(SAFE)),
        ("json_safe_max_plus_1", Value::from(SAFE + 1)),
        ("u64_max", Value::from(u64::MAX)),
        ("neg_fixint_min", Value::from(-32)),
        ("int8_min", Value::from(-128)),
        ("int16", Value::from(-129)),
        ("json_safe_min", Value::from(-(SAFE as i64))),
        ("json_safe_min_minus_1", Value::from(-(SAFE as i64) - 1)),
        ("i64_min", Value::from(i64::MIN)),
        ("f32", Value::F32(1.5)),
        ("f64", Value::F64(-0.25)),
        ("f64_integral", Value::F64(1.0)),
        ("f64_infinity", Value::F64(f64::INFINITY)),
        ("empty_str", s("")),
        ("non_ascii_str", s("ñ 中 🦀")),
        ("str8", s(&"a".repeat(32))),
        ("empty_bin", bin(&[])),
        ("bin", bin(&[0x00, 0xff, 0x10])),
        ("ext", Value::Ext(5, vec![1, 2, 3])),
        ("empty_array", arr(vec![])),
        ("array16", arr((0..16).map(Value::from).collect())),
        ("empty_map", map(vec![])),
        (
            "int_keys",
            Value::Map(vec![
                (Value::from(1), s("one")),
                (Value::from(-1), s("minus one")),
            ]),
        ),
        ("dollar_key", map(vec![("$bin", s("not a bin"))])),
        ("bin_key", Value::Map(vec![(bin(&[1]), Value::Nil)])),
    ])
}

pub(crate) fn server_vectors() -> Book {
    let mut b = Book::new(
        "server.json",
        "Server-to-client frames that must decode to `expected`; unless decode_only, encoding \
         `expected` must give exactly `hex`. See spec/PROTOCOL.md, \"Test vectors\".",
    );
    type M = DynServer;

    // Connected
    b.server(
        "connected",
        "the first message on every connection",
        M::Connected {
            protocol_version: 1,
            connection_id: "c-7f3a".into(),
            user_id: None,
            channels: None,
        },
    );
    b.server(
        "connected_with_user",
        "user_id tells the client who it is in presence lists",
        M::Connected {
            protocol_version: 1,
            connection_id: "c-7f3b".into(),
            user_id: Some("alice".into()),
            channels: None,
        },
    );
    b.server(
        "connected_boundaries",
        "protocol_version at u8 max, empty connection_id, non-ASCII user_id",
        M::Connected {
            protocol_version: u8::MAX,
            connection_id: String::new(),
            user_id: Some("ユーザー-ø".into()),
            channels: None,
        },
    );
    // Pong
    b.server(
        "pong_zero",
        "timestamps of 0",
        M::Pong {
            client_ts: 0,
            server_ts: 0,
        },
    );
    b.server(
        "pong_u64_max",
        "u64::MAX stays a u64 on the wire and in the JSON form",
        M::Pong {
            client_ts: u64::MAX,
            server_ts: u64::MAX,
        },
    );
    b.server(
        "pong_fixint_edge",
        "127 is a positive fixint, 128 the smallest uint8",
        M::Pong {
            client_ts: 127,
            server_ts: 128,
        },
    );
    b.server(
        "pong_json_safe_edge",
        "2^53 - 1 is a JSON number, 2^53 is {\"$u64\": ...}",
        M::Pong {
            client_ts: SAFE,
            server_ts: SAFE + 1,
        },
    );
    // Error
    b.server(
        "error_bad_frame",
        "a non-fatal error with a known code",
        M::Error {
            code: Some(ErrorCode::BAD_FRAME),
            message: "Ping.ts: expected an unsigned integer".into(),
            fatal: false,
            op_id: None,
        },
    );
    b.server(
        "error_fatal_without_code",
        "code is optional",
        M::Error {
            code: None,
            message: "closing".into(),
            fatal: true,
            op_id: None,
        },
    );
    b.server(
        "error_unknown_code_non_ascii",
        "codes are an open set; a client treats an unknown code by its fatal flag",
        M::Error {
            code: Some(ErrorCode::new("some_future_code")),
            message: "Überlastung — 過負荷 🚦".into(),
            fatal: false,
            op_id: None,
        },
    );
    b.server(
        "error_about_one_frame",
        "an error about one client frame names that frame's op_id (additive); the action's \
         outcome still comes as ActionOk or ActionErr",
        M::Error {
            code: Some(ErrorCode::BAD_FRAME),
            message: "Ping.ts: expected an unsigned integer".into(),
            fatal: false,
            op_id: Some(OP),
        },
    );
    b.server(
        "error_empty_message",
        "an empty string",
        M::Error {
            code: Some(ErrorCode::RATE_LIMITED),
            message: String::new(),
            fatal: false,
            op_id: None,
        },
    );
    // Snapshot
    b.server(
        "snapshot",
        "a state payload (any serde value, structs as maps) at seq 41 of epoch 7",
        M::Snapshot {
            state: map(vec![
                ("title", s("Board")),
                (
                    "cards",
                    arr(vec![map(vec![("id", Value::from(1)), ("text", s("hi"))])]),
                ),
                ("version", Value::from(3)),
            ]),
            seq: 41,
            timestamp: TS,
            epoch: Some(7),
        },
    );
    b.server(
        "snapshot_nil_state_no_epoch",
        "nil is a valid payload (not an absent field); epoch omitted",
        M::Snapshot {
            state: Value::Nil,
            seq: 0,
            timestamp: 0,
            epoch: None,
        },
    );
    b.server(
        "snapshot_boundaries",
        "empty map state, seq and timestamp at u64::MAX, epoch at u32::MAX",
        M::Snapshot {
            state: map(vec![]),
            seq: u64::MAX,
            timestamp: u64::MAX,
            epoch: Some(u32::MAX),
        },
    );
    // Delta
    b.server(
        "delta",
        "one change: moves the state from seq 41 to 42",
        M::Delta {
            delta: map(vec![("x", Value::from(1)), ("y", Value::from(-2))]),
            seq: 42,
            timestamp: TS + 123,
            epoch: None,
            prev: None,
        },
    );
    b.server(
        "delta_with_epoch_zero",
        "epoch 0 is a value, not an absence; a string payload",
        M::Delta {
            delta: s("reset"),
            seq: 1,
            timestamp: TS,
            epoch: Some(0),
            prev: None,
        },
    );
    b.server(
        "delta_every_value_kind",
        "every MessagePack kind and integer width in a payload, and the JSON form of each",
        M::Delta {
            delta: every_value_kind(),
            seq: 43,
            timestamp: TS,
            epoch: Some(7),
            prev: None,
        },
    );
    b.server(
        "delta_ext_canonical_headers",
        "an ext of 1, 2, 4, 8 or 16 bytes takes the fixext header of that size; \
         any other length takes ext 8 (then ext 16, ext 32)",
        M::Delta {
            delta: arr([1usize, 2, 4, 8, 16, 0, 3, 17]
                .into_iter()
                .map(|n| Value::Ext(5, (1..=n as u8).collect()))
                .collect()),
            seq: 44,
            timestamp: TS,
            epoch: None,
            prev: None,
        },
    );
    b.server(
        "delta_with_prev",
        "a view skipped seqs 8..=9: the change takes the state from seq 7 to 10",
        M::Delta {
            delta: map(vec![("x", Value::from(3))]),
            seq: 10,
            timestamp: TS,
            epoch: None,
            prev: Some(7),
        },
    );
    // Deltas
    b.server(
        "deltas",
        "three changes covering seq 10..=12",
        M::Deltas {
            deltas: (1..=3).map(|x| map(vec![("x", Value::from(x))])).collect(),
            seq: 12,
            timestamp: TS,
            epoch: Some(7),
            prev: None,
        },
    );
    b.server(
        "deltas_empty",
        "the answer to a Resync from a client that is already at the head",
        M::Deltas {
            deltas: vec![],
            seq: 12,
            timestamp: TS,
            epoch: None,
            prev: None,
        },
    );
    b.server(
        "deltas_with_prev",
        "a view's projection of one commit (seqs 11..=12) after its change at 5: \
         the two entries together take the state from 5 to 12",
        M::Deltas {
            deltas: vec![s("enter"), s("leave")],
            seq: 12,
            timestamp: TS,
            epoch: Some(7),
            prev: Some(5),
        },
    );
    b.server(
        "deltas_with_prev_empty",
        "the state at seq 5 is the state at 12 for this view",
        M::Deltas {
            deltas: vec![],
            seq: 12,
            timestamp: TS,
            epoch: Some(7),
            prev: Some(5),
        },
    );
    // Presence
    b.server(
        "presence",
        "the full list: one entry per user, name optional",
        M::Presence {
            users: vec![
                user("alice", Some("Alice"), PresenceStatus::Active, TS),
                user("bob", None, PresenceStatus::Idle, TS + 1),
                user("zoë", Some("Zoë 🌙"), PresenceStatus::Away, 0),
            ],
        },
    );
    b.server(
        "presence_empty",
        "an empty list",
        M::Presence { users: vec![] },
    );
    // PresenceDiff
    b.server(
        "presence_diff_joined",
        "one user joined; empty lists are omitted",
        M::PresenceDiff(PresenceDiff {
            joined: vec![user("carol", None, PresenceStatus::Active, TS)],
            ..PresenceDiff::default()
        }),
    );
    b.server(
        "presence_diff_all_lists",
        "joined, updated and left together",
        M::PresenceDiff(PresenceDiff {
            joined: vec![user("dave", Some("Dave"), PresenceStatus::Active, TS)],
            updated: vec![user("bob", None, PresenceStatus::Away, TS + 1)],
            left: vec!["alice".into(), "ünïcode".into()],
        }),
    );
    b.server(
        "presence_diff_empty",
        "a diff that changes nothing is just the tag",
        M::PresenceDiff(PresenceDiff::default()),
    );
    // Signal
    b.server(
        "signal_offer",
        "an RTCSessionDescriptionInit",
        M::Signal {
            from_user_id: "alice".into(),
            signal: SignalPayload::Offer { sdp: SDP.into() },
        },
    );
    b.server(
        "signal_answer",
        "an RTCSessionDescriptionInit",
        M::Signal {
            from_user_id: "bob".into(),
            signal: SignalPayload::Answer { sdp: SDP.into() },
        },
    );
    b.server(
        "signal_candidate",
        "an RTCIceCandidateInit with every field",
        M::Signal {
            from_user_id: "alice".into(),
            signal: candidate(),
        },
    );
    b.server(
        "signal_end_of_candidates",
        "an empty candidate marks the end of candidates; optional fields omitted",
        M::Signal {
            from_user_id: "alice".into(),
            signal: SignalPayload::IceCandidate {
                candidate: String::new(),
                sdp_mid: None,
                sdp_m_line_index: None,
                username_fragment: None,
            },
        },
    );
    // Notify
    b.server(
        "notify",
        "the event carries its own discriminant; correlation_id names the causing action",
        M::Notify {
            domain: "world".into(),
            event: map(vec![("type", s("player_joined")), ("player", s("alice"))]),
            correlation_id: Some(OP),
        },
    );
    b.server(
        "notify_minimal",
        "empty domain, a string event, no correlation",
        M::Notify {
            domain: String::new(),
            event: s("tick"),
            correlation_id: None,
        },
    );
    // Progress
    b.server(
        "progress_minimal",
        "only the op_id",
        M::Progress {
            op_id: OP,
            percent: None,
            message: None,
        },
    );
    b.server(
        "progress_started",
        "percent 0 is a value",
        M::Progress {
            op_id: OP,
            percent: Some(0),
            message: Some("queued".into()),
        },
    );
    b.server(
        "progress_done",
        "percent 100, non-ASCII message",
        M::Progress {
            op_id: OP,
            percent: Some(100),
            message: Some("fertig ✓".into()),
        },
    );
    // ActionOk
    b.server(
        "action_ok",
        "success without a result",
        M::ActionOk {
            op_id: OP,
            result: None,
        },
    );
    b.server(
        "action_ok_result",
        "a result that JSON could not carry (bin, u64::MAX, an integer key) embedded as-is",
        M::ActionOk {
            op_id: OP,
            result: Some(raw(&Value::Map(vec![
                (s("id"), bin(&[0xde, 0xad, 0xbe, 0xef])),
                (s("count"), Value::from(u64::MAX)),
                (s("ratio"), Value::F64(0.5)),
                (Value::from(7), s("integer key")),
            ]))),
        },
    );
    b.server(
        "action_ok_scalar_result_zero_op_id",
        "a scalar result; the all-zero OpId",
        M::ActionOk {
            op_id: OP_ZERO,
            result: Some(raw(&Value::from(42))),
        },
    );
    // ActionErr
    b.server(
        "action_err",
        "an application error code and message",
        M::ActionErr {
            op_id: OP,
            code: Some("out_of_stock".into()),
            message: "nothing left".into(),
        },
    );
    b.server(
        "action_err_minimal",
        "no code, empty message, the all-ones OpId",
        M::ActionErr {
            op_id: OP_MAX,
            code: None,
            message: String::new(),
        },
    );

    // ---- decode-only: nil optionals
    b.server_decodes(
        "connected_user_id_nil",
        "nil for an optional field means absent",
        frame(vec![
            ("t", Value::from(0)),
            ("protocol_version", Value::from(1)),
            ("connection_id", s("c-1")),
            ("user_id", Value::Nil),
        ]),
        M::Connected {
            protocol_version: 1,
            connection_id: "c-1".into(),
            user_id: None,
            channels: None,
        },
    );
    b.server_decodes(
        "error_code_nil",
        "nil for an optional field means absent",
        frame(vec![
            ("t", Value::from(2)),
            ("code", Value::Nil),
            ("message", s("m")),
            ("fatal", Value::from(false)),
        ]),
        M::Error {
            code: None,
            message: "m".into(),
            fatal: false,
            op_id: None,
        },
    );
    b.server_decodes(
        "snapshot_epoch_nil",
        "nil for an optional field means absent",
        frame(vec![
            ("t", Value::from(1000)),
            ("state", map(vec![])),
            ("seq", Value::from(5)),
            ("timestamp", Value::from(6)),
            ("epoch", Value::Nil),
        ]),
        M::Snapshot {
            state: map(vec![]),
            seq: 5,
            timestamp: 6,
            epoch: None,
        },
    );
    b.server_decodes(
        "notify_correlation_id_nil",
        "nil for an optional field means absent",
        frame(vec![
            ("t", Value::from(4000)),
            ("domain", s("world")),
            ("event", s("e")),
            ("correlation_id", Value::Nil),
        ]),
        M::Notify {
            domain: "world".into(),
            event: s("e"),
            correlation_id: None,
        },
    );
    b.server_decodes(
        "progress_optionals_nil",
        "nil for optional fields means absent",
        frame(vec![
            ("t", Value::from(5000)),
            ("op_id", bin(OP.as_bytes())),
            ("percent", Value::Nil),
            ("message", Value::Nil),
        ]),
        M::Progress {
            op_id: OP,
            percent: None,
            message: None,
        },
    );
    b.server_decodes(
        "action_ok_result_nil",
        "a nil result is no result",
        frame(vec![
            ("t", Value::from(5001)),
            ("op_id", bin(OP.as_bytes())),
            ("result", Value::Nil),
        ]),
        M::ActionOk {
            op_id: OP,
            result: None,
        },
    );
    b.server_decodes(
        "action_err_code_nil",
        "nil for an optional field means absent",
        frame(vec![
            ("t", Value::from(5002)),
            ("op_id", bin(OP.as_bytes())),
            ("code", Value::Nil),
            ("message", s("no")),
        ]),
        M::ActionErr {
            op_id: OP,
            code: None,
            message: "no".into(),
        },
    );
    let mut nameless = user_value("bob", "idle", 9);
    nameless.insert(1, ("name", Value::Nil));
    b.server_decodes(
        "presence_info_name_nil",
        "nil for an optional field of a nested map means absent",
        frame(vec![
            ("t", Value::from(2000)),
            ("users", arr(vec![map(nameless)])),
        ]),
        M::Presence {
            users: vec![user("bob", None, PresenceStatus::Idle, 9)],
        },
    );
    b.server_decodes(
        "presence_diff_lists_nil",
        "PresenceDiff's lists are optional: nil means empty",
        frame(vec![
            ("t", Value::from(2001)),
            ("joined", Value::Nil),
            ("updated", Value::Nil),
            ("left", arr(vec![s("alice")])),
        ]),
        M::PresenceDiff(PresenceDiff {
            left: vec!["alice".into()],
            ..PresenceDiff::default()
        }),
    );
    b.server_decodes(
        "presence_diff_lists_explicitly_empty",
        "present but empty lists mean the same as absent ones",
        frame(vec![
            ("t", Value::from(2001)),
            ("joined", arr(vec![])),
            ("updated", arr(vec![])),
            ("left", arr(vec![])),
        ]),
        M::PresenceDiff(PresenceDiff::default()),
    );
    b.server_decodes(
        "signal_candidate_optionals_nil",
        "nil for the candidate's optional fields means absent",
        frame(vec![
            ("t", Value::from(3000)),
            ("from_user_id", s("alice")),
            (
                "signal",
                map(vec![
                    ("type", s("candidate")),
                    ("candidate", s("candidate:1 1 udp 1 192.0.2.1 1 typ host")),
                    ("sdpMid", Value::Nil),
                    ("sdpMLineIndex", Value::Nil),
                    ("usernameFragment", Value::Nil),
                ]),
            ),
        ]),
        M::Signal {
            from_user_id: "alice".into(),
            signal: SignalPayload::IceCandidate {
                candidate: "candidate:1 1 udp 1 192.0.2.1 1 typ host".into(),
                sdp_mid: None,
                sdp_m_line_index: None,
                username_fragment: None,
            },
        },
    );
    // ---- decode-only: field order
    b.server_decodes(
        "delta_fields_reversed",
        "fields after \"t\" may come in any order",
        frame(vec![
            ("t", Value::from(1001)),
            ("epoch", Value::from(7)),
            ("timestamp", Value::from(TS)),
            ("seq", Value::from(42)),
            ("delta", map(vec![("x", Value::from(1))])),
        ]),
        M::Delta {
            delta: map(vec![("x", Value::from(1))]),
            seq: 42,
            timestamp: TS,
            epoch: Some(7),
            prev: None,
        },
    );
    b.server_decodes(
        "presence_info_fields_reordered",
        "nested maps' keys may come in any order",
        frame(vec![
            ("t", Value::from(2000)),
            (
                "users",
                arr(vec![map(vec![
                    ("connected_at", Value::from(5)),
                    ("status", s("away")),
                    ("name", s("Bob")),
                    ("user_id", s("bob")),
                ])]),
            ),
        ]),
        M::Presence {
            users: vec![user("bob", Some("Bob"), PresenceStatus::Away, 5)],
        },
    );
    b.server_decodes(
        "signal_payload_keys_reordered",
        "\"type\" need not come first in a signal payload",
        frame(vec![
            ("t", Value::from(3000)),
            (
                "signal",
                map(vec![("sdp", s("v=0\r\n")), ("type", s("answer"))]),
            ),
            ("from_user_id", s("bob")),
        ]),
        M::Signal {
            from_user_id: "bob".into(),
            signal: SignalPayload::Answer {
                sdp: "v=0\r\n".into(),
            },
        },
    );
    // ---- decode-only: unknown fields
    b.server_decodes(
        "progress_unknown_fields",
        "unknown fields are skipped whatever their value",
        frame(vec![
            ("t", Value::from(5000)),
            (
                "future",
                map(vec![("deep", arr(vec![Value::Nil, bin(&[1])]))]),
            ),
            ("op_id", bin(OP.as_bytes())),
            ("eta_ms", Value::from(u64::MAX)),
            ("message", s("half way")),
        ]),
        M::Progress {
            op_id: OP,
            percent: None,
            message: Some("half way".into()),
        },
    );
    let mut with_avatar = user_value("carol", "active", 1);
    with_avatar.push(("avatar", s("carol.png")));
    b.server_decodes(
        "presence_info_unknown_field",
        "unknown keys in nested maps are skipped",
        frame(vec![
            ("t", Value::from(2001)),
            ("joined", arr(vec![map(with_avatar)])),
            ("reason", s("login")),
        ]),
        M::PresenceDiff(PresenceDiff {
            joined: vec![user("carol", None, PresenceStatus::Active, 1)],
            ..PresenceDiff::default()
        }),
    );
    b.server_decodes(
        "signal_payload_unknown_field",
        "unknown keys in a signal payload are skipped",
        frame(vec![
            ("t", Value::from(3000)),
            ("from_user_id", s("alice")),
            (
                "signal",
                map(vec![
                    ("type", s("offer")),
                    ("sdp", s("v=0\r\n")),
                    ("iceRestart", Value::from(true)),
                ]),
            ),
        ]),
        M::Signal {
            from_user_id: "alice".into(),
            signal: SignalPayload::Offer {
                sdp: "v=0\r\n".into(),
            },
        },
    );
    b.server_decodes(
        "signal_relayed_as_written",
        "a relayed payload keeps the sender's key order, nils and unknown keys; \
         a reader skips what it does not know",
        frame(vec![
            ("t", Value::from(3000)),
            ("from_user_id", s("alice")),
            (
                "signal",
                map(vec![
                    ("x-extension", map(vec![("v", Value::from(2))])),
                    ("candidate", s("candidate:1 1 udp 1 192.0.2.1 9 typ host")),
                    ("usernameFragment", Value::Nil),
                    ("type", s("candidate")),
                ]),
            ),
        ]),
        M::Signal {
            from_user_id: "alice".into(),
            signal: SignalPayload::IceCandidate {
                candidate: "candidate:1 1 udp 1 192.0.2.1 9 typ host".into(),
                sdp_mid: None,
                sdp_m_line_index: None,
                username_fragment: None,
            },
        },
    );
    b.server_decodes(
        "delta_ext8_holding_four_bytes",
        "a receiver accepts an ext in a wider header than the canonical fixext",
        // ext 8, type 5, 4 bytes of data
        cat(&[
            &[0x84],
            &key("t"),
            &[0xcd, 0x03, 0xe9],
            &key("delta"),
            &[0xc7, 0x04, 0x05, 0x01, 0x02, 0x03, 0x04],
            &key("seq"),
            &[0x01],
            &key("timestamp"),
            &[0x02],
        ]),
        M::Delta {
            delta: Value::Ext(5, vec![1, 2, 3, 4]),
            seq: 1,
            timestamp: 2,
            epoch: None,
            prev: None,
        },
    );
    // ---- decode-only: OpId as text
    b.server_decodes(
        "notify_correlation_id_text",
        "an OpId may arrive as hyphenated UUID text",
        frame(vec![
            ("t", Value::from(4000)),
            ("domain", s("world")),
            ("event", Value::from(1)),
            ("correlation_id", s(OP_TEXT)),
        ]),
        M::Notify {
            domain: "world".into(),
            event: Value::from(1),
            correlation_id: Some(OP),
        },
    );
    b.server_decodes(
        "progress_op_id_text_uppercase",
        "hex digits of an OpId's text may be upper case",
        frame(vec![
            ("t", Value::from(5000)),
            ("op_id", s(&OP_TEXT.to_uppercase())),
        ]),
        M::Progress {
            op_id: OP,
            percent: None,
            message: None,
        },
    );
    // ---- decode-only: integer formats other than the shortest
    b.server_decodes(
        "delta_wide_integer_formats",
        "any integer format whose value fits is accepted: t as uint16 written \
         as uint32, seq as uint64, timestamp as a signed int8, epoch as int16",
        cat(&[
            &[0x84],
            &key("t"),
            &[0xce, 0x00, 0x00, 0x03, 0xe9],
            &key("delta"),
            &[0xc0],
            &key("seq"),
            &[0xcf, 0, 0, 0, 0, 0, 0, 0, 5],
            &key("timestamp"),
            &[0xd0, 0x06],
        ]),
        M::Delta {
            delta: Value::Nil,
            seq: 5,
            timestamp: 6,
            epoch: None,
            prev: None,
        },
    );
    b.server_decodes(
        "pong_keys_as_str8",
        "keys may use any str format, \"t\" included",
        cat(&[
            &[0x83, 0xd9, 0x01, b't', 0x01],
            &[0xd9, 0x09],
            b"client_ts",
            &[0x01],
            &[0xda, 0x00, 0x09],
            b"server_ts",
            &[0x02],
        ]),
        M::Pong {
            client_ts: 1,
            server_ts: 2,
        },
    );
    // ---- decode-only: unknown tags
    b.unknown(
        "unknown_tag_6000",
        "server",
        "a tag this build does not know is reported, not an error; its fields are not read",
        frame(vec![
            ("t", Value::from(6000)),
            ("payload", arr(vec![Value::from(1), s("two")])),
        ]),
        6000,
    );
    b.unknown(
        "unknown_tag_in_known_range",
        "server",
        "1003 is in the state-sync range but unassigned",
        frame(vec![
            ("t", Value::from(1003)),
            ("seq", s("not even a number")),
        ]),
        1003,
    );
    b.unknown(
        "unknown_tag_65535_alone",
        "server",
        "the largest tag, with no other field",
        frame(vec![("t", Value::from(65_535))]),
        65_535,
    );
    b
}
