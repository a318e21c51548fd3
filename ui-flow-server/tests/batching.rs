//! Frames queued for one connection go out in batched writes, complete and
//! in order, and leave the outbox's byte count once written.

mod common;

use common::*;
use ui_flow_server::ServerConfig;

#[tokio::test]
async fn backlogs_spanning_many_write_batches_arrive_in_order_and_free_the_outbox() {
    let mut config = ServerConfig::default();
    config.outbound_queue_bytes = 64 * 1024;
    config.write_batch_bytes = 8 * 1024;
    let t = start(Plain::default(), config).await;
    let (mut client, _) = Client::join(t.addr, "room", "reader").await;
    let blob = "x".repeat(1024);
    let mut next = 1;
    // Ten rounds of 40 KiB: each backlog is queued whole before the writer
    // runs (one-threaded runtime) and spans five write batches; together
    // they are six times the outbox bound, so bytes that were written but
    // never released from the count would end in a slow-consumer close.
    for _ in 0..10 {
        let first = next;
        for _ in 0..40 {
            next = t.push("room", &blob) + 1;
        }
        for want in first..next {
            match client.recv().await {
                Msg::Delta { seq, .. } => assert_eq!(seq, want),
                other => panic!("expected delta {want}, got {other:?}"),
            }
        }
    }
    assert_eq!(t.server.counters().slow_disconnects, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_to_a_hundred_connections_reaches_each_in_order() {
    // Over 64 recipients the hub's drain wakes writers from a task of its
    // own after queueing; every writer must still be woken.
    let mut config = ServerConfig::default();
    config.max_connections_per_user = 200;
    config.join_rate.burst = 200;
    config.join_rate_per_ip.burst = 200;
    // No pings to wake a forgotten writer by chance.
    config.ping_interval = std::time::Duration::from_secs(3600);
    config.liveness_timeout = std::time::Duration::from_secs(3600);
    let t = start(Plain::default(), config).await;
    let mut clients = Vec::new();
    for _ in 0..100 {
        let (client, _) = Client::join(t.addr, "room", "viewer").await;
        clients.push(client);
    }
    let first = t.push("room", "one");
    let second = t.push("room", "two");
    for client in &mut clients {
        for want in [first, second] {
            let got = client.recv_until(|m| matches!(m, Msg::Delta { .. })).await;
            assert!(
                matches!(got, Msg::Delta { seq, .. } if seq == want),
                "{got:?}"
            );
        }
    }
}
