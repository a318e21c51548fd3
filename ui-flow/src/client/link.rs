//! The link to the server: which socket is current, what stage it is at, and
//! the timers around it (reconnect, ping, silence).

use std::time::Duration;

use web_time::Instant;

use super::backoff::Backoff;
use super::config::ClientConfig;
use super::event::SocketId;

/// The stage of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No socket; the next one is dialled at `next_try`.
    Waiting { next_try: Instant },
    /// The driver was asked to open the current socket.
    Dialing,
    /// The socket is open; the server's `Connected` has not arrived.
    Handshake,
    /// `Connected` arrived: frames flow both ways.
    Up,
    /// Closed for good.
    Closed,
}

/// A timer that has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Time to dial the next socket.
    Dial,
    /// The server was silent too long: the socket is dead.
    Silent,
    /// Time to send a `Ping`.
    Ping,
}

#[derive(Debug)]
pub(crate) struct Link {
    phase: Phase,
    socket: SocketId,
    /// Attempts since the link was last up (0 while up).
    attempt: u32,
    last_heard: Instant,
    next_ping: Instant,
    /// When the oldest ping that no frame has followed yet went out.
    unanswered_ping: Option<Instant>,
    backoff: Backoff,
    silence_limit: Duration,
    ping_interval: Duration,
    grace: Duration,
}

impl Link {
    /// A link that has not dialled yet (`Waiting` until `now`).
    pub(crate) fn new(config: &ClientConfig, now: Instant) -> Self {
        Link {
            phase: Phase::Waiting { next_try: now },
            socket: SocketId(0),
            attempt: 0,
            last_heard: now,
            next_ping: now,
            unanswered_ping: None,
            backoff: Backoff::new(config.backoff_min, config.backoff_max, config.seed),
            silence_limit: config.silence_limit(),
            ping_interval: config.ping_interval,
            grace: config.liveness_grace,
        }
    }

    /// The socket in use (dialling, open or up), if any.
    pub(crate) fn socket(&self) -> Option<SocketId> {
        matches!(self.phase, Phase::Dialing | Phase::Handshake | Phase::Up).then_some(self.socket)
    }

    /// Whether reports about `socket` still count.
    pub(crate) fn is_current(&self, socket: SocketId) -> bool {
        self.socket() == Some(socket)
    }

    pub(crate) fn is_up(&self) -> bool {
        self.phase == Phase::Up
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Starts a new socket and returns its id.
    pub(crate) fn dial(&mut self, now: Instant) -> SocketId {
        self.socket = SocketId(self.socket.0 + 1);
        self.phase = Phase::Dialing;
        self.last_heard = now;
        self.unanswered_ping = None;
        self.socket
    }

    /// The current socket opened. False when it was not being dialled.
    pub(crate) fn opened(&mut self, now: Instant) -> bool {
        if self.phase != Phase::Dialing {
            return false;
        }
        self.phase = Phase::Handshake;
        self.last_heard = now;
        true
    }

    /// A frame arrived on the current socket: any frame answers the pings
    /// before it.
    pub(crate) fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.unanswered_ping = None;
    }

    /// The server's `Connected` arrived. False when not in the handshake.
    pub(crate) fn up(&mut self, now: Instant) -> bool {
        if self.phase != Phase::Handshake {
            return false;
        }
        self.phase = Phase::Up;
        self.attempt = 0;
        self.next_ping = now + self.ping_interval;
        true
    }

    /// The current socket is gone: schedules the next attempt and returns
    /// its number and time.
    pub(crate) fn lose(&mut self, now: Instant) -> (u32, Instant) {
        self.attempt = self.attempt.saturating_add(1);
        let next_try = now + self.backoff.delay(self.attempt);
        self.phase = Phase::Waiting { next_try };
        (self.attempt, next_try)
    }

    /// Brings a scheduled attempt forward to `now`. False when not waiting.
    pub(crate) fn hurry(&mut self, now: Instant) -> bool {
        match self.phase {
            Phase::Waiting { next_try } if next_try > now => {
                self.phase = Phase::Waiting { next_try: now };
                true
            }
            _ => false,
        }
    }

    pub(crate) fn close(&mut self) {
        self.phase = Phase::Closed;
    }

    /// A ping was sent at `now`.
    pub(crate) fn pinged(&mut self, now: Instant) {
        self.next_ping = now + self.ping_interval;
        self.unanswered_ping.get_or_insert(now);
    }

    /// When an open link counts as dead: nothing heard for the silence limit
    /// *and* a ping unanswered for the grace. The second half matters when
    /// timers fire late (a throttled background tab, a suspended laptop):
    /// the overdue ping goes out first, and the server gets its grace to
    /// answer it, instead of the socket being dropped unasked.
    fn dead_at(&self) -> Option<Instant> {
        let ping = self.unanswered_ping?;
        Some((ping + self.grace).max(self.last_heard + self.silence_limit))
    }

    /// The earliest moment a timer expires.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Waiting { next_try } => Some(next_try),
            Phase::Dialing | Phase::Handshake => Some(self.last_heard + self.silence_limit),
            Phase::Up => Some(
                self.dead_at()
                    .map_or(self.next_ping, |dead| dead.min(self.next_ping)),
            ),
            Phase::Closed => None,
        }
    }

    /// The timer that has expired at `now`, if any; a dead socket wins over
    /// a ping.
    pub(crate) fn due(&self, now: Instant) -> Option<Due> {
        match self.phase {
            Phase::Waiting { next_try } => (now >= next_try).then_some(Due::Dial),
            Phase::Dialing | Phase::Handshake => {
                (now >= self.last_heard + self.silence_limit).then_some(Due::Silent)
            }
            Phase::Up if self.dead_at().is_some_and(|dead| now >= dead) => Some(Due::Silent),
            Phase::Up => (now >= self.next_ping).then_some(Due::Ping),
            Phase::Closed => None,
        }
    }
}
