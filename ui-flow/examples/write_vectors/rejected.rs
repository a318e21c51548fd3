//! Frames that must be rejected: `spec/vectors/rejected.json`.

use rmpv::Value;

use super::*;

pub(crate) fn rejected_vectors() -> Book {
    let mut b = Book::new(
        "rejected.json",
        "Frames a decoder must reject with the error kind `error` (and, for field errors, \
         the message or nested type `in` and the `field`). See spec/PROTOCOL.md, \"Decoding\".",
    );
    let ping = frame(vec![("t", Value::from(0)), ("ts", Value::from(5))]);
    let op = || bin(OP.as_bytes());
    let c = "client";
    let sv = "server";

    // --- structure: truncation, trailing bytes, lengths, depth
    b.reject(
        "empty_input",
        c,
        "no bytes at all",
        vec![],
        "truncated",
        None,
    );
    b.reject(
        "ping_truncated_value",
        c,
        "the map promises a value for \"ts\" that never comes",
        ping[..ping.len() - 1].to_vec(),
        "truncated",
        None,
    );
    b.reject(
        "ping_truncated_uint64",
        c,
        "a uint64 with 3 of its 8 bytes",
        cat(&[&[0x82], &key("t"), &[0x00], &key("ts"), &[0xcf, 0, 0, 1]]),
        "truncated",
        None,
    );
    let sub = frame(vec![
        ("t", Value::from(2000)),
        ("domains", arr(vec![s("world")])),
    ]);
    b.reject(
        "subscribe_truncated_in_string",
        c,
        "a string declares 5 bytes, 2 are left",
        sub[..sub.len() - 3].to_vec(),
        "length_exceeds_input",
        None,
    );
    b.reject(
        "ext8_missing_type_byte",
        c,
        "an empty ext8 whose type byte is missing",
        cat(&[&[0x82], &key("t"), &[0x00], &key("x"), &[0xc7, 0x00]]),
        "truncated",
        None,
    );
    b.reject(
        "ping_trailing_nil",
        c,
        "one byte after the frame's map",
        cat(&[&ping, &[0xc0]]),
        "trailing_bytes",
        None,
    );
    b.reject(
        "two_frames_in_one",
        c,
        "one WebSocket message is one frame",
        cat(&[&ping, &ping]),
        "trailing_bytes",
        None,
    );
    b.reject(
        "action_depth_65",
        c,
        "64 nested arrays inside the frame's map: level 65",
        frame(vec![
            ("t", Value::from(1000)),
            ("op_id", op()),
            ("action", nested_arrays(64)),
        ]),
        "too_deep",
        None,
    );
    let mut bomb = cat(&[&[0x83], &key("t"), &[0xcd, 0x03, 0xe8], &key("op_id")]);
    bomb.extend_from_slice(&enc(&op()));
    bomb.extend_from_slice(&key("action"));
    bomb.extend(std::iter::repeat_n(0x91u8, 10_000));
    bomb.push(0xc0);
    b.reject(
        "action_depth_bomb",
        c,
        "10,000 nested one-element arrays, which would overflow a recursive reader's stack",
        bomb,
        "too_deep",
        None,
    );
    b.reject(
        "unknown_field_depth_bomb_of_maps",
        c,
        "depth is checked everywhere, also in fields the reader would skip",
        cat(&[
            &[0x83],
            &key("t"),
            &[0x00],
            &key("ts"),
            &[0x01],
            &key("x"),
            &[0x81, 0xa0].repeat(100),
            &[0xc0],
        ]),
        "too_deep",
        None,
    );
    b.reject(
        "subscribe_array32_length_bomb",
        c,
        "an array32 declaring 4,294,967,295 elements with nothing after it",
        cat(&[
            &[0x82],
            &key("t"),
            &[0xcd, 0x07, 0xd0],
            &key("domains"),
            &[0xdd, 0xff, 0xff, 0xff, 0xff],
        ]),
        "length_exceeds_input",
        None,
    );
    b.reject(
        "frame_map32_length_bomb",
        c,
        "the frame's own map32 declaring 4,294,967,295 entries",
        cat(&[&[0xdf, 0xff, 0xff, 0xff, 0xff], &key("t"), &[0x00]]),
        "length_exceeds_input",
        None,
    );
    b.reject(
        "op_id_bin32_length_bomb",
        c,
        "a bin32 declaring 4 GiB",
        cat(&[
            &[0x83],
            &key("t"),
            &[0xcd, 0x03, 0xe8],
            &key("op_id"),
            &[0xc6, 0xff, 0xff, 0xff, 0xff, 0x00],
        ]),
        "length_exceeds_input",
        None,
    );
    b.reject(
        "key_str32_length_bomb",
        sv,
        "a key declared as a 4 GiB str32",
        cat(&[&[0x82], &key("t"), &[0x01], &[0xdb, 0xff, 0xff, 0xff, 0xff]]),
        "length_exceeds_input",
        None,
    );
    b.reject(
        "map16_entries_exceed_input",
        sv,
        "a map16 declaring 1,000 entries (2,000 values) in 10 bytes",
        cat(&[&[0xde, 0x03, 0xe8], &key("t"), &[0x01], &[0xc0; 7]]),
        "length_exceeds_input",
        None,
    );
    b.reject(
        "reserved_c1_frame",
        c,
        "0xc1 is never used by MessagePack",
        vec![0xc1],
        "reserved_byte",
        None,
    );
    b.reject(
        "reserved_c1_in_payload",
        c,
        "0xc1 inside an action payload",
        cat(&[
            &[0x83],
            &key("t"),
            &[0xcd, 0x03, 0xe8],
            &key("op_id"),
            &enc(&op()),
            &key("action"),
            &[0x91, 0xc1],
        ]),
        "reserved_byte",
        None,
    );

    // --- envelope: a map, "t" first, "t" a u16
    b.reject(
        "ping_tag_not_first",
        c,
        "\"t\" must be the first key",
        frame(vec![("ts", Value::from(1)), ("t", Value::from(0))]),
        "missing_tag",
        None,
    );
    b.reject(
        "no_tag",
        c,
        "a map without \"t\"",
        frame(vec![("ts", Value::from(1))]),
        "missing_tag",
        None,
    );
    b.reject(
        "empty_map",
        sv,
        "an empty map",
        vec![0x80],
        "missing_tag",
        None,
    );
    b.reject(
        "first_key_not_string",
        sv,
        "the first key is the integer 0, not \"t\"",
        enc(&Value::Map(vec![(Value::from(0), Value::from(0))])),
        "missing_tag",
        None,
    );
    b.reject(
        "array_frame",
        c,
        "a frame is a map, not an array",
        enc(&arr(vec![Value::from(0), Value::from(5)])),
        "not_a_map",
        None,
    );
    b.reject(
        "integer_frame",
        sv,
        "a bare integer",
        vec![0x01],
        "not_a_map",
        None,
    );
    b.reject("nil_frame", sv, "a bare nil", vec![0xc0], "not_a_map", None);
    b.reject(
        "string_frame",
        c,
        "a string, as a JSON-over-WebSocket client might send",
        enc(&s("{\"t\":0}")),
        "not_a_map",
        None,
    );
    for (name, note, value) in [
        ("tag_string", "\"t\" as the string \"0\"", s("0")),
        ("tag_negative", "\"t\" as -1", Value::from(-1)),
        ("tag_over_u16", "\"t\" as 65536", Value::from(65_536)),
        ("tag_float", "\"t\" as the float 0.0", Value::F64(0.0)),
        ("tag_nil", "\"t\" as nil", Value::Nil),
        ("tag_bin", "\"t\" as bin", bin(&[0])),
    ] {
        b.reject(
            name,
            c,
            note,
            frame(vec![("t", value), ("ts", Value::from(1))]),
            "invalid_tag",
            None,
        );
    }
    b.reject(
        "key_not_string",
        c,
        "every key of the frame's map is a string",
        cat(&[
            &[0x83],
            &key("t"),
            &[0x00],
            &key("ts"),
            &[0x01],
            &[0x05, 0x01],
        ]),
        "invalid_key",
        None,
    );
    b.reject(
        "key_invalid_utf8",
        c,
        "a key that is not UTF-8",
        cat(&[
            &[0x83],
            &key("t"),
            &[0x00],
            &key("ts"),
            &[0x01],
            &[0xa2, 0xc3, 0x28, 0x01],
        ]),
        "invalid_key",
        None,
    );
    b.reject(
        "unknown_tag_key_not_string",
        sv,
        "keys are checked even when the tag is unknown",
        cat(&[&[0x82], &key("t"), &[0xcd, 0x17, 0x70], &[0x05, 0x01]]),
        "invalid_key",
        None,
    );
    b.reject(
        "unknown_tag_truncated",
        sv,
        "structure is checked before the tag is looked at",
        frame(vec![("t", Value::from(6000)), ("x", s("abc"))])[..10].to_vec(),
        "length_exceeds_input",
        None,
    );
    b.reject(
        "duplicate_tag",
        c,
        "a second \"t\": a reader keeping the last one would see Subscribe",
        frame(vec![
            ("t", Value::from(0)),
            ("ts", Value::from(1)),
            ("t", Value::from(2000)),
            ("domains", arr(vec![])),
        ]),
        "duplicate_field",
        Some(("Ping", "t")),
    );
    b.reject(
        "unknown_tag_duplicate_tag",
        sv,
        "a second \"t\" is an error even when the first is unknown",
        frame(vec![("t", Value::from(6000)), ("t", Value::from(1))]),
        "duplicate_field",
        Some(("unknown message", "t")),
    );
    b.reject(
        "too_large",
        c,
        "an 8-byte Ping against a frame limit of 7 (the vector sets max_frame_len)",
        ping.clone(),
        "too_large",
        None,
    );

    // --- fields: missing, wrong type, duplicate (client messages)
    let missing = [
        ("ping_missing_ts", vec![("t", Value::from(0))], "Ping", "ts"),
        (
            "action_missing_op_id",
            vec![("t", Value::from(1000)), ("action", s("x"))],
            "Action",
            "op_id",
        ),
        (
            "action_missing_action",
            vec![("t", Value::from(1000)), ("op_id", op())],
            "Action",
            "action",
        ),
        (
            "subscribe_missing_domains",
            vec![("t", Value::from(2000))],
            "Subscribe",
            "domains",
        ),
        (
            "signal_missing_target",
            vec![
                ("t", Value::from(3000)),
                ("signal", map(vec![("type", s("offer")), ("sdp", s(""))])),
            ],
            "Signal",
            "target_user_id",
        ),
    ];
    for (name, entries, within, field) in missing {
        b.reject(
            name,
            c,
            "a required field is absent",
            frame(entries),
            "missing_field",
            Some((within, field)),
        );
    }
    let ping_with = |ts: Value| frame(vec![("t", Value::from(0)), ("ts", ts)]);
    for (name, note, bytes, within, field) in [
        (
            "ping_ts_string",
            "a string where a u64 belongs",
            ping_with(s("5")),
            "Ping",
            "ts",
        ),
        (
            "ping_ts_negative",
            "-1 is not a u64",
            ping_with(Value::from(-1)),
            "Ping",
            "ts",
        ),
        (
            "ping_ts_float",
            "5.0 is a float, not an integer",
            ping_with(Value::F64(5.0)),
            "Ping",
            "ts",
        ),
        (
            "ping_ts_nil",
            "nil is not allowed for a required field",
            ping_with(Value::Nil),
            "Ping",
            "ts",
        ),
        (
            "ping_presence_unknown",
            "presence is one of active, idle, away",
            frame(vec![
                ("t", Value::from(0)),
                ("ts", Value::from(1)),
                ("presence", s("busy")),
            ]),
            "Ping",
            "presence",
        ),
        (
            "resync_epoch_over_u32",
            "epoch is a u32",
            frame(vec![
                ("t", Value::from(1)),
                ("last_seq", Value::from(1)),
                ("epoch", Value::from(4_294_967_296u64)),
            ]),
            "Resync",
            "epoch",
        ),
        (
            "action_op_id_15_bytes",
            "an OpId bin is exactly 16 bytes",
            frame(vec![
                ("t", Value::from(1000)),
                ("op_id", bin(&[7; 15])),
                ("action", Value::Nil),
            ]),
            "Action",
            "op_id",
        ),
        (
            "action_op_id_17_bytes",
            "an OpId bin is exactly 16 bytes",
            frame(vec![
                ("t", Value::from(1000)),
                ("op_id", bin(&[7; 17])),
                ("action", Value::Nil),
            ]),
            "Action",
            "op_id",
        ),
        (
            "action_op_id_text_braced",
            "only the hyphenated text form is accepted",
            frame(vec![
                ("t", Value::from(1000)),
                ("op_id", s(&format!("{{{OP_TEXT}}}"))),
                ("action", Value::Nil),
            ]),
            "Action",
            "op_id",
        ),
        (
            "action_op_id_text_simple",
            "32 hex digits without hyphens are not accepted",
            frame(vec![
                ("t", Value::from(1000)),
                ("op_id", s(&OP_TEXT.replace('-', ""))),
                ("action", Value::Nil),
            ]),
            "Action",
            "op_id",
        ),
        (
            "action_op_id_not_uuid",
            "text that is not a UUID",
            frame(vec![
                ("t", Value::from(1000)),
                ("op_id", s("67e55044-10b1-426f-9247-bb680e5fe0cg")),
                ("action", Value::Nil),
            ]),
            "Action",
            "op_id",
        ),
        (
            "action_op_id_integer",
            "an OpId is bin or text",
            frame(vec![
                ("t", Value::from(1000)),
                ("op_id", Value::from(7)),
                ("action", Value::Nil),
            ]),
            "Action",
            "op_id",
        ),
        (
            "subscribe_domains_not_array",
            "domains is a list even for one domain",
            frame(vec![("t", Value::from(2000)), ("domains", s("world"))]),
            "Subscribe",
            "domains",
        ),
        (
            "subscribe_domain_integer",
            "domain names are strings",
            frame(vec![
                ("t", Value::from(2000)),
                ("domains", arr(vec![Value::from(1)])),
            ]),
            "Subscribe",
            "domains",
        ),
        (
            "unsubscribe_domain_bin",
            "bin is not str",
            frame(vec![
                ("t", Value::from(2001)),
                ("domains", arr(vec![bin(b"world")])),
            ]),
            "Unsubscribe",
            "domains",
        ),
        (
            "subscribe_domain_invalid_utf8",
            "a str must hold UTF-8",
            cat(&[
                &[0x82],
                &key("t"),
                &[0xcd, 0x07, 0xd0],
                &key("domains"),
                &[0x91, 0xa2, 0xc3, 0x28],
            ]),
            "Subscribe",
            "domains",
        ),
        (
            "signal_payload_not_a_map",
            "a signal payload is a map",
            frame(vec![
                ("t", Value::from(3000)),
                ("target_user_id", s("bob")),
                ("signal", s("offer")),
            ]),
            "Signal",
            "signal",
        ),
        (
            "signal_type_unknown",
            "type is one of offer, answer, candidate",
            frame(vec![
                ("t", Value::from(3000)),
                ("target_user_id", s("bob")),
                ("signal", map(vec![("type", s("pranswer")), ("sdp", s(""))])),
            ]),
            "SignalPayload",
            "type",
        ),
        (
            "signal_m_line_index_over_u16",
            "sdpMLineIndex is a u16",
            frame(vec![
                ("t", Value::from(3000)),
                ("target_user_id", s("bob")),
                (
                    "signal",
                    map(vec![
                        ("type", s("candidate")),
                        ("candidate", s("")),
                        ("sdpMLineIndex", Value::from(65_536)),
                    ]),
                ),
            ]),
            "SignalPayload",
            "sdpMLineIndex",
        ),
    ] {
        b.reject(name, c, note, bytes, "invalid_field", Some((within, field)));
    }
    b.reject(
        "signal_offer_missing_sdp",
        c,
        "an offer needs sdp",
        frame(vec![
            ("t", Value::from(3000)),
            ("target_user_id", s("bob")),
            ("signal", map(vec![("type", s("offer"))])),
        ]),
        "missing_field",
        Some(("SignalPayload", "sdp")),
    );
    b.reject(
        "signal_candidate_missing_candidate",
        c,
        "a candidate needs candidate (empty is allowed, absent is not)",
        frame(vec![
            ("t", Value::from(3000)),
            ("target_user_id", s("bob")),
            (
                "signal",
                map(vec![("type", s("candidate")), ("sdpMid", s("0"))]),
            ),
        ]),
        "missing_field",
        Some(("SignalPayload", "candidate")),
    );
    b.reject(
        "ping_duplicate_ts",
        c,
        "a field may appear once",
        frame(vec![
            ("t", Value::from(0)),
            ("ts", Value::from(1)),
            ("ts", Value::from(2)),
        ]),
        "duplicate_field",
        Some(("Ping", "ts")),
    );
    b.reject(
        "signal_payload_duplicate_type",
        c,
        "a key of a nested map may appear once",
        frame(vec![
            ("t", Value::from(3000)),
            ("target_user_id", s("bob")),
            (
                "signal",
                map(vec![
                    ("type", s("offer")),
                    ("sdp", s("")),
                    ("type", s("answer")),
                ]),
            ),
        ]),
        "duplicate_field",
        Some(("SignalPayload", "type")),
    );

    // --- fields (server messages)
    let user_with = |entries: Vec<(&str, Value)>| {
        frame(vec![
            ("t", Value::from(2000)),
            ("users", arr(vec![map(entries)])),
        ])
    };
    for (name, note, bytes, within, field) in [
        (
            "connected_missing_connection_id",
            "a required field is absent",
            frame(vec![
                ("t", Value::from(0)),
                ("protocol_version", Value::from(1)),
            ]),
            "Connected",
            "connection_id",
        ),
        (
            "snapshot_missing_state",
            "a payload field is required (nil would do, absence does not)",
            frame(vec![
                ("t", Value::from(1000)),
                ("seq", Value::from(1)),
                ("timestamp", Value::from(1)),
            ]),
            "Snapshot",
            "state",
        ),
        (
            "delta_missing_seq",
            "a required field is absent",
            frame(vec![
                ("t", Value::from(1001)),
                ("delta", Value::Nil),
                ("timestamp", Value::from(1)),
            ]),
            "Delta",
            "seq",
        ),
        (
            "delta_with_deltas_field",
            "Delta's payload is \"delta\"; \"deltas\" is an unknown field there",
            frame(vec![
                ("t", Value::from(1001)),
                ("deltas", arr(vec![])),
                ("seq", Value::from(1)),
                ("timestamp", Value::from(1)),
            ]),
            "Delta",
            "delta",
        ),
        (
            "presence_missing_users",
            "a required field is absent",
            frame(vec![("t", Value::from(2000))]),
            "Presence",
            "users",
        ),
        (
            "presence_info_missing_status",
            "a required field of a nested map is absent",
            user_with(vec![("user_id", s("a")), ("connected_at", Value::from(1))]),
            "PresenceInfo",
            "status",
        ),
        (
            "notify_missing_event",
            "a payload field is required",
            frame(vec![("t", Value::from(4000)), ("domain", s("world"))]),
            "Notify",
            "event",
        ),
        (
            "action_ok_missing_op_id",
            "a required field is absent",
            frame(vec![("t", Value::from(5001)), ("result", Value::from(1))]),
            "ActionOk",
            "op_id",
        ),
        (
            "action_err_missing_message",
            "a required field is absent",
            frame(vec![("t", Value::from(5002)), ("op_id", op())]),
            "ActionErr",
            "message",
        ),
        (
            "signal_missing_signal",
            "a required field is absent",
            frame(vec![("t", Value::from(3000)), ("from_user_id", s("alice"))]),
            "Signal",
            "signal",
        ),
    ] {
        b.reject(
            name,
            sv,
            note,
            bytes,
            "missing_field",
            Some((within, field)),
        );
    }
    for (name, note, bytes, within, field) in [
        (
            "connected_version_over_u8",
            "protocol_version is a u8",
            frame(vec![
                ("t", Value::from(0)),
                ("protocol_version", Value::from(256)),
                ("connection_id", s("c")),
            ]),
            "Connected",
            "protocol_version",
        ),
        (
            "pong_client_ts_negative",
            "a negative integer is not a u64",
            frame(vec![
                ("t", Value::from(1)),
                ("client_ts", Value::from(i64::MIN)),
                ("server_ts", Value::from(1)),
            ]),
            "Pong",
            "client_ts",
        ),
        (
            "error_fatal_integer",
            "fatal is a boolean, not 0 or 1",
            frame(vec![
                ("t", Value::from(2)),
                ("message", s("m")),
                ("fatal", Value::from(1)),
            ]),
            "Error",
            "fatal",
        ),
        (
            "error_message_nil",
            "nil is not allowed for a required field",
            frame(vec![
                ("t", Value::from(2)),
                ("message", Value::Nil),
                ("fatal", Value::from(true)),
            ]),
            "Error",
            "message",
        ),
        (
            "delta_seq_negative",
            "seq is a u64",
            frame(vec![
                ("t", Value::from(1001)),
                ("delta", Value::Nil),
                ("seq", Value::from(-1)),
                ("timestamp", Value::from(1)),
            ]),
            "Delta",
            "seq",
        ),
        (
            "snapshot_epoch_string",
            "epoch is a u32",
            frame(vec![
                ("t", Value::from(1000)),
                ("state", Value::Nil),
                ("seq", Value::from(1)),
                ("timestamp", Value::from(1)),
                ("epoch", s("7")),
            ]),
            "Snapshot",
            "epoch",
        ),
        (
            "delta_prev_string",
            "prev is a u64",
            frame(vec![
                ("t", Value::from(1001)),
                ("delta", Value::Nil),
                ("seq", Value::from(9)),
                ("timestamp", Value::from(1)),
                ("prev", s("7")),
            ]),
            "Delta",
            "prev",
        ),
        (
            "deltas_not_array",
            "deltas is a list",
            frame(vec![
                ("t", Value::from(1002)),
                ("deltas", map(vec![])),
                ("seq", Value::from(1)),
                ("timestamp", Value::from(1)),
            ]),
            "Deltas",
            "deltas",
        ),
        (
            "presence_user_not_map",
            "a PresenceInfo is a map",
            frame(vec![
                ("t", Value::from(2000)),
                ("users", arr(vec![s("alice")])),
            ]),
            "Presence",
            "users",
        ),
        (
            "presence_info_bad_status",
            "status is one of active, idle, away",
            user_with(vec![
                ("user_id", s("a")),
                ("status", s("Active")),
                ("connected_at", Value::from(1)),
            ]),
            "PresenceInfo",
            "status",
        ),
        (
            "presence_diff_left_not_strings",
            "left holds user ids",
            frame(vec![
                ("t", Value::from(2001)),
                ("left", arr(vec![Value::from(1)])),
            ]),
            "PresenceDiff",
            "left",
        ),
        (
            "notify_correlation_id_integer",
            "an OpId is bin or text",
            frame(vec![
                ("t", Value::from(4000)),
                ("domain", s("d")),
                ("event", Value::Nil),
                ("correlation_id", Value::from(1)),
            ]),
            "Notify",
            "correlation_id",
        ),
        (
            "progress_percent_over_u8",
            "percent is a u8",
            frame(vec![
                ("t", Value::from(5000)),
                ("op_id", op()),
                ("percent", Value::from(256)),
            ]),
            "Progress",
            "percent",
        ),
    ] {
        b.reject(
            name,
            sv,
            note,
            bytes,
            "invalid_field",
            Some((within, field)),
        );
    }
    b.reject(
        "presence_info_duplicate_user_id",
        sv,
        "a key of a nested map may appear once",
        user_with(vec![
            ("user_id", s("a")),
            ("user_id", s("b")),
            ("status", s("idle")),
            ("connected_at", Value::from(1)),
        ]),
        "duplicate_field",
        Some(("PresenceInfo", "user_id")),
    );

    // --- one rule for every key: no key twice, known or not
    b.reject(
        "ping_duplicate_unknown_key",
        c,
        "a key this reader does not know may appear once too, as every key of the envelope",
        frame(vec![
            ("t", Value::from(0)),
            ("ts", Value::from(100)),
            ("x", Value::from(1)),
            ("x", Value::from(2)),
        ]),
        "duplicate_field",
        Some(("Ping", "x")),
    );
    b.reject(
        "unknown_tag_duplicate_key",
        c,
        "the rule holds for a frame whose tag is unknown: its keys are checked, its values not",
        frame(vec![
            ("t", Value::from(9999)),
            ("x", Value::from(1)),
            ("x", s("two")),
        ]),
        "duplicate_field",
        Some(("unknown message", "x")),
    );
    b.reject(
        "signal_payload_duplicate_unknown_key",
        c,
        "and for the keys of a nested PresenceInfo or SignalPayload",
        frame(vec![
            ("t", Value::from(3000)),
            ("target_user_id", s("bob")),
            (
                "signal",
                map(vec![
                    ("type", s("offer")),
                    ("sdp", s("")),
                    ("x-extension", Value::from(1)),
                    ("x-extension", Value::from(1)),
                ]),
            ),
        ]),
        "duplicate_field",
        Some(("SignalPayload", "x-extension")),
    );

    // --- reader rules: each fault is reported where it occurs, in wire order
    let signal_of = |entries: Vec<(&str, Value)>| {
        frame(vec![
            ("t", Value::from(3000)),
            ("target_user_id", s("bob")),
            ("signal", map(entries)),
        ])
    };
    b.reject(
        "signal_type_unknown_before_bad_sdp",
        c,
        "type is checked against SignalType at its key, before the keys after it",
        signal_of(vec![("type", s("bogus")), ("sdp", Value::from(5))]),
        "invalid_field",
        Some(("SignalPayload", "type")),
    );
    b.reject(
        "signal_bad_sdp_before_unknown_type",
        c,
        "type may come anywhere, and a key before it is checked first",
        signal_of(vec![("sdp", Value::from(5)), ("type", s("bogus"))]),
        "invalid_field",
        Some(("SignalPayload", "sdp")),
    );
    b.reject(
        "signal_offer_nil_sdp",
        c,
        "sdp is a str, and nil is not a str: invalid, not missing",
        signal_of(vec![("type", s("offer")), ("sdp", Value::Nil)]),
        "invalid_field",
        Some(("SignalPayload", "sdp")),
    );
    b.reject(
        "signal_candidate_sdp_integer",
        c,
        "a key of another shape is still typed: sdp in a candidate must be a str",
        signal_of(vec![
            ("type", s("candidate")),
            ("candidate", s("")),
            ("sdp", Value::from(5)),
        ]),
        "invalid_field",
        Some(("SignalPayload", "sdp")),
    );
    b.reject(
        "signal_payload_empty",
        c,
        "with several required fields absent, the first in the table is named",
        signal_of(vec![]),
        "missing_field",
        Some(("SignalPayload", "type")),
    );
    b.reject(
        "delta_tag_alone",
        sv,
        "with every field absent, the first in the table (delta) is named",
        frame(vec![("t", Value::from(1001))]),
        "missing_field",
        Some(("Delta", "delta")),
    );
    b.reject(
        "deltas_only_timestamp",
        sv,
        "the first absent field in table order, whatever is present",
        frame(vec![
            ("t", Value::from(1002)),
            ("timestamp", Value::from(1)),
        ]),
        "missing_field",
        Some(("Deltas", "deltas")),
    );
    b.reject(
        "action_err_tag_alone",
        sv,
        "with every field absent, the first in the table (op_id) is named",
        frame(vec![("t", Value::from(5002))]),
        "missing_field",
        Some(("ActionErr", "op_id")),
    );
    // At one header: the header's own faults (cut short, a length the input
    // cannot hold) come before the depth it would open.
    let ping_x = |x: &[u8]| {
        cat(&[
            &[0x83],
            &key("t"),
            &[0x00],
            &key("ts"),
            &[0x05],
            &key("x"),
            x,
        ])
    };
    let deep = |inner: &[u8]| {
        // levels 2 to 64 are arrays of one element; `inner` is at level 65
        let mut x = vec![0x91u8; 63];
        x.extend_from_slice(inner);
        ping_x(&x)
    };
    b.reject(
        "depth_65_header_overlong",
        c,
        "an array at level 65 that declares more elements than remain: length_exceeds_input, \
         not too_deep",
        deep(&[0xdc, 0x00, 0x02]),
        "length_exceeds_input",
        None,
    );
    b.reject(
        "depth_65_header_cut_short",
        c,
        "an array 16 header at level 65 with one of its two length bytes: truncated",
        deep(&[0xdc, 0x00]),
        "truncated",
        None,
    );
    b.reject(
        "depth_65_empty_array",
        c,
        "a well-formed empty array at level 65: too_deep",
        deep(&[0x90]),
        "too_deep",
        None,
    );
    b.reject(
        "fixext4_cut_short",
        c,
        "a fixext 4 with its type and 2 of its 4 data bytes: a fixed size cut short is truncated",
        ping_x(&[0xd6, 0x05, 0x01, 0x02]),
        "truncated",
        None,
    );
    b.reject(
        "fixext1_missing_type_byte",
        c,
        "a fixext 1 with nothing after its marker",
        ping_x(&[0xd4]),
        "truncated",
        None,
    );
    b.reject(
        "ext8_length_exceeds_input",
        c,
        "an ext 8 with its type byte, declaring 5 bytes with 2 left: the type byte is header, \
         the data is a declared length",
        ping_x(&[0xc7, 0x05, 0x05, 0x01, 0x02]),
        "length_exceeds_input",
        None,
    );

    // The too_large vector carries its limit.
    for v in &mut b.vectors {
        let too_large = v.get("name").and_then(Json::as_str) == Some("too_large");
        if let (true, Json::Obj(entries)) = (too_large, v) {
            entries.push((
                "limits".into(),
                Json::obj(vec![("max_frame_len", Json::U64(7))]),
            ));
        }
    }
    b
}
