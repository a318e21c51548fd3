//! A real `nats-server` for tests: JetStream on, its store in a temporary
//! directory, listening on a free loopback port, killed when dropped.
//!
//! This is test support, not a way to run NATS in production. It needs the
//! `nats-server` binary (Debian's `nats-server` package; `scripts/test.sh`
//! installs it) on `PATH`, or its path in `UI_FLOW_NATS_SERVER`.
//!
//! ```no_run
//! let mut nats = ui_flow_nats_harness::NatsServer::start().unwrap();
//! let url = nats.url(); // nats://127.0.0.1:PORT
//! nats.kill(); // like a crash: SIGKILL
//! nats.restart().unwrap(); // same port, same JetStream store
//! # let _ = url;
//! ```

use std::fs::File;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a start may take before it is an error (a safety net, not a
/// speed assertion).
const START_WITHIN: Duration = Duration::from_secs(15);

/// A running `nats-server` with JetStream, owned by a test.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a server on a free loopback port and waits until it accepts
    /// clients.
    pub fn start() -> io::Result<Self> {
        let mut last = None;
        // A port found free can be taken by someone else before the server
        // binds it: try a few.
        for _ in 0..3 {
            let mut server = Self {
                child: None,
                port: free_port()?,
                dir: tempfile::Builder::new().prefix("ui-flow-nats-").tempdir()?,
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("nats-server did not start")))
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (stays the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory (kept across restarts).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("jetstream")
    }

    /// Kills the server with SIGKILL, as a crash would, and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if running, then starts it again on the same port
    /// with the same store, and waits until it accepts clients.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn spawn(&mut self) -> io::Result<()> {
        let log_path = self.dir.path().join("nats-server.log");
        let log = File::options().create(true).append(true).open(&log_path)?;
        let binary = binary();
        let child = Command::new(&binary)
            .args(["--jetstream", "--addr", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .arg("--store_dir")
            .arg(self.store_dir())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!(
                        "cannot run {} ({err}): install Debian's nats-server \
                         (./scripts/test.sh does) or set UI_FLOW_NATS_SERVER",
                        binary.display()
                    ),
                )
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + START_WITHIN;
        loop {
            if self.greets() {
                return Ok(());
            }
            if !self.is_running() || Instant::now() > deadline {
                self.kill();
                return Err(io::Error::other(format!(
                    "nats-server on port {} did not start; its log:\n{}",
                    self.port,
                    read_log(&log_path)
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A NATS server greets every new client with an `INFO` line; JetStream
    /// is ready by the time the client port accepts.
    fn greets(&self) -> bool {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut head = [0u8; 4];
        stream.read_exact(&mut head).is_ok() && &head == b"INFO"
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn binary() -> PathBuf {
    std::env::var_os("UI_FLOW_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("nats-server"))
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| format!("(unreadable: {err})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_restarts_and_stops() {
        let mut nats = NatsServer::start().expect("nats-server starts");
        assert!(nats.url().starts_with("nats://127.0.0.1:"));
        assert!(nats.greets());
        nats.kill();
        assert!(!nats.is_running());
        assert!(!nats.greets(), "a killed server no longer accepts");
        nats.restart().expect("restarts on the same port");
        assert!(nats.greets());
        let port = nats.port();
        drop(nats);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err());
    }
}
