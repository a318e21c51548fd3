//! The axum endpoint: checks the upgrade request and hands the socket to
//! the task in [`crate::socket`].

use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tracing::Instrument;

use crate::auth::{SUBPROTOCOL, token_from_protocols};
use crate::counters::Live;
use crate::handler::FlowHandler;
use crate::server::Inner;
use crate::socket::serve;

/// Longest accepted resource id, in bytes.
const MAX_RESOURCE_ID: usize = 256;

/// The query string of `/realtime/{resource_id}`.
#[derive(Debug, Deserialize)]
struct ConnectQuery {
    token: Option<String>,
    /// Resume: the seq the client already has (answered like a `Resync`).
    /// Kept as text: a value that does not parse is ignored (the join gets a
    /// snapshot) rather than refusing the upgrade.
    last_seq: Option<String>,
    /// Resume: the epoch `last_seq` belongs to.
    epoch: Option<String>,
}

impl ConnectQuery {
    /// The resume point, when `last_seq` is a valid seq.
    fn resume(&self) -> Option<(u64, Option<u32>)> {
        let seq = self.last_seq.as_deref()?.parse().ok()?;
        Some((seq, self.epoch.as_deref().and_then(|e| e.parse().ok())))
    }
}

/// What the upgrade request said.
pub(crate) struct Handshake {
    pub(crate) resource: String,
    pub(crate) token: Option<String>,
    pub(crate) origin: Option<String>,
    pub(crate) resume: Option<(u64, Option<u32>)>,
}

pub(crate) fn router<H: FlowHandler>(inner: Arc<Inner<H>>) -> Router {
    Router::new()
        .route("/realtime/{resource_id}", get(upgrade::<H>))
        .with_state(inner)
}

async fn upgrade<H: FlowHandler>(
    State(inner): State<Arc<Inner<H>>>,
    Path(resource): Path<String>,
    Query(query): Query<ConnectQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if !inner.config.origins.allows(origin.as_deref()) {
        Live::add(&inner.counters.connections_refused, 1);
        tracing::info!(origin = ?origin, "refused a connection from an origin not on the allow-list");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    if resource.is_empty() || resource.len() > MAX_RESOURCE_ID {
        Live::add(&inner.counters.connections_refused, 1);
        return (StatusCode::BAD_REQUEST, "bad resource id").into_response();
    }
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let resume = query.resume();
    let token = token_from_protocols(offered)
        .map(str::to_owned)
        .or(query.token);
    let handshake = Handshake {
        resource,
        token,
        origin,
        resume,
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
