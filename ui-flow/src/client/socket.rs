//! [`FlowSocket`]: a running connection seen without its URL resource's
//! types, to join further resources on it.
//!
//! A [`FlowConnection<M>`](super::FlowConnection) is typed by the `Model`
//! of the resource its URL names. Code that only joins other resources on
//! the same socket (a framework adapter's provider, a page's components)
//! should not need that type: a `FlowSocket` is the same connection with
//! the type erased. It is not another socket and holds no state of its
//! own; clones, handles and the `FlowConnection` all keep the connection
//! open, and it closes when the last of them is dropped.

use std::fmt;
use std::sync::Arc;

use crate::channel::Channel;
use crate::error::Error;
use crate::model::Model;
use crate::status::ConnectionStatus;

use super::callbacks::MaybeSend;
use super::cell::{Lock, lock};
use super::channels::{Channels, ResourceStatus};
use super::driver::Input;
use super::handle::{self, Registry, ResourceBuilder, ResourceHandle};
use super::machine::Client;
use super::queue::UnboundedSender;

/// A client whatever its `Model`: what resource handles need of it.
pub(crate) trait Host: MaybeSend {
    fn channels(&mut self) -> Channels<'_>;
    fn close(&mut self);
}

impl<M: Model> Host for Client<M> {
    fn channels(&mut self) -> Channels<'_> {
        Client::channels(self)
    }

    fn close(&mut self) {
        Client::close(self);
    }
}

/// What every handle on one connection shares: the client (type-erased),
/// the driver's input channel and the handles' listeners. When the last
/// holder drops it, the connection closes.
pub(crate) struct Shared {
    pub(crate) client: Arc<Lock<dyn Host>>,
    pub(crate) inputs: UnboundedSender<Input>,
    pub(crate) listeners: Registry,
    /// The resource the URL names (its last path segment).
    pub(crate) url_resource: String,
}

impl Drop for Shared {
    fn drop(&mut self) {
        lock(&self.client).close();
        self.wake();
    }
}

impl Shared {
    // In the browser the client is not `Send` (an app's types may hold
    // JavaScript values) and everything runs on the page's one thread.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    pub(crate) fn new(
        client: Arc<Lock<dyn Host>>,
        inputs: UnboundedSender<Input>,
        listeners: Registry,
        url_resource: String,
    ) -> Arc<Self> {
        Arc::new(Shared {
            client,
            inputs,
            listeners,
            url_resource,
        })
    }

    /// Tells the driver to carry out what a command produced.
    pub(crate) fn wake(&self) {
        let _ = self.inputs.unbounded_send(Input::Wake);
    }

    pub(crate) fn status(&self) -> ConnectionStatus {
        lock(&self.client).channels().status.clone()
    }

    /// Leaves the resource on `channel` unless it is being left or was.
    pub(crate) fn leave<R: Model>(&self, channel: Channel) {
        {
            let mut client = lock(&self.client);
            let mut channels = client.channels();
            if live::<R>(&channels, channel) {
                channels.leave(channel);
            }
        }
        self.wake();
    }

    /// The handle `id` is gone: forgets its listener, and leaves its
    /// resource unless it was left already.
    pub(crate) fn release<R: Model>(&self, id: u64, channel: Channel) {
        {
            let mut client = lock(&self.client);
            let mut channels = client.channels();
            if handle::forget(&self.listeners, id) && live::<R>(&channels, channel) {
                channels.leave(channel);
            }
        }
        self.wake();
    }
}

/// Whether the resource on `channel` is being joined or joined, so that
/// leaving it means sending a `Leave`.
fn live<R: Model>(channels: &Channels<'_>, channel: Channel) -> bool {
    channels
        .resources
        .get::<R>(channel)
        .is_some_and(|r| matches!(r.status(), ResourceStatus::Joining | ResourceStatus::Joined))
}

/// A running connection without its URL resource's types: join further
/// resources on its socket. Get it from
/// [`FlowConnection::socket`](super::FlowConnection::socket).
///
/// Clones share the connection. It keeps the connection open, like every
/// clone of the `FlowConnection` and every [`ResourceHandle`] on it; the
/// connection closes when the last of them is dropped, or at
/// [`close`](Self::close).
#[derive(Clone)]
pub struct FlowSocket {
    shared: Arc<Shared>,
}

impl fmt::Debug for FlowSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowSocket")
            .field("url_resource", &self.shared.url_resource)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl PartialEq for FlowSocket {
    /// The same connection.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl FlowSocket {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        FlowSocket { shared }
    }

    /// Joins `resource` on this socket with its own `Model` `R`; see
    /// [`ResourceHandle`].
    pub fn join<R: Model>(&self, resource: impl Into<String>) -> Result<ResourceHandle<R>, Error> {
        self.resource::<R>(resource).join()
    }

    /// Describes a resource to join on this socket: callbacks and domains,
    /// then [`join`](ResourceBuilder::join).
    pub fn resource<R: Model>(&self, resource: impl Into<String>) -> ResourceBuilder<R> {
        ResourceBuilder::new(Arc::clone(&self.shared), resource.into())
    }

    /// Where the connection stands.
    pub fn status(&self) -> ConnectionStatus {
        self.shared.status()
    }

    /// The resource the connection's URL names (its last path segment),
    /// which is on channel 0 and cannot be joined again.
    pub fn url_resource(&self) -> &str {
        &self.shared.url_resource
    }

    /// Closes the connection for good, with every resource on it.
    pub fn close(&self) {
        lock(&self.shared.client).close();
        self.shared.wake();
    }
}
