//! [`FlowServer::serve`]: an HTTP/1.1 accept loop that bounds what a socket
//! may cost before its WebSocket upgrade.
//!
//! `axum::serve` has no header-read timeout and counts nothing before the
//! upgrade, so half-sent requests hold file descriptors forever. This loop
//! serves each socket with hyper's HTTP/1.1 connection builder and
//!
//! - closes a socket that has not sent a complete request head within
//!   [`ServerConfig::upgrade_timeout`] (hyper's `header_read_timeout`);
//! - closes a new socket at once when the node already holds
//!   [`ServerConfig::max_connections`] sockets (pending and upgraded alike),
//!   when its IP address has [`ServerConfig::max_pending_per_ip`] sockets
//!   still sending their request, or when that address opens sockets faster
//!   than [`ServerConfig::join_rate_per_ip`].
//!
//! It is not a general web server: no TLS (terminate it in front) and no
//! HTTP/2 (a WebSocket upgrade is HTTP/1.1). The router may serve other
//! routes too; the same bounds apply to them.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

use crate::config::ServerConfig;
use crate::counters::Live;
use crate::handler::FlowHandler;
use crate::hub::TokenBucket;
use crate::server::FlowServer;

impl<H: FlowHandler> FlowServer<H> {
    /// Serves `app` (usually [`router`](Self::router), possibly merged
    /// into a larger axum app) on `listener` until the returned future is
    /// dropped, with the pre-upgrade bounds described in the
    /// [`ServerConfig`] table: `upgrade_timeout`, `max_pending_per_ip`,
    /// `join_rate_per_ip`, and `max_connections` counting every socket.
    ///
    /// Use it instead of `axum::serve`. Handlers may extract the peer's
    /// address as `ConnectInfo<SocketAddr>`. Errors accepting a socket (such as
    /// running out of file descriptors) are logged and retried; it only
    /// returns when the listener itself fails to report its address.
    pub async fn serve(&self, listener: TcpListener, app: axum::Router) -> io::Result<()> {
        let gate = Arc::new(Gate::new(&self.inner.config));
        let upgrade_timeout = self.inner.config.upgrade_timeout;
        listener.local_addr()?;
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    // Out of descriptors and the like: give closing sockets
                    // a moment rather than spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some((socket, pending)) = gate.admit(peer.ip(), Instant::now()) else {
                Live::add(&self.inner.counters.connections_refused, 1);
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            // Handlers can extract `ConnectInfo<SocketAddr>`, as with
            // axum's `into_make_service_with_connect_info`.
            let service = service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().call(request)
            });
            tokio::spawn(async move {
                let io = TokioIo::new(Counted {
                    _socket: socket,
                    io: stream,
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(upgrade_timeout)
                    .serve_connection(io, service)
                    .with_upgrades();
                // Resolves when the socket closes or has been upgraded (it
                // then lives on, counted, inside the WebSocket).
                let _ = conn.await;
                drop(pending);
            });
        }
    }
}

impl<H: FlowHandler> FlowServer<H> {
    /// [`serve`](Self::serve) until `stop` resolves, then stop accepting
    /// and return. Connections already open are the caller's to close,
    /// typically with [`shutdown`](Self::shutdown) inside `stop`.
    pub async fn serve_until(
        &self,
        listener: TcpListener,
        app: axum::Router,
        stop: impl std::future::Future<Output = ()>,
    ) -> io::Result<()> {
        tokio::select! {
            served = self.serve(listener, app) => served,
            () = stop => Ok(()),
        }
    }
}

/// Per-node and per-IP socket counts.
struct Gate {
    max_total: usize,
    max_pending_per_ip: usize,
    rate: crate::config::RateLimit,
    state: Mutex<GateState>,
}

struct GateState {
    total: usize,
    ips: HashMap<IpAddr, PerIp>,
    sweep_at: usize,
}

/// The smallest size at which per-address entries are swept.
const IPS_SWEEP_MIN: usize = 4096;

struct PerIp {
    sockets: usize,
    pending: usize,
    bucket: TokenBucket,
}

impl Gate {
    fn new(config: &ServerConfig) -> Self {
        Gate {
            max_total: config.max_connections,
            max_pending_per_ip: config.max_pending_per_ip,
            rate: config.join_rate_per_ip,
            state: Mutex::new(GateState {
                total: 0,
                ips: HashMap::new(),
                sweep_at: IPS_SWEEP_MIN,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new socket (as pending), or refuses it.
    fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Option<(SocketTicket, PendingTicket)> {
        let mut state = self.lock();
        if state.total >= self.max_total {
            return None;
        }
        // Entries of addresses with no socket stay until their bucket is
        // full again; sweep when the map has doubled since the last sweep.
        if state.ips.len() >= state.sweep_at {
            let rate = self.rate;
            state
                .ips
                .retain(|_, e| e.sockets > 0 || !e.bucket.is_full(&rate, now));
            state.sweep_at = (2 * state.ips.len()).max(IPS_SWEEP_MIN);
        }
        let rate = self.rate;
        let entry = state.ips.entry(ip).or_insert_with(|| PerIp {
            sockets: 0,
            pending: 0,
            bucket: TokenBucket::full(&rate, now),
        });
        if entry.pending >= self.max_pending_per_ip || !entry.bucket.take(&rate, now) {
            return None;
        }
        entry.sockets += 1;
        entry.pending += 1;
        state.total += 1;
        let socket = SocketTicket {
            gate: self.clone(),
            ip,
        };
        let pending = PendingTicket {
            gate: self.clone(),
            ip,
        };
        Some((socket, pending))
    }
}

/// One counted socket; released when dropped (with the socket).
struct SocketTicket {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Drop for SocketTicket {
    fn drop(&mut self) {
        let mut state = self.gate.lock();
        state.total -= 1;
        if let Some(entry) = state.ips.get_mut(&self.ip) {
            entry.sockets -= 1;
        }
    }
}

/// A socket still sending its request; released when dropped.
struct PendingTicket {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Drop for PendingTicket {
    fn drop(&mut self) {
        if let Some(entry) = self.gate.lock().ips.get_mut(&self.ip) {
            entry.pending -= 1;
        }
    }
}

/// A socket that carries its ticket, so it stays counted after the
/// upgrade, for as long as the WebSocket lives. The ticket is declared
/// first so it is released before the socket closes: a peer that sees the
/// close and reconnects at once finds the count already lowered.
struct Counted {
    _socket: SocketTicket,
    io: TcpStream,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_sockets_are_bounded_per_ip_and_in_total() {
        let config = ServerConfig {
            max_connections: 3,
            max_pending_per_ip: 2,
            ..ServerConfig::default()
        };
        let gate = Arc::new(Gate::new(&config));
        let now = Instant::now();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let (first, pending_first) = gate.admit(a, now).expect("first");
        let _second = gate.admit(a, now).expect("second");
        assert!(gate.admit(a, now).is_none(), "a third pending socket of a");
        let other = gate.admit(b, now).expect("another address");
        assert!(gate.admit(b, now).is_none(), "the node is full");
        // An upgraded socket no longer counts as pending, but still counts.
        drop(pending_first);
        assert!(gate.admit(a, now).is_none(), "still full");
        drop(other);
        let _third = gate.admit(a, now).expect("room again");
        drop(first);
    }

    #[test]
    fn sockets_per_ip_are_rate_limited() {
        let config = ServerConfig {
            join_rate_per_ip: crate::config::RateLimit {
                per_second: 1.0,
                burst: 2,
            },
            ..ServerConfig::default()
        };
        let gate = Arc::new(Gate::new(&config));
        let now = Instant::now();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let kept: Vec<_> = (0..5).filter_map(|_| gate.admit(ip, now)).collect();
        assert_eq!(kept.len(), 2);
        assert!(gate.admit(ip, now + Duration::from_secs(1)).is_some());
    }
}
