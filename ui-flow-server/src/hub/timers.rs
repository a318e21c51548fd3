//! The hub's deadlines, on the virtual clock its inputs carry.
//!
//! Every server protocol timer lives here: a user turning idle, a
//! connection's keepalive (server pings, the pong deadline, the liveness
//! timeout), the handshake timeout, the close grace and the end of a
//! presence batch window. The driver only sleeps until
//! [`Hub::poll_timeout`](super::Hub::poll_timeout) and calls
//! [`Hub::handle_timeout`](super::Hub::handle_timeout).
//!
//! Deadlines are kept in one heap and cancelled lazily: an entry that no
//! longer matches its owner's state when it comes due is skipped. A stale
//! entry can therefore make `poll_timeout` report a time at which nothing
//! happens; that is harmless. Stale entries do cost memory until they come
//! due (up to `idle_after`, 60 s by default, for a user who left), so under
//! connection churn the hub sweeps them out whenever the heap has doubled
//! since the last sweep ([`Timers::wants_sweep`], [`Timers::retain`]): the
//! heap stays within about twice the live deadlines (plus
//! [`SWEEP_MIN`]), whatever the churn, at an amortised O(1) per deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::transmit::ConnectionId;

/// What comes due.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// A user of a resource turns idle unless they interacted meanwhile.
    Idle { resource: Arc<str>, user: Arc<str> },
    /// A connection's keepalive check (see [`Keepalive`]).
    Keepalive(ConnectionId),
    /// A connection still authenticating.
    Handshake(ConnectionId),
    /// A closing connection that may not have finished closing.
    Grace(ConnectionId),
    /// A resource's presence batch window ends.
    Presence(Arc<str>),
}

/// Entries below which the heap is never swept.
pub(crate) const SWEEP_MIN: usize = 1024;

/// Pending deadlines, earliest first.
#[derive(Debug)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// The heap is swept of stale entries when it reaches this length.
    sweep_at: usize,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            sweep_at: SWEEP_MIN,
        }
    }
}

impl Timers {
    pub(crate) fn arm(&mut self, at: Instant, timer: Timer) {
        self.heap.push(Reverse((at, timer)));
    }

    /// Entries held, stale ones included.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether the heap has grown enough since the last sweep that the
    /// owner should [`retain`](Self::retain) only its live deadlines.
    pub(crate) fn wants_sweep(&self) -> bool {
        self.heap.len() >= self.sweep_at
    }

    /// Drops the entries `live` says would do nothing when due, and gives
    /// back the memory the heap no longer needs. The next sweep is due when
    /// the heap has doubled again.
    pub(crate) fn retain(&mut self, mut live: impl FnMut(Instant, &Timer) -> bool) {
        self.heap.retain(|Reverse((at, timer))| live(*at, timer));
        self.sweep_at = (2 * self.heap.len()).max(SWEEP_MIN);
        self.shrink();
    }

    /// Gives back capacity once the heap holds under a quarter of it.
    fn shrink(&mut self) {
        if self.heap.capacity() > SWEEP_MIN && self.heap.len() < self.heap.capacity() / 4 {
            self.heap.shrink_to((2 * self.heap.len()).max(SWEEP_MIN));
        }
    }

    /// The earliest deadline, stale ones included.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// The earliest deadline at or before `now`, removed.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Timer)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => {
                let entry = self.heap.pop().map(|Reverse(entry)| entry);
                self.shrink();
                entry
            }
            _ => None,
        }
    }
}

/// The keepalive settings, from [`ServerConfig`](crate::ServerConfig).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeepaliveConfig {
    pub(crate) liveness: Duration,
    /// `Duration::ZERO`: no server pings.
    pub(crate) ping_interval: Duration,
    pub(crate) pong_timeout: Duration,
}

/// One connection's keepalive state.
///
/// Anything heard from the client (a frame, a WebSocket ping or pong)
/// proves it alive. After `ping_interval` of silence the server sends a
/// WebSocket ping; with no answer within `pong_timeout` the connection is
/// dead. Whatever the pings, `liveness` of silence is dead too. So a peer
/// that freezes is dropped at most `ping_interval + pong_timeout` after the
/// last thing it sent.
#[derive(Debug, Clone)]
pub(crate) struct Keepalive {
    last_heard: Instant,
    /// When the unanswered ping went out.
    ping_sent: Option<Instant>,
    /// The deadline currently armed for this connection.
    pub(crate) wake: Instant,
}

/// What a keepalive check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing heard within the liveness timeout.
    Silent,
    /// A ping went unanswered for the pong timeout.
    NoPong,
    /// Alive; send a WebSocket ping now if `ping`, check again at `next`.
    Alive { ping: bool, next: Instant },
}

impl Keepalive {
    pub(crate) fn new(now: Instant, config: &KeepaliveConfig) -> Self {
        let mut keepalive = Keepalive {
            last_heard: now,
            ping_sent: None,
            wake: now,
        };
        keepalive.wake = keepalive.next(config);
        keepalive
    }

    /// Something arrived from the client. Returns the new wake when the
    /// check must now come sooner than the one armed: after an answered
    /// ping the armed wake is the pong deadline, but the next ping is due
    /// `ping_interval` after the answer (left there, a peer that answered
    /// and then froze would be pinged only at the old pong deadline and be
    /// found dead up to `pong_timeout` later than documented). Any other
    /// frame moves nothing: the armed check finds the silence it left.
    pub(crate) fn heard(&mut self, now: Instant, config: &KeepaliveConfig) -> Option<Instant> {
        self.last_heard = self.last_heard.max(now);
        self.ping_sent.take()?;
        let next = self.next(config);
        (next < self.wake).then(|| {
            self.wake = next;
            next
        })
    }

    /// The check due at `wake` (or later).
    pub(crate) fn check(&mut self, now: Instant, config: &KeepaliveConfig) -> Verdict {
        if now >= self.last_heard + config.liveness {
            return Verdict::Silent;
        }
        if self
            .ping_sent
            .is_some_and(|sent| now >= sent + config.pong_timeout)
        {
            return Verdict::NoPong;
        }
        let ping = self.ping_sent.is_none()
            && !config.ping_interval.is_zero()
            && now >= self.last_heard + config.ping_interval;
        if ping {
            self.ping_sent = Some(now);
        }
        let next = self.next(config);
        self.wake = next;
        Verdict::Alive { ping, next }
    }

    fn next(&self, config: &KeepaliveConfig) -> Instant {
        let silent = self.last_heard + config.liveness;
        let step = match self.ping_sent {
            Some(sent) => sent + config.pong_timeout,
            None if config.ping_interval.is_zero() => silent,
            None => self.last_heard + config.ping_interval,
        };
        silent.min(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: KeepaliveConfig = KeepaliveConfig {
        liveness: Duration::from_secs(60),
        ping_interval: Duration::from_secs(5),
        pong_timeout: Duration::from_secs(10),
    };

    #[test]
    fn a_frozen_peer_is_dead_at_ping_interval_plus_pong_timeout() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(t0, &CONFIG);
        assert_eq!(k.wake, t0 + Duration::from_secs(5));
        let at = k.wake;
        assert_eq!(
            k.check(at, &CONFIG),
            Verdict::Alive {
                ping: true,
                next: t0 + Duration::from_secs(15)
            }
        );
        assert_eq!(k.check(k.wake, &CONFIG), Verdict::NoPong);
    }

    #[test]
    fn an_answer_restarts_the_cycle_and_busy_peers_get_no_ping() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(t0, &CONFIG);
        let at = k.wake;
        assert!(matches!(
            k.check(at, &CONFIG),
            Verdict::Alive { ping: true, .. }
        ));
        // The answer moves the check to a ping interval after it.
        let next = at + Duration::from_secs(6);
        assert_eq!(k.heard(at + Duration::from_secs(1), &CONFIG), Some(next));
        // A frame before then moves nothing.
        assert_eq!(k.heard(at + Duration::from_secs(3), &CONFIG), None);
        // At the moved check the peer was heard 3 s ago: no ping yet.
        assert_eq!(
            k.check(next, &CONFIG),
            Verdict::Alive {
                ping: false,
                next: at + Duration::from_secs(8)
            }
        );
    }

    #[test]
    fn a_peer_that_answers_a_ping_then_freezes_is_dead_at_the_same_bound() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(t0, &CONFIG);
        let first = k.wake;
        assert!(matches!(
            k.check(first, &CONFIG),
            Verdict::Alive { ping: true, .. }
        ));
        let answered = first + Duration::from_millis(500);
        let next = k.heard(answered, &CONFIG).expect("the check moves sooner");
        assert_eq!(next, answered + CONFIG.ping_interval);
        assert_eq!(
            k.check(next, &CONFIG),
            Verdict::Alive {
                ping: true,
                next: next + CONFIG.pong_timeout
            }
        );
        assert_eq!(k.check(k.wake, &CONFIG), Verdict::NoPong);
        assert_eq!(
            k.wake,
            answered + CONFIG.ping_interval + CONFIG.pong_timeout
        );
    }

    #[test]
    fn without_pings_only_the_liveness_timeout_applies() {
        let config = KeepaliveConfig {
            ping_interval: Duration::ZERO,
            ..CONFIG
        };
        let t0 = Instant::now();
        let mut k = Keepalive::new(t0, &config);
        assert_eq!(k.wake, t0 + Duration::from_secs(60));
        assert_eq!(k.check(k.wake, &config), Verdict::Silent);
    }
}
