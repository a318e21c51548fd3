//! The sans-IO client with joined resources (spec/PROTOCOL.md, "Channels"):
//! hand-made server frames on channels, real codec, fake clock.

mod client_support;

use client_support::{Append, Harness, Msg, Note, delta, snapshot};
use serde::{Deserialize, Serialize};
use ui_flow::client::{OpState, ResourceEvent, ResourceStatus};
use ui_flow::{
    Channel, ChannelError, ClientMessage, Error, ErrorCode, FlowState, Model, ServerMessage,
};

/// A second resource's state: a running total. Its snapshot is an integer,
/// which the URL resource's model (a list) cannot decode, so routing must
/// not depend on the URL model's types.
#[derive(Clone, Default, Debug, PartialEq, Serialize, Deserialize)]
struct Tally(u64);

impl FlowState for Tally {
    type Delta = u32;
    fn apply_delta(&mut self, delta: u32) {
        self.0 += u64::from(delta);
    }
}

struct TallyModel;

impl Model for TallyModel {
    type State = Tally;
    type Delta = u32;
    type Action = Append;
    type Event = Note;
}

type TallyMsg = ServerMessage<Tally, u32, Note>;

const EPOCH: u32 = 77;

fn greet_with(h: &mut Harness, channels: Option<u16>) {
    h.recv(Msg::Connected {
        protocol_version: ui_flow::PROTOCOL_VERSION,
        connection_id: "conn".into(),
        user_id: Some("me".into()),
        channels,
    });
}

fn send_on(h: &mut Harness, channel: u16, msg: TallyMsg) {
    let frame = msg.encode_on(Channel(channel)).expect("encode");
    h.recv_bytes(&frame);
}

fn tally(h: &Harness, channel: Channel) -> u64 {
    h.client
        .resource::<TallyModel>(channel)
        .expect("joined")
        .state()
        .0
}

fn tally_delta(value: u32, seq: u64) -> TallyMsg {
    TallyMsg::Delta {
        delta: value,
        seq,
        timestamp: 0,
        epoch: Some(EPOCH),
        prev: None,
    }
}

/// A connected client at [1] on its URL resource, joined to "tally" on
/// channel 1 at seq 6 (total 13).
fn joined() -> (Harness, Channel) {
    let mut h = Harness::new();
    h.open();
    greet_with(&mut h, Some(4));
    h.recv(snapshot(&[1], 1, None));
    h.take_sent();
    let channel = h.client.join::<TallyModel>("tally").expect("join");
    h.pump();
    assert_eq!(channel, Channel(1));
    assert_eq!(
        h.take_routed(),
        [(
            channel,
            ClientMessage::Join {
                resource: "tally".into(),
                last_seq: None,
                epoch: None
            }
        )]
    );
    send_on(&mut h, 1, TallyMsg::Joined);
    send_on(
        &mut h,
        1,
        TallyMsg::Snapshot {
            state: Tally(10),
            seq: 5,
            timestamp: 0,
            epoch: Some(EPOCH),
        },
    );
    send_on(&mut h, 1, tally_delta(3, 6));
    assert_eq!(tally(&h, channel), 13);
    (h, channel)
}

#[test]
fn join_needs_a_server_that_announced_channels() {
    let mut h = Harness::new();
    h.open();
    greet_with(&mut h, None);
    match h.client.join::<TallyModel>("tally") {
        Err(Error::Channel(ChannelError::Unsupported)) => {}
        other => panic!("{other:?}"),
    }
    assert!(h.take_routed().iter().all(|(c, _)| c.is_url()));
}

#[test]
fn joins_stop_at_the_servers_limit_and_a_resource_is_held_once() {
    let mut h = Harness::new();
    h.open();
    greet_with(&mut h, Some(1));
    h.client.join::<TallyModel>("a").expect("first join");
    match h.client.join::<TallyModel>("a") {
        Err(Error::Channel(ChannelError::Limit { limit: 1 })) => {}
        other => panic!("{other:?}"),
    }
    let mut h = Harness::new();
    h.open();
    greet_with(&mut h, Some(2));
    h.client.join::<TallyModel>("a").expect("first join");
    match h.client.join::<TallyModel>("a") {
        Err(Error::Channel(ChannelError::AlreadyJoined(name))) => assert_eq!(name, "a"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_joined_resource_has_its_own_state_and_leaves_the_urls_alone() {
    let (mut h, channel) = joined();
    assert_eq!(h.state(), [1]);
    let resource = h.client.resource::<TallyModel>(channel).expect("joined");
    assert_eq!(resource.status(), &ResourceStatus::Joined);
    assert_eq!((resource.seq(), resource.epoch()), (Some(6), Some(EPOCH)));
    // The URL's resource goes on at its own seq.
    h.recv(delta(2, 2));
    assert_eq!(h.state(), [1, 2]);
    assert_eq!(tally(&h, channel), 13);
    // A resource of another Model is not handed out under the wrong type.
    assert!(
        h.client
            .resource::<client_support::LogModel>(channel)
            .is_none()
    );
}

#[test]
fn a_gap_on_a_channel_is_resynced_on_that_channel_once() {
    let (mut h, channel) = joined();
    h.take_sent();
    send_on(&mut h, 1, tally_delta(100, 8));
    send_on(&mut h, 1, tally_delta(100, 9));
    assert_eq!(tally(&h, channel), 13, "a delta after a gap is not applied");
    assert_eq!(
        h.take_routed(),
        [(
            channel,
            ClientMessage::Resync {
                last_seq: Some(6),
                epoch: Some(EPOCH)
            }
        )]
    );
    send_on(
        &mut h,
        1,
        TallyMsg::Deltas {
            deltas: vec![1, 1, 1],
            seq: 9,
            timestamp: 0,
            epoch: Some(EPOCH),
            prev: None,
        },
    );
    assert_eq!(tally(&h, channel), 16);
    let resource = h.client.resource_mut::<TallyModel>(channel).expect("ok");
    let mut violations = 0;
    while let Some(event) = resource.poll_event() {
        violations += usize::from(matches!(event, ResourceEvent::Violation(_)));
    }
    assert_eq!(violations, 2);
}

#[test]
fn an_optimistic_action_on_a_channel_rolls_back_on_its_action_err() {
    let (mut h, channel) = joined();
    h.take_sent();
    let op = h
        .client
        .send_action_on::<TallyModel>(channel, Append(5), Some(5))
        .expect("send");
    h.pump();
    assert_eq!(
        tally(&h, channel),
        18,
        "the optimistic change shows at once"
    );
    assert_eq!(
        h.take_routed(),
        [(
            channel,
            ClientMessage::Action {
                op_id: op,
                action: Append(5)
            }
        )]
    );
    send_on(
        &mut h,
        1,
        TallyMsg::ActionErr {
            op_id: op,
            code: Some("nope".into()),
            message: "refused".into(),
        },
    );
    assert_eq!(tally(&h, channel), 13);
    let resource = h.client.resource::<TallyModel>(channel).expect("ok");
    assert!(matches!(resource.op_state(op), Some(OpState::Err { .. })));
    assert_eq!(h.state(), [1], "the URL's state never saw the change");
}

#[test]
fn a_reconnect_rejoins_from_the_resume_point_and_resends_unresolved_actions() {
    let (mut h, channel) = joined();
    let op = h
        .client
        .send_action_on::<TallyModel>(channel, Append(1), None)
        .expect("send");
    h.drop_socket(None);
    assert_eq!(
        h.client
            .resource::<TallyModel>(channel)
            .expect("ok")
            .status(),
        &ResourceStatus::Joining
    );
    h.fire_timer();
    h.open();
    h.take_sent();
    greet_with(&mut h, Some(4));
    let sent = h.take_routed();
    assert!(
        sent.contains(&(
            channel,
            ClientMessage::Join {
                resource: "tally".into(),
                last_seq: Some(6),
                epoch: Some(EPOCH)
            }
        )),
        "{sent:?}"
    );
    assert!(
        !sent
            .iter()
            .any(|(c, m)| *c == channel && matches!(m, ClientMessage::Action { .. })),
        "actions wait for Joined: {sent:?}"
    );
    send_on(&mut h, 1, TallyMsg::Joined);
    assert_eq!(
        h.take_routed(),
        [(
            channel,
            ClientMessage::Action {
                op_id: op,
                action: Append(1)
            }
        )]
    );
    send_on(
        &mut h,
        1,
        TallyMsg::Deltas {
            deltas: vec![4],
            seq: 7,
            timestamp: 0,
            epoch: Some(EPOCH),
            prev: None,
        },
    );
    assert_eq!(tally(&h, channel), 17);
}

#[test]
fn a_server_without_channels_after_a_reconnect_leaves_the_resources() {
    let (mut h, channel) = joined();
    h.drop_socket(None);
    h.fire_timer();
    h.open();
    h.take_sent();
    greet_with(&mut h, None);
    assert!(h.take_routed().iter().all(|(c, _)| c.is_url()));
    match h
        .client
        .resource::<TallyModel>(channel)
        .expect("ok")
        .status()
    {
        ResourceStatus::Left { code, .. } => {
            assert_eq!(code.as_ref(), Some(&ErrorCode::CHANNEL_LIMIT))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn frames_between_leave_and_left_are_dropped() {
    let (mut h, channel) = joined();
    h.take_sent();
    h.client.leave(channel);
    h.pump();
    assert_eq!(h.take_routed(), [(channel, ClientMessage::Leave)]);
    send_on(&mut h, 1, tally_delta(1, 7));
    assert_eq!(tally(&h, channel), 13);
    send_on(
        &mut h,
        1,
        TallyMsg::Left {
            code: None,
            message: None,
        },
    );
    assert_eq!(
        h.client
            .resource::<TallyModel>(channel)
            .expect("ok")
            .status(),
        &ResourceStatus::Left {
            code: None,
            message: None
        }
    );
    // The channel number is free for the next join.
    assert_eq!(
        h.client.join::<TallyModel>("other").expect("join"),
        Channel(1)
    );
}

#[test]
fn a_join_takes_the_lowest_free_channel_and_rejoins_go_in_channel_order() {
    let mut h = Harness::new();
    h.open();
    greet_with(&mut h, Some(4));
    let names = ["a", "b", "c"];
    let channels: Vec<Channel> = names
        .iter()
        .map(|name| h.client.join::<TallyModel>(*name).expect("join"))
        .collect();
    assert_eq!(channels, [Channel(1), Channel(2), Channel(3)]);
    // The server ends "b": channel 2 is free again, 1 and 3 are not.
    send_on(
        &mut h,
        2,
        TallyMsg::Left {
            code: None,
            message: None,
        },
    );
    assert_eq!(h.client.join::<TallyModel>("d").expect("join"), Channel(2));
    assert_eq!(h.client.join::<TallyModel>("e").expect("join"), Channel(4));
    // Frames still reach the resource on their channel.
    for channel in [1, 2, 3, 4] {
        send_on(&mut h, channel, TallyMsg::Joined);
        send_on(
            &mut h,
            channel,
            TallyMsg::Snapshot {
                state: Tally(u64::from(channel) * 10),
                seq: 1,
                timestamp: 0,
                epoch: Some(EPOCH),
            },
        );
    }
    let totals: Vec<u64> = (1..=4).map(|n| tally(&h, Channel(n))).collect();
    assert_eq!(totals, [10, 20, 30, 40]);
    let ids: Vec<&str> = (1..=4)
        .map(|n| {
            h.client
                .resource::<TallyModel>(Channel(n))
                .expect("joined")
                .resource_id()
        })
        .collect();
    assert_eq!(ids, ["a", "d", "c", "e"]);
    // After a reconnect the joins go out by channel number.
    h.drop_socket(None);
    h.fire_timer();
    h.open();
    h.take_sent();
    greet_with(&mut h, Some(4));
    let rejoined: Vec<(Channel, String)> = h
        .take_routed()
        .into_iter()
        .filter_map(|(c, m)| match m {
            ClientMessage::Join { resource, .. } => Some((c, resource)),
            _ => None,
        })
        .collect();
    assert_eq!(
        rejoined,
        [
            (Channel(1), "a".to_owned()),
            (Channel(2), "d".to_owned()),
            (Channel(3), "c".to_owned()),
            (Channel(4), "e".to_owned()),
        ]
    );
}

#[test]
fn a_refused_join_reports_the_servers_code() {
    let mut h = Harness::new();
    h.open();
    greet_with(&mut h, Some(4));
    let channel = h.client.join::<TallyModel>("secret").expect("join");
    send_on(
        &mut h,
        channel.0,
        TallyMsg::Left {
            code: Some(ErrorCode::FORBIDDEN),
            message: Some("not a member".into()),
        },
    );
    let resource = h.client.resource_mut::<TallyModel>(channel).expect("ok");
    match resource.poll_event() {
        Some(ResourceEvent::Status(ResourceStatus::Left { code, message })) => {
            assert_eq!(code, Some(ErrorCode::FORBIDDEN));
            assert_eq!(message.as_deref(), Some("not a member"));
        }
        other => panic!("{:?}", other.is_some()),
    }
}

#[test]
fn a_resources_subscriptions_go_with_every_joined() {
    let mut h = Harness::new();
    h.open();
    greet_with(&mut h, Some(4));
    let channel = h.client.join::<TallyModel>("tally").expect("join");
    h.client
        .subscribe_on::<TallyModel, _>(channel, ["chat"])
        .expect("subscribe");
    h.pump();
    h.take_sent();
    let subscribe = (
        channel,
        ClientMessage::Subscribe {
            domains: vec!["chat".into()],
        },
    );
    send_on(&mut h, 1, TallyMsg::Joined);
    assert_eq!(h.take_routed(), std::slice::from_ref(&subscribe));
    h.drop_socket(None);
    h.fire_timer();
    h.open();
    greet_with(&mut h, Some(4));
    h.take_sent();
    send_on(&mut h, 1, TallyMsg::Joined);
    assert_eq!(h.take_routed(), [subscribe]);
    // A notification on the channel is the resource's, not the URL's.
    send_on(
        &mut h,
        1,
        TallyMsg::Notify {
            domain: "chat".into(),
            event: Note("hi".into()),
            correlation_id: None,
        },
    );
    let resource = h
        .client
        .resource_mut::<TallyModel>(channel)
        .expect("joined");
    let mut notes = Vec::new();
    while let Some(event) = resource.poll_event() {
        if let ResourceEvent::Notify { event, .. } = event {
            notes.push(event);
        }
    }
    assert_eq!(notes, [Note("hi".into())]);
}

#[test]
fn a_resource_unsubscribed_from_a_domain_is_not_subscribed_again_on_rejoin() {
    let mut h = Harness::new();
    h.open();
    greet_with(&mut h, Some(4));
    let channel = h.client.join::<TallyModel>("tally").expect("join");
    // "chat" twice: held twice, and one unsubscribe lets go of both.
    h.client
        .subscribe_on::<TallyModel, _>(channel, ["chat", "chat", "moves"])
        .expect("subscribe");
    send_on(&mut h, 1, TallyMsg::Joined);
    h.take_routed();
    h.client
        .unsubscribe_on::<TallyModel, _>(channel, ["chat", "never"])
        .expect("unsubscribe");
    h.pump();
    assert_eq!(
        h.take_routed(),
        [(
            channel,
            ClientMessage::Unsubscribe {
                domains: vec!["chat".into()],
            },
        )],
        "only the held domain is unsubscribed"
    );
    h.drop_socket(None);
    h.fire_timer();
    h.open();
    greet_with(&mut h, Some(4));
    h.take_sent();
    send_on(&mut h, 1, TallyMsg::Joined);
    assert_eq!(
        h.take_routed(),
        [(
            channel,
            ClientMessage::Subscribe {
                domains: vec!["moves".into()],
            },
        )]
    );
}

#[test]
fn the_queue_bound_holds_per_resource() {
    let mut h = Harness::with(ui_flow::client::ClientConfig {
        queue_bound: 1,
        ..Default::default()
    });
    h.open();
    greet_with(&mut h, Some(4));
    let channel = h.client.join::<TallyModel>("tally").expect("join");
    h.client
        .send_action_on::<TallyModel>(channel, Append(1), None)
        .expect("first action");
    match h
        .client
        .send_action_on::<TallyModel>(channel, Append(2), None)
    {
        Err(Error::Misuse(ui_flow::ApiMisuse::QueueFull { bound: 1 })) => {}
        other => panic!("{other:?}"),
    }
    match h
        .client
        .send_action_on::<TallyModel>(Channel(9), Append(2), None)
    {
        Err(Error::Channel(ChannelError::Unknown(Channel(9)))) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_error_on_a_channel_is_the_resources() {
    let (mut h, channel) = joined();
    h.take_events();
    send_on(
        &mut h,
        1,
        TallyMsg::Error {
            code: Some(ErrorCode::UNKNOWN_TARGET),
            message: "bob is not here".into(),
            fatal: false,
            op_id: None,
        },
    );
    assert!(
        !h.take_events()
            .iter()
            .any(|e| matches!(e, ui_flow::client::Event::ServerError { .. })),
        "the URL resource's events do not see it"
    );
    let resource = h
        .client
        .resource_mut::<TallyModel>(channel)
        .expect("joined");
    let mut errors = Vec::new();
    while let Some(event) = resource.poll_event() {
        if let ResourceEvent::ServerError { code, .. } = event {
            errors.push(code);
        }
    }
    assert_eq!(errors, [Some(ErrorCode::UNKNOWN_TARGET)]);
}

thread_local! {
    /// The scope a `Scoped` delta runs in, as its `apply_delta` saw it.
    static IN_SCOPE: std::cell::Cell<&'static str> = const { std::cell::Cell::new("none") };
}

/// A tally that records, for every delta it applies, whose scope was
/// running.
#[derive(Clone, Default, Debug, PartialEq, Serialize, Deserialize)]
struct Scoped(Vec<String>);

impl FlowState for Scoped {
    type Delta = u32;
    fn apply_delta(&mut self, delta: u32) {
        self.0.push(format!("{delta}@{}", IN_SCOPE.get()));
    }
}

struct ScopedModel;

impl Model for ScopedModel {
    type State = Scoped;
    type Delta = u32;
    type Action = Append;
    type Event = Note;
}

/// A scope that names itself while the work runs, and the count of its
/// holders (to see it released).
fn naming(name: &'static str) -> (std::sync::Arc<()>, impl Fn(&mut dyn FnMut()) + Send + Sync) {
    let held = std::sync::Arc::new(());
    let inside = std::sync::Arc::clone(&held);
    (held, move |work: &mut dyn FnMut()| {
        let _held = &inside;
        let outer = IN_SCOPE.replace(name);
        work();
        IN_SCOPE.set(outer);
    })
}

#[test]
fn each_joined_resource_applies_its_deltas_in_its_own_scope_until_left() {
    let mut h = Harness::new();
    h.open();
    greet_with(&mut h, Some(4));
    h.recv(snapshot(&[1], 1, None));
    let (a_held, a_scope) = naming("a");
    let (b_held, b_scope) = naming("b");
    let a = h
        .client
        .join_scoped::<ScopedModel>("a", a_scope)
        .expect("join a");
    let b = h
        .client
        .join_scoped::<ScopedModel>("b", b_scope)
        .expect("join b");
    let shown = |h: &Harness, channel| {
        h.client
            .resource::<ScopedModel>(channel)
            .expect("joined")
            .state()
            .0
            .clone()
    };
    for (channel, at) in [(1, 5), (2, 9)] {
        send_on_scoped(&mut h, channel, ScopedMsg::Joined);
        send_on_scoped(
            &mut h,
            channel,
            ScopedMsg::Snapshot {
                state: Scoped(Vec::new()),
                seq: at,
                timestamp: 0,
                epoch: Some(EPOCH),
            },
        );
    }
    send_on_scoped(&mut h, 1, scoped_delta(1, 6));
    send_on_scoped(&mut h, 2, scoped_delta(2, 10));
    assert_eq!(shown(&h, a), ["1@a"]);
    assert_eq!(shown(&h, b), ["2@b"]);
    // An optimistic change is applied in its resource's scope at once.
    h.client
        .send_action_on::<ScopedModel>(b, Append(3), Some(3))
        .expect("send");
    assert_eq!(shown(&h, b), ["2@b", "3@b"]);
    assert_eq!(IN_SCOPE.get(), "none", "each scope was left as found");
    assert!(
        std::sync::Arc::strong_count(&a_held) > 1,
        "a holds its scope"
    );
    h.client.leave(a);
    assert_eq!(
        std::sync::Arc::strong_count(&a_held),
        1,
        "a let go of its scope when it was left"
    );
    assert!(
        std::sync::Arc::strong_count(&b_held) > 1,
        "b still holds its own"
    );
    h.client.close();
    assert_eq!(
        std::sync::Arc::strong_count(&b_held),
        1,
        "b let go of its scope when the connection closed for good"
    );
}

type ScopedMsg = ServerMessage<Scoped, u32, Note>;

fn send_on_scoped(h: &mut Harness, channel: u16, msg: ScopedMsg) {
    let frame = msg.encode_on(Channel(channel)).expect("encode");
    h.recv_bytes(&frame);
}

fn scoped_delta(value: u32, seq: u64) -> ScopedMsg {
    ScopedMsg::Delta {
        delta: value,
        seq,
        timestamp: 0,
        epoch: Some(EPOCH),
        prev: None,
    }
}
