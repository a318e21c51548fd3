//! Counters the application can read (for metrics exporters, health pages).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A point-in-time copy of the server's counters. All totals count since
/// the server was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Connections open now (authenticated and registered).
    pub connections_open: u64,
    /// Connections accepted in total.
    pub connections_total: u64,
    /// Upgrades refused: bad origin, failed authentication, limits, shutdown.
    pub connections_refused: u64,
    /// Frames received from clients.
    pub frames_in: u64,
    /// Bytes received from clients (frame payloads).
    pub bytes_in: u64,
    /// Frames written to clients.
    pub frames_out: u64,
    /// Bytes written to clients (frame payloads).
    pub bytes_out: u64,
    /// Frames dropped: client frames that were malformed, oversized, of the
    /// wrong type or over the rate limit, and queued frames discarded when
    /// a slow consumer was disconnected.
    pub drops: u64,
    /// Connections closed because their outbound queue, or their resource's
    /// delivery lane (`ServerConfig::lane_queue_bytes`), went over its bound.
    pub slow_disconnects: u64,
    /// Connections closed by the liveness timeout.
    pub liveness_timeouts: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Live {
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) frames_in: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) frames_out: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) drops: AtomicU64,
    pub(crate) slow_disconnects: AtomicU64,
    pub(crate) liveness_timeouts: AtomicU64,
}

impl Live {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn snapshot(&self, hub_drops: u64) -> Counters {
        Counters {
            connections_open: self.connections_open.load(Relaxed),
            connections_total: self.connections_total.load(Relaxed),
            connections_refused: self.connections_refused.load(Relaxed),
            frames_in: self.frames_in.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            frames_out: self.frames_out.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            drops: self.drops.load(Relaxed) + hub_drops,
            slow_disconnects: self.slow_disconnects.load(Relaxed),
            liveness_timeouts: self.liveness_timeouts.load(Relaxed),
        }
    }
}
