//! The HTTP side of a connection: the upgrade request, its checks, and the
//! two ways to mount it in an axum app.
//!
//! - [`FlowServer::router`] serves `GET /realtime/{resource_id}` and merges
//!   into a router with any application state.
//! - [`FlowUpgrade`] is an extractor for a route the application writes
//!   itself, with its own path, state and middleware; the handler picks the
//!   resource and either lets the server's [`Authenticator`] look at the
//!   request (headers, cookies, extensions) or says who the user is.
//!
//! Both check the `Origin` header against [`OriginPolicy`](crate::OriginPolicy)
//! (HTTP 403 before the upgrade) and the resource id (HTTP 400), then
//! upgrade and hand the socket to the connection task, which authenticates.
//! This module does not read frames; the connection task does.
//!
//! A plain `GET` of the same URL (no upgrade) gets the same two checks and,
//! when they pass, `426 Upgrade Required`. Browsers hide the HTTP status of
//! a refused upgrade from the page; the browser client asks this way
//! instead, after a socket closed without ever opening (the *refusal
//! probe*, `spec/PROTOCOL.md` § Connecting). Only these answers carry
//! `Access-Control-Allow-Origin: *`, so a page on another origin can read
//! their status (never a cookie-bound body: the probe sends no credentials
//! across origins, and the bodies are fixed texts).

use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tracing::Instrument;

use crate::auth::{
    AuthError, AuthRequest, Authenticator, Identity, SUBPROTOCOL, token_from_protocols,
};
use crate::counters::Live;
use crate::handler::FlowHandler;
use crate::server::{FlowServer, Inner};
use crate::socket::serve;

/// Longest accepted resource id, in bytes.
pub const MAX_RESOURCE_ID: usize = 256;

/// The query parameters of an upgrade that ui-flow reads; others are
/// ignored. A parameter given more than once counts as absent: the request
/// is not refused (HTTP 400) for it, as the spec asks of resume values that
/// do not parse.
#[derive(Debug, Default, PartialEq)]
struct ConnectQuery {
    token: Option<String>,
    /// Resume: the seq the client already has and its epoch (answered like
    /// a `Resync`); `None` when `last_seq` is absent or does not parse.
    resume: Option<(u64, Option<u32>)>,
}

impl ConnectQuery {
    fn parse(query: Option<&str>) -> Self {
        let mut token = Param::Absent;
        let mut last_seq = Param::Absent;
        let mut epoch = Param::Absent;
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*name {
                "token" => token.add(value.into_owned()),
                "last_seq" => last_seq.add(value.into_owned()),
                "epoch" => epoch.add(value.into_owned()),
                _ => {}
            }
        }
        let resume = last_seq.once().and_then(|s| s.parse().ok()).map(|seq| {
            let epoch = epoch.once().and_then(|e| e.parse().ok());
            (seq, epoch)
        });
        ConnectQuery {
            token: token.once().map(str::to_owned),
            resume,
        }
    }
}

/// A query parameter seen zero, one or several times.
enum Param {
    Absent,
    Once(String),
    Repeated,
}

impl Param {
    fn add(&mut self, value: String) {
        *self = match self {
            Param::Absent => Param::Once(value),
            _ => Param::Repeated,
        };
    }

    fn once(&self) -> Option<&str> {
        match self {
            Param::Once(v) => Some(v),
            _ => None,
        }
    }
}

/// What the upgrade request said, handed to the connection task.
pub(crate) struct Handshake {
    pub(crate) resource: String,
    pub(crate) resume: Option<(u64, Option<u32>)>,
    credentials: Credentials,
}

enum Credentials {
    /// The server's authenticator decides, from these.
    Request {
        token: Option<String>,
        origin: Option<String>,
        headers: HeaderMap,
        extensions: Extensions,
    },
    /// The application decided in its own handler.
    Decided(Result<Identity, AuthError>),
}

impl Handshake {
    /// What the connection keeps for its `Join`s (see
    /// [`Authenticator::authorize_join`]): the token and origin only.
    pub(crate) fn for_joins(&self) -> crate::channels::JoinCredentials {
        match &self.credentials {
            Credentials::Request { token, origin, .. } => crate::channels::JoinCredentials {
                token: token.as_deref().map(Box::from),
                origin: origin.as_deref().map(Box::from),
                decided: false,
            },
            Credentials::Decided(_) => crate::channels::JoinCredentials {
                token: None,
                origin: None,
                decided: true,
            },
        }
    }

    /// Who is connecting: the application's decision, or the
    /// authenticator's verdict on the request. The caller bounds the wait.
    pub(crate) async fn authenticate(
        &self,
        auth: &dyn Authenticator,
    ) -> Result<Identity, AuthError> {
        match &self.credentials {
            Credentials::Request {
                token,
                origin,
                headers,
                extensions,
            } => {
                let request = AuthRequest {
                    token: token.as_deref(),
                    resource_id: &self.resource,
                    origin: origin.as_deref(),
                    headers,
                    extensions,
                };
                auth.authenticate(request).await
            }
            Credentials::Decided(decision) => decision.clone(),
        }
    }
}

/// An axum extractor for a ui-flow WebSocket upgrade on a route the
/// application mounts itself.
///
/// Use it when the endpoint needs the application's own path, state or
/// middleware. The handler chooses the resource and ends with
/// [`serve`](Self::serve) (the server's [`Authenticator`] sees this
/// request's headers, cookies and extensions) or
/// [`serve_as`](Self::serve_as) (the handler already knows who it is). The
/// `Origin` and resource checks, the token's places and the resume
/// parameters are the same as on [`FlowServer::router`]'s route. It is not
/// a general WebSocket extractor: the socket only ever speaks ui-flow.
///
/// ```
/// use axum::extract::{Path, State};
/// use axum::response::Response;
/// use axum::{Router, routing::get};
/// use ui_flow_server::{FlowServer, FlowUpgrade, UnverifiedUserToken, counter::Counter};
///
/// #[derive(Clone)]
/// struct AppState {
///     flow: FlowServer<Counter>,
/// }
///
/// async fn live(
///     State(app): State<AppState>,
///     Path(board): Path<String>,
///     upgrade: FlowUpgrade,
/// ) -> Response {
///     upgrade.serve(&app.flow, format!("board-{board}"))
/// }
///
/// let flow = FlowServer::new(Counter::default(), UnverifiedUserToken);
/// let app: Router = Router::new()
///     .route("/boards/{board}/live", get(live))
///     .with_state(AppState { flow });
/// # let _ = app;
/// ```
pub struct FlowUpgrade {
    /// `None` for a plain `GET` (the refusal probe), answered 426 once the
    /// checks pass.
    ws: Option<WebSocketUpgrade>,
    headers: HeaderMap,
    extensions: Extensions,
    host: Option<String>,
    query: ConnectQuery,
}

impl std::fmt::Debug for FlowUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowUpgrade")
            .field("origin", &self.origin())
            .field("host", &self.host)
            .field("token", &self.token().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for FlowUpgrade {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ws = match WebSocketUpgrade::from_request_parts(parts, state).await {
            Ok(ws) => Some(ws),
            Err(_) if is_plain_get(parts) => None,
            Err(rejection) => return Err(rejection.into_response()),
        };
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .map(str::to_owned);
        Ok(FlowUpgrade {
            ws,
            headers: parts.headers.clone(),
            extensions: parts.extensions.clone(),
            host,
            query: ConnectQuery::parse(parts.uri.query()),
        })
    }
}

impl FlowUpgrade {
    /// The request's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The request's extensions, as the application's middleware left them.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The `Origin` header, if any.
    pub fn origin(&self) -> Option<&str> {
        self.headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
    }

    /// The token the client presented: the `ui-flow.token.` subprotocol
    /// first, then the `token` query parameter (see [`crate::auth`]).
    pub fn token(&self) -> Option<&str> {
        let offered = self
            .headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok());
        token_from_protocols(offered).or(self.query.token.as_deref())
    }

    /// Upgrades and joins `resource_id`; the server's [`Authenticator`]
    /// decides who it is, seeing this request's token, headers and
    /// extensions. A refusal reaches the client after the upgrade as
    /// `Error unauthorized` and close 4001.
    ///
    /// A plain `GET` without an upgrade (the browser client's refusal
    /// probe) gets the `Origin` and resource checks, then 426 Upgrade
    /// Required; the authenticator is not called.
    pub fn serve<H: FlowHandler>(
        self,
        server: &FlowServer<H>,
        resource_id: impl Into<String>,
    ) -> Response {
        self.start(server.inner.clone(), resource_id.into(), None)
    }

    /// Upgrades and joins `resource_id` as the user the application already
    /// identified, or refuses with `Error unauthorized` and close 4001 after
    /// the upgrade (which a browser can read, unlike an HTTP status). The
    /// server's [`Authenticator`] is not called.
    pub fn serve_as<H: FlowHandler>(
        self,
        server: &FlowServer<H>,
        resource_id: impl Into<String>,
        identity: Result<Identity, AuthError>,
    ) -> Response {
        self.start(server.inner.clone(), resource_id.into(), Some(identity))
    }

    fn start<H: FlowHandler>(
        mut self,
        inner: Arc<Inner<H>>,
        resource: String,
        decided: Option<Result<Identity, AuthError>>,
    ) -> Response {
        let origin = self.origin().map(str::to_owned);
        if !inner
            .config
            .origins
            .allows(origin.as_deref(), self.host.as_deref())
        {
            Live::add(&inner.counters.connections_refused, 1);
            crate::telemetry::refused("origin");
            tracing::warn!(
                origin = ?origin,
                host = ?self.host,
                "refused a WebSocket upgrade from a foreign origin (see OriginPolicy)"
            );
            return self.answer(StatusCode::FORBIDDEN, "origin not allowed");
        }
        if resource.is_empty() || resource.len() > MAX_RESOURCE_ID {
            Live::add(&inner.counters.connections_refused, 1);
            crate::telemetry::refused("resource_id");
            return self.answer(StatusCode::BAD_REQUEST, "bad resource id");
        }
        let Some(ws) = self.ws.take() else {
            // The refusal probe: an upgrade here would have been attempted.
            return probe_answer(StatusCode::UPGRADE_REQUIRED, "upgrade required");
        };
        let credentials = match decided {
            Some(decision) => Credentials::Decided(decision),
            None => Credentials::Request {
                token: self.token().map(str::to_owned),
                origin,
                headers: self.headers,
                extensions: self.extensions,
            },
        };
        let handshake = Handshake {
            resource,
            resume: self.query.resume,
            credentials,
        };
        let config = &inner.config;
        let ws = ws
            .protocols([SUBPROTOCOL])
            .max_message_size(config.max_message_size)
            .max_frame_size(config.max_message_size)
            .read_buffer_size(config.read_buffer_size)
            .write_buffer_size(config.write_batch_bytes);
        let span = tracing::info_span!(
            "ui_flow_connection",
            resource = %handshake.resource,
            conn = tracing::field::Empty,
            user = tracing::field::Empty,
        );
        ws.on_upgrade(move |socket| serve(inner, socket, handshake).instrument(span))
    }
}

impl FlowUpgrade {
    /// A refusal before the upgrade, readable by the refusal probe.
    fn answer(&self, status: StatusCode, text: &'static str) -> Response {
        if self.ws.is_some() {
            (status, text).into_response()
        } else {
            probe_answer(status, text)
        }
    }
}

/// Whether the request is a plain `GET` that asks for no upgrade at all (as
/// opposed to a broken upgrade, which axum's rejection describes).
fn is_plain_get(parts: &Parts) -> bool {
    parts.method == axum::http::Method::GET && !parts.headers.contains_key(header::UPGRADE)
}

/// An answer to the refusal probe: the status, a fixed text, and
/// `Access-Control-Allow-Origin: *` so that a page on another origin can
/// read the status (the probe carries no credentials there). A 426 also
/// names the protocol to upgrade to, as RFC 9110 asks.
fn probe_answer(status: StatusCode, text: &'static str) -> Response {
    let mut response = (status, text).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    if status == StatusCode::UPGRADE_REQUIRED {
        headers.insert(
            header::UPGRADE,
            header::HeaderValue::from_static("websocket"),
        );
        headers.insert(
            header::CONNECTION,
            header::HeaderValue::from_static("Upgrade"),
        );
    }
    response
}

/// The ready-made route: `GET /realtime/{resource_id}`, authenticated by
/// the server's [`Authenticator`].
pub(crate) fn router<H: FlowHandler, S>(inner: Arc<Inner<H>>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/realtime/{resource_id}", get(upgrade::<H>))
        .with_state(inner)
}

async fn upgrade<H: FlowHandler>(
    State(inner): State<Arc<Inner<H>>>,
    Path(resource): Path<String>,
    upgrade: FlowUpgrade,
) -> Response {
    upgrade.start(inner, resource, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_reads_token_and_resume() {
        let q = ConnectQuery::parse(Some("token=a%2Bb&last_seq=7&epoch=9&x=1"));
        assert_eq!(q.token.as_deref(), Some("a+b"));
        assert_eq!(q.resume, Some((7, Some(9))));
        assert_eq!(ConnectQuery::parse(None), ConnectQuery::default());
    }

    #[test]
    fn repeated_parameters_count_as_absent() {
        let q = ConnectQuery::parse(Some("token=a&token=b&last_seq=1&last_seq=2"));
        assert_eq!(q, ConnectQuery::default());
        let q = ConnectQuery::parse(Some("last_seq=3&epoch=1&epoch=2"));
        assert_eq!(q.resume, Some((3, None)));
    }
}
