//! One resource's fan-out does not hold up the node, over real WebSockets on
//! 127.0.0.1: while the delivery of resource A's frames is held (the
//! `hold_delivery` seam stops the thread pushing them into A's outboxes),
//! a client of resource B completes its handshake, gets its snapshot and
//! B's broadcasts; A's frames then arrive in order. And a lane that fills
//! up (its delivery held past `lane_queue_bytes`) closes the recipients of
//! the frame that does not fit as slow consumers.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Client, Frame, Msg, STUCK, close_code, error_code, start};
use futures::{FutureExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use ui_flow::ClientMessage;
use ui_flow::codec::Decoded;
use ui_flow_server::ServerConfig;
use ui_flow_server::counter::{Counter, CounterDelta};

/// The messages a client has been sent and can read without waiting.
fn ready(client: &mut Client) -> Vec<Msg> {
    let mut seen = Vec::new();
    while let Some(Some(Ok(message))) = client.ws.next().now_or_never() {
        if let Message::Binary(bytes) = message {
            if let Ok(Decoded::Message(m)) = Msg::decode(&bytes) {
                seen.push(m);
            }
        }
    }
    seen
}

/// Reads until the delta with `seq` (skipping presence); fails on anything else.
async fn delta(client: &mut Client, want: u64) {
    loop {
        match client.next_frame().await {
            Frame::Msg(Msg::Delta { seq, .. }) => {
                assert_eq!(seq, want, "deltas arrive in order");
                return;
            }
            Frame::Msg(Msg::PresenceDiff(_) | Msg::Presence { .. }) | Frame::Unknown(_) => {}
            Frame::Msg(other) => panic!("expected delta {want}, got {other:?}"),
            Frame::Close(c) => panic!("expected delta {want}, got close {c:?}"),
        }
    }
}

// Four workers: the held delivery blocks one of them, on purpose.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn while_one_resources_fan_out_is_held_another_resource_joins_and_broadcasts() {
    // Presence changes go out at once, so no timer delivers to a while it
    // is held: the commit's own task is the one that waits.
    let mut config = ServerConfig::default();
    config.presence_batch = Duration::ZERO;
    let t = start(Counter, config).await;
    let mut watchers = Vec::new();
    for i in 0..3 {
        let (client, joined) = Client::join(t.addr, "a", &format!("watcher{i}")).await;
        assert_eq!(joined.seq, 0);
        watchers.push(client);
    }
    assert!(
        t.server.hold_delivery("b").is_none(),
        "no lane before anyone joins b"
    );
    let hold = t.server.hold_delivery("a").expect("a has connections");
    let probe = hold.probe();
    // A broken server could wedge every runtime thread behind the held
    // delivery; a watchdog thread then lets it go, and the test fails.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let slot = Arc::new(Mutex::new(Some(hold)));
    let watchdog = std::thread::spawn({
        let slot = slot.clone();
        move || {
            let fired = released.recv_timeout(STUCK).is_err();
            drop(slot.lock().expect("slot").take());
            fired
        }
    });

    // A commit to a: applied and queued, its push into a's outboxes waits
    // (in the commit's task, or in another that has a's turn).
    let a = t.server.session("a");
    let commit = tokio::spawn(async move { a.commit(CounterDelta { add: 1 }).await });
    probe.queued(1).await;
    probe.waiting().await;

    // Meanwhile b's client authenticates, joins and is synced ...
    let (mut bob, joined) = tokio::time::timeout(STUCK, Client::join(t.addr, "b", "bob"))
        .await
        .expect("b's client joins while a's fan-out is held");
    assert_eq!(joined.seq, 0);
    // ... b's broadcasts go out ...
    let b = t.server.session("b");
    let committed = tokio::time::timeout(STUCK, b.commit(CounterDelta { add: 7 }))
        .await
        .expect("b commits while a's fan-out is held");
    assert_eq!(committed.expect("commit b"), 1);
    delta(&mut bob, 1).await;
    // ... and the node answers about itself.
    assert_eq!(t.server.connection_count(), 4);

    // A client joining a now is admitted; its frames queue behind a's.
    let late = tokio::spawn({
        let addr = t.addr;
        async move { Client::join(addr, "a", "late").await }
    });

    // None of that let a's held delta through.
    for watcher in &mut watchers {
        let early = ready(watcher);
        assert!(
            !early.iter().any(|m| matches!(m, Msg::Delta { .. })),
            "a's delta was delivered while held: {early:?}"
        );
    }

    release.send(()).expect("watchdog");
    assert!(
        !watchdog.join().expect("watchdog"),
        "the server was stuck while a's delivery was held"
    );
    assert!(slot.lock().expect("slot").is_none());
    assert_eq!(commit.await.expect("task").expect("commit a"), 1);
    for watcher in &mut watchers {
        delta(watcher, 1).await;
    }
    let (mut late, joined) = late.await.expect("late join");
    assert_eq!(
        joined.seq, 1,
        "the late client's snapshot includes the commit"
    );
    let a = t.server.session("a");
    assert_eq!(a.commit(CounterDelta { add: 1 }).await.expect("commit"), 2);
    delta(&mut late, 2).await;
    for watcher in &mut watchers {
        delta(watcher, 2).await;
    }
}

// Two workers: the held delivery blocks one of them, on purpose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_that_would_overfill_a_lane_closes_its_recipients_as_slow_consumers() {
    let mut config = ServerConfig::default();
    config.presence_batch = Duration::ZERO;
    config.lane_queue_bytes = 256;
    let t = start(Counter, config).await;
    let mut watchers = Vec::new();
    for i in 0..2 {
        let (client, _) = Client::join(t.addr, "a", &format!("watcher{i}")).await;
        watchers.push(client);
    }
    let hold = t.server.hold_delivery("a").expect("a has connections");
    let probe = hold.probe();
    // A watcher pings: the server's Pong is queued on a's lane and taken by
    // the delivering thread (that watcher's own task), which then waits on
    // the hold; what follows stays queued on the lane. (Were a commit's
    // task the one waiting, the next commit to the resource would wait
    // behind it.)
    watchers[0]
        .send(&ClientMessage::<()>::Ping {
            ts: 0,
            presence: None,
        })
        .await;
    probe.queued(1).await;
    probe.waiting().await;
    let a = t.server.session("a");
    let mut commits = 0;
    while a.connection_count() > 0 && commits < 100 {
        let seq = tokio::time::timeout(STUCK, a.commit(CounterDelta { add: 1 }))
            .await
            .expect("a commit does not wait for a held lane")
            .expect("commit");
        commits += 1;
        assert_eq!(seq, commits);
    }
    assert_eq!(a.connection_count(), 0, "after {commits} commits");
    // The bound is in bytes: several deltas fit before one does not.
    assert!(commits > 3, "the lane overflowed after {commits} commits");
    drop(hold);
    for watcher in &mut watchers {
        let (msgs, close) = tokio::time::timeout(STUCK, watcher.read_to_close())
            .await
            .expect("the watcher is closed");
        let seqs: Vec<u64> = msgs
            .iter()
            .filter_map(|m| match m {
                Msg::Delta { seq, .. } => Some(*seq),
                _ => None,
            })
            .collect();
        // A contiguous prefix of the deltas (those written before the
        // overflow), never the one that did not fit.
        assert!(seqs.iter().zip(1..).all(|(s, want)| *s == want), "{seqs:?}");
        assert!((seqs.len() as u64) < commits, "{seqs:?}");
        assert_eq!(
            msgs.iter().filter_map(error_code).collect::<Vec<_>>(),
            [("slow_consumer".to_owned(), true)]
        );
        assert_eq!(close_code(&close), Some(4003));
    }
    assert_eq!(t.server.counters().slow_disconnects, 2);
    // The resource itself is fine: a new client gets every commit.
    let (_late, joined) = Client::join(t.addr, "a", "late").await;
    assert_eq!(joined.seq, commits);
}
