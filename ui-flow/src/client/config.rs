//! The client's policy knobs and their defaults.

use std::time::Duration;

use crate::codec::Limits;
use crate::error::ApiMisuse;

/// How a [`Client`](super::Client) reconnects, keeps the link alive and
/// queues work.
///
/// Every field has a default suited to a browser UI; change the ones you need
/// with struct update syntax:
///
/// ```
/// use std::time::Duration;
/// use ui_flow::client::ClientConfig;
///
/// let config = ClientConfig {
///     ping_interval: Duration::from_secs(5),
///     ..ClientConfig::default()
/// };
/// assert_eq!(config.backoff_max, Duration::from_secs(20));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The ceiling of the first retry's delay after a lost connection. Each
    /// further attempt doubles the ceiling up to [`backoff_max`](Self::backoff_max),
    /// and the actual delay is drawn uniformly between zero and the ceiling
    /// ("full jitter"), so clients dropped together do not return together.
    /// Default 500 ms.
    pub backoff_min: Duration,
    /// The largest delay between two attempts. Default 20 s.
    pub backoff_max: Duration,
    /// How often a `Ping` is sent on an open connection. Default 15 s.
    pub ping_interval: Duration,
    /// How much longer than [`ping_interval`](Self::ping_interval) the server
    /// may stay silent (no frame at all, pongs included) before the socket is
    /// considered dead and replaced; a ping also always gets at least this
    /// long to be answered, even when the timer that sent it fired late (a
    /// throttled background tab). The interval plus the grace also bounds how
    /// long a socket may take to open and greet. Default 10 s, so a dead link
    /// is noticed within 25 s.
    pub liveness_grace: Duration,
    /// How many actions may be unresolved at once (waiting for a connection,
    /// or sent and waiting for `ActionOk`/`ActionErr`), and how many signals
    /// may wait for a connection. One more is refused with
    /// [`ApiMisuse::QueueFull`]; nothing already accepted is ever dropped.
    /// Default 256.
    pub queue_bound: usize,
    /// How many settled actions (ok or error) stay listed in
    /// [`Client::ops`](super::Client::ops) after their outcome, oldest
    /// forgotten first. Default 64.
    pub settled_ops_kept: usize,
    /// The seed of the backoff jitter. The core never reads a clock or an OS
    /// random source for jitter, so the same seed replays the same schedule.
    /// Drivers replace the default (0) with a random seed, otherwise clients
    /// started together would also retry together.
    pub seed: u64,
    /// Bounds applied when decoding frames from the server.
    pub limits: Limits,
}

impl ClientConfig {
    /// Default for [`backoff_min`](Self::backoff_min).
    pub const DEFAULT_BACKOFF_MIN: Duration = Duration::from_millis(500);
    /// Default for [`backoff_max`](Self::backoff_max).
    pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(20);
    /// Default for [`ping_interval`](Self::ping_interval).
    pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(15);
    /// Default for [`liveness_grace`](Self::liveness_grace).
    pub const DEFAULT_LIVENESS_GRACE: Duration = Duration::from_secs(10);
    /// Default for [`queue_bound`](Self::queue_bound).
    pub const DEFAULT_QUEUE_BOUND: usize = 256;
    /// Default for [`settled_ops_kept`](Self::settled_ops_kept).
    pub const DEFAULT_SETTLED_OPS_KEPT: usize = 64;

    /// Checks that the values can work together.
    pub fn validate(&self) -> Result<(), ApiMisuse> {
        if self.backoff_min.is_zero() {
            return Err(ApiMisuse::Config("backoff_min must be above zero"));
        }
        if self.backoff_max < self.backoff_min {
            return Err(ApiMisuse::Config(
                "backoff_max must be at least backoff_min",
            ));
        }
        if self.ping_interval.is_zero() {
            return Err(ApiMisuse::Config("ping_interval must be above zero"));
        }
        if self.queue_bound == 0 {
            return Err(ApiMisuse::Config("queue_bound must be at least 1"));
        }
        Ok(())
    }

    /// How long the server may be silent before the socket counts as dead.
    pub(crate) fn silence_limit(&self) -> Duration {
        self.ping_interval.saturating_add(self.liveness_grace)
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            backoff_min: Self::DEFAULT_BACKOFF_MIN,
            backoff_max: Self::DEFAULT_BACKOFF_MAX,
            ping_interval: Self::DEFAULT_PING_INTERVAL,
            liveness_grace: Self::DEFAULT_LIVENESS_GRACE,
            queue_bound: Self::DEFAULT_QUEUE_BOUND,
            settled_ops_kept: Self::DEFAULT_SETTLED_OPS_KEPT,
            seed: 0,
            limits: Limits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_refused() {
        assert_eq!(ClientConfig::default().validate(), Ok(()));
        let zero_queue = ClientConfig {
            queue_bound: 0,
            ..ClientConfig::default()
        };
        assert!(matches!(zero_queue.validate(), Err(ApiMisuse::Config(_))));
        let inverted = ClientConfig {
            backoff_max: Duration::from_millis(10),
            ..ClientConfig::default()
        };
        assert!(matches!(inverted.validate(), Err(ApiMisuse::Config(_))));
    }
}
