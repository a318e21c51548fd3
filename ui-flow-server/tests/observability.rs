//! Logs, metrics and the health endpoint of a real server on 127.0.0.1:
//! the token never reaches a log line, the counters reach a Prometheus
//! recorder, and `/healthz` turns 503 when shutdown starts.
//!
//! The tracing subscriber and the metrics recorder are process-wide, so
//! this file holds one test per concern and each reads only what it needs.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use ui_flow::{ClientMessage, OpId};
use ui_flow_server::{Identity, ServerConfig, TokenTable};

/// Everything every subscriber layer wrote, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        captured
    })
}

fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("the only recorder in this process")
    })
}

const SUBPROTOCOL_TOKEN: &str = "sub-SECRET-4f1d";
const QUERY_TOKEN: &str = "query-SECRET-9a2c";
const WRONG_TOKEN: &str = "wrong-SECRET-77e0";

#[tokio::test]
async fn no_token_appears_in_any_log_line() {
    let logs = logs();
    let table = TokenTable::new()
        .with(SUBPROTOCOL_TOKEN, Identity::new("alice"))
        .with(QUERY_TOKEN, Identity::new("bob"));
    let t = start_with(Plain::default(), table, ServerConfig::default()).await;

    // In the header, with an action so the handler span runs.
    let mut request = format!("ws://{}/realtime/room", t.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(&format!("ui-flow, ui-flow.token.{SUBPROTOCOL_TOKEN}"))
            .expect("header"),
    );
    let (mut alice, _) = Client::connect_request(request).await.expect("upgrade");
    alice.read_join().await;
    let op_id = OpId::new();
    alice
        .send(&ClientMessage::Action {
            op_id,
            action: "hello".to_owned(),
        })
        .await;
    alice
        .recv_until(|m| matches!(m, Msg::ActionOk { .. }))
        .await;

    // In the query, accepted and refused.
    let (_bob, _) = Client::join(t.addr, "room", QUERY_TOKEN).await;
    let mut refused = Client::connect(t.addr, "room", WRONG_TOKEN).await;
    let (msgs, _) = refused.read_to_close().await;
    assert_eq!(
        msgs.first().and_then(error_code),
        Some(("unauthorized".into(), true))
    );

    let text = logs.text();
    // The capture works: the connection span, the handler span and the
    // refusal are there.
    assert!(text.contains("ui_flow_connection"), "{text}");
    assert!(text.contains("handle_action"), "{text}");
    assert!(text.contains(&op_id.to_string()), "{text}");
    assert!(text.contains("authentication failed"), "{text}");
    for secret in [SUBPROTOCOL_TOKEN, QUERY_TOKEN, WRONG_TOKEN] {
        assert!(!text.contains(secret), "{secret} was logged:\n{text}");
    }
    assert!(!text.contains("SECRET"), "a token was logged:\n{text}");
}

#[tokio::test]
async fn counters_reach_the_metrics_recorder() {
    let handle = prometheus();
    let t = start(Plain::default(), ServerConfig::default()).await;
    let (mut c, _) = Client::join(t.addr, "room", "alice").await;
    c.send(&ClientMessage::Action {
        op_id: OpId::new(),
        action: "a".to_owned(),
    })
    .await;
    c.recv_until(|m| matches!(m, Msg::ActionOk { .. })).await;
    t.server.record_metrics();
    let text = handle.render();
    let value = |name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    // Published from this server's counters alone.
    assert_eq!(value("ui_flow_connections_open "), Some(1.0), "{text}");
    assert_eq!(value("ui_flow_sessions_open "), Some(1.0), "{text}");
    assert!(
        value("ui_flow_frames_in_total ").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        value("ui_flow_bytes_out_total ").unwrap_or(0.0) > 0.0,
        "{text}"
    );
    assert!(
        text.contains("ui_flow_sync_fetches_total{kind=\"snapshot\"}"),
        "{text}"
    );
    assert_eq!(
        value("ui_flow_resource_connections{resource=\"room\"} "),
        Some(1.0),
        "{text}"
    );
    drop(c);
    let deadline = std::time::Instant::now() + STUCK;
    while t.server.connection_count() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the connection never closed"
        );
        tokio::task::yield_now().await;
    }
    t.server.record_metrics();
    let text = handle.render();
    let value = |name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    assert_eq!(
        value("ui_flow_resource_connections{resource=\"room\"} "),
        Some(0.0),
        "a resource that left the list is set to 0: {text}"
    );
    // Other tests in this process act too: at least this test's action.
    assert!(
        value("ui_flow_action_duration_seconds_count{outcome=\"ok\"} ").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
}

async fn get(addr: SocketAddr, path: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tokio::time::timeout(STUCK, tcp.read_to_string(&mut response))
        .await
        .expect("stuck reading the response")
        .expect("read");
    response
}

#[tokio::test]
async fn healthz_is_ok_until_shutdown_starts() {
    let server =
        ui_flow_server::FlowServer::new(Plain::default(), ui_flow_server::UnverifiedUserToken);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = server.router().merge(server.health_router());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let ok = get(addr, "/healthz").await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.ends_with("ok"), "{ok}");
    server.shutdown().await;
    let stopping = get(addr, "/healthz").await;
    assert!(stopping.starts_with("HTTP/1.1 503"), "{stopping}");
}
