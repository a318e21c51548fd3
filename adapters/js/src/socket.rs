//! [`FlowSocket`] and [`FlowResource`]: several resources on one
//! WebSocket, each with its own `applyDelta`.
//!
//! A `FlowSocket` is a connection seen as the carrier of further
//! resources: `socket.join(resource, options)` joins one as a channel
//! (spec/PROTOCOL.md, "Channels") and returns a [`FlowResource`], which has
//! a [`FlowClient`](crate::client::FlowClient)'s surface for that resource
//! (state, actions, presence, notifications, callbacks) plus the resource's
//! own status. It is only a mapping of `ui_flow::client::Binding::join`;
//! the protocol work (joining again after every reconnect, the resource's
//! own seq and optimistic changes) is the client core's. Each resource's
//! `applyDelta` runs in that resource's own state scope.
//!
//! It is not a second connection: the resources end with the socket, and a
//! server that does not serve channels leaves each joined resource `left`
//! with code `channel_limit`.

use std::rc::Rc;

use js_sys::Promise;
use ui_flow::client::{Binding, Latest, ResourceEvent};
use ui_flow::{ApiMisuse, ConnectionStatus, Error};
use wasm_bindgen::prelude::*;

use crate::callbacks::{Parsed, PresenceCell, Waiting, parse, resource_status};
use crate::client::FlowClient;
use crate::payload::JsPayload;
use crate::shape::{self, flow_error};
use crate::state::{JsModel, JsState};
use crate::surface::Surface;

/// A connection to join resources on: from `new FlowSocket(url, options)`
/// (a `FlowClient`'s options, for the resource the URL names) or
/// `client.socket()`. See `index.d.ts`.
#[wasm_bindgen]
pub struct FlowSocket {
    /// The connection, or the status it ended with when it never started
    /// (a URL or token that was refused).
    socket: Result<ui_flow::FlowSocket, ConnectionStatus>,
    /// The URL resource's client, when the socket made it.
    client: Option<FlowClient>,
}

impl FlowSocket {
    pub(crate) fn of(binding: &Binding<JsModel>, client: Option<FlowClient>) -> FlowSocket {
        FlowSocket {
            socket: binding
                .connection()
                .map(|c| c.socket())
                .ok_or_else(|| binding.latest().status()),
            client,
        }
    }
}

#[wasm_bindgen]
impl FlowSocket {
    /// Opens a connection to `url` as `FlowClient.connect(url, options)`
    /// does (the options are for the resource the URL names), to join
    /// further resources on it.
    #[wasm_bindgen(constructor)]
    pub fn new(url: String, options: JsValue) -> Result<FlowSocket, JsValue> {
        let client = FlowClient::connect(url, options)?;
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
        let Parsed {
            flow,
            callbacks,
            reduces,
        } = parse(&options, true)?;
        let waiting = Waiting::default();
        let diff = PresenceCell::default();
        let (for_events, settling) = (Rc::clone(&callbacks), Rc::clone(&waiting));
        let closing = Rc::clone(&waiting);
        let binding = Binding::join_with_events(
            socket,
            resource,
            &flow,
            move |part, latest: &Latest<JsState, JsPayload>| {
                callbacks.change(part, latest, &closing, &diff);
            },
            move |event: &ResourceEvent<JsModel>| for_events.resource_event(event, &settling),
        );
        Ok(FlowResource {
            surface: Surface {
                binding,
                waiting,
                reduces,
            },
        })
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

/// A resource joined on a [`FlowSocket`]: a `FlowClient`'s surface for
/// that resource, its own `applyDelta`, and its own status. See
/// `index.d.ts`.
#[wasm_bindgen]
pub struct FlowResource {
    surface: Surface,
}

#[wasm_bindgen]
impl FlowResource {
    /// Sends an action on this resource; see `FlowClient.sendAction`.
    /// While the resource is being (re)joined it waits and goes after the
    /// server's `Joined`. Rejects with a `FlowError` `closed` once the
    /// resource was left or its connection closed.
    #[wasm_bindgen(js_name = sendAction)]
    pub fn send_action(&self, action: JsValue, options: JsValue) -> Promise {
        self.surface.send_action(action, &options)
    }

    /// Receives this resource's notifications in these domains.
    pub fn subscribe(&self, domains: Vec<String>) -> Result<(), JsValue> {
        self.surface.subscribe(domains, true)
    }

    /// Stops this resource's notifications in these domains.
    pub fn unsubscribe(&self, domains: Vec<String>) -> Result<(), JsValue> {
        self.surface.subscribe(domains, false)
    }

    /// Sends a WebRTC signal to another user of this resource (only while
    /// it is joined).
    #[wasm_bindgen(js_name = sendSignal)]
    pub fn send_signal(&self, target_user_id: String, signal: JsValue) -> Result<(), JsValue> {
        self.surface.send_signal(target_user_id, &signal)
    }

    /// Asks the server to bring this resource up to date.
    pub fn resync(&self) -> Result<(), JsValue> {
        self.surface.resync()
    }

    /// Leaves the resource (`Leave` on its channel): its status becomes
    /// `leaving`, then `left`; waiting actions reject with a `FlowError`
    /// `closed`; its `applyDelta` is let go of now. The socket stays.
    pub fn close(&self) {
        self.surface.binding.close();
    }

    /// The state to show (confirmed plus optimistic changes); `undefined`
    /// without `applyDelta` or before the first snapshot.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> JsValue {
        self.surface.state()
    }

    /// Where the resource stands (`ResourceStatus`): `joining`, `joined`,
    /// `leaving`, or `left` with the server's code and message.
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> JsValue {
        self.surface
            .binding
            .latest()
            .resource_status()
            .map_or(JsValue::UNDEFINED, |s| resource_status(&s))
    }

    /// Where the shared connection stands (`FlowStatus`).
    #[wasm_bindgen(getter, js_name = connectionStatus)]
    pub fn connection_status(&self) -> JsValue {
        self.surface.connection_status()
    }

    /// The seq of the resource's confirmed state, or `undefined` before
    /// its first snapshot.
    #[wasm_bindgen(getter)]
    pub fn seq(&self) -> JsValue {
        self.surface.seq()
    }

    /// The users of this resource (`PresenceInfo[]`).
    #[wasm_bindgen(getter)]
    pub fn presence(&self) -> JsValue {
        self.surface.presence()
    }

    /// An action's state (`OpState`) while the resource keeps it, or
    /// `undefined`.
    pub fn op(&self, op_id: &str) -> Result<JsValue, JsValue> {
        self.surface.op(op_id)
    }
}
