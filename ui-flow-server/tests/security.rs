//! Authentication, the token's two places, and the origin allow-list.

mod common;

use common::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use ui_flow_server::{Identity, OriginPolicy, ServerConfig, TokenTable};

fn table() -> TokenTable {
    TokenTable::new().with("good-token", Identity::new("alice").with_name("Alice"))
}

async fn refused_with(mut c: Client) -> (Option<(String, bool)>, Option<u16>) {
    let (msgs, close) = c.read_to_close().await;
    (msgs.first().and_then(error_code), close_code(&close))
}

/// Issue 16 item 7: a repeated `token` is ambiguous, so it counts as
/// absent: the upgrade goes through and authentication refuses it with the
/// documented code, never HTTP 400.
#[tokio::test]
async fn a_repeated_query_token_counts_as_absent() {
    let t = start_with(Plain::default(), table(), ServerConfig::default()).await;
    let url = format!(
        "ws://{}/realtime/room?token=good-token&token=good-token",
        t.addr
    );
    let c = Client::connect_url(&url).await;
    assert_eq!(
        refused_with(c).await,
        (Some(("unauthorized".into(), true)), Some(4001))
    );
}

#[tokio::test]
async fn missing_or_wrong_tokens_are_refused_with_4001() {
    let t = start_with(Plain::default(), table(), ServerConfig::default()).await;
    let none = Client::connect_url(&format!("ws://{}/realtime/room", t.addr)).await;
    let wrong = Client::connect(t.addr, "room", "bad-token").await;
    for c in [none, wrong] {
        assert_eq!(
            refused_with(c).await,
            (Some(("unauthorized".into(), true)), Some(4001))
        );
    }
    assert_eq!(t.server.connection_count(), 0);
    assert_eq!(t.server.counters().connections_refused, 2);
}

#[tokio::test]
async fn a_query_token_authenticates_and_names_the_user() {
    let t = start_with(Plain::default(), table(), ServerConfig::default()).await;
    let (_c, joined) = Client::join(t.addr, "room", "good-token").await;
    assert!(matches!(&joined.connected, Msg::Connected { user_id: Some(u), .. } if u == "alice"));
    assert_eq!(joined.users[0].name.as_deref(), Some("Alice"));
}

#[tokio::test]
async fn a_subprotocol_token_authenticates_and_only_ui_flow_is_echoed() {
    let t = start_with(Plain::default(), table(), ServerConfig::default()).await;
    let mut request = format!("ws://{}/realtime/room", t.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("ui-flow, ui-flow.token.good-token"),
    );
    let (mut c, response) = Client::connect_request(request).await.expect("upgrade");
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok()),
        Some("ui-flow")
    );
    let joined = c.read_join().await;
    assert!(matches!(&joined.connected, Msg::Connected { user_id: Some(u), .. } if u == "alice"));
}

#[tokio::test]
async fn origins_off_the_allow_list_get_403_before_the_upgrade() {
    let mut config = ServerConfig::default();
    config.origins = OriginPolicy::AllowList(vec!["https://app.example".into()]);
    let t = start(Plain::default(), config).await;
    let with_origin = |origin: &'static str| {
        let mut request = url(t.addr, "room", "alice")
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_static(origin));
        request
    };
    match Client::connect_request(with_origin("https://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        Err(other) => panic!("expected HTTP 403, got {other}"),
        Ok(_) => panic!("expected HTTP 403, got an upgrade"),
    }
    let (mut ok, _) = Client::connect_request(with_origin("https://app.example"))
        .await
        .expect("allowed origin");
    ok.read_join().await;
    assert_eq!(t.server.counters().connections_refused, 1);
}

/// Cross-site WebSocket hijacking: with the default settings a page from
/// another site (or another port) cannot connect, the server's own pages
/// and non-browser clients can.
#[tokio::test]
async fn a_foreign_origin_is_refused_by_default() {
    let t = start(Plain::default(), ServerConfig::default()).await;
    let with_origin = |origin: Option<String>| {
        let mut request = url(t.addr, "room", "alice")
            .into_client_request()
            .expect("request");
        if let Some(origin) = origin {
            request.headers_mut().insert(
                "Origin",
                HeaderValue::from_str(&origin).expect("header value"),
            );
        }
        request
    };
    let other_port = format!("http://127.0.0.1:{}", t.addr.port().wrapping_add(1));
    for foreign in ["http://evil.example", "null", other_port.as_str()] {
        match Client::connect_request(with_origin(Some(foreign.to_owned()))).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "{foreign}");
            }
            Err(other) => panic!("{foreign}: expected HTTP 403, got {other}"),
            Ok(_) => panic!("{foreign}: expected HTTP 403, got an upgrade"),
        }
    }
    assert_eq!(t.server.counters().connections_refused, 3);
    for allowed in [Some(format!("http://{}", t.addr)), None] {
        let (mut c, _) = Client::connect_request(with_origin(allowed.clone()))
            .await
            .unwrap_or_else(|e| panic!("{allowed:?}: {e}"));
        c.read_join().await;
    }
}

#[tokio::test]
async fn origin_any_is_an_explicit_opt_out() {
    let mut config = ServerConfig::default();
    config.origins = OriginPolicy::Any;
    let t = start(Plain::default(), config).await;
    let mut request = url(t.addr, "room", "alice")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_static("http://evil.example"));
    let (mut c, _) = Client::connect_request(request).await.expect("upgrade");
    c.read_join().await;
}

#[tokio::test]
async fn authentication_runs_on_every_reconnect() {
    let t = start_with(Plain::default(), table(), ServerConfig::default()).await;
    let (first, _) = Client::join(t.addr, "room", "good-token").await;
    drop(first);
    let again = Client::connect(t.addr, "room", "revoked-token").await;
    assert_eq!(
        refused_with(again).await,
        (Some(("unauthorized".into(), true)), Some(4001))
    );
}

#[cfg(feature = "jwt")]
#[tokio::test]
async fn jwt_tokens_over_the_wire() {
    use jsonwebtoken::{EncodingKey, Header, encode};
    use ui_flow_server::jwt::JwtAuthenticator;

    #[derive(serde::Serialize)]
    struct Claims {
        sub: &'static str,
        name: &'static str,
        exp: u64,
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let sign = |exp| {
        encode(
            &Header::default(),
            &Claims {
                sub: "u-42",
                name: "Zed",
                exp,
            },
            &EncodingKey::from_secret(b"k"),
        )
        .expect("sign")
    };
    let t = start_with(
        Plain::default(),
        JwtAuthenticator::hs256(b"k"),
        ServerConfig::default(),
    )
    .await;
    let (_c, joined) = Client::join(t.addr, "room", &sign(now + 300)).await;
    assert_eq!(joined.users[0].user_id, "u-42");
    assert_eq!(joined.users[0].name.as_deref(), Some("Zed"));
    let expired = Client::connect(t.addr, "room", &sign(now - 3600)).await;
    assert_eq!(
        refused_with(expired).await,
        (Some(("unauthorized".into(), true)), Some(4001))
    );
}

/// An authenticator that never answers.
struct Stuck;

#[async_trait::async_trait]
impl ui_flow_server::Authenticator for Stuck {
    async fn authenticate(
        &self,
        _: ui_flow_server::AuthRequest<'_>,
    ) -> Result<Identity, ui_flow_server::AuthError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn authentication_that_never_finishes_hits_the_handshake_timeout() {
    let mut config = ServerConfig::default();
    config.handshake_timeout = std::time::Duration::from_millis(100);
    let t = start_with(Plain::default(), Stuck, config).await;
    let c = Client::connect(t.addr, "room", "alice").await;
    assert_eq!(refused_with(c).await, (None, Some(4005)));
    assert_eq!(t.server.connection_count(), 0);
}

/// Sends a plain `GET` (no upgrade) over a real socket, as the browser
/// client's refusal probe does; returns the status and the header block.
async fn plain_get(addr: std::net::SocketAddr, path: &str, origin: Option<&str>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{origin}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("reads");
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, head.to_ascii_lowercase())
}

/// Issue 12 item 7: browsers hide a refused upgrade's status, so the
/// browser client asks with a plain `GET`. It gets the upgrade's own checks
/// (the same 403 and 400), 426 when they pass, and a CORS header so a page
/// on another origin can read the status; the upgrade's own refusals and
/// the authenticator are unchanged.
#[tokio::test]
async fn a_plain_get_gets_the_upgrade_checks_then_426() {
    let mut config = ServerConfig::default();
    config.origins = OriginPolicy::AllowList(vec!["https://app.example".into()]);
    let t = start_with(Plain::default(), table(), config).await;

    let (status, head) = plain_get(t.addr, "/realtime/room", None).await;
    assert_eq!(status, 426, "{head}");
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    let (status, _) = plain_get(t.addr, "/realtime/room", Some("https://app.example")).await;
    assert_eq!(
        status, 426,
        "an allowed origin, no token: auth comes after the upgrade"
    );

    let (status, head) = plain_get(t.addr, "/realtime/room", Some("https://evil.example")).await;
    assert_eq!(status, 403, "{head}");
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    let long = "x".repeat(ui_flow_server::endpoint::MAX_RESOURCE_ID + 1);
    let (status, _) = plain_get(t.addr, &format!("/realtime/{long}"), None).await;
    assert_eq!(status, 400);
    let (status, _) = plain_get(t.addr, "/elsewhere/room", None).await;
    assert_eq!(status, 404);

    // The upgrade's refusal is as before: 403, and no CORS header.
    let mut request = url(t.addr, "room", "alice")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_static("https://evil.example"));
    match Client::connect_request(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
            assert!(
                !response
                    .headers()
                    .contains_key("access-control-allow-origin")
            );
        }
        Err(other) => panic!("expected HTTP 403, got {other}"),
        Ok(_) => panic!("expected HTTP 403, got an upgrade"),
    }
    // A bad token is still refused after the upgrade, readable as 4001.
    let c = Client::connect_url(&format!("ws://{}/realtime/room?token=bad", t.addr)).await;
    assert_eq!(refused_with(c).await.1, Some(4001));
}
