//! ui-flow inside an existing axum app: the app's own state, a login route
//! that sets a session cookie, a tower middleware that puts the user in the
//! request extensions, and ui-flow mounted twice (the ready-made `router()`
//! merged into `Router<AppState>`, and a `FlowUpgrade` route of the app's
//! own). Everything over real HTTP and WebSockets on 127.0.0.1.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use ui_flow_server::{
    AuthError, AuthRequest, Authenticator, FlowServer, FlowUpgrade, Identity, ServerConfig,
};

/// The app's logged-in user, as its middleware finds it.
#[derive(Clone, Debug)]
struct User(String);

/// The app's own state: its session store and the ui-flow server.
#[derive(Clone)]
struct AppState {
    sessions: Arc<Mutex<HashMap<String, String>>>,
    flow: FlowServer<Plain>,
}

/// `POST /login` with the user name as the body: stores a session and sets
/// its id as the `sid` cookie.
async fn login(State(app): State<AppState>, name: String) -> Response {
    let sid = format!("sid-{}-{}", name, app.sessions.lock().expect("lock").len());
    app.sessions.lock().expect("lock").insert(sid.clone(), name);
    (
        [(header::SET_COOKIE, format!("sid={sid}; HttpOnly; Path=/"))],
        "logged in",
    )
        .into_response()
}

/// The app's auth middleware: a valid `sid` cookie puts the [`User`] in the
/// request extensions. It refuses nothing; handlers decide.
async fn session_layer(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let sid = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("sid=").map(str::to_owned));
    let user = sid.and_then(|sid| app.sessions.lock().expect("lock").get(&sid).cloned());
    if let Some(name) = user {
        request.extensions_mut().insert(User(name));
    }
    next.run(request).await
}

/// ui-flow's authenticator trusts what the middleware found.
struct FromExtensions;

#[async_trait]
impl Authenticator for FromExtensions {
    async fn authenticate(&self, request: AuthRequest<'_>) -> Result<Identity, AuthError> {
        request
            .extensions
            .get::<User>()
            .map(|User(name)| Identity::new(name.clone()))
            .ok_or(AuthError::Missing)
    }
}

/// The app's own route: `/boards/{board}/live`, resource `board-{board}`.
async fn board_live(
    State(app): State<AppState>,
    Path(board): Path<String>,
    upgrade: FlowUpgrade,
) -> Response {
    upgrade.serve(&app.flow, format!("board-{board}"))
}

/// The same, with the handler deciding from its own extractor.
async fn board_live_as(
    State(app): State<AppState>,
    Path(board): Path<String>,
    user: Option<Extension<User>>,
    upgrade: FlowUpgrade,
) -> Response {
    let identity = user
        .map(|Extension(User(name))| Identity::new(name).with_name("via handler"))
        .ok_or(AuthError::Missing);
    upgrade.serve_as(&app.flow, format!("board-{board}"), identity)
}

/// The app; `router()` is merged into `Router<AppState>` before
/// `.with_state`, which is the compile test.
fn app(state: AppState) -> Router {
    Router::<AppState>::new()
        .route("/login", post(login))
        .route("/boards/{board}/live", get(board_live))
        .route("/boards/{board}/live-as", get(board_live_as))
        .merge(state.flow.router())
        .layer(middleware::from_fn_with_state(state.clone(), session_layer))
        .with_state(state)
}

async fn start_app() -> (AppState, SocketAddr) {
    let state = AppState {
        sessions: Arc::default(),
        flow: FlowServer::with_config(Plain::default(), FromExtensions, ServerConfig::default()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = app(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (state, addr)
}

/// Logs in over plain HTTP/1.1 and returns the `sid=...` cookie pair.
async fn log_in(addr: SocketAddr, name: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
        name.len()
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tokio::time::timeout(STUCK, tcp.read_to_string(&mut response))
        .await
        .expect("stuck reading the login response")
        .expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

async fn connect(
    addr: SocketAddr,
    path: &str,
    headers: &[(&'static str, String)],
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).expect("header"));
    }
    Client::connect_request(request).await.map(|(c, _)| c)
}

fn user_of(joined: &Joined) -> Option<&str> {
    match &joined.connected {
        Msg::Connected { user_id, .. } => user_id.as_deref(),
        _ => None,
    }
}

#[tokio::test]
async fn without_the_session_cookie_every_route_refuses_with_4001() {
    let (state, addr) = start_app().await;
    let forged = [("Cookie", "sid=made-up".to_owned())];
    for path in [
        "/boards/7/live",
        "/boards/7/live-as",
        "/realtime/board-7?token=alice",
    ] {
        for headers in [&[][..], &forged[..]] {
            let mut c = connect(addr, path, headers).await.expect("upgrade");
            let (msgs, close) = c.read_to_close().await;
            assert_eq!(
                msgs.first().and_then(error_code),
                Some(("unauthorized".into(), true)),
                "{path} {headers:?}"
            );
            assert_eq!(close_code(&close), Some(4001), "{path}");
        }
    }
    assert_eq!(state.flow.connection_count(), 0);
}

#[tokio::test]
async fn with_the_cookie_the_identity_is_the_middlewares_user() {
    let (state, addr) = start_app().await;
    let cookie = log_in(addr, "carol").await;
    let headers = [("Cookie", cookie)];
    let mut own = connect(addr, "/boards/7/live", &headers)
        .await
        .expect("upgrade");
    let joined = own.read_join().await;
    assert_eq!(user_of(&joined), Some("carol"));
    // The ready-made route, merged into the app, sits behind the same
    // middleware; a query token does not override the session.
    let mut merged = connect(addr, "/realtime/board-7?token=mallory", &headers)
        .await
        .expect("upgrade");
    let joined = merged.read_join().await;
    assert_eq!(user_of(&joined), Some("carol"));
    let mut decided = connect(addr, "/boards/7/live-as", &headers)
        .await
        .expect("upgrade");
    let joined = decided.read_join().await;
    assert_eq!(user_of(&joined), Some("carol"));
    // All three joined the same resource under the app's own naming.
    assert_eq!(state.flow.session("board-7").connection_count(), 3);
    let names: Vec<_> = state
        .flow
        .session("board-7")
        .presence()
        .into_iter()
        .map(|p| p.user_id)
        .collect();
    assert_eq!(names, ["carol"]);
}

#[tokio::test]
async fn a_foreign_origin_is_refused_by_default_even_with_the_cookie() {
    let (state, addr) = start_app().await;
    let cookie = log_in(addr, "carol").await;
    for path in ["/boards/7/live", "/realtime/board-7"] {
        let evil = [
            ("Cookie", cookie.clone()),
            ("Origin", "http://evil.example".to_owned()),
        ];
        match connect(addr, path, &evil).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), StatusCode::FORBIDDEN.as_u16(), "{path}");
            }
            Err(other) => panic!("{path}: expected HTTP 403, got {other}"),
            Ok(_) => panic!("{path}: a foreign origin was upgraded"),
        }
        let same = [
            ("Cookie", cookie.clone()),
            ("Origin", format!("http://{addr}")),
        ];
        let mut c = connect(addr, path, &same).await.expect("same origin");
        assert_eq!(user_of(&c.read_join().await), Some("carol"));
    }
    assert_eq!(state.flow.counters().connections_refused, 2);
}

/// The `Left` a Join on channel 1 gets, and its code.
async fn join_code(client: &mut Client, resource: &str) -> Option<String> {
    let join = ui_flow::ClientMessage::<String>::Join {
        resource: resource.into(),
        last_seq: None,
        epoch: None,
    };
    let bytes = join.encode_on(ui_flow::Channel(1)).expect("encode");
    client.send_raw(bytes).await;
    loop {
        let frame = client.raw_frame().await;
        match Msg::decode_routed(&frame).expect("decodes") {
            (ui_flow::Channel(1), ui_flow::codec::Decoded::Message(Msg::Left { code, .. })) => {
                return code.map(|c| c.as_str().to_owned());
            }
            (ui_flow::Channel(1), other) => panic!("expected Left on 1, got {other:?}"),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn joins_are_forbidden_by_default_for_cookie_and_app_decided_connections() {
    let (state, addr) = start_app().await;
    let cookie = log_in(addr, "carol").await;
    let headers = [("Cookie", cookie)];
    // The authenticator trusts the middleware's extensions, which are not
    // kept after the upgrade: the default authorize_join finds no user.
    let mut own = connect(addr, "/boards/7/live", &headers)
        .await
        .expect("upgrade");
    own.read_join().await;
    assert_eq!(
        join_code(&mut own, "board-8").await.as_deref(),
        Some("forbidden")
    );
    // An identity the app decided itself has nothing to check again.
    let mut decided = connect(addr, "/boards/7/live-as", &headers)
        .await
        .expect("upgrade");
    decided.read_join().await;
    assert_eq!(
        join_code(&mut decided, "board-8").await.as_deref(),
        Some("forbidden")
    );
    assert_eq!(state.flow.session("board-8").connection_count(), 0);
    // Both connections stay.
    assert_eq!(state.flow.session("board-7").connection_count(), 2);
}
