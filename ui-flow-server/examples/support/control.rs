//! The server side of the fan-out benchmark's process protocol, shared by
//! every server it measures: ui-flow-server and the `raw` floor in
//! `fanout.rs`, and the peers in `bench/peers` (another workspace, which
//! includes this file by path).
//!
//! A server process listens on 127.0.0.1 (an ephemeral port, which it
//! prints as `addr …`) and then obeys one control line at a time on stdin:
//! `rss` (answers `rss KiB`), `cpu` (answers `cpu µs` of user + system time
//! since the last `cpu`) and `broadcast COUNT RATE` (sends COUNT broadcasts
//! at RATE per second, on a fixed schedule, then answers `sent`). Any other
//! line, or the end of stdin, ends it.
//!
//! Included with `#[path = "support/control.rs"] mod control;` (a folder
//! without `main.rs` is not an example of its own). Linux only (it reads
//! `/proc/self`). A benchmark fixture, not an API.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpSocket};

/// Pending connections the listening socket keeps: N clients connect at
/// once.
const BACKLOG: u32 = 4096;

/// The wall clock in ns since the Unix epoch (servers and clients run on
/// one machine, so latencies are differences of these).
pub fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// CPU time (user + system) of this process in µs, from /proc/self/stat
/// (Linux counts it in ticks of 10 ms).
pub fn cpu_us() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command name: field 14 (utime) and 15 (stime) are at 11, 12.
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (get(11) + get(12)) * 10_000
}

/// Resident memory of this process in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A listening socket on 127.0.0.1, an ephemeral port.
pub fn listener() -> TcpListener {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("reuseaddr");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    socket.listen(BACKLOG).expect("listen")
}

/// A broadcast run a control line asked for.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub count: u64,
    /// Time between two broadcasts' slots.
    pub period_ns: u64,
}

impl Run {
    /// Broadcast `seq`'s (1-based) slot in a schedule that started at
    /// `start_ns`.
    pub fn slot(&self, start_ns: u64, seq: u64) -> u64 {
        start_ns + (seq - 1) * self.period_ns
    }
}

/// Answers the control lines a server answers the same way (`rss`, `cpu`)
/// and reads the rest.
pub struct Lines {
    cpu_mark: u64,
}

impl Lines {
    pub fn new() -> Self {
        Lines { cpu_mark: cpu_us() }
    }

    /// Handles one line: `Some(None)` when it was answered here,
    /// `Some(Some(run))` for a broadcast run, `None` to stop.
    pub fn read(&mut self, line: &str) -> Option<Option<Run>> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["rss"] => println!("rss {}", rss_kib()),
            ["cpu"] => {
                let now = cpu_us();
                println!("cpu {}", now - self.cpu_mark);
                self.cpu_mark = now;
            }
            ["broadcast", count, rate] => {
                let count: u64 = count.parse().expect("count");
                let rate: u64 = rate.parse().expect("rate");
                let period_ns = 1_000_000_000 / rate;
                return Some(Some(Run { count, period_ns }));
            }
            _ => return None,
        }
        Some(None)
    }
}

/// Reads control lines from stdin until it closes; each broadcast of a run
/// is `send(seq, slot_ns)`, awaited, at its slot (a tokio interval).
pub async fn control<F, Fut>(mut send: F)
where
    F: FnMut(u64, u64) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut lines = Lines::new();
    while let Ok(Some(line)) = stdin.next_line().await {
        match lines.read(&line) {
            None => break,
            Some(None) => {}
            Some(Some(run)) => {
                let start = unix_ns();
                let mut every = tokio::time::interval(Duration::from_nanos(run.period_ns));
                for seq in 1..=run.count {
                    every.tick().await;
                    send(seq, run.slot(start, seq)).await;
                }
                println!("sent");
            }
        }
    }
}
