//! `/metrics` on a running demo server moves while two players play.

use std::time::Duration;

use demo_server::{Demo, Settings};
use demo_world::{World, WorldAction, WorldDelta, WorldEvent};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use ui_flow::codec::Decoded;
use ui_flow::{ClientMessage, OpId, ServerMessage};

type Msg = ServerMessage<World, WorldDelta, WorldEvent>;

/// A safety net so a broken test fails instead of hanging.
const STUCK: Duration = Duration::from_secs(20);

/// `GET path` over plain HTTP/1.1; the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tokio::time::timeout(STUCK, tcp.read_to_string(&mut response))
        .await
        .expect("an answer in time")
        .expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of an unlabelled counter or gauge in Prometheus' text format.
fn value(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_move_while_two_players_play() {
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this test binary");
    let demo = Demo::new("/nonexistent", Settings::default()).with_metrics(prometheus);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(demo.serve(listener, std::future::pending()));

    assert!(get(addr, "/healthz").await.contains("ok"));
    let before = get(addr, "/metrics").await;
    let mut players = Vec::new();
    for user in ["ann", "bob"] {
        let url = format!("ws://{addr}/realtime/meadow?token={user}");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        players.push(ws);
    }
    for ws in &mut players {
        let op_id = OpId::new();
        let enter = ClientMessage::Action {
            op_id,
            action: WorldAction::Enter { name: "X".into() },
        };
        ws.send(Message::Binary(enter.encode().expect("encode").into()))
            .await
            .expect("send");
        loop {
            let frame = tokio::time::timeout(STUCK, ws.next())
                .await
                .expect("in time")
                .expect("open")
                .expect("frame");
            let Message::Binary(bytes) = frame else {
                continue;
            };
            if let Ok(Decoded::Message(Msg::ActionOk { op_id: o, .. })) = Msg::decode(&bytes) {
                if o == op_id {
                    break;
                }
            }
        }
    }
    let after = get(addr, "/metrics").await;
    for name in [
        "ui_flow_connections_total",
        "ui_flow_frames_in_total",
        "ui_flow_frames_out_total",
    ] {
        assert!(
            value(&after, name) > value(&before, name),
            "{name} moved: {} -> {}",
            value(&before, name),
            value(&after, name)
        );
    }
    assert_eq!(value(&after, "ui_flow_connections_open"), 2.0);
    assert!(after.contains("ui_flow_action_duration_seconds"), "{after}");
}
