//! [`FlowSocket`] and [`FlowResource`]: several resources on one
//! WebSocket, each with its own `applyDelta`.
//!
//! A `FlowSocket` is a connection seen as the carrier of further
//! resources: `socket.join(resource, options)` joins one as a channel
//! (spec/PROTOCOL.md, "Channels") and returns a [`FlowResource`], the same
//! class as a `FlowClient`'s (state, actions, presence, notifications,
//! callbacks), with the resource's own status. It is only a mapping of `ui_flow::client::Binding::join`;
//! the protocol work (joining again after every reconnect, the resource's
//! own seq and optimistic changes) is the client core's. Each resource's
//! `applyDelta` runs in that resource's own state scope.
//!
//! It is not a second connection: the resources end with the socket, and a
//! server that does not serve channels leaves each joined resource `left`
//! with code `channel_limit`.

use ui_flow::client::Binding;
use ui_flow::{ApiMisuse, ConnectionStatus, Error};
use wasm_bindgen::prelude::*;

use crate::resource::FlowResource;
use crate::shape::{self, flow_error};
use crate::state::JsModel;

/// A connection to join resources on: from `new FlowSocket(url, options)`
/// (a `FlowClient`'s options, for the resource the URL names) or
/// `client.socket()`. See `index.d.ts`.
#[wasm_bindgen]
pub struct FlowSocket {
    /// The connection, or the status it ended with when it never started
    /// (a URL or token that was refused).
    socket: Result<ui_flow::FlowSocket, ConnectionStatus>,
    /// The URL resource's client, when the socket made it.
    client: Option<FlowResource>,
}

impl FlowSocket {
    /// The socket `binding` is on (its own connection's, or the one it was
    /// joined on), with the client the socket made, if it did.
    pub(crate) fn of(binding: &Binding<JsModel>, client: Option<FlowResource>) -> FlowSocket {
        let socket = match (binding.connection(), binding.resource()) {
            (Some(connection), _) => Ok(connection.socket()),
            (_, Some(resource)) => Ok(resource.socket()),
            _ => Err(binding.latest().status()),
        };
        FlowSocket { socket, client }
    }
}

#[wasm_bindgen]
impl FlowSocket {
    /// Opens a connection to `url` as `FlowClient.connect(url, options)`
    /// does (the options are for the resource the URL names), to join
    /// further resources on it.
    #[wasm_bindgen(constructor)]
    pub fn new(url: String, options: JsValue) -> Result<FlowSocket, JsValue> {
        let client = FlowResource::open(None, url, &options)?;
        let socket = client.socket();
        Ok(FlowSocket {
            client: Some(client),
            ..socket
        })
    }

    /// Joins `resource` on this socket with its own options (`applyDelta`,
    /// callbacks, `subscribe`; the token and config are the connection's).
    /// Returns at once; `onStatus` tells `joining`, `joined`, or `left`
    /// with the server's code. A join the connection refuses (no channels,
    /// the limit, a resource it holds, a closed socket) gives a resource
    /// whose status is `left` (with code `channel_limit` or
    /// `already_joined` where one applies), told before `join` returns.
    /// Throws a `FlowError` `closed` when the socket never started, and a
    /// `TypeError` for a malformed option.
    pub fn join(&self, resource: String, options: JsValue) -> Result<FlowResource, JsValue> {
        let socket = self
            .socket
            .as_ref()
            .map_err(|_| flow_error(&Error::from(ApiMisuse::Closed)))?;
        FlowResource::open(Some(socket), resource, &options)
    }

    /// Where the connection stands (`FlowStatus`).
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> JsValue {
        match &self.socket {
            Ok(socket) => shape::status(&socket.status()),
            Err(status) => shape::status(status),
        }
    }

    /// The resource the URL names (its last path segment), which cannot be
    /// joined on this socket again.
    #[wasm_bindgen(getter, js_name = urlResource)]
    pub fn url_resource(&self) -> Option<String> {
        self.socket
            .as_ref()
            .ok()
            .map(|s| s.url_resource().to_owned())
    }

    /// Closes the connection for good, with every resource on it: their
    /// waiting actions reject with a `FlowError` `closed`, and every
    /// `applyDelta` on it is let go of.
    pub fn close(&self) {
        if let Ok(socket) = &self.socket {
            socket.close();
        }
        if let Some(client) = &self.client {
            client.close();
        }
    }
}
