//! Channels: a socket's membership in a resource other than its URL's.
//!
//! A socket that joins resource R on channel `c` (see the spec's
//! "Channels") becomes a *member* in R's hub: a connection of its own,
//! with the socket's identity, that syncs, acts, subscribes, signals and
//! shows in presence exactly as a connection opened for R would. What a
//! member does not have is what belongs to the socket: no `Connected`, no
//! keepalive or liveness timer, no count in the node's connection limits
//! ([`NodeShare`](super::NodeShare)) and no rate-limit bucket (its socket's
//! task takes one token per frame from the socket's own bucket before it
//! hands a frame here).
//!
//! The hub writes a member's frames as on channel 0; the driver puts them
//! on `c` when it delivers them (all but a fatal `Error`, which belongs to
//! the socket and goes untagged). Only the frames that end a membership are
//! written here on `c`: when the hub would close a member (sync failed,
//! shutdown), it sends `Left { c, code, message }` and a
//! [`Transmit::Close`] that tells the driver the membership is over
//! (the socket stays open). A member that is a slow consumer gets the
//! fatal `Error slow_consumer` and close 4003 instead: its socket's end.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ui_flow::{Channel, ErrorCode};

use super::transmit::{ConnectionId, Now, Refusal, Transmit};
use super::{Control, Hub, Recipients};
use crate::identity::Identity;
use crate::view::PresenceScope;
use ui_flow::{CloseCode, Model};

/// The hub's members and the channel each is on at its socket.
#[derive(Debug, Default)]
pub(super) struct Members {
    on: HashMap<ConnectionId, Channel>,
}

impl Members {
    /// The channel of a member; `None` for a connection of its own.
    pub(super) fn channel(&self, conn: ConnectionId) -> Option<Channel> {
        self.on.get(&conn).copied()
    }

    /// Whether a frame on `channel` from `conn` is for this hub: channel 0
    /// from a connection of its own, the member's channel from a member.
    pub(super) fn is_on(&self, conn: ConnectionId, channel: Channel) -> bool {
        match self.on.get(&conn) {
            Some(mine) => *mine == channel,
            None => channel.is_url(),
        }
    }

    pub(super) fn remove(&mut self, conn: ConnectionId) -> Option<Channel> {
        self.on.remove(&conn)
    }
}

/// What [`Hub::join_channel`] admits.
#[derive(Debug)]
pub struct ChannelJoin<'a> {
    /// The resource joined.
    pub resource: &'a str,
    /// The socket's user, as authorized for the resource.
    pub user: Identity,
    /// The `Join`'s resume point (last seq, epoch).
    pub resume: Option<(u64, Option<u32>)>,
    /// The channel the socket holds the resource on.
    pub channel: Channel,
    /// The member's presence scope in the resource.
    pub scope: PresenceScope,
    /// The socket's subscription count
    /// ([`Hub::share_subscriptions`] of its URL connection).
    pub share: Arc<SubscriptionShare>,
}

/// The domains (count, UTF-8 bytes) one socket holds over all its
/// channels, against the subscription limits, which are per socket.
#[derive(Debug)]
pub struct SubscriptionShare(Mutex<(usize, usize)>);

impl SubscriptionShare {
    pub(super) fn lock(&self) -> MutexGuard<'_, (usize, usize)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn release(&self, count: usize, bytes: usize) {
        let mut totals = self.lock();
        totals.0 = totals.0.saturating_sub(count);
        totals.1 = totals.1.saturating_sub(bytes);
    }
}

/// How many domains `subscriptions` holds, and their bytes.
pub(super) fn held(subscriptions: &[Box<str>]) -> (usize, usize) {
    (
        subscriptions.len(),
        subscriptions.iter().map(|d| d.len()).sum(),
    )
}

impl<M: Model> Hub<M> {
    /// A socket joins a resource on a channel (see the module docs):
    /// returns the member's id. Its snapshot (or the deltas after the
    /// resume point) and presence list follow as for a new connection; the
    /// driver sends `Joined` before them. Refused only while the node
    /// shuts down.
    pub fn join_channel(
        &mut self,
        now: Now,
        join: ChannelJoin<'_>,
    ) -> Result<ConnectionId, Refusal> {
        let ChannelJoin {
            resource,
            user,
            resume,
            channel,
            scope,
            share,
        } = join;
        self.latest = Some(now.instant);
        if self.node.is_shutting_down() {
            return Err(Refusal::ShuttingDown);
        }
        let id = self.node.next_id();
        self.members.on.insert(id, channel);
        self.scopes.pending.insert(id, scope);
        if let Err(refusal) = self.admit(now, id, resource, user, resume) {
            self.members.on.remove(&id);
            self.forget_pending_scope(id);
            return Err(refusal);
        }
        if let Some(c) = self.connections.get_mut(&id) {
            c.share = Some(share);
        }
        Ok(id)
    }

    /// The subscription count of the socket of connection `conn` (opened
    /// for this hub's resource), for its members to share: made, with what
    /// `conn` holds, the first time. `None` for an unknown connection.
    pub fn share_subscriptions(&mut self, conn: ConnectionId) -> Option<Arc<SubscriptionShare>> {
        let c = self.connections.get_mut(&conn)?;
        let share = c
            .share
            .get_or_insert_with(|| Arc::new(SubscriptionShare(Mutex::new(held(&c.subscriptions)))));
        Some(share.clone())
    }

    /// The identity connection `conn` was admitted with.
    pub fn identity(&self, conn: ConnectionId) -> Option<Arc<Identity>> {
        self.connections.get(&conn).map(|c| c.user.clone())
    }

    /// The channel `conn` is on, when it is a member.
    pub fn member_channel(&self, conn: ConnectionId) -> Option<Channel> {
        self.members.channel(conn)
    }

    /// A presence report (`Ping.presence`) of the member's socket, which
    /// counts for every resource the socket holds.
    pub fn report_presence(
        &mut self,
        now: Now,
        conn: ConnectionId,
        status: ui_flow::PresenceStatus,
    ) {
        self.latest = Some(now.instant);
        self.with_roster(conn, |roster, user, idle| {
            roster.report(user, conn, status, now.instant, idle)
        });
    }

    /// An interaction (an Action) of the connection's socket on another of
    /// its resources: the user is active here too.
    pub fn report_interaction(&mut self, now: Now, conn: ConnectionId) {
        self.latest = Some(now.instant);
        self.with_roster(conn, |roster, user, idle| {
            roster.interact(user, now.instant, idle)
        });
    }

    /// Takes one token from a connection's own rate-limit bucket without
    /// answering anything: for the frames its socket's task handles itself
    /// (`Join`, `Leave`) and those it hands to a member. `false` when the
    /// frame is over the limit.
    pub fn take_frame_token(&mut self, now: Now, conn: ConnectionId) -> bool {
        self.latest = Some(now.instant);
        let limit = self.config.rate_limit;
        let Some(c) = self.connections.get_mut(&conn) else {
            return false;
        };
        let sooner = c.keepalive.heard(now.instant, &self.keepalive);
        let kept = c.bucket.take(&limit, now.instant);
        if let Some(at) = sooner {
            self.arm_timer(at, super::timers::Timer::Keepalive(conn));
        }
        if !kept {
            self.stats.rate_limited += 1;
        }
        kept
    }

    /// Like [`handle_frame`](Self::handle_frame)'s own rate limit, for a
    /// frame its socket's task hands to a member: takes one token from the
    /// socket's bucket (this hub's connection `conn`) and, when there is
    /// none, answers the dropped frame as `handle_frame` does.
    pub fn admit_channel_frame(&mut self, now: Now, conn: ConnectionId, frame: &[u8]) -> bool {
        self.latest = Some(now.instant);
        self.take_token(now, conn, Some(frame))
    }

    /// Queues a frame the driver made for the connection (an answer to a
    /// `Join` or `Leave` its socket's task handled).
    pub fn send_to(&mut self, conn: ConnectionId, frame: bytes::Bytes) {
        if self.connections.contains_key(&conn) {
            self.transmits.push_back(Transmit::Frame {
                to: Recipients::One(conn),
                bytes: frame,
            });
        }
    }

    /// Ends a member the hub would close: its `Left` with `code`, then
    /// a close with code 1000 that tells the driver the membership is over.
    /// A slow consumer is the socket's fault: the member goes, and the
    /// fatal `Error` and the close (`close`, `reason`) are the socket's,
    /// with all its channels (the error carries no `c`, as the spec's
    /// Channels says of fatal errors).
    /// False for a connection of its own.
    pub(super) fn end_member(
        &mut self,
        conn: ConnectionId,
        code: &ErrorCode,
        message: &str,
        close: CloseCode,
        reason: &'static str,
    ) -> bool {
        let Some(channel) = self.members.channel(conn) else {
            return false;
        };
        if *code == ErrorCode::SLOW_CONSUMER {
            // The fatal error is the socket's: written as on channel 0,
            // and the lane leaves a fatal `Error` off the member's channel.
            let frame = self.control(&Control::Error {
                code: Some(code.clone()),
                message: message.to_owned(),
                fatal: true,
                op_id: None,
            });
            self.transmits.push_back(Transmit::Frame {
                to: Recipients::One(conn),
                bytes: frame,
            });
            self.remove_at(None, conn);
            self.transmits.push_back(Transmit::Close {
                conn,
                code: close,
                reason,
            });
            self.start_grace(conn);
            return true;
        }
        let left = Control::Left {
            code: Some(code.clone()),
            message: Some(message.to_owned()),
        };
        self.stats.encodes += 1;
        // `Left` carries no payload and `channel` is not 0: it encodes.
        let frame = bytes::Bytes::from(left.encode_on(channel).unwrap_or_default());
        self.transmits.push_back(Transmit::Frame {
            to: Recipients::One(conn),
            bytes: frame,
        });
        self.remove_at(None, conn);
        self.transmits.push_back(Transmit::Close {
            conn,
            code: CloseCode::NORMAL,
            reason: "left",
        });
        true
    }
}
