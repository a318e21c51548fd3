//! The client core's rules, one test each, on a fake clock with no sockets.
//! Every frame goes through the real codec.

mod client_support;

use std::time::Duration;

use client_support::*;
use ui_flow::client::{ClientConfig, Event, OpState, SocketCommand, SocketId};
use ui_flow::{
    ApiMisuse, ClientMessage, CloseCode, CloseReason, ConnectionStatus, Error, ErrorCode, OpId,
    PresenceDiff, PresenceInfo, PresenceStatus, ProtocolViolation, RawValue, SignalPayload,
};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn statuses(events: &[TestEvent]) -> Vec<ConnectionStatus> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Status(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn without_pings(sent: Vec<ClientMessage<Append>>) -> Vec<ClientMessage<Append>> {
    sent.into_iter()
        .filter(|m| !matches!(m, ClientMessage::Ping { .. }))
        .collect()
}

fn resync(last_seq: u64) -> ClientMessage<Append> {
    ClientMessage::Resync {
        last_seq: Some(last_seq),
        epoch: None,
    }
}

fn user(id: &str, status: PresenceStatus) -> PresenceInfo {
    PresenceInfo {
        user_id: id.into(),
        name: None,
        status,
        connected_at: 5,
    }
}

// ---- status and handshake ----

#[test]
fn first_socket_is_dialled_at_once_and_open_after_connected() {
    let mut h = Harness::new();
    assert_eq!(h.dials, [SocketId(1)]);
    assert_eq!(h.client.status(), &ConnectionStatus::Connecting);
    h.open();
    assert_eq!(
        h.client.status(),
        &ConnectionStatus::Connecting,
        "open is not enough"
    );
    h.greet();
    assert_eq!(h.client.status(), &ConnectionStatus::Open);
    assert_eq!(h.client.connection_id(), Some("conn"));
    assert_eq!(h.client.user_id(), Some("me"));
    assert_eq!(
        statuses(&h.events),
        [ConnectionStatus::Connecting, ConnectionStatus::Open]
    );
    // A first connection has no state to resync and nothing to resubscribe.
    assert!(matches!(h.take_sent()[..], [ClientMessage::Ping { .. }]));
}

#[test]
fn another_protocol_version_closes_for_good() {
    let mut h = Harness::new();
    h.open();
    h.recv(Msg::Connected {
        protocol_version: ui_flow::PROTOCOL_VERSION + 1,
        connection_id: "c".into(),
        user_id: None,
        channels: None,
    });
    assert_eq!(
        h.client.status(),
        &ConnectionStatus::Closed {
            reason: CloseReason::Incompatible {
                server_version: ui_flow::PROTOCOL_VERSION + 1
            }
        }
    );
    assert!(matches!(
        h.closes[..],
        [SocketCommand::Close {
            code: CloseCode::INCOMPATIBLE_VERSION,
            ..
        }]
    ));
    assert_eq!(h.client.poll_timeout(), None, "nothing more is tried");
}

/// Issue 12 item 7: a status that retrying cannot change ends the
/// connection with it; 408, 426 (the browser's refusal probe found an
/// endpoint that takes upgrades) and 429, and any non-4xx, are retried.
#[test]
fn a_refused_upgrade_is_final_unless_a_retry_can_change_it() {
    for status in [400, 401, 403, 404] {
        let mut h = Harness::new();
        let socket = h.dials.pop().expect("a dial");
        h.client.handle_refused(h.now, socket, status);
        assert_eq!(
            h.client.status(),
            &ConnectionStatus::Closed {
                reason: CloseReason::Refused { status }
            }
        );
        assert_eq!(
            h.client.poll_timeout(),
            None,
            "{status}: nothing more is tried"
        );
    }
    for status in [408, 426, 429, 500, 503, 200] {
        let mut h = Harness::new();
        let socket = h.dials.pop().expect("a dial");
        h.client.handle_refused(h.now, socket, status);
        assert!(
            matches!(h.client.status(), ConnectionStatus::Reconnecting { .. }),
            "{status}: {:?}",
            h.client.status()
        );
    }
}

// ---- snapshots, deltas and seq rules ----

#[test]
fn snapshot_replaces_the_state_and_deltas_apply_in_order() {
    let mut h = Harness::new();
    h.connect(&[1, 2], 10);
    assert_eq!(h.state(), [1, 2]);
    assert_eq!(h.client.seq(), Some(10));
    h.recv(delta(3, 11));
    h.recv(deltas(&[4, 5], 13));
    assert_eq!(h.state(), [1, 2, 3, 4, 5]);
    assert_eq!(h.client.seq(), Some(13));
    h.recv(snapshot(&[9], 20, None));
    assert_eq!(h.state(), [9]);
    let reported: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Delta { delta, seq } => Some((*delta, *seq)),
            Event::Snapshot { state, seq, .. } => Some((state.0.len() as u32 + 100, *seq)),
            _ => None,
        })
        .collect();
    assert_eq!(reported, [(102, 10), (3, 11), (4, 12), (5, 13), (101, 20)]);
}

#[test]
fn a_delta_that_skips_a_seq_is_not_applied_and_asks_for_one_resync() {
    let mut h = Harness::new();
    h.connect(&[], 10);
    h.take_sent();
    h.recv(delta(12, 12));
    h.recv(delta(13, 13));
    assert_eq!(h.state(), [] as [u32; 0], "nothing past the gap is applied");
    assert_eq!(
        without_pings(h.take_sent()),
        [resync(10)],
        "one resync, not two"
    );
    assert!(
        h.events
            .contains(&Event::Violation(ProtocolViolation::SeqGap {
                expected: 11,
                got: 12
            }))
    );
    // The answer fills the gap; the live stream goes on from there.
    h.recv(deltas(&[11, 12, 13], 13));
    h.recv(delta(14, 14));
    assert_eq!(h.state(), [11, 12, 13, 14]);
    // A later gap asks again.
    h.recv(delta(16, 16));
    assert_eq!(without_pings(h.take_sent()), [resync(14)]);
}

#[test]
fn an_unanswered_resync_is_repeated_after_a_ping_interval() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    h.recv(delta(3, 3));
    h.take_sent();
    h.now += ClientConfig::DEFAULT_PING_INTERVAL;
    h.recv(delta(4, 4));
    assert_eq!(without_pings(h.take_sent()), [resync(1)]);
}

#[test]
fn deltas_at_or_below_the_last_seq_are_dropped() {
    let mut h = Harness::new();
    h.connect(&[], 5);
    h.recv(delta(6, 6));
    h.recv(delta(6, 6));
    h.recv(delta(4, 4));
    h.recv(deltas(&[5, 6], 6));
    assert_eq!(h.state(), [6]);
    assert!(
        without_pings(h.take_sent()).is_empty(),
        "duplicates need no resync"
    );
}

#[test]
fn deltas_before_the_first_snapshot_wait_for_it() {
    let mut h = Harness::new();
    h.open();
    h.greet();
    h.recv(delta(7, 7));
    h.recv(delta(8, 8));
    h.recv(delta(9, 9));
    assert_eq!(h.client.seq(), None);
    assert_eq!(h.state(), [] as [u32; 0]);
    h.recv(snapshot(&[1], 7, None));
    assert_eq!(h.state(), [1, 8, 9], "7 is in the snapshot");
    assert_eq!(h.client.seq(), Some(9));
    // The snapshot event carries the state before the held deltas, so an app
    // mirroring the events applies each delta exactly once.
    let mut mirror = vec![];
    for e in &h.events {
        match e {
            Event::Snapshot { state, .. } => mirror = state.0.clone(),
            Event::Delta { delta, .. } => mirror.push(*delta),
            _ => {}
        }
    }
    assert_eq!(mirror, [1, 8, 9]);
}

#[test]
fn a_gap_after_the_held_deltas_asks_for_a_resync() {
    let mut h = Harness::new();
    h.open();
    h.greet();
    h.recv(delta(9, 9));
    h.take_sent();
    h.recv(snapshot(&[], 7, None));
    assert_eq!(h.client.seq(), Some(7));
    assert_eq!(without_pings(h.take_sent()), [resync(7)]);
}

#[test]
fn a_delta_from_another_epoch_asks_for_a_resync() {
    let mut h = Harness::new();
    h.open();
    h.greet();
    h.recv(snapshot(&[1], 4, Some(1)));
    h.take_sent();
    h.recv(Msg::Delta {
        delta: 2,
        seq: 5,
        timestamp: 0,
        epoch: Some(2),
        prev: None,
    });
    assert_eq!(h.state(), [1], "not applied");
    assert_eq!(
        without_pings(h.take_sent()),
        [ClientMessage::Resync {
            last_seq: Some(4),
            epoch: Some(1)
        }]
    );
    h.recv(snapshot(&[7], 2, Some(2)));
    assert_eq!((h.client.seq(), h.client.epoch()), (Some(2), Some(2)));
    h.recv(Msg::Delta {
        delta: 8,
        seq: 3,
        timestamp: 0,
        epoch: Some(2),
        prev: None,
    });
    assert_eq!(h.state(), [7, 8]);
}

// ---- reconnecting ----

#[test]
fn a_lost_socket_is_retried_with_backoff_then_resynced_and_resubscribed() {
    let mut h = Harness::new();
    h.client.subscribe(["world", "rewards"]).expect("open");
    h.connect(&[1], 3);
    h.take_sent();
    h.drop_socket(None);
    let ConnectionStatus::Reconnecting { attempt, next_try } = h.client.status().clone() else {
        panic!("{:?}", h.client.status())
    };
    assert_eq!(attempt, 1);
    assert!(next_try <= h.now + ClientConfig::DEFAULT_BACKOFF_MIN);
    assert!(h.dials.is_empty(), "no dial before the delay");
    assert_eq!(h.client.poll_timeout(), Some(next_try));
    h.fire_timer();
    assert_eq!(h.dials, [SocketId(2)]);
    // The reconnect carries its resume point in the URL: the join is the resync.
    assert_eq!(
        h.client.dial_url("ws://127.0.0.1:1/realtime/r?token=t"),
        "ws://127.0.0.1:1/realtime/r?token=t&last_seq=3"
    );
    h.open();
    h.greet();
    assert_eq!(
        without_pings(h.take_sent()),
        [ClientMessage::Subscribe {
            domains: vec!["world".into(), "rewards".into()]
        }]
    );
    assert_eq!(h.client.status(), &ConnectionStatus::Open);
    h.recv(deltas(&[2, 3], 5));
    assert_eq!(h.state(), [1, 2, 3], "caught up without a snapshot");
}

#[test]
fn a_gap_while_the_join_answer_is_pending_does_not_send_a_second_resync() {
    let mut h = Harness::new();
    h.connect(&[1], 3);
    h.drop_socket(None);
    h.fire_timer();
    h.open();
    h.greet();
    h.take_sent();
    // A live delta overtakes the join's answer: not applied, and no Resync
    // goes out, because the join's answer is the resync.
    h.recv(delta(9, 6));
    assert_eq!(h.state(), [1]);
    assert!(without_pings(h.take_sent()).is_empty());
    h.recv(deltas(&[4, 5, 9], 6));
    assert_eq!(h.state(), [1, 4, 5, 9]);
    assert_eq!(h.client.seq(), Some(6));
    // Once answered, a later gap asks again.
    h.recv(delta(11, 8));
    assert_eq!(without_pings(h.take_sent()), [resync(6)]);
}

#[test]
fn dial_url_keeps_the_epoch_and_a_fragment() {
    let mut h = Harness::new();
    assert_eq!(h.client.dial_url("ws://h/realtime/r"), "ws://h/realtime/r");
    h.open();
    h.greet();
    h.recv(snapshot(&[1], 7, Some(42)));
    assert_eq!(
        h.client.dial_url("ws://h/realtime/r#x"),
        "ws://h/realtime/r?last_seq=7&epoch=42#x"
    );
}

#[test]
fn backoff_ceilings_grow_and_reset_after_a_connection() {
    let mut h = Harness::new();
    let mut waits = vec![];
    for attempt in 1..=8u32 {
        let dial = *h.dials.last().expect("dialling");
        h.client.handle_close(h.now, dial, None, "refused");
        h.dials.clear();
        h.pump();
        let ConnectionStatus::Reconnecting {
            attempt: a,
            next_try,
        } = h.client.status().clone()
        else {
            panic!()
        };
        assert_eq!(a, attempt);
        waits.push(next_try - h.now);
        h.fire_timer();
    }
    let ceilings = [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000];
    for (wait, ceiling) in waits.iter().zip(ceilings) {
        assert!(*wait <= ceiling * MS, "{wait:?} over {ceiling} ms");
    }
    assert!(
        waits[4..].iter().any(|w| *w > 1000 * MS),
        "delays grow: {waits:?}"
    );
    h.open();
    h.greet();
    h.drop_socket(None);
    assert!(matches!(
        h.client.status(),
        ConnectionStatus::Reconnecting { attempt: 1, .. }
    ));
}

#[test]
fn the_same_seed_replays_the_same_schedule() {
    let run = |seed| {
        let mut h = Harness::with(ClientConfig {
            seed,
            ..ClientConfig::default()
        });
        let mut at = vec![];
        for _ in 0..6 {
            let dial = h.dials.pop().expect("dialling");
            h.client.handle_close(h.now, dial, None, "refused");
            h.pump();
            at.push(h.client.poll_timeout().expect("armed") - h.start);
            h.fire_timer();
        }
        at
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn an_error_and_the_close_after_it_cause_one_retry() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    let socket = h.socket.take().expect("open");
    h.client.handle_close(h.now, socket, None, "error");
    h.client.handle_close(h.now, socket, Some(1006), "closed");
    h.pump();
    assert_eq!(
        statuses(&h.events)
            .iter()
            .filter(|s| matches!(s, ConnectionStatus::Reconnecting { .. }))
            .count(),
        1
    );
    h.fire_timer();
    assert_eq!(h.dials, [SocketId(2)], "exactly one new socket");
}

#[test]
fn reports_from_a_replaced_socket_are_ignored() {
    let mut h = Harness::new();
    h.connect(&[1], 1);
    let old = h.socket.expect("open");
    h.drop_socket(None);
    h.fire_timer();
    h.open();
    h.greet();
    h.recv(snapshot(&[1], 1, None));
    let before = h.client.status().clone();
    h.recv_on(old, delta(99, 2));
    h.client.handle_close(h.now, old, Some(4001), "late close");
    h.pump();
    assert_eq!(h.state(), [1]);
    assert_eq!(h.client.status(), &before);
}

#[test]
fn a_fatal_error_whose_code_forbids_reconnecting_closes_for_good() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    h.recv(Msg::Error {
        code: Some(ErrorCode::UNAUTHORIZED),
        message: "token expired".into(),
        fatal: true,
        op_id: None,
    });
    assert_eq!(
        h.client.status(),
        &ConnectionStatus::Closed {
            reason: CloseReason::Fatal {
                code: Some(ErrorCode::UNAUTHORIZED),
                message: "token expired".into()
            }
        }
    );
    assert_eq!(h.closes.len(), 1);
    assert_eq!(h.client.poll_timeout(), None);
    assert!(matches!(
        h.client.send_action(Append(1)),
        Err(Error::Misuse(ApiMisuse::Closed))
    ));
}

#[test]
fn a_fatal_error_that_allows_reconnecting_is_retried_once() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    let socket = h.socket.expect("open");
    h.recv(Msg::Error {
        code: Some(ErrorCode::SHUTDOWN),
        message: "restarting".into(),
        fatal: true,
        op_id: None,
    });
    assert!(matches!(
        h.client.status(),
        ConnectionStatus::Reconnecting { attempt: 1, .. }
    ));
    // The server's close that follows does not schedule a second retry.
    h.client
        .handle_close(h.now, socket, Some(1001), "going away");
    h.pump();
    assert!(matches!(
        h.client.status(),
        ConnectionStatus::Reconnecting { attempt: 1, .. }
    ));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::ServerError { fatal: true, .. }))
    );
}

#[test]
fn a_final_close_code_closes_for_good_and_others_reconnect() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    h.drop_socket(Some(1001));
    assert!(matches!(
        h.client.status(),
        ConnectionStatus::Reconnecting { .. }
    ));
    h.fire_timer();
    h.open();
    h.drop_socket(Some(4001));
    assert_eq!(
        h.client.status(),
        &ConnectionStatus::Closed {
            reason: CloseReason::Final {
                code: CloseCode::UNAUTHORIZED,
                reason: "gone".into()
            }
        }
    );
    assert_eq!(h.client.poll_timeout(), None);
}

// ---- liveness ----

#[test]
fn pings_go_out_on_the_interval_and_pongs_give_the_latency() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    let ClientMessage::Ping { ts, .. } = h.take_sent()[0] else {
        panic!("a ping on connect")
    };
    h.now += 40 * MS;
    h.recv(Msg::Pong {
        client_ts: ts,
        server_ts: 1,
    });
    assert_eq!(h.client.latency(), Some(40 * MS));
    assert!(h.events.contains(&Event::Latency(40 * MS)));
    h.advance(ClientConfig::DEFAULT_PING_INTERVAL - 41 * MS);
    assert!(h.take_sent().is_empty());
    h.advance(MS);
    assert!(matches!(h.take_sent()[..], [ClientMessage::Ping { .. }]));
}

#[test]
fn a_silent_server_is_dropped_and_replaced() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    let start = h.now;
    // Timers fire on time: a ping at 15 s, then death at 25 s.
    for _ in 0..5 {
        h.fire_timer();
        if !h.closes.is_empty() {
            break;
        }
        assert_eq!(h.client.status(), &ConnectionStatus::Open);
    }
    let limit = ClientConfig::DEFAULT_PING_INTERVAL + ClientConfig::DEFAULT_LIVENESS_GRACE;
    assert_eq!(h.now - start, limit);
    assert!(matches!(
        h.closes[..],
        [SocketCommand::Close {
            socket: SocketId(1),
            code: CloseCode::LIVENESS_TIMEOUT,
            ..
        }]
    ));
    assert!(matches!(
        h.client.status(),
        ConnectionStatus::Reconnecting { .. }
    ));
    h.fire_timer();
    assert_eq!(h.dials, [SocketId(2)]);
}

#[test]
fn late_timers_give_the_server_its_grace_before_the_socket_is_dropped() {
    let grace = ClientConfig::DEFAULT_LIVENESS_GRACE;
    let mut h = Harness::new();
    h.connect(&[], 1);
    h.take_sent();
    h.recv(Msg::Pong {
        client_ts: 0,
        server_ts: 0,
    }); // the answer to the ping sent on connect
    // One wake-up a minute late (a throttled background tab): the overdue
    // ping goes out; the socket is not dropped unasked.
    h.advance(60 * SEC);
    assert!(matches!(h.take_sent()[..], [ClientMessage::Ping { .. }]));
    assert!(h.closes.is_empty());
    h.advance(grace - MS);
    assert!(h.closes.is_empty());
    h.recv(Msg::Pong {
        client_ts: 0,
        server_ts: 0,
    });
    h.advance(MS);
    assert!(h.closes.is_empty(), "it answered");
    // The next late wake-up gets no answer: dead one grace after its ping.
    h.advance(60 * SEC);
    h.advance(grace);
    assert_eq!(h.closes.len(), 1);
    assert!(matches!(
        h.client.status(),
        ConnectionStatus::Reconnecting { .. }
    ));
}

#[test]
fn any_frame_keeps_the_link_alive() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    for seq in 2..10 {
        h.advance(20 * SEC);
        h.recv(delta(0, seq));
    }
    assert!(h.closes.is_empty());
    assert_eq!(h.client.status(), &ConnectionStatus::Open);
}

#[test]
fn a_socket_that_never_opens_is_given_up() {
    let mut h = Harness::new();
    h.fire_timer();
    assert_eq!(h.closes.len(), 1, "the dial is abandoned");
    assert!(matches!(
        h.client.status(),
        ConnectionStatus::Reconnecting { attempt: 1, .. }
    ));
}

#[test]
fn resume_retries_at_once_or_pings() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    h.drop_socket(None);
    for _ in 0..4 {
        h.fire_timer(); // dial
        let dial = h.dials.pop().expect("dial");
        h.client.handle_close(h.now, dial, None, "offline");
        h.pump();
    }
    assert!(h.client.poll_timeout().expect("armed") > h.now);
    h.client.handle_resume(h.now);
    h.pump();
    assert_eq!(h.dials.len(), 1, "dialled without waiting");
    h.open();
    h.greet();
    h.take_sent();
    h.now += SEC;
    h.client.handle_resume(h.now);
    h.pump();
    assert!(matches!(h.take_sent()[..], [ClientMessage::Ping { .. }]));
}

#[test]
fn the_presence_report_rides_on_pings() {
    let presence_sent = |h: &mut Harness| -> Vec<Option<PresenceStatus>> {
        h.take_sent()
            .into_iter()
            .filter_map(|m| match m {
                ClientMessage::Ping { presence, .. } => Some(presence),
                _ => None,
            })
            .collect()
    };
    let mut h = Harness::new();
    h.connect(&[], 1);
    assert_eq!(presence_sent(&mut h), [None], "nothing to report yet");
    // A change goes out at once.
    h.client.set_presence(h.now, Some(PresenceStatus::Away));
    h.pump();
    assert_eq!(presence_sent(&mut h), [Some(PresenceStatus::Away)]);
    // Later pings report nothing new, so an untouched user can turn idle.
    h.advance(ClientConfig::DEFAULT_PING_INTERVAL);
    assert_eq!(presence_sent(&mut h), [None]);
    // The same report again ("still interacting") waits for the next ping.
    h.client.set_presence(h.now, Some(PresenceStatus::Away));
    h.pump();
    assert_eq!(presence_sent(&mut h), []);
    h.recv(Msg::Pong {
        client_ts: 0,
        server_ts: 0,
    }); // the server is alive
    h.advance(ClientConfig::DEFAULT_PING_INTERVAL);
    assert_eq!(presence_sent(&mut h), [Some(PresenceStatus::Away)]);
    // A new connection hears the report again.
    h.drop_socket(None);
    h.fire_timer();
    h.open();
    h.greet();
    assert_eq!(presence_sent(&mut h), [Some(PresenceStatus::Away)]);
}

// ---- actions ----

#[test]
fn an_optimistic_change_shows_at_once_and_is_rebased_on_server_deltas() {
    let mut h = Harness::new();
    h.connect(&[1], 1);
    let a = h.client.send_optimistic(Append(10), 10).expect("sent");
    let b = h.client.send_optimistic(Append(20), 20).expect("sent");
    h.pump();
    assert_eq!(h.state(), [1, 10, 20]);
    assert_eq!(h.confirmed(), [1]);
    assert_eq!(h.sent_ops(), [a, b]);
    // Another user's change lands under the pending ones.
    h.recv(delta(5, 2));
    assert_eq!(h.state(), [1, 5, 10, 20]);
    // The first action fails: exactly its change goes, the rest stays.
    h.recv(Msg::ActionErr {
        op_id: a,
        code: Some("full".into()),
        message: "no room".into(),
    });
    assert_eq!(h.state(), [1, 5, 20]);
    // The second succeeds: the server's delta carries it, the guess goes.
    h.recv(delta(20, 3));
    assert_eq!(h.state(), [1, 5, 20, 20], "until the outcome, both show");
    h.recv(Msg::ActionOk {
        op_id: b,
        result: None,
    });
    assert_eq!(h.state(), [1, 5, 20]);
    assert_eq!(h.state(), h.confirmed());
    assert!(h.events.contains(&Event::StateChanged));
}

#[test]
fn op_states_are_visible_and_each_outcome_is_taken_once() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    let op = h.client.send_action(Append(1)).expect("sent");
    assert_eq!(h.client.op(op), Some(&OpState::Pending));
    h.recv(Msg::Progress {
        op_id: op,
        percent: Some(50),
        message: Some("halfway".into()),
    });
    assert_eq!(
        h.client.op(op),
        Some(&OpState::Progress {
            percent: Some(50),
            message: Some("halfway".into())
        })
    );
    let result = RawValue::encode(&"done").expect("encode");
    let ok = Msg::ActionOk {
        op_id: op,
        result: Some(result.clone()),
    };
    h.recv(ok.clone());
    h.recv(ok);
    h.recv(Msg::ActionErr {
        op_id: op,
        code: None,
        message: "late".into(),
    });
    let outcomes: Vec<_> = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::Action { state, .. } if state.is_settled()))
        .collect();
    assert_eq!(
        outcomes,
        [&Event::Action {
            op_id: op,
            state: OpState::Ok {
                result: Some(result)
            }
        }]
    );
    assert_eq!(h.client.ops().count(), 1);
}

#[test]
fn actions_while_disconnected_are_queued_up_to_the_bound_and_sent_after_resync() {
    let mut h = Harness::with(ClientConfig {
        queue_bound: 3,
        ..ClientConfig::default()
    });
    h.connect(&[], 4);
    h.drop_socket(None);
    h.take_sent();
    let ops: Vec<OpId> = (0..3)
        .map(|i| h.client.send_action(Append(i)).expect("queued"))
        .collect();
    assert!(matches!(
        h.client.send_action(Append(9)),
        Err(Error::Misuse(ApiMisuse::QueueFull { bound: 3 }))
    ));
    h.pump();
    assert!(h.sent.is_empty(), "nothing goes out without a connection");
    h.fire_timer();
    h.open();
    h.greet();
    let sent = without_pings(h.take_sent());
    let queued: Vec<OpId> = sent
        .iter()
        .map(|m| match m {
            ClientMessage::Action { op_id, .. } => *op_id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(queued, ops, "in the order they were issued");
}

#[test]
fn an_unresolved_action_is_sent_again_with_its_op_id_after_a_reconnect() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    let done = h.client.send_action(Append(1)).expect("sent");
    let open = h.client.send_optimistic(Append(2), 2).expect("sent");
    h.recv(Msg::ActionOk {
        op_id: done,
        result: None,
    });
    h.take_sent();
    h.drop_socket(None);
    assert_eq!(h.state(), [2], "the optimistic change survives the drop");
    h.fire_timer();
    h.open();
    h.greet();
    let resent: Vec<_> = h
        .take_sent()
        .into_iter()
        .filter_map(|m| match m {
            ClientMessage::Action { op_id, action } => Some((op_id, action)),
            _ => None,
        })
        .collect();
    assert_eq!(resent, [(open, Append(2))]);
}

#[test]
fn the_queue_bound_counts_unresolved_actions_even_when_connected() {
    let mut h = Harness::with(ClientConfig {
        queue_bound: 1,
        ..ClientConfig::default()
    });
    h.connect(&[], 1);
    let op = h.client.send_action(Append(1)).expect("sent");
    assert!(h.client.send_action(Append(2)).is_err());
    h.recv(Msg::ActionOk {
        op_id: op,
        result: None,
    });
    assert!(h.client.send_action(Append(2)).is_ok(), "room again");
}

// ---- notifications, presence, signals, errors ----

#[test]
fn notifications_arrive_with_domain_and_correlation_id() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    let op = OpId::from_u128(77);
    h.recv(Msg::Notify {
        domain: "rewards".into(),
        event: Note("gold".into()),
        correlation_id: Some(op),
    });
    assert!(h.events.contains(&Event::Notify {
        domain: "rewards".into(),
        event: Note("gold".into()),
        correlation_id: Some(op)
    }));
}

#[test]
fn subscriptions_send_only_changes_and_are_listed() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    h.take_sent();
    h.client.subscribe(["a", "b"]).expect("ok");
    h.client.subscribe(["b", "c"]).expect("ok");
    h.client.unsubscribe(["a", "zzz"]).expect("ok");
    h.pump();
    assert_eq!(
        h.take_sent(),
        [
            ClientMessage::Subscribe {
                domains: vec!["a".into(), "b".into()]
            },
            ClientMessage::Subscribe {
                domains: vec!["c".into()]
            },
            ClientMessage::Unsubscribe {
                domains: vec!["a".into()]
            },
        ]
    );
    assert_eq!(h.client.subscriptions(), ["b", "c"]);
}

#[test]
fn presence_lists_and_diffs_keep_one_member_list() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    h.recv(Msg::Presence {
        users: vec![
            user("a", PresenceStatus::Active),
            user("b", PresenceStatus::Idle),
        ],
    });
    h.recv(Msg::PresenceDiff(PresenceDiff {
        joined: vec![user("c", PresenceStatus::Active)],
        updated: vec![user("b", PresenceStatus::Away)],
        left: vec!["a".into()],
    }));
    assert_eq!(
        h.client.presence(),
        [
            user("b", PresenceStatus::Away),
            user("c", PresenceStatus::Active)
        ]
    );
    // A later full list is reported as what changed.
    h.take_events();
    h.recv(Msg::Presence {
        users: vec![user("c", PresenceStatus::Active)],
    });
    assert_eq!(
        h.events,
        [Event::Presence(PresenceDiff {
            joined: vec![],
            updated: vec![],
            left: vec!["b".into()]
        })]
    );
}

#[test]
fn signals_come_in_as_events_and_wait_for_a_connection_going_out() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    let offer = SignalPayload::Offer { sdp: "v=0".into() };
    h.recv(Msg::Signal {
        from_user_id: "bob".into(),
        signal: offer.clone(),
    });
    assert!(h.events.contains(&Event::Signal {
        from_user_id: "bob".into(),
        signal: offer.clone()
    }));
    h.drop_socket(None);
    h.client.send_signal("bob", offer.clone()).expect("queued");
    h.fire_timer();
    h.open();
    h.greet();
    assert!(h.take_sent().contains(&ClientMessage::Signal {
        target_user_id: "bob".into(),
        signal: offer
    }));
}

#[test]
fn a_non_fatal_server_error_is_reported_and_the_connection_stays() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    h.recv(Msg::Error {
        code: Some(ErrorCode::RATE_LIMITED),
        message: "slow down".into(),
        fatal: false,
        op_id: None,
    });
    assert!(h.events.contains(&Event::ServerError {
        code: Some(ErrorCode::RATE_LIMITED),
        message: "slow down".into(),
        fatal: false
    }));
    assert_eq!(h.client.status(), &ConnectionStatus::Open);
}

#[test]
fn unknown_tags_are_ignored_and_bad_frames_reported_without_harm() {
    let mut h = Harness::new();
    h.connect(&[1], 1);
    h.take_events();
    // {"t": 4321, "x": 1}
    h.recv_bytes(&[0x82, 0xa1, b't', 0xcd, 0x10, 0xe1, 0xa1, b'x', 0x01]);
    assert!(h.events.is_empty());
    h.recv_bytes(&[0x82, 0xa1, b't']);
    assert!(matches!(h.events[..], [Event::BadFrame(_)]));
    h.recv(delta(2, 2));
    assert_eq!(h.state(), [1, 2]);
    assert_eq!(h.client.status(), &ConnectionStatus::Open);
}

// ---- closing ----

#[test]
fn close_ends_everything_and_later_commands_fail() {
    let mut h = Harness::new();
    h.connect(&[], 1);
    h.client.close();
    h.pump();
    assert!(matches!(
        h.closes[..],
        [SocketCommand::Close {
            code: CloseCode::NORMAL,
            ..
        }]
    ));
    assert_eq!(
        h.client.status(),
        &ConnectionStatus::Closed {
            reason: CloseReason::Requested
        }
    );
    assert_eq!(h.client.poll_timeout(), None);
    assert_eq!(h.client.subscribe(["x"]), Err(ApiMisuse::Closed));
    assert!(
        h.client
            .send_signal("x", SignalPayload::Answer { sdp: String::new() })
            .is_err()
    );
    assert_eq!(h.client.resync(h.now), Err(ApiMisuse::Closed));
    h.client.close();
    h.pump();
    assert_eq!(h.closes.len(), 1, "closing twice does nothing");
}

#[test]
fn an_explicit_resync_sends_the_current_seq() {
    let mut h = Harness::new();
    h.connect(&[], 8);
    h.take_sent();
    h.client.resync(h.now).expect("open");
    h.pump();
    assert_eq!(h.take_sent(), [resync(8)]);
}

#[test]
fn invalid_configurations_are_refused() {
    let config = ClientConfig {
        ping_interval: Duration::ZERO,
        ..ClientConfig::default()
    };
    assert!(matches!(
        TestClient::new(config, ui_flow::client::Instant::now()),
        Err(ApiMisuse::Config(_))
    ));
}

#[test]
fn an_empty_deltas_answers_a_resync_so_the_next_gap_asks_again() {
    let mut h = Harness::new();
    h.connect(&[], 3);
    h.take_sent();
    h.recv(delta(5, 5));
    assert_eq!(without_pings(h.take_sent()), [resync(3)]);
    h.recv(deltas(&[], 3)); // "you are at the head"
    h.recv(delta(7, 7));
    assert_eq!(without_pings(h.take_sent()), [resync(3)]);
}

#[test]
fn a_deltas_with_more_entries_than_its_seq_allows_is_a_gap() {
    let mut h = Harness::new();
    h.connect(&[], 0);
    h.take_sent();
    h.recv(deltas(&[1, 2, 3], 2));
    assert_eq!(h.state(), [] as [u32; 0]);
    assert!(matches!(h.events.last(), Some(Event::Violation(_))));
    assert_eq!(without_pings(h.take_sent()), [resync(0)]);
}

#[test]
fn after_a_fatal_error_with_an_unknown_code_the_close_code_decides() {
    for (close, reconnects) in [(4001, false), (1006, true)] {
        let mut h = Harness::new();
        h.connect(&[], 1);
        h.recv(Msg::Error {
            code: Some(ErrorCode::new("invented_later")),
            message: "?".into(),
            fatal: true,
            op_id: None,
        });
        assert_eq!(
            h.client.status(),
            &ConnectionStatus::Open,
            "waits for the close"
        );
        assert!(h.closes.is_empty());
        h.drop_socket(Some(close));
        assert_eq!(
            matches!(h.client.status(), ConnectionStatus::Reconnecting { .. }),
            reconnects,
            "close {close}: {:?}",
            h.client.status()
        );
    }
}
