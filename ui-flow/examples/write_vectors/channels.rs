//! Channel vectors: `Join`, `Leave`, `Joined`, `Left`, `Connected.channels`
//! and the `"c"` field on the messages of a resource. They go into the same
//! three files as the others (spec/PROTOCOL.md, "Channels").

use rmpv::Value;
use ui_flow::{Channel, ErrorCode, PresenceDiff, PresenceStatus, SignalPayload};

use super::*;

pub(crate) fn add(server: &mut Book, client: &mut Book, rejected: &mut Book) {
    server_vectors(server);
    client_vectors(client);
    rejected_vectors(rejected);
}

fn server_vectors(b: &mut Book) {
    type M = DynServer;
    b.server(
        "connected_with_channels",
        "a server that supports channels says how many resources besides the URL's a connection may join",
        M::Connected {
            protocol_version: 1,
            connection_id: "c-1".into(),
            user_id: Some("alice".into()),
            channels: Some(16),
        },
    );
    b.server_on(
        "joined",
        "the Join on channel 1 succeeded; the channel's Snapshot and Presence follow",
        Channel(1),
        M::Joined,
    );
    b.server_on(
        "left_after_leave",
        "the answer to a Leave: no code",
        Channel(1),
        M::Left {
            code: None,
            message: None,
        },
    );
    b.server_on(
        "left_forbidden",
        "a Join refused (or a resource taken away) without closing the connection",
        Channel(2),
        M::Left {
            code: Some(ErrorCode::FORBIDDEN),
            message: Some("not a member of chat-7".into()),
        },
    );
    b.server_on(
        "left_channel_limit",
        "a Join over Connected.channels",
        Channel(17),
        M::Left {
            code: Some(ErrorCode::CHANNEL_LIMIT),
            message: Some("16 channels per connection".into()),
        },
    );
    b.server_on(
        "error_on_channel",
        "a non-fatal error about a frame sent on channel 3",
        Channel(3),
        M::Error {
            code: Some(ErrorCode::UNKNOWN_TARGET),
            message: "bob is not connected to chat-7".into(),
            fatal: false,
            op_id: None,
        },
    );
    b.server_on(
        "snapshot_on_channel",
        "\"c\" comes right after \"t\"; the resource's own seq and epoch follow",
        Channel(3),
        M::Snapshot {
            state: map(vec![("messages", arr(vec![s("hi")]))]),
            seq: 12,
            timestamp: TS,
            epoch: Some(7),
        },
    );
    b.server_on(
        "delta_on_channel_65535",
        "the highest channel, a uint16",
        Channel(65535),
        M::Delta {
            delta: s("add"),
            seq: 13,
            timestamp: TS,
            epoch: None,
            prev: None,
        },
    );
    b.server_on(
        "deltas_on_channel",
        "a resume answer on a joined channel",
        Channel(200),
        M::Deltas {
            deltas: vec![Value::from(1), Value::from(2)],
            seq: 1189,
            timestamp: TS,
            epoch: Some(3_021_988_741),
            prev: None,
        },
    );
    b.server_on(
        "presence_on_channel",
        "the joined resource's presence list",
        Channel(3),
        M::Presence {
            users: vec![user("alice", None, PresenceStatus::Active, TS)],
        },
    );
    b.server_on(
        "presence_diff_on_channel",
        "a change to the joined resource's presence list",
        Channel(3),
        M::PresenceDiff(PresenceDiff {
            joined: vec![],
            updated: vec![],
            left: vec!["bob".into()],
        }),
    );
    b.server_on(
        "relayed_signal_on_channel",
        "a signal relayed within the joined resource",
        Channel(3),
        M::Signal {
            from_user_id: "bob".into(),
            signal: SignalPayload::Answer { sdp: SDP.into() },
        },
    );
    b.server_on(
        "notify_on_channel",
        "a notification of the joined resource",
        Channel(3),
        M::Notify {
            domain: "chat".into(),
            event: s("Typing"),
            correlation_id: Some(OP),
        },
    );
    b.server_on(
        "progress_on_channel",
        "action feedback goes on the channel the Action came on",
        Channel(3),
        M::Progress {
            op_id: OP,
            percent: Some(50),
            message: None,
        },
    );
    b.server_on(
        "action_ok_on_channel",
        "action feedback goes on the channel the Action came on",
        Channel(3),
        M::ActionOk {
            op_id: OP,
            result: None,
        },
    );
    b.server_on(
        "action_err_unknown_channel",
        "an Action on a channel that is not joined still gets its one outcome",
        Channel(9),
        M::ActionErr {
            op_id: OP,
            code: Some("unknown_channel".into()),
            message: "channel 9 is not joined".into(),
        },
    );

    let delta = |c: Value| {
        frame(vec![
            ("t", Value::from(1001)),
            ("c", c),
            ("delta", Value::from(1)),
            ("seq", Value::from(2)),
            ("timestamp", Value::from(3)),
        ])
    };
    let plain = M::Delta {
        delta: Value::from(1),
        seq: 2,
        timestamp: 3,
        epoch: None,
        prev: None,
    };
    b.server_decodes(
        "delta_channel_zero",
        "\"c\": 0 is the URL's resource, the same as no \"c\"",
        delta(Value::from(0)),
        plain.clone(),
    );
    b.server_decodes(
        "delta_channel_nil",
        "nil for the optional \"c\" means channel 0",
        delta(Value::Nil),
        plain.clone(),
    );
    b.server_decodes_on(
        "delta_channel_uint32_format",
        "a channel in a wider integer format than needed",
        cat(&[
            &[0x85],
            &key("t"),
            &[0xcd, 0x03, 0xe9],
            &key("c"),
            &[0xce, 0, 0, 0, 5],
            &key("delta"),
            &[0x01],
            &key("seq"),
            &[0x02],
            &key("timestamp"),
            &[0x03],
        ]),
        Channel(5),
        plain.clone(),
    );
    b.server_decodes_on(
        "delta_channel_last",
        "\"c\" may come anywhere after \"t\"",
        frame(vec![
            ("t", Value::from(1001)),
            ("delta", Value::from(1)),
            ("seq", Value::from(2)),
            ("timestamp", Value::from(3)),
            ("c", Value::from(5)),
        ]),
        Channel(5),
        plain,
    );
    b.server_decodes(
        "pong_with_c",
        "Pong belongs to the connection: a \"c\" on it is an unknown field, ignored whatever its value",
        frame(vec![
            ("t", Value::from(1)),
            ("c", s("not a channel")),
            ("client_ts", Value::from(1)),
            ("server_ts", Value::from(2)),
        ]),
        M::Pong {
            client_ts: 1,
            server_ts: 2,
        },
    );
}

fn client_vectors(b: &mut Book) {
    type M = DynClient;
    b.client_on(
        "join",
        "join resource chat-7 on channel 1, with no state to resume",
        Channel(1),
        M::Join {
            resource: "chat-7".into(),
            last_seq: None,
            epoch: None,
        },
    );
    b.client_on(
        "join_resuming",
        "re-join after a reconnect with the channel's resume point",
        Channel(2),
        M::Join {
            resource: "notes/alice".into(),
            last_seq: Some(1187),
            epoch: Some(3_021_988_741),
        },
    );
    b.client_on(
        "leave",
        "leave the resource on channel 1",
        Channel(1),
        M::Leave,
    );
    b.client_on(
        "resync_on_channel",
        "a gap on channel 2 is resynced on channel 2",
        Channel(2),
        M::Resync {
            last_seq: Some(40),
            epoch: Some(7),
        },
    );
    b.client_on(
        "action_on_channel",
        "an action on the joined resource",
        Channel(2),
        M::Action {
            op_id: OP,
            action: map(vec![("Send", s("hello"))]),
        },
    );
    b.client_on(
        "subscribe_on_channel",
        "subscriptions belong to a channel",
        Channel(2),
        M::Subscribe {
            domains: vec!["chat".into()],
        },
    );
    b.client_on(
        "unsubscribe_on_channel",
        "subscriptions belong to a channel",
        Channel(2),
        M::Unsubscribe {
            domains: vec!["chat".into()],
        },
    );
    b.client_on(
        "signal_on_channel",
        "a signal for a user of the joined resource",
        Channel(2),
        M::Signal {
            target_user_id: "bob".into(),
            signal: candidate(),
        },
    );
    b.client_decodes(
        "ping_with_c",
        "Ping belongs to the connection: a \"c\" on it is an unknown field and changes nothing",
        frame(vec![
            ("t", Value::from(0)),
            ("ts", Value::from(5)),
            ("c", Value::from(3)),
        ]),
        M::Ping {
            ts: 5,
            presence: None,
        },
    );
    b.client_decodes_on(
        "join_channel_last",
        "Join's \"c\" may come anywhere after \"t\"",
        frame(vec![
            ("t", Value::from(2)),
            ("resource", s("chat-7")),
            ("c", Value::from(1)),
        ]),
        Channel(1),
        M::Join {
            resource: "chat-7".into(),
            last_seq: None,
            epoch: None,
        },
    );
}

fn rejected_vectors(b: &mut Book) {
    let (sv, cl) = ("server", "client");
    let delta = |c: Value| {
        frame(vec![
            ("t", Value::from(1001)),
            ("c", c),
            ("delta", Value::from(1)),
            ("seq", Value::from(2)),
            ("timestamp", Value::from(3)),
        ])
    };
    let at_delta = Some(("Delta", "c"));
    b.reject(
        "delta_channel_string",
        sv,
        "a channel is a uint16, not a str",
        delta(s("1")),
        "invalid_field",
        at_delta,
    );
    b.reject(
        "delta_channel_65536",
        sv,
        "one over the largest channel",
        delta(Value::from(65_536)),
        "invalid_field",
        at_delta,
    );
    b.reject(
        "delta_channel_negative",
        sv,
        "a channel is not negative",
        delta(Value::from(-1)),
        "invalid_field",
        at_delta,
    );
    b.reject(
        "delta_channel_float",
        sv,
        "a float is never an integer, even 1.0",
        delta(Value::F64(1.0)),
        "invalid_field",
        at_delta,
    );
    b.reject(
        "delta_channel_twice",
        sv,
        "\"c\" twice, even with the same value",
        frame(vec![
            ("t", Value::from(1001)),
            ("c", Value::from(1)),
            ("delta", Value::from(1)),
            ("c", Value::from(1)),
            ("seq", Value::from(2)),
            ("timestamp", Value::from(3)),
        ]),
        "duplicate_field",
        at_delta,
    );
    b.reject(
        "action_channel_twice",
        cl,
        "an Action naming two channels",
        frame(vec![
            ("t", Value::from(1000)),
            ("c", Value::from(1)),
            ("op_id", bin(OP.as_bytes())),
            ("c", Value::from(2)),
            ("action", Value::Nil),
        ]),
        "duplicate_field",
        Some(("Action", "c")),
    );
    b.reject(
        "join_channel_zero",
        cl,
        "channel 0 is the URL's resource: it is never joined",
        frame(vec![
            ("t", Value::from(2)),
            ("c", Value::from(0)),
            ("resource", s("chat-7")),
        ]),
        "invalid_field",
        Some(("Join", "c")),
    );
    b.reject(
        "join_missing_channel",
        cl,
        "a Join must name its channel",
        frame(vec![("t", Value::from(2)), ("resource", s("chat-7"))]),
        "missing_field",
        Some(("Join", "c")),
    );
    b.reject(
        "join_missing_resource",
        cl,
        "a Join must name its resource",
        frame(vec![("t", Value::from(2)), ("c", Value::from(1))]),
        "missing_field",
        Some(("Join", "resource")),
    );
    b.reject(
        "join_resource_bin",
        cl,
        "a resource id is a str",
        frame(vec![
            ("t", Value::from(2)),
            ("c", Value::from(1)),
            ("resource", bin(b"chat-7")),
        ]),
        "invalid_field",
        Some(("Join", "resource")),
    );
    b.reject(
        "join_channel_twice",
        cl,
        "a Join naming two channels",
        frame(vec![
            ("t", Value::from(2)),
            ("c", Value::from(1)),
            ("resource", s("chat-7")),
            ("c", Value::from(2)),
        ]),
        "duplicate_field",
        Some(("Join", "c")),
    );
    b.reject(
        "leave_channel_nil",
        cl,
        "nil is not a value of a required channel",
        frame(vec![("t", Value::from(3)), ("c", Value::Nil)]),
        "invalid_field",
        Some(("Leave", "c")),
    );
    b.reject(
        "joined_channel_zero",
        sv,
        "channel 0 is never joined",
        frame(vec![("t", Value::from(3)), ("c", Value::from(0))]),
        "invalid_field",
        Some(("Joined", "c")),
    );
    b.reject(
        "left_missing_channel",
        sv,
        "a Left must name its channel",
        frame(vec![("t", Value::from(4)), ("code", s("forbidden"))]),
        "missing_field",
        Some(("Left", "c")),
    );
    b.reject(
        "left_code_integer",
        sv,
        "a code is a str",
        frame(vec![
            ("t", Value::from(4)),
            ("c", Value::from(1)),
            ("code", Value::from(1)),
        ]),
        "invalid_field",
        Some(("Left", "code")),
    );
    b.reject(
        "connected_channels_65536",
        sv,
        "the channel limit is a uint16",
        frame(vec![
            ("t", Value::from(0)),
            ("protocol_version", Value::from(1)),
            ("connection_id", s("c-1")),
            ("channels", Value::from(65_536)),
        ]),
        "invalid_field",
        Some(("Connected", "channels")),
    );
}
