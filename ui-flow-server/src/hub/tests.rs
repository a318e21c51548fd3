//! The hub without sockets: inputs in, transmits and requests out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Serialize, Serializer};
use ui_flow::codec::Decoded;
use ui_flow::{PresenceStatus, SignalPayload};

use super::*;

static DELTA_ENCODES: AtomicUsize = AtomicUsize::new(0);

/// A delta that counts how often it is serialized.
#[derive(Clone)]
struct Counted(i64);

impl Serialize for Counted {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        DELTA_ENCODES.fetch_add(1, Ordering::SeqCst);
        s.serialize_i64(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        i64::deserialize(d).map(Counted)
    }
}

/// The state: a sum of deltas.
#[derive(Clone, Default, Serialize, serde::Deserialize)]
#[serde(transparent)]
struct Total(u64);

impl ui_flow::FlowState for Total {
    type Delta = Counted;
    fn apply_delta(&mut self, delta: Counted) {
        self.0 = self.0.wrapping_add_signed(delta.0);
    }
}

/// The test application's types: the hub needs nothing else.
struct Types;

impl Model for Types {
    type State = Total;
    type Delta = Counted;
    type Event = String;
    type Action = String;
}

type Msg = ServerMessage<rmpv::Value, rmpv::Value, rmpv::Value>;

struct Sim {
    hub: Hub<Types>,
    now: Now,
    /// Every frame delivered, per connection, decoded.
    inbox: HashMap<ConnectionId, Vec<Msg>>,
    closed: HashMap<ConnectionId, CloseCode>,
    /// WebSocket pings asked for, in order.
    pings: Vec<ConnectionId>,
    aborted: Vec<ConnectionId>,
    requests: VecDeque<Request<String>>,
}

impl Sim {
    /// A hub with keepalive and presence batching out of the way: no
    /// server pings, an hour of liveness, each presence change on its own.
    /// Those mechanisms have their own tests, through [`Sim::with_config`].
    fn new(mut config: ServerConfig) -> Self {
        config.presence_batch = Duration::ZERO;
        config.ping_interval = Duration::ZERO;
        config.liveness_timeout = Duration::from_secs(3600);
        Self::with_config(config)
    }

    /// A hub with exactly this config.
    fn with_config(config: ServerConfig) -> Self {
        Sim {
            hub: Hub::new(config, 7),
            now: Now::system(),
            inbox: HashMap::new(),
            closed: HashMap::new(),
            pings: Vec::new(),
            aborted: Vec::new(),
            requests: VecDeque::new(),
        }
    }

    fn pump(&mut self) {
        while let Some(t) = self.hub.poll_transmit() {
            match t {
                Transmit::Frame { to, bytes } => {
                    let msg = match Msg::decode(&bytes).expect("hub frames decode") {
                        Decoded::Message(m) => m,
                        Decoded::Unknown { tag } => panic!("unknown tag {tag}"),
                    };
                    for id in to.as_slice() {
                        self.inbox.entry(*id).or_default().push(msg.clone());
                    }
                }
                Transmit::Close { conn, code, .. } => {
                    self.closed.insert(conn, code);
                }
                Transmit::Ping { conn } => self.pings.push(conn),
                Transmit::Abort { conn } => self.aborted.push(conn),
            }
        }
        while let Some(r) = self.hub.poll_request() {
            self.requests.push_back(r);
        }
    }

    fn take(&mut self, conn: ConnectionId) -> Vec<Msg> {
        self.pump();
        self.inbox.remove(&conn).unwrap_or_default()
    }

    fn connect(&mut self, user: &str) -> ConnectionId {
        let id = self
            .hub
            .connect(self.now, "r", Identity::new(user), None)
            .expect("connect");
        self.pump();
        id
    }

    /// Connects and answers the snapshot request with `seq`.
    fn join(&mut self, user: &str, seq: u64) -> ConnectionId {
        let id = self.connect(user);
        let ticket = self.snapshot_ticket();
        self.hub
            .complete_snapshot(self.now, ticket, Ok((Total(seq), seq)));
        self.pump();
        id
    }

    fn snapshot_ticket(&mut self) -> SyncTicket {
        self.pump();
        match self.requests.pop_front() {
            Some(Request::Snapshot { ticket, .. }) => ticket,
            other => panic!("expected a snapshot request, got {other:?}"),
        }
    }

    fn frame(&mut self, conn: ConnectionId, msg: &ClientMessage<String>) {
        let bytes = msg.encode().expect("encode");
        self.hub.handle_frame(self.now, conn, &bytes);
        self.pump();
    }

    fn delta(&mut self, seq: u64) {
        self.hub
            .broadcast_delta(self.now, "r", &Counted(seq as i64), seq)
            .expect("broadcast");
        self.pump();
    }
}

fn seqs(msgs: &[Msg]) -> Vec<u64> {
    msgs.iter()
        .filter_map(|m| match m {
            Msg::Delta { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect()
}

fn error_codes(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            Msg::Error { code: Some(c), .. } => Some(c.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_broadcast_is_encoded_once_for_any_number_of_connections() {
    let mut sim = Sim::new(ServerConfig::default());
    let conns: Vec<_> = (0..100).map(|i| sim.join(&format!("u{i}"), 0)).collect();
    let before = DELTA_ENCODES.load(Ordering::SeqCst);
    let encodes = sim.hub.stats().encodes;
    let reached = sim
        .hub
        .broadcast_delta(sim.now, "r", &Counted(1), 1)
        .expect("broadcast")
        .reached;
    assert_eq!(reached, 100);
    assert_eq!(DELTA_ENCODES.load(Ordering::SeqCst) - before, 1);
    assert_eq!(sim.hub.stats().encodes - encodes, 1);
    match sim.hub.poll_transmit() {
        Some(Transmit::Frame { to, .. }) => assert_eq!(to.len(), 100),
        other => panic!("expected one fan-out transmit, got {other:?}"),
    }
    assert_eq!(sim.hub.poll_transmit(), None);
    let _ = conns;
}

#[test]
fn join_sends_connected_snapshot_presence_in_order() {
    let mut sim = Sim::new(ServerConfig::default());
    let a = sim.join("alice", 3);
    let got = sim.take(a);
    assert!(matches!(got[0], Msg::Connected { .. }));
    assert!(matches!(
        got[1],
        Msg::Snapshot {
            seq: 3,
            epoch: Some(7),
            ..
        }
    ));
    assert!(matches!(&got[2], Msg::Presence { users } if users.len() == 1));
    assert_eq!(got.len(), 3);
}

#[test]
fn deltas_during_a_join_are_neither_lost_nor_repeated() {
    let mut sim = Sim::new(ServerConfig::default());
    let watcher = sim.join("w", 10);
    let joiner = sim.connect("j");
    let ticket = sim.snapshot_ticket();
    // Broadcast while the snapshot is being built; the snapshot turns out
    // to include 11 and 12 but not 13 and 14.
    for seq in 11..=14 {
        sim.delta(seq);
    }
    sim.hub
        .complete_snapshot(sim.now, ticket, Ok((Total(12), 12)));
    let got = sim.take(joiner);
    assert!(matches!(got[1], Msg::Snapshot { seq: 12, .. }));
    assert!(matches!(got[2], Msg::Presence { .. }));
    assert_eq!(seqs(&got), vec![13, 14]);
    assert_eq!(seqs(&sim.take(watcher)), vec![11, 12, 13, 14]);
}

#[test]
fn a_batch_straddling_the_snapshot_asks_for_a_fresh_one() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.join("w", 10);
    let joiner = sim.connect("j");
    let ticket = sim.snapshot_ticket();
    sim.hub
        .broadcast_deltas(sim.now, "r", &[Counted(1), Counted(2)], 12)
        .expect("batch");
    sim.hub
        .complete_snapshot(sim.now, ticket, Ok((Total(11), 11)));
    let ticket = sim.snapshot_ticket();
    sim.hub
        .complete_snapshot(sim.now, ticket, Ok((Total(12), 12)));
    let got = sim.take(joiner);
    let kinds: Vec<_> = got.iter().map(|m| m.tag().0).collect();
    // Connected, Snapshot(12), Presence; the batch (11..=12) is skipped.
    assert_eq!(kinds, vec![0, 1000, 2000]);
}

#[test]
fn stale_completions_are_ignored() {
    let mut sim = Sim::new(ServerConfig::default());
    let a = sim.connect("a");
    let ticket = sim.snapshot_ticket();
    sim.hub.handle_departure(sim.now, a, Departure::Gone);
    sim.hub
        .complete_snapshot(sim.now, ticket, Ok((Total(1), 1)));
    assert!(
        sim.take(a)
            .iter()
            .all(|m| !matches!(m, Msg::Snapshot { .. }))
    );
    assert_eq!(sim.hub.session_count(), 0);
}

#[test]
fn resync_matrix() {
    let cap = ServerConfig::default().max_resync_deltas;
    let head = 1000;
    // (last_seq, epoch) -> expect deltas (Some(count)) or a snapshot (None).
    let cases: [(Option<u64>, Option<u32>, Option<u64>); 8] = [
        (Some(head), Some(7), Some(0)),
        (Some(head - 1), Some(7), Some(1)),
        (Some(head - cap), Some(7), Some(cap)),
        (Some(head - cap - 1), Some(7), None),
        (Some(head), Some(8), None),
        (Some(head), None, None),
        (Some(head + 1), Some(7), None),
        (None, Some(7), None),
    ];
    for (last_seq, epoch, expect) in cases {
        let mut sim = Sim::new(ServerConfig::default());
        let a = sim.join("a", head);
        sim.take(a);
        sim.frame(a, &ClientMessage::Resync { last_seq, epoch });
        match sim.requests.pop_front() {
            Some(Request::Deltas { ticket, after, .. }) => {
                let list = (after + 1..=head).map(|s| (Counted(s as i64), s)).collect();
                sim.hub.complete_deltas(sim.now, ticket, Ok(list));
            }
            Some(Request::Snapshot { ticket, .. }) => {
                sim.hub
                    .complete_snapshot(sim.now, ticket, Ok((Total(head), head)));
            }
            _ => {}
        }
        let got = sim.take(a);
        let case = format!("last_seq {last_seq:?} epoch {epoch:?}");
        match (expect, &got[..]) {
            (Some(n), [Msg::Deltas { deltas, seq, .. }]) => {
                assert_eq!(deltas.len() as u64, n, "{case}");
                assert_eq!(*seq, head, "{case}");
            }
            (None, [Msg::Snapshot { seq, .. }]) => assert_eq!(*seq, head, "{case}"),
            _ => panic!("{case}: expected {expect:?}, got {got:?}"),
        }
    }
}

#[test]
fn an_incomplete_history_falls_back_to_a_snapshot() {
    let mut sim = Sim::new(ServerConfig::default());
    let a = sim.join("a", 50);
    sim.take(a);
    sim.frame(
        a,
        &ClientMessage::Resync {
            last_seq: Some(40),
            epoch: Some(7),
        },
    );
    let Some(Request::Deltas { ticket, .. }) = sim.requests.pop_front() else {
        panic!("expected a deltas request");
    };
    // A gap at 45.
    let list = (41..=50)
        .filter(|s| *s != 45)
        .map(|s| (Counted(0), s))
        .collect();
    sim.hub.complete_deltas(sim.now, ticket, Ok(list));
    let ticket = sim.snapshot_ticket();
    sim.hub
        .complete_snapshot(sim.now, ticket, Ok((Total(50), 50)));
    assert!(matches!(&sim.take(a)[..], [Msg::Snapshot { seq: 50, .. }]));
}

#[test]
fn a_retried_action_runs_once_and_gets_the_known_outcome() {
    let mut sim = Sim::new(ServerConfig::default());
    let first = sim.join("alice", 0);
    let op = OpId::from_u128(42);
    let action = ClientMessage::Action {
        op_id: op,
        action: "go".to_owned(),
    };
    sim.frame(first, &action);
    let Some(Request::Action { key, user, .. }) = sim.requests.pop_front() else {
        panic!("expected an action request");
    };
    assert_eq!(user.user_id, "alice");
    // The client reconnects and retries while the first run is in flight.
    sim.hub.handle_departure(sim.now, first, Departure::Gone);
    let second = sim.join("alice", 0);
    sim.take(second);
    sim.frame(second, &action);
    assert!(sim.requests.is_empty(), "the retry must not run again");
    sim.hub.report_progress(&key, Some(50), None);
    sim.hub.complete_action(sim.now, &key, ActionOutcome::ok());
    let got = sim.take(second);
    assert!(matches!(
        got[0],
        Msg::Progress {
            percent: Some(50),
            ..
        }
    ));
    assert!(matches!(got[1], Msg::ActionOk { op_id, .. } if op_id == op));
    // A retry after completion is answered from memory.
    sim.frame(second, &action);
    assert!(sim.requests.is_empty());
    assert!(matches!(&sim.take(second)[..], [Msg::ActionOk { .. }]));
    // The same op id from another user is another action.
    let bob = sim.join("bob", 0);
    sim.frame(bob, &action);
    assert!(matches!(
        sim.requests.pop_front(),
        Some(Request::Action { .. })
    ));
}

#[test]
fn presence_diffs_join_update_leave_and_tabs_merge() {
    let mut sim = Sim::new(ServerConfig::default());
    let a = sim.join("alice", 0);
    sim.take(a);
    let b1 = sim.join("bob", 0);
    let got = sim.take(a);
    assert!(
        matches!(&got[..], [Msg::PresenceDiff(d)] if d.joined.len() == 1 && d.joined[0].user_id == "bob")
    );
    // A second tab of bob: no diff for alice.
    let b2 = sim.join("bob", 0);
    assert!(sim.take(a).is_empty());
    assert!(matches!(&sim.take(b2)[2], Msg::Presence { users } if users.len() == 2));
    // Both of bob's tabs hidden: away.
    for b in [b1, b2] {
        sim.frame(
            b,
            &ClientMessage::Ping {
                ts: 1,
                presence: Some(PresenceStatus::Away),
            },
        );
    }
    let got = sim.take(a);
    assert!(
        matches!(&got[..], [Msg::PresenceDiff(d)] if d.updated.len() == 1 && d.updated[0].status == PresenceStatus::Away)
    );
    sim.hub.handle_departure(sim.now, b1, Departure::Gone);
    sim.pump();
    sim.inbox.remove(&a);
    sim.hub.handle_departure(sim.now, b2, Departure::Gone);
    let got = sim.take(a);
    assert!(matches!(&got[..], [Msg::PresenceDiff(d)] if d.left == ["bob"]));
}

#[test]
fn quiet_users_turn_idle_on_the_timer() {
    let mut sim = Sim::new(ServerConfig::default());
    let a = sim.join("alice", 0);
    let b = sim.join("bob", 0);
    sim.take(a);
    sim.take(b);
    let deadline = sim.hub.poll_timeout().expect("an idle deadline");
    assert_eq!(
        deadline,
        sim.now.instant + ServerConfig::default().idle_after
    );
    sim.now = sim.now.after(Duration::from_secs(61));
    sim.hub.handle_timeout(sim.now);
    let got = sim.take(a);
    let idle: Vec<_> = got
        .iter()
        .filter_map(|m| match m {
            Msg::PresenceDiff(d) => d.updated.first().map(|u| (u.user_id.clone(), u.status)),
            _ => None,
        })
        .collect();
    assert!(idle.contains(&("alice".into(), PresenceStatus::Idle)));
    assert!(idle.contains(&("bob".into(), PresenceStatus::Idle)));
    // An action makes bob active again.
    sim.frame(
        b,
        &ClientMessage::Action {
            op_id: OpId::from_u128(1),
            action: "x".into(),
        },
    );
    assert!(sim.take(a).iter().any(
        |m| matches!(m, Msg::PresenceDiff(d) if d.updated.first().is_some_and(|u| u.user_id == "bob" && u.status == PresenceStatus::Active))
    ));
}

#[test]
fn notify_reaches_subscribed_and_permitted_connections_only() {
    let mut sim = Sim::new(ServerConfig::default());
    let a = sim.join("alice", 0);
    let b = sim.join("bob", 0);
    let c = sim.join("carol", 0);
    for conn in [a, b] {
        sim.frame(
            conn,
            &ClientMessage::Subscribe {
                domains: vec!["world".into()],
            },
        );
    }
    for conn in [a, b, c] {
        sim.take(conn);
    }
    let mut only_alice = |user: &Identity, _: &String| user.user_id == "alice";
    let n = sim
        .hub
        .broadcast_notify("r", "world", &"boom".to_owned(), None, &mut only_alice)
        .expect("notify")
        .reached;
    assert_eq!(n, 1);
    assert!(matches!(&sim.take(a)[..], [Msg::Notify { domain, .. }] if domain == "world"));
    assert!(sim.take(b).is_empty());
    assert!(sim.take(c).is_empty());
    let mut all = |_: &Identity, _: &String| true;
    sim.hub
        .notify_user("r", "bob", "world", &"hi".to_owned(), None, &mut all)
        .expect("notify");
    assert!(sim.take(a).is_empty());
    assert_eq!(sim.take(b).len(), 1);
    // Unsubscribed: nothing.
    sim.frame(
        b,
        &ClientMessage::Unsubscribe {
            domains: vec!["world".into()],
        },
    );
    let n = sim
        .hub
        .notify_user("r", "bob", "world", &"hi".to_owned(), None, &mut all)
        .expect("notify")
        .reached;
    assert_eq!(n, 0);
}

#[test]
fn signals_are_relayed_with_the_authenticated_sender() {
    let mut sim = Sim::new(ServerConfig::default());
    let a = sim.join("alice", 0);
    let b = sim.join("bob", 0);
    sim.take(a);
    sim.take(b);
    let offer = SignalPayload::Offer { sdp: "v=0".into() };
    sim.frame(
        a,
        &ClientMessage::Signal {
            target_user_id: "bob".into(),
            signal: offer.clone(),
        },
    );
    assert!(
        matches!(&sim.take(b)[..], [Msg::Signal { from_user_id, signal }] if from_user_id == "alice" && *signal == offer)
    );
    sim.frame(
        a,
        &ClientMessage::Signal {
            target_user_id: "nobody".into(),
            signal: offer,
        },
    );
    assert_eq!(error_codes(&sim.take(a)), ["unknown_target"]);
    let huge = SignalPayload::Offer {
        sdp: "x".repeat(20_000),
    };
    sim.frame(
        a,
        &ClientMessage::Signal {
            target_user_id: "bob".into(),
            signal: huge,
        },
    );
    assert_eq!(error_codes(&sim.take(a)), ["signal_too_large"]);
    assert!(sim.take(b).is_empty());
}

#[test]
fn bad_input_gets_errors_and_the_connection_survives() {
    let mut config = ServerConfig::default();
    config.rate_limit.burst = 1000;
    let mut sim = Sim::new(config);
    let a = sim.join("a", 0);
    sim.take(a);
    let good = ClientMessage::<String>::Ping {
        ts: 9,
        presence: None,
    }
    .encode()
    .expect("encode");
    for bad in [
        &good[..good.len() - 1],
        &[0xc1][..],
        &[0x81, 0xa1, b'x', 0x00][..],
        &[0x81, 0xa1, b't', 0xcd, 0x03, 0xe8][..],
    ] {
        sim.hub.handle_frame(sim.now, a, bad);
    }
    // An unknown tag is ignored silently.
    sim.hub
        .handle_frame(sim.now, a, &[0x81, 0xa1, b't', 0xcd, 0x17, 0x70]);
    sim.hub.handle_text_frame(sim.now, a);
    sim.hub.handle_frame(sim.now, a, &good);
    let got = sim.take(a);
    assert_eq!(
        error_codes(&got),
        [
            "bad_frame",
            "bad_frame",
            "bad_frame",
            "bad_frame",
            "bad_frame"
        ]
    );
    assert!(matches!(got.last(), Some(Msg::Pong { client_ts: 9, .. })));
    assert!(sim.closed.is_empty());
    // An oversized frame is fatal: error, then close 1009.
    sim.hub.handle_oversized(a);
    sim.pump();
    assert_eq!(sim.closed.get(&a), Some(&CloseCode::MESSAGE_TOO_BIG));
    assert_eq!(error_codes(&sim.take(a)), ["frame_too_large"]);
    assert!(
        got.iter()
            .all(|m| !matches!(m, Msg::Error { fatal: true, .. }))
    );
    assert_eq!(sim.hub.stats().unknown_tags, 1);
}

#[test]
fn the_rate_limit_drops_excess_frames_and_says_so_once() {
    let mut config = ServerConfig::default();
    config.rate_limit = crate::config::RateLimit {
        per_second: 1.0,
        burst: 3,
    };
    let mut sim = Sim::new(config);
    let a = sim.join("a", 0);
    sim.take(a);
    for ts in 0..10 {
        sim.frame(a, &ClientMessage::Ping { ts, presence: None });
    }
    let got = sim.take(a);
    let pongs = got.iter().filter(|m| matches!(m, Msg::Pong { .. })).count();
    assert_eq!(pongs, 3);
    assert_eq!(error_codes(&got), ["rate_limited"]);
    sim.now = sim.now.after(Duration::from_secs(1));
    sim.frame(
        a,
        &ClientMessage::Ping {
            ts: 99,
            presence: None,
        },
    );
    assert!(matches!(
        &sim.take(a)[..],
        [Msg::Pong { client_ts: 99, .. }]
    ));
}

#[test]
fn connection_limits_refuse_with_codes() {
    let config = ServerConfig {
        max_connections: 3,
        max_connections_per_user: 2,
        ..ServerConfig::default()
    };
    let mut sim = Sim::new(config);
    sim.connect("a");
    sim.connect("a");
    let refused = sim.hub.connect(sim.now, "r", Identity::new("a"), None);
    assert_eq!(refused, Err(Refusal::UserFull));
    sim.connect("b");
    assert_eq!(
        sim.hub.connect(sim.now, "r", Identity::new("c"), None),
        Err(Refusal::NodeFull)
    );
    assert_eq!(
        Refusal::NodeFull.codes(),
        (
            ErrorCode::TOO_MANY_CONNECTIONS,
            CloseCode::TOO_MANY_CONNECTIONS
        )
    );
}

#[test]
fn a_joiner_that_holds_too_much_is_a_slow_consumer() {
    let config = ServerConfig {
        outbound_queue_bytes: 64,
        ..ServerConfig::default()
    };
    let mut sim = Sim::new(config);
    sim.join("w", 0);
    let j = sim.connect("j");
    let _ticket = sim.snapshot_ticket();
    for seq in 1..=20 {
        sim.delta(seq);
    }
    assert_eq!(sim.closed.get(&j), Some(&CloseCode::SLOW_CONSUMER));
    assert_eq!(error_codes(&sim.take(j)), ["slow_consumer"]);
    assert_eq!(sim.hub.session_len("r"), 1);
}

#[test]
fn shutdown_closes_everyone_with_going_away_and_refuses_newcomers() {
    let mut sim = Sim::new(ServerConfig::default());
    let a = sim.join("a", 0);
    let b = sim.connect("b");
    sim.take(a);
    sim.hub.shutdown();
    sim.pump();
    for conn in [a, b] {
        assert_eq!(sim.closed.get(&conn), Some(&CloseCode::GOING_AWAY));
        assert!(error_codes(&sim.take(conn)).contains(&"shutdown".to_owned()));
    }
    assert_eq!(
        sim.hub.connect(sim.now, "r", Identity::new("c"), None),
        Err(Refusal::ShuttingDown)
    );
    assert_eq!(sim.hub.connection_count(), 0);
}

#[test]
fn a_failed_snapshot_closes_with_sync_failed() {
    let mut sim = Sim::new(ServerConfig::default());
    let a = sim.connect("a");
    let ticket = sim.snapshot_ticket();
    sim.hub
        .complete_snapshot(sim.now, ticket, Err("db down".into()));
    sim.pump();
    assert_eq!(sim.closed.get(&a), Some(&CloseCode::INTERNAL_ERROR));
    assert_eq!(error_codes(&sim.take(a)), ["sync_failed"]);
}

// ----- timers on the virtual clock ---------------------------------------

impl Sim {
    /// Moves the clock and runs whatever came due.
    fn advance(&mut self, d: Duration) {
        self.now = self.now.after(d);
        self.hub.handle_timeout(self.now);
        self.pump();
    }
}

fn left(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            Msg::PresenceDiff(d) => Some(d.left.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn a_peer_that_stops_answering_pings_leaves_within_ping_interval_plus_pong_timeout() {
    let config = ServerConfig::default();
    let (interval, pong) = (config.ping_interval, config.pong_timeout);
    assert!(
        interval + pong <= Duration::from_secs(14),
        "the documented bound"
    );
    let mut sim = Sim::with_config(config);
    let alive = sim.join("alive", 0);
    let frozen = sim.join("frozen", 0);
    sim.take(alive);
    // Silence for the ping interval: both get a WebSocket ping.
    sim.advance(interval);
    assert_eq!(sim.pings.len(), 2);
    // Only one answers.
    sim.hub.handle_heartbeat(sim.now, alive);
    sim.advance(pong - Duration::from_millis(1));
    assert!(sim.closed.is_empty());
    sim.advance(Duration::from_millis(1));
    assert_eq!(sim.closed.get(&frozen), Some(&CloseCode::LIVENESS_TIMEOUT));
    assert_eq!(error_codes(&sim.take(frozen)), ["liveness_timeout"]);
    assert_eq!(left(&sim.take(alive)), ["frozen"]);
    assert!(!sim.closed.contains_key(&alive));
    // The frozen socket never finishes closing: dropped after the grace.
    sim.advance(ServerConfig::default().close_grace);
    assert_eq!(sim.aborted, [frozen]);
}

#[test]
fn a_peer_that_answers_a_ping_then_freezes_leaves_within_the_same_bound() {
    let config = ServerConfig::default();
    let (interval, pong) = (config.ping_interval, config.pong_timeout);
    let mut sim = Sim::with_config(config);
    let a = sim.join("a", 0);
    sim.take(a);
    sim.advance(interval);
    assert_eq!(sim.pings.len(), 1);
    // It answers, then freezes: dead a ping interval plus a pong timeout
    // after the answer, not a pong timeout later.
    sim.advance(Duration::from_millis(300));
    sim.hub.handle_heartbeat(sim.now, a);
    sim.advance(interval);
    assert_eq!(
        sim.pings.len(),
        2,
        "pinged a ping interval after the answer"
    );
    sim.advance(pong - Duration::from_millis(1));
    assert!(sim.closed.is_empty());
    sim.advance(Duration::from_millis(1));
    assert_eq!(sim.closed.get(&a), Some(&CloseCode::LIVENESS_TIMEOUT));
}

#[test]
fn a_busy_connection_gets_no_ping_and_silence_still_ends_it() {
    let config = ServerConfig {
        ping_interval: Duration::ZERO,
        liveness_timeout: Duration::from_secs(30),
        ..ServerConfig::default()
    };
    let mut sim = Sim::with_config(config);
    let a = sim.join("a", 0);
    let ping = ClientMessage::<String>::Ping {
        ts: 1,
        presence: None,
    };
    for _ in 0..10 {
        sim.advance(Duration::from_secs(20));
        sim.frame(a, &ping);
    }
    assert!(sim.pings.is_empty());
    assert!(sim.closed.is_empty());
    sim.advance(Duration::from_secs(30));
    assert_eq!(sim.closed.get(&a), Some(&CloseCode::LIVENESS_TIMEOUT));
}

#[test]
fn the_handshake_timeout_closes_with_4005_and_a_late_success_is_expired() {
    let mut sim = Sim::with_config(ServerConfig::default());
    let slow = sim.hub.begin_handshake(sim.now);
    let quick = sim.hub.begin_handshake(sim.now);
    sim.hub
        .complete_handshake(sim.now, quick, "r", Identity::new("q"), None)
        .expect("admitted");
    sim.advance(ServerConfig::default().handshake_timeout);
    assert_eq!(sim.closed.get(&slow), Some(&CloseCode::HANDSHAKE_TIMEOUT));
    assert!(!sim.closed.contains_key(&quick));
    assert!(sim.take(slow).is_empty(), "no Error frame with 4005");
    assert_eq!(
        sim.hub
            .complete_handshake(sim.now, slow, "r", Identity::new("s"), None),
        Err(HandshakeError::Expired)
    );
    assert_eq!(sim.hub.session_len("r"), 1);
    // Failed authentication: Error unauthorized and 4001.
    let bad = sim.hub.begin_handshake(sim.now);
    sim.hub.fail_handshake(sim.now, bad);
    sim.pump();
    assert_eq!(sim.closed.get(&bad), Some(&CloseCode::UNAUTHORIZED));
    assert_eq!(error_codes(&sim.take(bad)), ["unauthorized"]);
}

#[test]
fn a_closing_connection_that_departs_in_time_is_not_aborted() {
    let mut sim = Sim::with_config(ServerConfig::default());
    let a = sim.join("a", 0);
    let b = sim.join("b", 0);
    sim.hub.shutdown();
    sim.pump();
    sim.hub.handle_departure(sim.now, a, Departure::Gone);
    sim.advance(ServerConfig::default().close_grace);
    assert_eq!(sim.aborted, [b]);
}

#[test]
fn presence_changes_within_a_window_go_out_as_one_diff() {
    let mut config = ServerConfig::default();
    config.join_rate.burst = 1000;
    let window = config.presence_batch;
    let mut sim = Sim::with_config(config);
    let watcher = sim.join("watcher", 0);
    sim.take(watcher);
    // The watcher's own join opened a window; let it pass.
    sim.advance(window);
    // The first change goes out at once.
    let first = sim.join("u0", 0);
    assert!(matches!(&sim.take(watcher)[..], [Msg::PresenceDiff(d)] if d.joined.len() == 1));
    // Within the window: 30 joins and a churner joining and leaving 100
    // times make nothing until the window ends...
    for i in 1..=30 {
        sim.join(&format!("u{i}"), 0);
    }
    for _ in 0..100 {
        let c = sim.join("churn", 0);
        sim.hub.handle_departure(sim.now, c, Departure::Gone);
    }
    sim.hub.handle_departure(sim.now, first, Departure::Gone);
    sim.pump();
    assert!(sim.take(watcher).is_empty());
    // ...then one diff with the net change.
    sim.advance(window);
    let got = sim.take(watcher);
    let [Msg::PresenceDiff(d)] = &got[..] else {
        panic!("expected one diff, got {got:?}");
    };
    assert_eq!(d.joined.len(), 30);
    assert_eq!(d.left, ["u0"]);
    assert!(d.updated.is_empty());
    // A quiet window closes; the next change goes out at once again.
    sim.advance(window);
    assert!(sim.take(watcher).is_empty());
    sim.join("late", 0);
    assert_eq!(sim.take(watcher).len(), 1);
}

#[test]
fn joins_over_the_rate_are_refused_until_the_bucket_refills() {
    let mut config = ServerConfig::default();
    config.join_rate = crate::config::RateLimit {
        per_second: 1.0,
        burst: 3,
    };
    let mut sim = Sim::with_config(config);
    for _ in 0..3 {
        let c = sim.connect("churn");
        sim.hub.handle_departure(sim.now, c, Departure::Gone);
    }
    assert_eq!(
        sim.hub.connect(sim.now, "r", Identity::new("churn"), None),
        Err(Refusal::JoinRate)
    );
    // Another user is not affected.
    sim.connect("other");
    // Over the handshake path, the refusal is on the wire.
    let id = sim.hub.begin_handshake(sim.now);
    let refused = sim
        .hub
        .complete_handshake(sim.now, id, "r", Identity::new("churn"), None);
    assert_eq!(refused, Err(HandshakeError::Refused(Refusal::JoinRate)));
    sim.pump();
    assert_eq!(sim.closed.get(&id), Some(&CloseCode::TOO_MANY_CONNECTIONS));
    assert_eq!(error_codes(&sim.take(id)), ["too_many_connections"]);
    sim.now = sim.now.after(Duration::from_secs(1));
    sim.connect("churn");
}

/// Another node's entry for `user`: active since the epoch's first ms.
fn remote_entry(user: &str) -> ui_flow::PresenceInfo {
    ui_flow::PresenceInfo {
        user_id: user.into(),
        name: None,
        status: PresenceStatus::Active,
        connected_at: 1,
    }
}

fn mesh_events(hub: &mut Hub<Types>) -> Vec<MeshEvent> {
    std::iter::from_fn(|| hub.poll_mesh()).collect()
}

#[test]
fn a_meshed_hub_merges_other_nodes_into_one_entry_per_user() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.hub.enable_mesh();
    sim.hub
        .handle_remote_presence(sim.now, "r", "n2", "bob", Some(remote_entry("bob")));
    let a = sim.join("alice", 0);
    let got = sim.take(a);
    assert!(
        matches!(&got[2], Msg::Presence { users } if users.iter().map(|u| u.user_id.as_str()).eq(["alice", "bob"])),
        "{got:?}"
    );
    let events = mesh_events(&mut sim.hub);
    assert!(
        matches!(&events[..], [MeshEvent::Presence { user, entry: Some(_), .. }] if &**user == "alice"),
        "{events:?}"
    );
    // bob opens a tab here too: still one bob, nothing new for alice.
    let b = sim.join("bob", 0);
    assert!(sim.take(a).is_empty());
    assert_eq!(sim.hub.presence("r").len(), 2);
    sim.take(b);
    // His tab on the other node closes: he stays (his entry is now this
    // node's, with a later connected_at).
    sim.hub
        .handle_remote_presence(sim.now, "r", "n2", "bob", None);
    let got = sim.take(a);
    assert!(
        matches!(&got[..], [Msg::PresenceDiff(d)] if d.left.is_empty() && d.updated.len() == 1),
        "{got:?}"
    );
    // His last tab here closes: this node says so, and he is gone.
    mesh_events(&mut sim.hub);
    sim.hub.handle_departure(sim.now, b, Departure::Gone);
    let got = sim.take(a);
    assert!(matches!(&got[..], [Msg::PresenceDiff(d)] if d.left == ["bob"]));
    let events = mesh_events(&mut sim.hub);
    assert!(
        matches!(&events[..], [MeshEvent::Presence { user, entry: None, .. }] if &**user == "bob"),
        "{events:?}"
    );
}

#[test]
fn a_meshed_hub_lists_users_of_other_nodes_when_nobody_is_connected_here() {
    let mut sim = Sim::new(ServerConfig::default());
    assert!(sim.hub.presence("r").is_empty());
    sim.hub.enable_mesh();
    sim.hub
        .handle_remote_presence(sim.now, "r", "n2", "bob", Some(remote_entry("bob")));
    sim.hub
        .handle_remote_presence(sim.now, "r", "n3", "bob", Some(remote_entry("bob")));
    let listed: Vec<String> = sim
        .hub
        .presence("r")
        .into_iter()
        .map(|p| p.user_id)
        .collect();
    assert_eq!(
        listed,
        ["bob"],
        "one entry per user, no local session needed"
    );
    sim.hub
        .replace_remote_presence(sim.now, "r", "n2", Vec::new());
    sim.hub
        .replace_remote_presence(sim.now, "r", "n3", Vec::new());
    assert!(
        sim.hub.presence("r").is_empty(),
        "gone with the nodes' entries"
    );
}

#[test]
fn a_meshed_hub_relays_signals_to_other_nodes_and_forgets_quiet_nodes() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.hub.enable_mesh();
    let a = sim.join("alice", 0);
    sim.take(a);
    sim.hub
        .replace_remote_presence(sim.now, "r", "n3", vec![remote_entry("carol")]);
    let got = sim.take(a);
    assert!(matches!(&got[..], [Msg::PresenceDiff(d)] if d.joined.len() == 1));
    mesh_events(&mut sim.hub);
    sim.frame(
        a,
        &ClientMessage::Signal {
            target_user_id: "carol".into(),
            signal: SignalPayload::Offer { sdp: "v=0".into() },
        },
    );
    assert!(
        sim.take(a).is_empty(),
        "no unknown_target for a remote user"
    );
    let events = mesh_events(&mut sim.hub);
    let [MeshEvent::Signal { target, frame, .. }] = &events[..] else {
        panic!("expected one signal for another node, got {events:?}");
    };
    assert_eq!(target, "carol");
    assert!(matches!(
        Msg::decode(frame),
        Ok(Decoded::Message(Msg::Signal { from_user_id, .. })) if from_user_id == "alice"
    ));
    // n3 went quiet: its users leave.
    sim.hub
        .replace_remote_presence(sim.now, "r", "n3", Vec::new());
    let got = sim.take(a);
    assert!(matches!(&got[..], [Msg::PresenceDiff(d)] if d.left == ["carol"]));
    // A relayed signal from another node reaches the target's connections.
    let frame = bytes::Bytes::from(
        Control::Signal {
            from_user_id: "dan".into(),
            signal: SignalPayload::Offer { sdp: "v=1".into() },
        }
        .encode()
        .expect("encode"),
    );
    assert_eq!(sim.hub.deliver_signal("r", "alice", frame), 1);
    assert!(
        matches!(&sim.take(a)[..], [Msg::Signal { from_user_id, .. }] if from_user_id == "dan")
    );
}

#[test]
fn sessions_open_before_the_mesh_keep_their_list() {
    let mut sim = Sim::new(ServerConfig::default());
    let a = sim.join("alice", 0);
    let b = sim.join("bob", 0);
    sim.take(a);
    sim.hub.enable_mesh();
    // bob's status changes: an update, not a second "joined".
    sim.frame(
        b,
        &ClientMessage::Ping {
            ts: 1,
            presence: Some(PresenceStatus::Away),
        },
    );
    let got = sim.take(a);
    assert!(
        matches!(&got[..], [Msg::PresenceDiff(d)] if d.joined.is_empty() && d.updated.len() == 1),
        "{got:?}"
    );
    assert_eq!(sim.hub.local_presence()[0].1.len(), 2);
}

/// The hub is sans-IO: none of its files (nor the plain-value modules it
/// uses) imports the async runtime, the HTTP stack or the application's
/// async handler, so it can be driven and tested on a virtual clock alone.
#[test]
fn the_hub_imports_no_runtime_no_http_and_no_handler() {
    let files = [
        ("hub/mod.rs", include_str!("mod.rs")),
        ("hub/ops.rs", include_str!("ops.rs")),
        ("hub/rate.rs", include_str!("rate.rs")),
        ("hub/remote.rs", include_str!("remote.rs")),
        ("hub/roster.rs", include_str!("roster.rs")),
        ("hub/scopes.rs", include_str!("scopes.rs")),
        ("hub/session.rs", include_str!("session.rs")),
        ("hub/sync.rs", include_str!("sync.rs")),
        ("hub/timers.rs", include_str!("timers.rs")),
        ("hub/transmit.rs", include_str!("transmit.rs")),
        ("hub/views.rs", include_str!("views.rs")),
        ("config.rs", include_str!("../config.rs")),
        ("identity.rs", include_str!("../identity.rs")),
        ("view.rs", include_str!("../view.rs")),
        ("outcome.rs", include_str!("../outcome.rs")),
    ];
    let forbidden = [
        "tokio",
        "axum",
        "hyper",
        "async_trait",
        "crate::handler",
        "crate::server",
        "crate::auth",
        "crate::log",
        "crate::socket",
        "crate::endpoint",
    ];
    for (name, text) in files {
        for line in text.lines().map(str::trim_start) {
            if !(line.starts_with("use ") || line.starts_with("pub use ")) {
                continue;
            }
            for dependency in forbidden {
                assert!(
                    !line.contains(dependency),
                    "{name} imports {dependency}: {line}"
                );
            }
        }
    }
}

impl Sim {
    /// Joins through a handshake with a presence scope, answering the
    /// snapshot request with seq 0.
    fn join_scoped(&mut self, user: &str, scope: crate::view::PresenceScope) -> ConnectionId {
        let id = self.hub.begin_handshake(self.now);
        self.hub.set_presence_scope(id, scope);
        self.hub
            .complete_handshake(self.now, id, "r", Identity::new(user), None)
            .expect("admitted");
        let ticket = self.snapshot_ticket();
        self.hub
            .complete_snapshot(self.now, ticket, Ok((Total(0), 0)));
        self.pump();
        id
    }
}

/// The user ids of the presence messages in `msgs`, in order (a list, or
/// a diff's joined, updated and left together).
fn presence_users(msgs: &[Msg]) -> Vec<Vec<String>> {
    msgs.iter()
        .filter_map(|m| match m {
            Msg::Presence { users } => {
                let mut ids: Vec<_> = users.iter().map(|u| u.user_id.clone()).collect();
                ids.sort();
                Some(ids)
            }
            Msg::PresenceDiff(d) => Some(
                d.joined
                    .iter()
                    .chain(&d.updated)
                    .map(|u| u.user_id.clone())
                    .chain(d.left.iter().cloned())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// Two teams that see only themselves, and an admin who sees everyone
/// (and whom no team sees).
fn two_teams(sim: &mut Sim) -> (Vec<ConnectionId>, Vec<ConnectionId>, ConnectionId) {
    use crate::view::PresenceScope;
    let red: Vec<_> = (0..4)
        .map(|i| sim.join_scoped(&format!("red-{i}"), PresenceScope::group("red")))
        .collect();
    let blue: Vec<_> = (0..4)
        .map(|i| sim.join_scoped(&format!("blue-{i}"), PresenceScope::group("blue")))
        .collect();
    let admin = sim.join_scoped("admin", PresenceScope::seeing_all(["staff"]));
    sim.pump();
    (red, blue, admin)
}

#[test]
fn presence_is_encoded_once_per_scope_and_shows_only_its_groups() {
    let mut sim = Sim::new(ServerConfig::default());
    let (red, blue, admin) = two_teams(&mut sim);
    // Lists on join: the joiner's own team only; the admin sees all.
    let first_blue = sim.take(blue[0]);
    let lists = presence_users(&first_blue);
    assert_eq!(lists[0], ["blue-0"], "blue-0 joined before the other blues");
    assert!(
        lists.iter().flatten().all(|u| u.starts_with("blue")),
        "blue-0 saw {lists:?}"
    );
    let last_blue = presence_users(&sim.take(blue[3]));
    assert_eq!(last_blue[0], ["blue-0", "blue-1", "blue-2", "blue-3"]);
    assert_eq!(presence_users(&sim.take(admin))[0].len(), 9);
    for c in red.iter().chain(&blue) {
        sim.take(*c);
    }
    // One status change: one encoding for red, one for the admin, none
    // for blue, whatever the number of connections (red-1 also gets its
    // pong).
    let encodes = sim.hub.stats().encodes;
    sim.frame(
        red[1],
        &ClientMessage::Ping {
            ts: 1,
            presence: Some(PresenceStatus::Away),
        },
    );
    // The pong, then the diff once for red and once for the admin.
    assert_eq!(sim.hub.stats().encodes - encodes, 3);
    for c in &red[..1] {
        assert!(matches!(&sim.take(*c)[..], [Msg::PresenceDiff(_)]));
    }
    for c in &red[2..] {
        assert_eq!(presence_users(&sim.take(*c)), [["red-1"]]);
    }
    assert_eq!(presence_users(&sim.take(admin)), [["red-1"]]);
    for c in &blue {
        assert!(sim.take(*c).is_empty(), "blue got a red status");
    }
    // A red user leaves: the same two encodings, and blue hears nothing.
    let encodes = sim.hub.stats().encodes;
    sim.hub.handle_departure(sim.now, red[3], Departure::Gone);
    sim.pump();
    assert_eq!(sim.hub.stats().encodes - encodes, 2);
    assert_eq!(left(&sim.take(red[0])), ["red-3"]);
    assert_eq!(left(&sim.take(admin)), ["red-3"]);
    for c in &blue {
        assert!(sim.take(*c).is_empty(), "blue heard a red user leave");
    }
}

#[test]
fn a_signal_outside_the_scope_is_refused_as_unknown_target() {
    let mut sim = Sim::new(ServerConfig::default());
    let (red, blue, admin) = two_teams(&mut sim);
    for c in red.iter().chain(&blue).chain([&admin]) {
        sim.take(*c);
    }
    let signal = |to: &str| ClientMessage::Signal {
        target_user_id: to.into(),
        signal: SignalPayload::Offer { sdp: "v=0".into() },
    };
    sim.frame(red[0], &signal("blue-0"));
    let hidden = sim.take(red[0]);
    sim.frame(red[0], &signal("nobody"));
    let absent = sim.take(red[0]);
    assert_eq!(error_codes(&hidden), ["unknown_target"]);
    // Byte for byte the answer to a user who is not there.
    assert_eq!(hidden, absent);
    assert!(sim.take(blue[0]).is_empty(), "the signal crossed scopes");
    // Within the team, and from the admin, signals go through.
    sim.frame(red[0], &signal("red-1"));
    assert!(
        matches!(&sim.take(red[1])[..], [Msg::Signal { from_user_id, .. }] if from_user_id == "red-0")
    );
    sim.frame(admin, &signal("blue-0"));
    assert!(
        matches!(&sim.take(blue[0])[..], [Msg::Signal { from_user_id, .. }] if from_user_id == "admin")
    );
    assert!(sim.take(admin).is_empty());
}

#[test]
fn a_scope_change_sends_fresh_lists_encoded_once_per_scope() {
    use crate::view::PresenceScope;
    let mut sim = Sim::new(ServerConfig::default());
    let (red, blue, admin) = two_teams(&mut sim);
    for c in red.iter().chain(&blue).chain([&admin]) {
        sim.take(*c);
    }
    // red-0 moves to blue: it gets blue's list; since its groups changed,
    // every narrow connection gets a fresh list of its own scope; the
    // admin, who sees everyone anyway, gets nothing.
    let encodes = sim.hub.stats().encodes;
    assert!(
        sim.hub
            .change_presence_scope(sim.now, red[0], PresenceScope::group("blue"))
    );
    sim.pump();
    assert_eq!(sim.hub.stats().encodes - encodes, 2, "one list per scope");
    let blues = ["blue-0", "blue-1", "blue-2", "blue-3", "red-0"];
    assert_eq!(presence_users(&sim.take(red[0])), [blues]);
    assert_eq!(presence_users(&sim.take(blue[2])), [blues]);
    assert_eq!(
        presence_users(&sim.take(red[1])),
        [["red-1", "red-2", "red-3"]]
    );
    assert!(sim.take(admin).is_empty());
    // The same scope again changes nothing.
    assert!(
        !sim.hub
            .change_presence_scope(sim.now, red[0], PresenceScope::group("blue"))
    );
    // Signals follow the new scope.
    sim.frame(
        red[0],
        &ClientMessage::Signal {
            target_user_id: "red-1".into(),
            signal: SignalPayload::Offer { sdp: "v=0".into() },
        },
    );
    assert_eq!(error_codes(&sim.take(red[0])), ["unknown_target"]);
}

#[test]
fn a_meshed_hub_shows_users_of_other_nodes_only_to_connections_that_see_all() {
    use crate::view::PresenceScope;
    let mut sim = Sim::new(ServerConfig::default());
    sim.hub.enable_mesh();
    sim.hub
        .handle_remote_presence(sim.now, "r", "n2", "bob", Some(remote_entry("bob")));
    let red = sim.join_scoped("red-0", PresenceScope::group("red"));
    let admin = sim.join_scoped("admin", PresenceScope::seeing_all(["staff"]));
    assert_eq!(presence_users(&sim.take(red)), [["red-0"]]);
    assert_eq!(
        presence_users(&sim.take(admin))[0],
        ["admin", "bob", "red-0"]
    );
    // This node has no groups for bob: red may not signal him, the admin may.
    let offer = |to: &str| ClientMessage::Signal {
        target_user_id: to.into(),
        signal: SignalPayload::Offer { sdp: "v=0".into() },
    };
    mesh_events(&mut sim.hub);
    sim.frame(red, &offer("bob"));
    assert_eq!(error_codes(&sim.take(red)), ["unknown_target"]);
    assert!(
        mesh_events(&mut sim.hub).is_empty(),
        "relayed across scopes"
    );
    sim.frame(admin, &offer("bob"));
    assert!(
        matches!(&mesh_events(&mut sim.hub)[..], [MeshEvent::Signal { target, .. }] if target == "bob")
    );
    // A red user with a tab here and one elsewhere: when the tab here
    // closes, red still sees them (with the groups they had here) and
    // hears when they leave for good.
    let red1 = sim.join_scoped("red-1", PresenceScope::group("red"));
    sim.hub
        .handle_remote_presence(sim.now, "r", "n2", "red-1", Some(remote_entry("red-1")));
    sim.take(red);
    sim.hub.handle_departure(sim.now, red1, Departure::Gone);
    sim.pump();
    assert!(left(&sim.take(red)).is_empty());
    sim.hub
        .handle_remote_presence(sim.now, "r", "n2", "red-1", None);
    assert_eq!(left(&sim.take(red)), ["red-1"]);
    assert_eq!(left(&sim.take(admin)), ["red-1"]);
}

#[test]
fn a_batched_window_sends_each_scope_its_own_net_diff() {
    use crate::view::PresenceScope;
    let mut config = ServerConfig::default();
    config.join_rate.burst = 1000;
    let window = config.presence_batch;
    let mut sim = Sim::with_config(config);
    let red = sim.join_scoped("red-0", PresenceScope::group("red"));
    let blue = sim.join_scoped("blue-0", PresenceScope::group("blue"));
    sim.advance(window);
    sim.advance(window);
    sim.take(red);
    sim.take(blue);
    // The first change goes out at once (to red only), opening a window.
    sim.join_scoped("red-1", PresenceScope::group("red"));
    assert_eq!(presence_users(&sim.take(red)), [["red-1"]]);
    assert!(sim.take(blue).is_empty());
    // Within the window: a blue joins, a red joins, and a red leaves.
    sim.join_scoped("blue-1", PresenceScope::group("blue"));
    sim.join_scoped("red-2", PresenceScope::group("red"));
    let gone = sim.join_scoped("red-3", PresenceScope::group("red"));
    sim.pump();
    sim.advance(window / 4);
    sim.hub.handle_departure(sim.now, gone, Departure::Gone);
    sim.pump();
    assert!(sim.take(red).is_empty() && sim.take(blue).is_empty());
    let encodes = sim.hub.stats().encodes;
    sim.advance(window);
    // One diff per scope, each with its own users only; red-3 joined and
    // left within the window, so nobody hears of them.
    assert_eq!(sim.hub.stats().encodes - encodes, 2);
    assert_eq!(presence_users(&sim.take(red)), [["red-2"]]);
    assert_eq!(presence_users(&sim.take(blue)), [["blue-1"]]);
}
