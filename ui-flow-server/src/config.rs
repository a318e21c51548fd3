//! Limits and timeouts, with safe defaults.
//!
//! | setting | default | what happens at the limit |
//! |---|---|---|
//! | [`max_message_size`](ServerConfig::max_message_size) | 64 KiB | checked from the frame header before the payload is read: `Error frame_too_large` (fatal), close 1009 |
//! | [`read_buffer_size`](ServerConfig::read_buffer_size) | 2 KiB | (socket read buffer per connection, held even when idle; a larger client frame is read in several reads) |
//! | [`write_batch_bytes`](ServerConfig::write_batch_bytes) | 8 KiB | (frames queued for one connection are gathered into writes of about this size; 0 writes each frame on its own) |
//! | [`outbound_queue_bytes`](ServerConfig::outbound_queue_bytes) | 1 MiB | queued frames dropped, `Error slow_consumer` (fatal, reconnect), close 4003; nobody else waits |
//! | [`lane_queue_bytes`](ServerConfig::lane_queue_bytes) | 64 MiB per resource | a frame that would go over it is not queued; each of its recipients: queued frames dropped, `Error slow_consumer` (fatal, reconnect), close 4003 |
//! | [`max_connections`](ServerConfig::max_connections) | 10 000 per node | `Error too_many_connections` (fatal, reconnect), close 4006 |
//! | [`max_connections_per_user`](ServerConfig::max_connections_per_user) | 16 per node | same |
//! | [`rate_limit`](ServerConfig::rate_limit) | 50 frames/s, burst 100 | every frame counts, text ones too; frame dropped unread: an Action gets `ActionErr rate_limited`, other frames share one `Error rate_limited` (not fatal) per run of drops |
//! | [`liveness_timeout`](ServerConfig::liveness_timeout) | 60 s without a frame | `Error liveness_timeout` (fatal, reconnect), close 4004 |
//! | [`ping_interval`](ServerConfig::ping_interval) | a WebSocket ping after 4 s of silence | (keeps the connection checked) |
//! | [`pong_timeout`](ServerConfig::pong_timeout) | 10 s for anything after a ping | `Error liveness_timeout` (fatal, reconnect), close 4004; the user leaves presence at once. A frozen or unplugged peer is gone at most `ping_interval + pong_timeout` (14 s) after the last thing it sent |
//! | [`handshake_timeout`](ServerConfig::handshake_timeout) | 10 s to authenticate | close 4005 |
//! | [`upgrade_timeout`](ServerConfig::upgrade_timeout) | 10 s from TCP accept to a complete upgrade request | socket closed, no response ([`FlowServer::serve`](crate::FlowServer::serve) only) |
//! | [`max_pending_per_ip`](ServerConfig::max_pending_per_ip) | 128 sockets per IP still sending their upgrade request | further sockets from that IP closed at accept ([`FlowServer::serve`](crate::FlowServer::serve) only); every accepted socket, pending or upgraded, also counts against `max_connections` |
//! | [`join_rate`](ServerConfig::join_rate) | 2 joins/s per user, burst 10 | `Error too_many_connections` (fatal, reconnect), close 4006, before `Connected` |
//! | [`join_rate_per_ip`](ServerConfig::join_rate_per_ip) | 50 sockets/s per IP, burst 200 | socket closed at accept ([`FlowServer::serve`](crate::FlowServer::serve) only) |
//! | [`presence_batch`](ServerConfig::presence_batch) | 50 ms | presence changes after the first within this window go out as one `PresenceDiff` at its end: at most one diff per resource per window, after the first |
//! | [`max_resync_deltas`](ServerConfig::max_resync_deltas) | 300 | a resync further behind gets a snapshot |
//! | [`max_signal_bytes`](ServerConfig::max_signal_bytes) | 16 KiB | `Error signal_too_large` (not fatal), not relayed |
//! | [`max_subscriptions`](ServerConfig::max_subscriptions) | 64 domains | domains over it not subscribed (the first ones are kept), `Error subscription_limit` (not fatal) |
//! | [`max_domain_len`](ServerConfig::max_domain_len) | 256 bytes | a longer domain name is not subscribed, `Error subscription_limit` |
//! | [`max_subscription_bytes`](ServerConfig::max_subscription_bytes) | 4 KiB of domain names per connection | same |
//! | [`op_memory`](ServerConfig::op_memory) | 16 384 actions per (resource, user) within 300 s | each outcome is kept at least 300 s, longer while memory allows (a retry gets the first outcome); one more action while all are younger: `ActionErr too_many_actions`, not run |
//! | [`op_memory_bytes`](ServerConfig::op_memory_bytes) | 64 MiB | new actions get `ActionErr server_busy`, not run, until old outcomes leave the window |
//! | [`idle_after`](ServerConfig::idle_after) | 60 s | presence turns `idle` (see the crate docs) |
//! | [`close_grace`](ServerConfig::close_grace) | 5 s | a closing connection that has not written its last frames and close (or, after an oversized frame, has not closed its side) is dropped |
//! | [`max_depth`](ServerConfig::max_depth) | 32 | nesting in a client frame; deeper: `Error bad_frame` (not fatal) |
//! | [`origins`](ServerConfig::origins) | same host | a browser page from another origin: HTTP 403 before the upgrade |
//! | resource id | 1 to 256 bytes | HTTP 400 before the upgrade |

use std::time::Duration;

pub use crate::origin::OriginPolicy;

/// A token bucket: `per_second` frames on average, bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained frames per second.
    pub per_second: f64,
    /// Bucket size: frames that may arrive at once.
    pub burst: u32,
}

/// Server settings. Build with `ServerConfig::default()` and override fields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Largest client frame, in bytes.
    pub max_message_size: usize,
    /// Socket read buffer per connection, in bytes: what one socket read
    /// takes at most. Every connection holds it for its whole life, idle or
    /// not, so it is small (2 KiB); client frames are mostly far smaller,
    /// and a larger one (up to `max_message_size`) is read in several reads
    /// of this size. The buffer is not a limit on frame size.
    pub read_buffer_size: usize,
    /// Bytes of queued frames gathered into one socket write, per
    /// connection. Frames for a connection that keeps up still go out as
    /// soon as they are queued; one that has fallen behind gets its backlog
    /// in writes of about this size instead of one per frame. The buffer
    /// grows only as far as it is used, so idle connections do not pay for
    /// it; a busy one holds up to this plus one frame. 0 writes every frame
    /// on its own.
    pub write_batch_bytes: usize,
    /// Bytes that may wait to be written to one connection before it is
    /// disconnected as a slow consumer.
    pub outbound_queue_bytes: usize,
    /// Bytes of frames that may wait on one resource's delivery lane (made
    /// by the hub, not yet handed to their connections' outbound queues),
    /// each frame counted once however many connections it goes to. Handing
    /// frames on never waits for a socket, so a lane fills only when the
    /// thread delivering it gets no CPU for a long while; a frame that would
    /// take it over this bound is not queued, and its recipients are closed
    /// as slow consumers (as if their `outbound_queue_bytes` had been hit).
    /// Per resource and node; the batch being handed on (at most this much
    /// again) is not counted.
    pub lane_queue_bytes: usize,
    /// Connections per node (this process).
    pub max_connections: usize,
    /// Connections per user on this node, across resources.
    pub max_connections_per_user: usize,
    /// Inbound frame rate per connection.
    pub rate_limit: RateLimit,
    /// Resources one connection may join besides its URL's (see the
    /// spec's "Channels"), announced in `Connected.channels`. 0 serves no
    /// channels: `Connected` carries no `channels` and `Join` and `Leave`
    /// are dropped unanswered, as by a server that predates channels.
    pub max_channels: u16,
    /// A connection that sends nothing for this long is closed.
    pub liveness_timeout: Duration,
    /// After this much silence from a connection, the server sends a
    /// WebSocket ping (browsers answer without running script).
    /// `Duration::ZERO` sends none.
    pub ping_interval: Duration,
    /// A connection that sends nothing (no pong, no frame) for this long
    /// after a ping is closed as dead.
    pub pong_timeout: Duration,
    /// Time from the upgrade to a finished authentication.
    pub handshake_timeout: Duration,
    /// Time from accepting a TCP connection to a complete HTTP request
    /// head, with [`FlowServer::serve`](crate::FlowServer::serve).
    pub upgrade_timeout: Duration,
    /// Sockets from one IP address that have not yet sent a complete
    /// request, with [`FlowServer::serve`](crate::FlowServer::serve).
    pub max_pending_per_ip: usize,
    /// Joins (accepted connections) per user on this node.
    pub join_rate: RateLimit,
    /// Sockets accepted per IP address, with
    /// [`FlowServer::serve`](crate::FlowServer::serve).
    pub join_rate_per_ip: RateLimit,
    /// Presence changes of one resource within this window of the first
    /// are sent together as one `PresenceDiff`. `Duration::ZERO` sends each
    /// change on its own.
    pub presence_batch: Duration,
    /// The most deltas a resync is served from; further behind gets a snapshot.
    pub max_resync_deltas: u64,
    /// Largest relayed signal payload, in bytes.
    pub max_signal_bytes: usize,
    /// Domains one connection may subscribe to.
    pub max_subscriptions: usize,
    /// Longest domain name accepted in a Subscribe, in UTF-8 bytes.
    pub max_domain_len: usize,
    /// Total UTF-8 bytes of the domain names one connection may hold.
    pub max_subscription_bytes: usize,
    /// Action outcomes remembered for retries: at most `.0` actions per
    /// (resource, user), each kept at least the retry window `.1` (in the
    /// store too) and longer while the bounds allow. An action beyond the
    /// count while all are within the window is refused with `ActionErr
    /// too_many_actions` instead. The default count is more than one
    /// connection's rate limit allows in the window.
    pub op_memory: (usize, Duration),
    /// Bytes all remembered outcomes may take together; beyond them new
    /// actions are refused with `ActionErr server_busy` until old outcomes
    /// leave the window.
    pub op_memory_bytes: usize,
    /// A user with no interaction for this long is shown as idle.
    pub idle_after: Duration,
    /// How long a closing connection may take to write its last frames.
    pub close_grace: Duration,
    /// Deepest nesting accepted in a client frame.
    pub max_depth: usize,
    /// Browser origins allowed to connect.
    pub origins: OriginPolicy,
    /// The epoch of every new resource log (and, for handlers that keep
    /// their own state, of the whole server). `None` picks a random one
    /// per new log. A log loaded from a durable store keeps its own.
    pub epoch: Option<u32>,
    /// History and checkpoints of the server-owned resource logs.
    pub log: LogConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message_size: 64 * 1024,
            read_buffer_size: 2 * 1024,
            write_batch_bytes: 8 * 1024,
            outbound_queue_bytes: 1024 * 1024,
            lane_queue_bytes: 64 * 1024 * 1024,
            max_connections: 10_000,
            max_connections_per_user: 16,
            rate_limit: RateLimit {
                per_second: 50.0,
                burst: 100,
            },
            max_channels: 16,
            liveness_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(4),
            pong_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            upgrade_timeout: Duration::from_secs(10),
            max_pending_per_ip: 128,
            join_rate: RateLimit {
                per_second: 2.0,
                burst: 10,
            },
            join_rate_per_ip: RateLimit {
                per_second: 50.0,
                burst: 200,
            },
            presence_batch: Duration::from_millis(50),
            max_resync_deltas: 300,
            max_signal_bytes: 16 * 1024,
            max_subscriptions: 64,
            max_domain_len: 256,
            max_subscription_bytes: 4 * 1024,
            op_memory: (16_384, Duration::from_secs(300)),
            op_memory_bytes: 64 * 1024 * 1024,
            idle_after: Duration::from_secs(60),
            close_grace: Duration::from_secs(5),
            max_depth: 32,
            origins: OriginPolicy::SameHost,
            epoch: None,
            log: LogConfig::default(),
        }
    }
}

/// How much history a resource log keeps, and how often it saves a
/// checkpoint of the state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogConfig {
    /// Deltas kept for resync: a client further behind gets a snapshot.
    pub history_deltas: usize,
    /// Bytes of encoded deltas kept for resync (whichever bound is hit first).
    pub history_bytes: usize,
    /// A checkpoint (the encoded state) is saved after this many deltas...
    pub checkpoint_every_deltas: u64,
    /// ...or this many bytes of deltas, whichever comes first. Entries before
    /// the kept history are then dropped from the store, so a log's size
    /// stays bounded and a restart replays at most this much.
    pub checkpoint_every_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            history_deltas: 1000,
            history_bytes: 1024 * 1024,
            checkpoint_every_deltas: 1000,
            checkpoint_every_bytes: 4 * 1024 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_allow_list() {
        let policy = OriginPolicy::AllowList(vec!["https://a.example".into()]);
        let host = Some("api.example");
        assert!(policy.allows(Some("https://a.example"), host));
        assert!(!policy.allows(Some("https://evil.example"), host));
        assert!(!policy.allows(Some("https://a.example.evil"), host));
        assert!(policy.allows(None, host));
        assert!(policy.allows(Some("https://api.example"), host));
        assert!(OriginPolicy::Any.allows(Some("https://evil.example"), host));
    }

    #[test]
    fn same_host_is_the_default_and_compares_host_and_port() {
        let policy = ServerConfig::default().origins;
        assert_eq!(policy, OriginPolicy::SameHost);
        let ok = [
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("https://App.Example", "app.example"),
            ("https://app.example", "app.example:443"),
            ("http://app.example:80", "app.example"),
        ];
        for (origin, host) in ok {
            assert!(policy.allows(Some(origin), Some(host)), "{origin} {host}");
        }
        let refused = [
            ("http://127.0.0.1:8081", Some("127.0.0.1:8080")),
            ("http://evil.example", Some("app.example")),
            ("https://app.example", Some("app.example:8443")),
            ("http://app.example.evil.example", Some("app.example")),
            ("null", Some("app.example")),
            ("file://", Some("app.example")),
            ("http://app.example", None),
        ];
        for (origin, host) in refused {
            assert!(!policy.allows(Some(origin), host), "{origin} {host:?}");
        }
        assert!(policy.allows(None, None));
    }
}
