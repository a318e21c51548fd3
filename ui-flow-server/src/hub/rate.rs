//! A token bucket per connection.

use std::time::Instant;

use crate::config::RateLimit;

/// Frames a connection may still send now; refills continuously.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last: Instant,
    /// Whether the client has been told about the current run of drops.
    pub(crate) told: bool,
}

impl TokenBucket {
    pub(crate) fn full(limit: &RateLimit, now: Instant) -> Self {
        TokenBucket {
            tokens: f64::from(limit.burst),
            last: now,
            told: false,
        }
    }

    /// Whether the bucket has refilled completely by `now`.
    pub(crate) fn is_full(&self, limit: &RateLimit, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * limit.per_second >= f64::from(limit.burst)
    }

    /// Takes one token if there is one.
    pub(crate) fn take(&mut self, limit: &RateLimit, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * limit.per_second).min(f64::from(limit.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.told = false;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn burst_then_refill() {
        let limit = RateLimit {
            per_second: 10.0,
            burst: 3,
        };
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(&limit, t0);
        assert!((0..3).all(|_| bucket.take(&limit, t0)));
        assert!(!bucket.take(&limit, t0));
        assert!(bucket.take(&limit, t0 + Duration::from_millis(100)));
        assert!(!bucket.take(&limit, t0 + Duration::from_millis(100)));
    }
}
