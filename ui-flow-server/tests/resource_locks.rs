//! One lock per resource, over real WebSockets on 127.0.0.1: while resource
//! A's lock is held from outside (the `hold_resource` seam), a client of
//! resource B joins, acts and sees its delta and presence, while a commit
//! to A and A's client wait; the slots of resources nobody uses any more are retired; the
//! join rate still counts every resource (the per-user connection limit
//! across resources is `abuse.rs`'s `per_user_connection_limit`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Client, Msg, STUCK, close_code, error_code, start};
use futures::{FutureExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use ui_flow::{ClientMessage, OpId};
use ui_flow_server::counter::{Counter, CounterAction, CounterDelta};
use ui_flow_server::{RateLimit, ServerConfig};

/// Whether the client has been sent anything it could read now.
fn has_frames(client: &mut Client) -> bool {
    while let Some(next) = client.ws.next().now_or_never() {
        match next {
            Some(Ok(Message::Binary(_) | Message::Close(_))) | None | Some(Err(_)) => return true,
            Some(Ok(_)) => {}
        }
    }
    false
}

/// Sends `Add 1` as `op` and returns its outcome.
async fn add_one(client: &mut Client, op: OpId) -> Msg {
    client
        .send(&ClientMessage::Action {
            op_id: op,
            action: CounterAction::Add { amount: 1 },
        })
        .await;
    client
        .recv_until(|m| matches!(m, Msg::ActionOk { .. } | Msg::ActionErr { .. }))
        .await
}

/// Closes the client's socket and reads to the server's close.
async fn leave(mut client: Client) {
    client.ws.close(None).await.ok();
    while let Some(Ok(_)) = client.ws.next().await {}
}

// Nothing that runs on the runtime's workers waits for a's lock here: a
// worker blocked on it would also stop the runtime's IO and timers. The
// commit to a that waits runs on a thread of its own, and a's client sends
// nothing and gets no ping, idle or presence timer while a is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn while_one_resources_lock_is_held_another_resource_joins_acts_and_sees_presence() {
    let mut config = ServerConfig::default();
    config.presence_batch = Duration::ZERO;
    config.ping_interval = Duration::from_secs(600);
    config.liveness_timeout = Duration::from_secs(1_200);
    config.idle_after = Duration::from_secs(600);
    let t = start(Counter, config).await;
    let (mut ann, _) = Client::join(t.addr, "a", "ann").await;
    let hold = Arc::new(Mutex::new(Some(t.server.hold_resource("a"))));
    // A broken server could wedge the runtime behind the held lock; a
    // watchdog thread then lets it go, and the test fails.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn({
        let hold = hold.clone();
        move || {
            let fired = released.recv_timeout(STUCK).is_err();
            drop(hold.lock().expect("hold").take());
            fired
        }
    });
    // A commit to a: its fan-out waits for a's lock.
    let (started, is_started) = std::sync::mpsc::channel::<()>();
    let commit = std::thread::spawn({
        let a = t.server.session("a");
        let runtime = tokio::runtime::Handle::current();
        move || {
            let _ = started.send(());
            runtime.block_on(a.commit(CounterDelta { add: 1 }))
        }
    });
    is_started.recv().expect("commit thread");

    let (mut bob, joined) = tokio::time::timeout(STUCK, Client::join(t.addr, "b", "bob"))
        .await
        .expect("b's client joins while a is held");
    assert_eq!(joined.seq, 0);
    assert!(
        joined.users.iter().any(|u| u.user_id == "bob"),
        "b's presence lists bob: {:?}",
        joined.users
    );
    let op = OpId::new();
    bob.send(&ClientMessage::Action {
        op_id: op,
        action: CounterAction::Add { amount: 1 },
    })
    .await;
    // The commit's delta comes before the outcome.
    let delta = bob
        .recv_until(|m| matches!(m, Msg::Delta { .. } | Msg::Deltas { .. }))
        .await;
    assert!(
        matches!(
            delta,
            Msg::Delta { seq: 1, .. } | Msg::Deltas { seq: 1, .. }
        ),
        "{delta:?}"
    );
    let outcome = bob
        .recv_until(|m| matches!(m, Msg::ActionOk { .. } | Msg::ActionErr { .. }))
        .await;
    assert!(
        matches!(outcome, Msg::ActionOk { op_id, .. } if op_id == op),
        "{outcome:?}"
    );
    // A second client of b: bob is told, so b's presence moves too.
    let (_cy, _) = tokio::time::timeout(STUCK, Client::join(t.addr, "b", "cy"))
        .await
        .expect("a second client joins b while a is held");
    let diff = bob.recv_until(|m| matches!(m, Msg::PresenceDiff(_))).await;
    let Msg::PresenceDiff(diff) = diff else {
        unreachable!()
    };
    assert!(diff.joined.iter().any(|u| u.user_id == "cy"), "{diff:?}");

    // All of b's work is done while a is held: ann has not got a's delta.
    assert!(
        !has_frames(&mut ann),
        "a's client was served while a's lock was held"
    );
    assert!(
        !commit.is_finished(),
        "a's commit finished while a was held"
    );

    release.send(()).expect("watchdog");
    assert!(
        !watchdog.join().expect("watchdog"),
        "the server was stuck while a's lock was held"
    );
    assert_eq!(commit.join().expect("commit thread").expect("commit a"), 1);
    let got = ann
        .recv_until(|m| matches!(m, Msg::Delta { .. } | Msg::Deltas { .. }))
        .await;
    assert!(
        matches!(got, Msg::Delta { seq: 1, .. } | Msg::Deltas { seq: 1, .. }),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slots_of_200_resources_are_retired_once_their_clients_leave() {
    let mut config = ServerConfig::default();
    config.join_rate.burst = 1_000;
    config.join_rate_per_ip.burst = 1_000;
    // Outcomes are kept no longer than needed: with no window, nothing
    // keeps an empty resource's slot.
    config.op_memory.1 = Duration::ZERO;
    let t = start(Counter, config).await;
    assert_eq!(t.server.live_slot_count(), 0);
    let mut clients = Vec::new();
    for i in 0..200 {
        let (mut client, _) = Client::join(t.addr, &format!("r{i}"), &format!("u{i}")).await;
        if i % 2 == 0 {
            let op = OpId::new();
            assert!(matches!(
                add_one(&mut client, op).await,
                Msg::ActionOk { .. }
            ));
        }
        clients.push(client);
    }
    assert_eq!(t.server.live_slot_count(), 200);
    assert_eq!(t.server.session_count(), 200);
    for client in clients {
        leave(client).await;
    }
    tokio::time::timeout(STUCK, t.server.live_slots_at_most(0))
        .await
        .expect("every slot is retired");
    assert_eq!(t.server.live_slot_count(), 0);
    assert_eq!(t.server.connection_count(), 0);
    assert_eq!(t.server.timer_count(), 0);
    // The node's totals keep what the retired hubs counted.
    assert!(t.server.encode_count() >= 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_outcome_keeps_its_slot_and_answers_the_retry_after_a_reconnect() {
    let mut config = ServerConfig::default();
    config.join_rate.burst = 100;
    config.join_rate_per_ip.burst = 100;
    config.op_memory.1 = Duration::from_secs(600);
    let t = start(Counter, config).await;
    let mut ops = Vec::new();
    for i in 0..20 {
        let (mut client, _) = Client::join(t.addr, &format!("r{i}"), &format!("d{i}")).await;
        if i < 10 {
            let op = OpId::new();
            assert!(matches!(
                add_one(&mut client, op).await,
                Msg::ActionOk { .. }
            ));
            ops.push(op);
        }
        leave(client).await;
    }
    // The ten without an action go; the ten with one stay for the window.
    tokio::time::timeout(STUCK, t.server.live_slots_at_most(10))
        .await
        .expect("the slots without outcomes are retired");
    assert_eq!(t.server.live_slot_count(), 10);

    let (mut again, joined) = Client::join(t.addr, "r0", "d0").await;
    assert_eq!(joined.seq, 1);
    let retried = add_one(&mut again, ops[0]).await;
    assert!(matches!(retried, Msg::ActionOk { op_id, .. } if op_id == ops[0]));
    let value = t
        .server
        .session("r0")
        .read(|s, seq| (s.value, seq))
        .await
        .expect("read");
    assert_eq!(value, (1, 1), "the retry was answered, not run again");
}

#[tokio::test]
async fn the_join_rate_counts_a_users_joins_across_resources() {
    let mut config = ServerConfig::default();
    config.join_rate = RateLimit {
        per_second: 0.001,
        burst: 3,
    };
    let t = start(Counter, config).await;
    let mut kept = Vec::new();
    for resource in ["r1", "r2", "r3"] {
        let (client, _) = Client::join(t.addr, resource, "eve").await;
        kept.push(client);
    }
    let mut fourth = Client::connect(t.addr, "r4", "eve").await;
    let (msgs, close) = fourth.read_to_close().await;
    assert_eq!(
        msgs.first().and_then(error_code),
        Some(("too_many_connections".to_owned(), true))
    );
    assert_eq!(close_code(&close), Some(4006));
    // Another user is not counted with eve.
    let (_fay, _) = Client::join(t.addr, "r4", "fay").await;
}
