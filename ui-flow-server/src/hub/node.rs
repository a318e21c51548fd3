//! What the hubs of one node share: connection ids, the connection counts
//! behind [`ServerConfig::max_connections`] and
//! [`ServerConfig::max_connections_per_user`], each user's join bucket
//! ([`ServerConfig::join_rate`]), the bytes of remembered action outcomes
//! ([`ServerConfig::op_memory_bytes`]) and the shutting-down flag.
//!
//! A driver may run one [`Hub`](super::Hub) per resource so that inputs for
//! different resources never wait on each other; the hubs of a node then
//! share one [`NodeShare`] (see [`Hub::with_node`](super::Hub::with_node)),
//! so the node-wide limits count every resource. A hub made with
//! [`Hub::new`](super::Hub::new) has a share of its own.
//!
//! It is not a place for per-resource state, and it never calls out: its
//! lock is held for a few map operations at a time, by a hub that may hold
//! its own driver's lock (a hub's lock, then this one; never the reverse).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::rate::TokenBucket;
use super::transmit::{ConnectionId, Refusal};
use crate::config::ServerConfig;

/// The smallest size at which the join buckets are swept.
const JOINS_SWEEP_MIN: usize = 1024;

/// Node-wide state shared by the hubs of one node; see the module docs.
#[derive(Debug, Default)]
pub struct NodeShare {
    next_id: AtomicU64,
    shutting_down: AtomicBool,
    /// Bytes of action outcomes remembered by all the node's hubs.
    pub(super) op_bytes: AtomicUsize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    connections: usize,
    per_user: HashMap<Arc<str>, usize>,
    /// Each user's join bucket ([`ServerConfig::join_rate`]).
    joins: HashMap<Arc<str>, TokenBucket>,
    /// `joins` is swept of full buckets when it reaches this size.
    joins_sweep_at: usize,
}

impl NodeShare {
    /// A share with no connections.
    pub fn new() -> Self {
        Self::default()
    }

    /// A connection id no other hub of the node has given out.
    pub(super) fn next_id(&self) -> ConnectionId {
        ConnectionId(self.next_id.fetch_add(1, Relaxed) + 1)
    }

    /// Admitted connections across the node's hubs.
    pub fn connection_count(&self) -> usize {
        self.lock().connections
    }

    /// Whether [`Hub::shutdown`](super::Hub::shutdown) ran on any of the
    /// node's hubs: all of them refuse new connections.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Relaxed)
    }

    /// Refuses new connections on every hub of the node (what
    /// [`Hub::shutdown`](super::Hub::shutdown) does first).
    pub fn shut_down(&self) {
        self.shutting_down.store(true, Relaxed);
    }

    /// Counts one more connection of `user`, unless a node-wide limit says
    /// no (checked in this order: shutdown, node full, user full, join rate).
    pub(super) fn admit(
        &self,
        config: &ServerConfig,
        user: &Arc<str>,
        now: Instant,
    ) -> Result<(), Refusal> {
        if self.is_shutting_down() {
            return Err(Refusal::ShuttingDown);
        }
        let mut counts = self.lock();
        if counts.connections >= config.max_connections {
            return Err(Refusal::NodeFull);
        }
        let count = counts.per_user.get(user).copied().unwrap_or(0);
        if count >= config.max_connections_per_user {
            return Err(Refusal::UserFull);
        }
        if !counts.take_join(config, user, now) {
            return Err(Refusal::JoinRate);
        }
        counts.per_user.insert(user.clone(), count + 1);
        counts.connections += 1;
        Ok(())
    }

    /// A connection of `user` counted by [`admit`](Self::admit) is gone.
    pub(super) fn release(&self, user: &Arc<str>) {
        let mut counts = self.lock();
        counts.connections = counts.connections.saturating_sub(1);
        if let Some(n) = counts.per_user.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                counts.per_user.remove(user);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Counts {
    /// Takes a token from the user's join bucket.
    fn take_join(&mut self, config: &ServerConfig, user: &Arc<str>, now: Instant) -> bool {
        let limit = config.join_rate;
        // Buckets of users who have left stay until they are full again, so
        // leaving does not reset the count. Sweep those when the map has
        // doubled since the last sweep (amortized O(1) per join).
        if self.joins.len() >= self.joins_sweep_at.max(JOINS_SWEEP_MIN) {
            let per_user = &self.per_user;
            self.joins
                .retain(|u, b| per_user.contains_key(u) || !b.is_full(&limit, now));
            self.joins_sweep_at = (2 * self.joins.len()).max(JOINS_SWEEP_MIN);
        }
        self.joins
            .entry(user.clone())
            .or_insert_with(|| TokenBucket::full(&limit, now))
            .take(&limit, now)
    }
}
