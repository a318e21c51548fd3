//! Connections that come and go leave nothing behind in the server.

mod common;

use common::{Client, STUCK, start};
use futures::StreamExt;
use ui_flow_server::counter::Counter;
use ui_flow_server::{RateLimit, ServerConfig};

/// Cycles run this many at a time.
const AT_ONCE: usize = 32;

/// Every connection arms deadlines (handshake timeout, keepalive, the
/// user's idle status) that are cancelled lazily; the ones whose owner has
/// gone used to stay in the hub until they came due (up to 60 s), so a
/// server under steady churn held tens of thousands of them. They are now
/// swept out as the heap grows: after 1,500 cycles (about 4,500 deadlines
/// armed) at most the sweep threshold (1,024) is left.
#[tokio::test]
async fn deadlines_of_departed_connections_do_not_pile_up() {
    let mut config = ServerConfig::default();
    let unlimited = RateLimit {
        per_second: 1e9,
        burst: u32::MAX,
    };
    config.join_rate = unlimited;
    config.join_rate_per_ip = unlimited;
    let t = start(Counter, config).await;
    let cycles = 1500;
    let run = async {
        for batch in 0..cycles / AT_ONCE {
            let joins: Vec<_> = (0..AT_ONCE)
                .map(|i| {
                    let addr = t.addr;
                    let user = format!("u{}", (batch * AT_ONCE + i) % 64);
                    tokio::spawn(async move {
                        let (mut client, _) = Client::join(addr, "room", &user).await;
                        let _ = client.ws.close(None).await;
                        while let Some(Ok(_)) = client.ws.next().await {}
                    })
                })
                .collect();
            for join in joins {
                join.await.expect("cycle");
            }
        }
        // Waits (on the server's own notification) until every
        // connection's task has finished.
        t.server.shutdown().await;
    };
    tokio::time::timeout(STUCK * 3, run)
        .await
        .expect("not stuck");
    assert_eq!(t.server.connection_count(), 0);
    assert_eq!(t.server.session_count(), 0);
    let left = t.server.timer_count();
    assert!(left <= 1024, "{left} deadlines left after {cycles} cycles");
}
