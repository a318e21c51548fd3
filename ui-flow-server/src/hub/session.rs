//! One resource's session and the hub's record of each connection.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::rate::TokenBucket;
use super::roster::{Batch, Roster};
use super::timers::Keepalive;
use super::transmit::ConnectionId;
use crate::identity::Identity;

/// Everyone connected to one resource. Created with its first connection,
/// dropped with its last.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// Connections in sync: broadcasts go to them directly. Shared with
    /// transmits so a fan-out does not copy the list.
    pub(crate) live: Arc<Vec<ConnectionId>>,
    /// Connections waiting for a snapshot or deltas: broadcasts are buffered.
    pub(crate) syncing: Vec<ConnectionId>,
    /// The highest seq seen in a broadcast or snapshot.
    pub(crate) head: Option<u64>,
    pub(crate) roster: Roster,
    /// Presence changes waiting for the end of the batch window.
    pub(crate) batch: Batch,
    /// On a meshed hub: the merged presence list as the clients last saw
    /// it (this node's roster and the other nodes' entries).
    pub(crate) shown: std::collections::BTreeMap<String, ui_flow::PresenceInfo>,
}

impl Session {
    pub(crate) fn is_empty(&self) -> bool {
        self.live.is_empty() && self.syncing.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.live.len() + self.syncing.len()
    }

    pub(crate) fn remove(&mut self, conn: ConnectionId) {
        if let Some(i) = self.syncing.iter().position(|c| *c == conn) {
            self.syncing.swap_remove(i);
        } else if let Some(i) = self.live.iter().position(|c| *c == conn) {
            Arc::make_mut(&mut self.live).swap_remove(i);
        }
    }

    pub(crate) fn make_live(&mut self, conn: ConnectionId) {
        if let Some(i) = self.syncing.iter().position(|c| *c == conn) {
            self.syncing.swap_remove(i);
            Arc::make_mut(&mut self.live).push(conn);
        }
    }

    pub(crate) fn make_syncing(&mut self, conn: ConnectionId) {
        if let Some(i) = self.live.iter().position(|c| *c == conn) {
            Arc::make_mut(&mut self.live).swap_remove(i);
            self.syncing.push(conn);
        }
    }

    pub(crate) fn advance_head(&mut self, seq: u64) {
        self.head = Some(self.head.map_or(seq, |h| h.max(seq)));
    }
}

/// A frame held back from a syncing connection.
#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) bytes: Bytes,
    /// For deltas: the first and last seq the frame carries.
    pub(crate) seqs: Option<(u64, u64)>,
}

/// A connection waiting for its snapshot or catch-up deltas.
#[derive(Debug)]
pub(crate) struct Sync {
    /// Matches the ticket of the outstanding request.
    pub(crate) attempt: u64,
    /// A join sends the full presence list when it finishes and holds back
    /// presence diffs meanwhile; a resync does neither.
    pub(crate) join: bool,
    /// For a deltas request: the seq the client has and the head the
    /// answer must reach.
    pub(crate) deltas: Option<(u64, u64)>,
    pub(crate) held: VecDeque<Held>,
    pub(crate) held_bytes: usize,
}

/// What the hub knows about one connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) resource: Arc<str>,
    pub(crate) user: Arc<Identity>,
    pub(crate) user_key: Arc<str>,
    pub(crate) subscriptions: Vec<Box<str>>,
    /// The subscription limits' count shared with the other connections
    /// of one socket (its URL connection and its members), once it has
    /// joined a channel; `None` counts this connection alone.
    pub(crate) share: Option<Arc<super::members::SubscriptionShare>>,
    pub(crate) bucket: TokenBucket,
    /// `Some` while syncing.
    pub(crate) sync: Option<Sync>,
    /// A `Resync` that arrived while syncing, served when that finishes.
    pub(crate) pending_resync: Option<(Option<u64>, Option<u32>)>,
    /// Pings, pong deadline and liveness.
    pub(crate) keepalive: Keepalive,
}

impl Connection {
    pub(crate) fn subscribed(&self, domain: &str) -> bool {
        self.subscriptions.iter().any(|d| &**d == domain)
    }
}
