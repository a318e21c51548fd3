//! The seam for running several server nodes behind a load balancer.
//!
//! One node delivers everything itself: that is [`LocalOnly`], the default.
//! With several nodes, clients of one resource land on different nodes, so a
//! broadcast made on one node must reach the others. A [`Broker`] is told
//! about every broadcast after the local delivery, with the frame already
//! encoded, and can publish it on a message bus (a NATS subject or a Redis
//! channel per resource, say). A node that receives such a publication hands
//! it to [`FlowServer::deliver_published`](crate::FlowServer::deliver_published),
//! which queues the same bytes to its local connections without decoding or
//! re-encoding them.
//!
//! Beyond deltas:
//!
//! - **Notifications**: `Notify` is filtered per user by
//!   [`FlowHandler::filter_notification`](crate::FlowHandler), which needs the
//!   typed event. A broker whose [`forwards_events`](Broker::forwards_events)
//!   is true gets every notification as [`Publication::Event`] (the event in
//!   MessagePack, whoever it reached here), and the receiving node filters it
//!   for its own connections. [`Publication::Notify`] carries the frame, for
//!   brokers that do not filter.
//! - **Presence and signals**: on a hub made one of several nodes
//!   ([`Hub::enable_mesh`](crate::hub::Hub::enable_mesh)), changes to this
//!   node's presence entries come as [`Publication::Presence`] and signals
//!   for users on other nodes as [`Publication::Signal`]; the receiving node
//!   hands them to its hub (`handle_remote_presence`, `deliver_signal`).
//!   The `nats` feature's `NatsMesh` does all of this over NATS.
//! - **Health**: [`Broker::health`] is reported by
//!   [`FlowServer::health_router`](crate::FlowServer::health_router).
//! - **Seqs**: deltas must still be numbered by one writer per resource, as
//!   on one node.

use bytes::Bytes;

/// One broadcast, as delivered locally.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Publication<'a> {
    /// A `Delta` or `Deltas` frame carrying seqs `first..=last`.
    Deltas {
        /// The resource.
        resource: &'a str,
        /// The encoded frame.
        frame: &'a Bytes,
        /// The first seq in the frame.
        first: u64,
        /// The last seq in the frame.
        last: u64,
    },
    /// A `Notify` frame, before per-user filtering.
    Notify {
        /// The resource.
        resource: &'a str,
        /// Only this user's connections, or everyone subscribed.
        user: Option<&'a str>,
        /// The domain.
        domain: &'a str,
        /// The encoded frame.
        frame: &'a Bytes,
    },
    /// A notification, before any filtering, for brokers that
    /// [`forward events`](Broker::forwards_events): the receiving node runs
    /// `filter_notification` for its own connections.
    Event {
        /// The resource.
        resource: &'a str,
        /// Only this user's connections, or everyone subscribed.
        user: Option<&'a str>,
        /// The domain.
        domain: &'a str,
        /// The event, MessagePack with named fields (`rmp_serde::to_vec_named`).
        event: &'a [u8],
        /// The correlation id the `Notify` carries.
        correlation_id: Option<ui_flow::OpId>,
    },
    /// This node's own presence entry for a user changed (meshed hubs only;
    /// made under the hub's lock, in order).
    Presence {
        /// The resource.
        resource: &'a str,
        /// The user id.
        user: &'a str,
        /// The entry from this node's connections; `None`: none left here.
        entry: Option<&'a ui_flow::PresenceInfo>,
    },
    /// A `Signal` whose target user is connected on another node (meshed
    /// hubs only; made under the hub's lock, in order).
    Signal {
        /// The resource.
        resource: &'a str,
        /// The target user id.
        target: &'a str,
        /// The encoded frame as the target receives it.
        frame: &'a Bytes,
    },
}

/// Carries broadcasts to other nodes. Called after local delivery; deltas
/// and notifications under no lock, presence and signals under the hub's
/// lock (so they leave in the order they happened). It must not block
/// (queue and return).
pub trait Broker: Send + Sync + 'static {
    /// A broadcast was made on this node.
    fn publish(&self, publication: Publication<'_>);

    /// Whether to get every notification as [`Publication::Event`] (costs
    /// one extra encoding of the event per notification). Default: false.
    fn forwards_events(&self) -> bool {
        false
    }

    /// `Err(reason)` when the path to the other nodes is broken; served by
    /// [`FlowServer::health_router`](crate::FlowServer::health_router) as
    /// 503. Default: healthy.
    fn health(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The single-node broker: publishes nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalOnly;

impl Broker for LocalOnly {
    fn publish(&self, _: Publication<'_>) {}
}
