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
//! What a broker implementation must still decide, and this crate does not
//! do yet:
//!
//! - **Notifications**: `Notify` is filtered per user by
//!   [`FlowHandler::filter_notification`](crate::FlowHandler), which needs the
//!   typed event; a broker forwards the event itself and the receiving node
//!   calls [`SessionHandle::broadcast_notify`](crate::SessionHandle) again.
//!   Publications of kind [`Publication::Notify`] carry the frame for brokers
//!   that do not filter.
//! - **Presence**: each node knows only its own connections. A merged list
//!   needs the nodes to exchange joins and leaves (the same diffs the hub
//!   sends as `PresenceDiff`) and a rule for users connected to two nodes.
//! - **Seqs**: deltas must still be numbered by one writer per resource (the
//!   application), as on one node.

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
}

/// Carries broadcasts to other nodes. Called after local delivery, under no
/// lock; it must not block (queue and return).
pub trait Broker: Send + Sync + 'static {
    /// A broadcast was made on this node.
    fn publish(&self, publication: Publication<'_>);
}

/// The single-node broker: publishes nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalOnly;

impl Broker for LocalOnly {
    fn publish(&self, _: Publication<'_>) {}
}
