//! Channels over real WebSockets on 127.0.0.1, frames built with
//! `encode_on`: a connection joins further resources and leaves them
//! (every code of the spec's Joining and Leaving lists), each channel syncs,
//! acts, shows presence and resumes on its own, and frames that name a
//! channel not joined never act on the URL's resource (`unknown_channel`
//! there, and an Action still gets exactly one outcome). With
//! `max_channels: 0` the server announces none and drops Join and Leave
//! unanswered, as a server that predates channels.

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
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
async fn without_channels_connected_has_none_and_join_and_leave_go_unanswered() {
    let mut config = ServerConfig::default();
    config.max_channels = 0;
    let t = start(Plain::default(), config).await;
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

// ----- serving channels -------------------------------------------------

use std::collections::{HashMap, VecDeque};

use ui_flow::{PresenceStatus, ServerMessage};
use ui_flow_server::counter::{Counter, CounterAction};
use ui_flow_server::{AuthError, AuthRequest, Authenticator, Identity};

/// A client that reads frames of one channel at a time, keeping those of
/// the others for later, in order.
struct Mux {
    client: Client,
    kept: HashMap<Channel, VecDeque<Msg>>,
}

impl Mux {
    fn new(client: Client) -> Self {
        Mux {
            client,
            kept: HashMap::new(),
        }
    }

    /// The next message on `channel`.
    async fn on(&mut self, channel: u16) -> Msg {
        let channel = Channel(channel);
        if let Some(m) = self.kept.get_mut(&channel).and_then(VecDeque::pop_front) {
            return m;
        }
        loop {
            let (c, m) = recv_on(&mut self.client).await;
            if c == channel {
                return m;
            }
            self.kept.entry(c).or_default().push_back(m);
        }
    }

    /// Sends a Ping and reads to its Pong; returns what came on `channel`
    /// before it (and keeps the rest).
    async fn quiet_on(&mut self, channel: u16, ts: u64) -> Vec<Msg> {
        let before = until_pong(&mut self.client, ts).await;
        let mut on = self
            .kept
            .remove(&Channel(channel))
            .map(Vec::from)
            .unwrap_or_default();
        for (c, m) in before {
            if c == Channel(channel) {
                on.push(m);
            } else {
                self.kept.entry(c).or_default().push_back(m);
            }
        }
        on
    }

    async fn send_on<A: serde::Serialize>(&mut self, msg: &ClientMessage<A>, channel: u16) {
        let bytes = msg.encode_on(Channel(channel)).expect("encode");
        self.client.send_raw(bytes).await;
    }

    /// Writes `frames` to the socket at once (fed, then one flush), so the
    /// server reads them before anything it answers can reach this client.
    async fn send_burst(&mut self, frames: &[(ClientMessage<String>, u16)]) {
        for (msg, channel) in frames {
            let bytes = msg.encode_on(Channel(*channel)).expect("encode");
            self.client
                .ws
                .feed(Message::Binary(bytes.into()))
                .await
                .expect("feed");
        }
        self.client.ws.flush().await.expect("flush");
    }

    /// The next message on `channel` is a non-fatal `Error channel_in_use`.
    async fn in_use(&mut self, channel: u16) {
        match self.on(channel).await {
            Msg::Error { code, fatal, .. } => {
                assert_eq!(code, Some(ErrorCode::CHANNEL_IN_USE));
                assert!(!fatal, "channel_in_use is not fatal");
            }
            other => panic!("expected channel_in_use, got {other:?}"),
        }
    }

    async fn join(&mut self, channel: u16, resource: &str, resume: Option<(u64, u32)>) {
        let join = ClientMessage::<String>::Join {
            resource: resource.into(),
            last_seq: resume.map(|r| r.0),
            epoch: resume.map(|r| r.1),
        };
        self.send_on(&join, channel).await;
    }

    /// Joins and reads `Joined`, the snapshot (or deltas) and the
    /// presence list; returns the sync message and the list's users.
    async fn joined(
        &mut self,
        channel: u16,
        resource: &str,
        resume: Option<(u64, u32)>,
    ) -> (Msg, Vec<String>) {
        self.join(channel, resource, resume).await;
        let first = self.on(channel).await;
        assert!(
            matches!(first, Msg::Joined),
            "expected Joined, got {first:?}"
        );
        let sync = self.on(channel).await;
        assert!(
            matches!(sync, Msg::Snapshot { .. } | Msg::Deltas { .. }),
            "expected the sync, got {sync:?}"
        );
        let users = match self.on(channel).await {
            Msg::Presence { users } => users.into_iter().map(|u| u.user_id).collect(),
            other => panic!("expected presence, got {other:?}"),
        };
        (sync, users)
    }

    /// The `Left` on `channel`: its code.
    async fn left(&mut self, channel: u16) -> Option<String> {
        match self.on(channel).await {
            Msg::Left { code, .. } => code.map(|c| c.as_str().to_owned()),
            other => panic!("expected Left, got {other:?}"),
        }
    }
}

async fn mux(addr: std::net::SocketAddr, resource: &str, user: &str) -> Mux {
    let (client, joined) = Client::join(addr, resource, user).await;
    match &joined.connected {
        Msg::Connected { channels, .. } => assert_eq!(*channels, Some(16)),
        other => panic!("{other:?}"),
    }
    Mux::new(client)
}

fn add(amount: i64) -> CounterAction {
    CounterAction::Add { amount }
}

/// The seq and epoch of a sync message.
fn position(m: &Msg) -> (u64, u32) {
    match m {
        Msg::Snapshot { seq, epoch, .. } | Msg::Deltas { seq, epoch, .. } => {
            (*seq, epoch.expect("an epoch"))
        }
        other => panic!("not a sync: {other:?}"),
    }
}

fn delta_seqs(m: &Msg) -> Vec<u64> {
    match m {
        Msg::Delta { seq, .. } => vec![*seq],
        Msg::Deltas { deltas, seq, .. } => (seq + 1 - deltas.len() as u64..=*seq).collect(),
        other => panic!("expected deltas, got {other:?}"),
    }
}

#[tokio::test]
async fn two_more_resources_each_get_their_snapshot_and_their_deltas_in_order() {
    let t = start(Counter, ServerConfig::default()).await;
    let mut ann = mux(t.addr, "home", "ann").await;
    let (b, users) = ann.joined(1, "board", None).await;
    assert_eq!(users, ["ann"]);
    let (c, _) = ann.joined(2, "chat", None).await;
    assert!(matches!(b, Msg::Snapshot { .. }) && matches!(c, Msg::Snapshot { .. }));
    let (board, chat) = (t.server.session("board"), t.server.session("chat"));
    let mut want_b = Vec::new();
    let mut want_c = Vec::new();
    for i in 0..3 {
        want_b.push(Counter::add(&board, 1 + i).await.expect("commit"));
        if i < 2 {
            want_c.push(Counter::add(&chat, 10).await.expect("commit"));
        }
    }
    let mut got_b = Vec::new();
    while got_b.len() < want_b.len() {
        got_b.extend(delta_seqs(&ann.on(1).await));
    }
    let mut got_c = Vec::new();
    while got_c.len() < want_c.len() {
        got_c.extend(delta_seqs(&ann.on(2).await));
    }
    assert_eq!((got_b, got_c), (want_b, want_c));
    // Nothing of either reached the URL's resource.
    assert_eq!(ann.quiet_on(0, 1).await, vec![]);
    // A channel is not a connection: the node counts one socket.
    assert_eq!(t.server.connection_count(), 1);
    assert_eq!(t.server.session("board").connection_count(), 1);
}

#[tokio::test]
async fn an_action_on_a_channel_gets_exactly_one_outcome_there_and_acts_on_its_resource() {
    let t = start(Counter, ServerConfig::default()).await;
    let mut ann = mux(t.addr, "home", "ann").await;
    ann.joined(3, "board", None).await;
    let op_id = OpId::from_u128(7);
    ann.send_on(
        &ClientMessage::Action {
            op_id,
            action: add(5),
        },
        3,
    )
    .await;
    let mut outcomes = 0;
    let mut deltas = 0;
    while outcomes == 0 || deltas == 0 {
        match ann.on(3).await {
            Msg::ActionOk { op_id: got, result } => {
                assert_eq!(got, op_id);
                let value: i64 = result.expect("a result").decode().expect("a number");
                assert_eq!(value, 5);
                outcomes += 1;
            }
            m @ (Msg::Delta { .. } | Msg::Deltas { .. }) => deltas += delta_seqs(&m).len(),
            other => panic!("unexpected {other:?}"),
        }
    }
    // Exactly one outcome, and only on channel 3.
    assert_eq!(ann.quiet_on(3, 2).await, vec![]);
    assert_eq!(ann.quiet_on(0, 3).await, vec![]);
    let board = t.server.session("board").read(|s, _| s.value).await;
    let home = t.server.session("home").read(|s, _| s.value).await;
    assert_eq!((board.expect("read"), home.expect("read")), (5, 0));
}

#[tokio::test]
async fn presence_is_per_resource_and_leaving_cleans_up() {
    let t = start(Counter, ServerConfig::default()).await;
    let (mut bob, joined) = Client::join(t.addr, "board", "bob").await;
    assert_eq!(joined.users.len(), 1);
    let mut ann = mux(t.addr, "home", "ann").await;
    let (_, users) = ann.joined(1, "board", None).await;
    assert_eq!(users, ["ann", "bob"]);
    match bob.recv().await {
        Msg::PresenceDiff(d) => assert_eq!(d.joined[0].user_id, "ann"),
        other => panic!("expected ann's join, got {other:?}"),
    }
    // The socket's presence report counts for the channel's resource too.
    ann.client
        .send(&ClientMessage::<String>::Ping {
            ts: 9,
            presence: Some(PresenceStatus::Away),
        })
        .await;
    match bob.recv().await {
        Msg::PresenceDiff(d) => {
            assert_eq!(d.updated[0].user_id, "ann");
            assert_eq!(d.updated[0].status, PresenceStatus::Away);
        }
        other => panic!("expected ann's status, got {other:?}"),
    }
    // A subscription on the channel reaches ann; after the Leave, none.
    let subscribe = ClientMessage::<String>::Subscribe {
        domains: vec!["news".into()],
    };
    ann.send_on(&subscribe, 1).await;
    // Before the Pong: ann's own status change on board, nothing else.
    let before = ann.quiet_on(1, 10).await;
    assert!(
        before
            .iter()
            .all(|m| matches!(m, Msg::PresenceDiff(d) if d.updated[0].user_id == "ann")),
        "{before:?}"
    );
    let event = ui_flow_server::counter::CounterEvent {
        by: "app".into(),
        value: 1,
    };
    let board = t.server.session("board");
    assert_eq!(
        board
            .broadcast_notify("news", &event, None)
            .expect("notify"),
        1
    );
    assert!(matches!(ann.on(1).await, Msg::Notify { .. }));
    ann.send_on(&ClientMessage::<String>::Leave, 1).await;
    assert_eq!(ann.left(1).await, None);
    match bob.recv().await {
        Msg::PresenceDiff(d) => assert_eq!(d.left, ["ann"]),
        other => panic!("expected ann to leave, got {other:?}"),
    }
    assert_eq!(
        board
            .broadcast_notify("news", &event, None)
            .expect("notify"),
        0
    );
    assert_eq!(board.connection_count(), 1);
    // Nothing after the Left: a commit to board does not reach channel 1.
    Counter::add(&board, 1).await.expect("commit");
    assert_eq!(ann.quiet_on(1, 11).await, vec![]);
    // A later action on 1 is unknown_channel there, and a second Leave is
    // answered with unknown_channel too.
    let op_id = OpId::from_u128(3);
    ann.send_on(
        &ClientMessage::Action {
            op_id,
            action: add(1),
        },
        1,
    )
    .await;
    match ann.on(1).await {
        Msg::ActionErr {
            op_id: got, code, ..
        } => {
            assert_eq!(got, op_id);
            assert_eq!(code.as_deref(), Some("unknown_channel"));
        }
        other => panic!("expected ActionErr, got {other:?}"),
    }
    ann.send_on(&ClientMessage::<String>::Leave, 1).await;
    assert_eq!(ann.left(1).await.as_deref(), Some("unknown_channel"));
    // The channel number is free again.
    ann.joined(1, "board", None).await;
}

#[tokio::test]
async fn a_join_sent_with_the_leave_before_its_left_gets_channel_in_use_after_the_left() {
    let t = start(Counter, ServerConfig::default()).await;
    let mut ann = mux(t.addr, "home", "ann").await;
    ann.joined(1, "board", None).await;
    let join = |resource: &str| ClientMessage::<String>::Join {
        resource: resource.into(),
        last_seq: None,
        epoch: None,
    };
    // Leave and Join on 1 in one write: the Join cannot have followed the
    // Left, so it breaks the spec's "wait for Left" rule.
    ann.send_burst(&[(ClientMessage::Leave, 1), (join("board"), 1)])
        .await;
    assert_eq!(ann.left(1).await, None);
    ann.in_use(1).await;
    // Exactly those two answers: the Join joined nothing.
    assert_eq!(ann.quiet_on(1, 1).await, vec![]);
    let board = t.server.session("board");
    assert_eq!(board.connection_count(), 0);
    Counter::add(&board, 1).await.expect("commit");
    assert_eq!(ann.quiet_on(1, 2).await, vec![]);
    // Every frame of a burst gets its answer, in order, after the one
    // Left: the Joins channel_in_use, a second Leave unknown_channel.
    ann.joined(2, "chat", None).await;
    ann.send_burst(&[
        (ClientMessage::Leave, 2),
        (join("chat"), 2),
        (join("news"), 2),
        (ClientMessage::Leave, 2),
    ])
    .await;
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(match ann.on(2).await {
            Msg::Left { code, .. } => format!("Left {code:?}"),
            Msg::Error { code, fatal, .. } if !fatal => format!("Error {code:?}"),
            other => panic!("unexpected {other:?}"),
        });
    }
    let in_use = format!("Error {:?}", Some(ErrorCode::CHANNEL_IN_USE));
    let not_joined = format!("Left {:?}", Some(ErrorCode::UNKNOWN_CHANNEL));
    assert_eq!(
        answers,
        ["Left None".to_owned(), in_use.clone(), in_use, not_joined]
    );
    assert_eq!(ann.quiet_on(2, 3).await, vec![]);
    assert_eq!(t.server.session("chat").connection_count(), 0);
    assert_eq!(t.server.session("news").connection_count(), 0);
}

#[tokio::test]
async fn once_its_left_has_arrived_a_channel_can_be_joined_again() {
    let t = start(Counter, ServerConfig::default()).await;
    let mut ann = mux(t.addr, "home", "ann").await;
    ann.joined(1, "board", None).await;
    ann.send_on(&ClientMessage::<String>::Leave, 1).await;
    assert_eq!(ann.left(1).await, None);
    // The same resource again on the same channel, and then another one.
    let (sync, users) = ann.joined(1, "board", None).await;
    assert!(matches!(sync, Msg::Snapshot { .. }), "{sync:?}");
    assert_eq!(users, ["ann"]);
    let board = t.server.session("board");
    Counter::add(&board, 1).await.expect("commit");
    assert_eq!(delta_seqs(&ann.on(1).await).len(), 1);
    ann.send_on(&ClientMessage::<String>::Leave, 1).await;
    assert_eq!(ann.left(1).await, None);
    ann.joined(1, "chat", None).await;
    assert_eq!(board.connection_count(), 0);
    assert_eq!(t.server.session("chat").connection_count(), 1);
}

/// Tokens are user ids; "secret" is only for "root", and "mallory"'s
/// token says "eve" on "elsewhere".
struct Guarded;

#[async_trait::async_trait]
impl Authenticator for Guarded {
    async fn authenticate(&self, request: AuthRequest<'_>) -> Result<Identity, AuthError> {
        let token = request.token.ok_or(AuthError::Missing)?;
        match (request.resource_id, token) {
            ("secret", user) if user != "root" => Err(AuthError::Forbidden),
            ("elsewhere", "mallory") => Ok(Identity::new("eve")),
            (_, user) => Ok(Identity::new(user)),
        }
    }
}

#[tokio::test]
async fn a_forbidden_join_keeps_the_connection_and_channel_0_works() {
    let t = start_with(Counter, Guarded, ServerConfig::default()).await;
    let mut ann = mux(t.addr, "home", "ann").await;
    ann.join(1, "secret", None).await;
    assert_eq!(ann.left(1).await.as_deref(), Some("forbidden"));
    // Another user id for the new resource is refused too.
    let mut mallory = mux(t.addr, "home", "mallory").await;
    mallory.join(2, "elsewhere", None).await;
    assert_eq!(mallory.left(2).await.as_deref(), Some("forbidden"));
    assert_eq!(t.server.session("secret").connection_count(), 0);
    // Channel 0 works as before, and an allowed resource joins.
    let op_id = OpId::from_u128(1);
    ann.client
        .send(&ClientMessage::Action {
            op_id,
            action: add(2),
        })
        .await;
    loop {
        match ann.on(0).await {
            Msg::ActionOk { op_id: got, .. } => {
                assert_eq!(got, op_id);
                break;
            }
            Msg::Delta { .. } | Msg::Deltas { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    ann.joined(1, "open", None).await;
}

#[tokio::test]
async fn every_join_refusal_has_its_code() {
    let mut config = ServerConfig::default();
    config.max_channels = 2;
    let t = start(Counter, config).await;
    let (client, joined) = Client::join(t.addr, "home", "ann").await;
    match &joined.connected {
        Msg::Connected { channels, .. } => assert_eq!(*channels, Some(2)),
        other => panic!("{other:?}"),
    }
    let mut ann = Mux::new(client);
    ann.join(1, "", None).await;
    assert_eq!(ann.left(1).await.as_deref(), Some("bad_resource"));
    ann.join(1, &"r".repeat(257), None).await;
    assert_eq!(ann.left(1).await.as_deref(), Some("bad_resource"));
    ann.join(1, "home", None).await;
    assert_eq!(ann.left(1).await.as_deref(), Some("already_joined"));
    ann.joined(1, "board", None).await;
    ann.join(2, "board", None).await;
    assert_eq!(ann.left(2).await.as_deref(), Some("already_joined"));
    // A Join on a channel in use changes nothing: Error channel_in_use.
    ann.join(1, "chat", None).await;
    match ann.on(1).await {
        Msg::Error { code, fatal, .. } => {
            assert_eq!(code, Some(ErrorCode::CHANNEL_IN_USE));
            assert!(!fatal);
        }
        other => panic!("expected channel_in_use, got {other:?}"),
    }
    ann.joined(2, "chat", None).await;
    ann.join(3, "news", None).await;
    assert_eq!(ann.left(3).await.as_deref(), Some("channel_limit"));
    // Channel 1 still holds board.
    Counter::add(&t.server.session("board"), 1)
        .await
        .expect("commit");
    assert_eq!(delta_seqs(&ann.on(1).await).len(), 1);
}

/// A counter whose resource "broken" cannot be produced.
#[derive(Default)]
struct Broken;

#[async_trait::async_trait]
impl ui_flow_server::FlowHandler for Broken {
    type Model = ui_flow_server::counter::CounterModel;

    async fn initial_state(
        &self,
        resource_id: &str,
    ) -> Result<ui_flow_server::counter::CounterState, ui_flow_server::BoxError> {
        if resource_id == "broken" {
            return Err("no such resource".into());
        }
        Ok(Default::default())
    }

    async fn handle_action(
        &self,
        _: &ui_flow_server::ActionContext<Self>,
        _: CounterAction,
    ) -> ui_flow_server::ActionOutcome {
        ui_flow_server::ActionOutcome::ok()
    }
}

#[tokio::test]
async fn a_join_the_application_cannot_sync_is_left_with_sync_failed() {
    let t = start(Broken, ServerConfig::default()).await;
    let mut ann = mux(t.addr, "home", "ann").await;
    ann.join(4, "broken", None).await;
    assert!(matches!(ann.on(4).await, Msg::Joined));
    assert_eq!(ann.left(4).await.as_deref(), Some("sync_failed"));
    // The connection stays, the channel is free again.
    ann.joined(4, "fine", None).await;
    assert_eq!(ann.quiet_on(0, 1).await, vec![]);
}

#[tokio::test]
async fn a_join_over_the_rate_limit_is_left_rate_limited() {
    let mut config = ServerConfig::default();
    config.rate_limit = ui_flow_server::config::RateLimit {
        per_second: 0.001,
        burst: 2,
    };
    let t = start(Counter, config).await;
    let mut ann = mux(t.addr, "home", "ann").await;
    ann.join(1, "a", None).await;
    ann.join(2, "b", None).await;
    ann.join(3, "c", None).await;
    assert!(matches!(ann.on(1).await, Msg::Joined));
    assert!(matches!(ann.on(2).await, Msg::Joined));
    assert_eq!(ann.left(3).await.as_deref(), Some("rate_limited"));
    // The bucket is the socket's: an action on a joined channel is over it too.
    let op_id = OpId::from_u128(5);
    ann.send_on(
        &ClientMessage::Action {
            op_id,
            action: add(1),
        },
        1,
    )
    .await;
    loop {
        match ann.on(1).await {
            Msg::ActionErr {
                op_id: got, code, ..
            } => {
                assert_eq!(got, op_id);
                assert_eq!(code.as_deref(), Some("rate_limited"));
                break;
            }
            Msg::Snapshot { .. } | Msg::Presence { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // A Join over the limit on a channel in use changes nothing, and its
    // answer says so: not a Left, which would end channel 1.
    ann.join(1, "d", None).await;
    ann.in_use(1).await;
}

#[tokio::test]
async fn a_reconnect_resumes_each_channel_with_deltas_from_its_resume_point() {
    let t = start(Counter, ServerConfig::default()).await;
    let (board, chat) = (t.server.session("board"), t.server.session("chat"));
    Counter::add(&board, 1).await.expect("commit");
    let mut ann = mux(t.addr, "home", "ann").await;
    let (b, _) = ann.joined(1, "board", None).await;
    let (c, _) = ann.joined(2, "chat", None).await;
    let (b, c) = (position(&b), position(&c));
    drop(ann);
    let mut b_after = Vec::new();
    for _ in 0..2 {
        b_after.push(Counter::add(&board, 1).await.expect("commit"));
    }
    let c_after = Counter::add(&chat, 3).await.expect("commit");
    let mut ann = mux(t.addr, "home", "ann").await;
    ann.join(1, "board", Some(b)).await;
    ann.join(2, "chat", Some(c)).await;
    for (channel, want) in [(1, b_after.clone()), (2, vec![c_after])] {
        assert!(matches!(ann.on(channel).await, Msg::Joined));
        match ann.on(channel).await {
            m @ Msg::Deltas { .. } => assert_eq!(delta_seqs(&m), want),
            other => panic!("expected Deltas on {channel}, got {other:?}"),
        }
        assert!(matches!(ann.on(channel).await, Msg::Presence { .. }));
    }
}

#[tokio::test]
async fn a_slow_consumer_on_a_channel_drops_the_socket_with_all_its_channels() {
    let mut config = ServerConfig::default();
    config.outbound_queue_bytes = 64 * 1024;
    let t = start_small_buffers(Plain::default(), config).await;
    let (mut control, _) = Client::join(t.addr, "board", "control").await;
    let mut slow = Mux::new(connect_small_buffer(t.addr, "home", "slow").await);
    slow.client.read_join().await;
    slow.joined(1, "board", None).await;
    slow.joined(2, "chat", None).await;
    control.recv().await; // slow's join diff
    // The slow socket reads nothing from here on.
    let blob = "x".repeat(8 * 1024);
    for _ in 0..4000 {
        let seq = t.push("board", &blob);
        let got = control
            .recv_until(|m| matches!(m, ServerMessage::Delta { .. }))
            .await;
        assert_eq!(delta_seqs(&got), vec![seq]);
        if t.server.counters().slow_disconnects > 0 {
            break;
        }
    }
    assert_eq!(t.server.counters().slow_disconnects, 1);
    // Control sees slow leave board; the socket ends, and with it chat.
    loop {
        match control.recv().await {
            Msg::PresenceDiff(d) if d.left == ["slow"] => break,
            Msg::Delta { .. } | Msg::PresenceDiff(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    loop {
        let next = tokio::time::timeout(STUCK, slow.client.ws.next())
            .await
            .expect("the slow socket ends");
        match next {
            Some(Ok(Message::Close(frame))) => {
                assert_eq!(
                    close_code(&frame),
                    Some(ui_flow::CloseCode::SLOW_CONSUMER.0)
                );
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break,
        }
    }
    t.server.live_slots_at_most(1).await;
    assert_eq!(t.server.session("chat").connection_count(), 0);
    assert_eq!(t.server.connection_count(), 1);
}

#[tokio::test]
async fn the_subscription_limits_are_summed_over_the_channels_of_a_socket() {
    let mut config = ServerConfig::default();
    config.max_subscriptions = 2;
    let t = start(Counter, config).await;
    let mut ann = mux(t.addr, "home", "ann").await;
    let subscribe = |domain: &str| ClientMessage::<String>::Subscribe {
        domains: vec![domain.to_owned()],
    };
    ann.send_on(&subscribe("a"), 0).await;
    ann.joined(1, "board", None).await;
    ann.send_on(&subscribe("b"), 1).await;
    ann.send_on(&subscribe("c"), 1).await;
    match ann.on(1).await {
        Msg::Error { code, fatal, .. } => {
            assert_eq!(code, Some(ErrorCode::SUBSCRIPTION_LIMIT));
            assert!(!fatal);
        }
        other => panic!("expected subscription_limit, got {other:?}"),
    }
    // Leaving board frees its domain for the URL's resource.
    ann.send_on(&ClientMessage::<String>::Leave, 1).await;
    assert_eq!(ann.left(1).await, None);
    ann.send_on(&subscribe("c"), 0).await;
    assert_eq!(ann.quiet_on(0, 1).await, vec![]);
    let event = ui_flow_server::counter::CounterEvent {
        by: "app".into(),
        value: 1,
    };
    let home = t.server.session("home");
    assert_eq!(home.broadcast_notify("c", &event, None).expect("notify"), 1);
}

#[tokio::test]
async fn signals_cross_between_a_channel_and_a_url_connection_on_each_ones_channel() {
    let t = start(Counter, ServerConfig::default()).await;
    let (mut bob, _) = Client::join(t.addr, "board", "bob").await;
    let mut ann = mux(t.addr, "home", "ann").await;
    ann.joined(2, "board", None).await;
    bob.recv().await; // ann's join diff
    let offer = ClientMessage::<String>::Signal {
        target_user_id: "bob".into(),
        signal: SignalPayload::Offer { sdp: "v=0".into() },
    };
    ann.send_on(&offer, 2).await;
    // Bob holds board on his URL: the relayed Signal comes on channel 0.
    match recv_on(&mut bob).await {
        (Channel::URL, Msg::Signal { from_user_id, .. }) => assert_eq!(from_user_id, "ann"),
        other => panic!("expected ann's signal on 0, got {other:?}"),
    }
    let answer = ClientMessage::<String>::Signal {
        target_user_id: "ann".into(),
        signal: SignalPayload::Answer { sdp: "v=0".into() },
    };
    bob.send(&answer).await;
    // Ann holds board on channel 2: bob's Signal comes there.
    match ann.on(2).await {
        Msg::Signal { from_user_id, .. } => assert_eq!(from_user_id, "bob"),
        other => panic!("expected bob's signal on 2, got {other:?}"),
    }
    assert_eq!(ann.quiet_on(0, 1).await, vec![]);
}

#[tokio::test]
async fn an_action_on_one_resource_counts_as_interaction_on_every_resource_of_the_socket() {
    let mut config = ServerConfig::default();
    config.idle_after = std::time::Duration::from_millis(100);
    let t = start(Counter, config).await;
    let (mut bob, _) = Client::join(t.addr, "board", "bob").await;
    let mut ann = mux(t.addr, "home", "ann").await;
    ann.joined(1, "board", None).await;
    let status_of_ann = |m: &Msg| match m {
        Msg::PresenceDiff(d) => d
            .updated
            .iter()
            .find(|u| u.user_id == "ann")
            .map(|u| u.status),
        _ => None,
    };
    // Ann does nothing on board: bob sees her go idle there.
    loop {
        if status_of_ann(&bob.recv().await) == Some(PresenceStatus::Idle) {
            break;
        }
    }
    // An action on her URL's resource makes her active on board too.
    let op_id = OpId::from_u128(77);
    ann.client
        .send(&ClientMessage::Action {
            op_id,
            action: add(1),
        })
        .await;
    loop {
        if status_of_ann(&bob.recv().await) == Some(PresenceStatus::Active) {
            break;
        }
    }
}

/// App-owned state whose snapshot of resource "gated" waits for the test
/// to open it, so a member joining it stays syncing meanwhile.
#[derive(Default)]
struct Gated {
    /// A snapshot of "gated" was asked for.
    asked: tokio::sync::Notify,
    open: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl ui_flow_server::FlowHandler for Gated {
    type Model = PlainModel;
    const APP_OWNED_STATE: bool = true;

    async fn snapshot(&self, resource: &str) -> Result<(Text, u64), ui_flow_server::BoxError> {
        if resource == "gated" {
            let open = self.open.notified();
            self.asked.notify_one();
            open.await;
        }
        Ok((Text("state".into()), 0))
    }

    async fn handle_action(
        &self,
        _: &ui_flow_server::ActionContext<Self>,
        _: String,
    ) -> ui_flow_server::ActionOutcome {
        ui_flow_server::ActionOutcome::ok()
    }
}

#[tokio::test]
async fn a_member_that_falls_behind_while_syncing_gets_slow_consumer_untagged_then_4003() {
    let mut config = ServerConfig::default();
    config.outbound_queue_bytes = 16 * 1024;
    let t = start(Gated::default(), config).await;
    let mut ann = mux(t.addr, "home", "ann").await;
    ann.join(1, "gated", None).await;
    // The member is admitted and its snapshot is under way: what the
    // resource broadcasts now is held for it, against the socket's bound.
    t.server.handler().asked.notified().await;
    let gated = t.server.session("gated");
    let blob = "x".repeat(8 * 1024);
    for seq in 1..=3 {
        gated.broadcast_delta(&blob, seq).expect("broadcast");
    }
    let mut seen = Vec::new();
    let close = loop {
        let next = tokio::time::timeout(STUCK, ann.client.ws.next())
            .await
            .expect("stuck waiting for the close");
        match next {
            Some(Ok(Message::Binary(b))) => {
                if let (c, Decoded::Message(m)) = Msg::decode_routed(&b).expect("decodes") {
                    seen.push((c, m));
                }
            }
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    };
    // Reading on answers the close, so the server ends the socket now.
    while let Ok(Some(Ok(_))) = tokio::time::timeout(STUCK, ann.client.ws.next()).await {}
    t.server.handler().open.notify_waiters();
    assert_eq!(
        close_code(&close),
        Some(ui_flow::CloseCode::SLOW_CONSUMER.0)
    );
    // Joined on channel 1, then the fatal error on the connection (no
    // `c`), last before the close; nothing of the held deltas.
    assert!(
        matches!(seen.first(), Some((Channel(1), Msg::Joined))),
        "{seen:?}"
    );
    match seen.last() {
        Some((Channel::URL, m)) => {
            assert_eq!(
                error_code(m),
                Some(("slow_consumer".to_owned(), true)),
                "{m:?}"
            );
        }
        other => panic!("expected the untagged slow_consumer error last, got {other:?}"),
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    t.server.live_slots_at_most(1).await;
    assert_eq!(t.server.session("gated").connection_count(), 0);
}
