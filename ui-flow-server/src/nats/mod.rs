//! Several server nodes on NATS JetStream (feature `nats`).
//!
//! [`JetStreamStore`] keeps every resource's log in JetStream, so any node
//! can open a resource, commit to it and follow the commits other nodes
//! make. [`NatsConfig`] says where NATS is and which names to use.
//!
//! What lives where (`P` is [`NatsConfig::prefix`], `R` a resource id
//! encoded as one subject token, see [`subject_token`]):
//!
//! | JetStream | name | holds |
//! |---|---|---|
//! | stream | `P_log`, subjects `P.log.R` | one message per commit: the commit's deltas (seqs `first..=last`), its epoch and time |
//! | stream | `P_heads`, subjects `P.head.R` (one message kept per subject) | the resource's checkpoint: epoch, seq, the state (or the name of an object holding it) and the lowest seq still kept |
//! | object store | `P_states` | checkpoints bigger than [`NatsConfig::inline_state_bytes`] |
//! | stream | `P_ops`, subjects `P.ops.R.U.O` (one kept per subject, aged out after [`NatsConfig::op_record_max_age`]) | what became of action `O` of user `U` |
//!
//! One order per resource comes from JetStream itself: a commit is
//! published with `Nats-Expected-Last-Subject-Sequence` set to the stream
//! sequence of the resource's last commit message, so of two nodes that
//! commit on the same head exactly one succeeds; the other gets
//! [`StoreError::Conflict`](crate::store::StoreError::Conflict), catches up
//! from the stream and decides again. No lease, no leader: see
//! `docs/cluster.md` for why.
//!
//! [`NatsMesh`] is the other half: presence merged across nodes, signals
//! and targeted notifications to whichever node holds the target, and a
//! health probe through NATS (see `docs/cluster.md`). Neither starts or
//! manages nats-server.

mod mesh;
mod store;

use std::time::Duration;

pub use mesh::{MeshConfig, MeshError, NatsMesh};
pub use store::JetStreamStore;

/// Where NATS is and how the JetStream names are made.
///
/// ```
/// use std::time::Duration;
/// use ui_flow_server::nats::NatsConfig;
///
/// let config = NatsConfig::new("nats://127.0.0.1:4222")
///     .prefix("hexfield")
///     .op_record_max_age(Duration::from_secs(3600));
/// assert_eq!(config.url(), "nats://127.0.0.1:4222");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    url: String,
    prefix: String,
    replicas: usize,
    op_record_max_age: Duration,
    inline_state_bytes: usize,
    request_timeout: Duration,
}

/// The default [`NatsConfig::prefix`].
pub const DEFAULT_PREFIX: &str = "uiflow";

impl NatsConfig {
    /// Defaults: prefix [`DEFAULT_PREFIX`], 1 replica, op records kept 24 h,
    /// states up to 256 KiB inline in the checkpoint message, 10 s request
    /// timeout.
    pub fn new(url: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            replicas: 1,
            op_record_max_age: Duration::from_secs(24 * 3600),
            inline_state_bytes: 256 * 1024,
            request_timeout: Duration::from_secs(10),
        }
    }

    /// The server URL(s), comma-separated, as `nats://host:port`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The first part of every stream, bucket and subject name, so several
    /// applications can share one NATS. Letters, digits, `-` and `_` only
    /// ([`JetStreamStore::connect`] refuses others).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many copies JetStream keeps of each stream (1 for a single
    /// nats-server; 3 in a NATS cluster to survive losing one).
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    /// How long op records are kept at most (JetStream ages them out). Keep
    /// it at least the server's `op_memory` window.
    pub fn op_record_max_age(mut self, age: Duration) -> Self {
        self.op_record_max_age = age;
        self
    }

    /// Checkpoints whose state is bigger than this go to the object store
    /// (a NATS message carries at most the server's `max_payload`, 1 MiB by
    /// default).
    pub fn inline_state_bytes(mut self, bytes: usize) -> Self {
        self.inline_state_bytes = bytes;
        self
    }

    /// How long one JetStream request may take before it fails.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    fn valid_prefix(&self) -> bool {
        !self.prefix.is_empty()
            && self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}

/// Encodes `id` (a resource or user id) as one NATS subject token that is
/// also a valid KV key and object name: ASCII letters, digits, `-` and `_`
/// stay, every other byte becomes `=` and two upper-case hex digits, and the
/// empty id is `=`. Different ids give different tokens.
///
/// ```
/// use ui_flow_server::nats::subject_token;
/// assert_eq!(subject_token("room-1"), "room-1");
/// assert_eq!(subject_token("a.b c"), "a=2Eb=20c");
/// assert_eq!(subject_token(""), "=");
/// ```
pub fn subject_token(id: &str) -> String {
    if id.is_empty() {
        return "=".to_owned();
    }
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_safe_and_distinct() {
        let ids = [
            "", "=", "a.b", "a=2Eb", "*", ">", "x y", "é", "room-1", "a_b",
        ];
        let tokens: Vec<String> = ids.iter().map(|id| subject_token(id)).collect();
        for token in &tokens {
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)),
                "{token}"
            );
        }
        let distinct: std::collections::HashSet<_> = tokens.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{tokens:?}");
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(NatsConfig::new("x").valid_prefix());
        assert!(!NatsConfig::new("x").prefix("a.b").valid_prefix());
        assert!(!NatsConfig::new("x").prefix("").valid_prefix());
    }
}
