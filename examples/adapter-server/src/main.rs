//! The server behind the adapter examples (`examples/{leptos,yew,seed,js}-todo`)
//! and the adapters' browser tests: one to-do list per resource, served at
//! `ws://ADDR/realtime/{resource_id}?token=USER`.
//!
//! ```text
//! cargo run -p adapter-server -- [ADDR] [--static DIR] [--data DIR] [--channels N]
//! ```
//!
//! ADDR defaults to `127.0.0.1:0` (a free port). With `--static DIR` the
//! server also serves the files in DIR at `/` (an example app's
//! `index.html` and its built `dist/`), so the page and its WebSocket share
//! an origin. The first line printed is
//! `listening on ws://HOST:PORT/realtime/{resource_id}`, so a test script can
//! read the port. Any token is accepted and becomes the user id (development
//! only). Every resource starts with `TodoState::seeded()` at seq 0.
//!
//! Where the lists are kept:
//!
//! - by default in memory: they end with the process, and a restarted
//!   server starts every list over (seeded, seq 0, a new epoch), so its
//!   clients get a `Snapshot` when they come back;
//! - with `--data DIR`, in the durable file store the demo uses
//!   ([`FileStore`], one file `DIR/todos.redb`; DIR is created if
//!   missing): a restarted server, even one that was killed, reopens every
//!   list at the epoch and seq it had and continues the same seq line, so
//!   its clients resume with `Deltas` (spec/PROTOCOL.md, "Logs, restarts
//!   and durable stores"). One process at a time may hold the file; a
//!   second one started on the same DIR exits with the store's error.
//!
//! The server serves channels (spec/PROTOCOL.md, "Channels"): a socket
//! may join up to N further lists (`--channels N`, default 16, at most
//! 65535), each authorized with the socket's token. `--channels 0` serves
//! none, as a server that predates channels: `Connected` announces no
//! `channels` and `Join` goes unanswered (the browser tests of a client
//! facing such a server use it).
//!
//! Actions are checked by `TodoState::check`: an empty title, a reused id
//! or an unknown item is answered with `ActionErr`, which is how tests get a
//! rejection on demand. Stops on Ctrl-C, SIGTERM or when stdin closes,
//! telling clients to reconnect. Logs go to stderr, filtered by `RUST_LOG`
//! (default `info`).

mod todos;

use tower_http::services::ServeDir;
use tracing_subscriber::EnvFilter;
use ui_flow_server::store::FileStore;
use ui_flow_server::{FlowServer, OriginPolicy, RateLimit, ServerConfig, UnverifiedUserToken};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut addr = "127.0.0.1:0".to_owned();
    let mut files = None;
    let mut data = None;
    let mut channels = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--static" => files = Some(value(&mut args, "--static")?),
            "--data" => data = Some(value(&mut args, "--data")?),
            "--channels" => {
                let n = value(&mut args, "--channels")?;
                channels = Some(n.parse::<u16>().map_err(|_| {
                    std::io::Error::other(format!("--channels takes 0 to 65535, not {n:?}"))
                })?);
            }
            other => addr = other.to_owned(),
        }
    }
    // Development only: the browser tests' pages come from the test runner's
    // own port, so any origin may connect (the default is the same host).
    let mut config = ServerConfig::default();
    config.origins = OriginPolicy::Any;
    // Development only: the browser tests connect the same few users
    // (`ann`, `bob`) dozens of times a minute, over the default join rate
    // (2 per second, burst 10) that protects a production node.
    config.join_rate = RateLimit {
        per_second: 100.0,
        burst: 1000,
    };
    if let Some(n) = channels {
        config.max_channels = n;
    }
    let server = match data {
        None => FlowServer::with_config(todos::Todos, UnverifiedUserToken, config),
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| {
                std::io::Error::other(format!("cannot create the data directory {dir}: {e}"))
            })?;
            let store = FileStore::open(std::path::Path::new(&dir).join("todos.redb"))
                .map_err(std::io::Error::other)?;
            FlowServer::with_store(todos::Todos, UnverifiedUserToken, config, store)
        }
    };
    let mut app = server.router();
    if let Some(dir) = files {
        app = app.fallback_service(ServeDir::new(dir));
    }
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "listening on ws://{}/realtime/{{resource_id}}",
        listener.local_addr()?
    );
    let stop = {
        let server = server.clone();
        async move {
            let stdin = stdin_closed();
            tokio::select! {
                () = ui_flow_server::shutdown_signal() => {}
                _ = stdin => {}
            }
            server.shutdown().await;
        }
    };
    server.serve_until(listener, app, stop).await
}

/// The value after `flag`, or an error naming the flag.
fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> std::io::Result<String> {
    args.next()
        .ok_or_else(|| std::io::Error::other(format!("{flag} needs a value")))
}

/// Resolves when stdin closes (or cannot be read). It is read on a thread
/// of its own: a read on tokio's blocking pool (`tokio::io::stdin`) holds up
/// the runtime's shutdown until it returns, so with stdin left open a
/// SIGTERM or Ctrl-C would stop serving but never end the process.
fn stdin_closed() -> tokio::sync::oneshot::Receiver<()> {
    let (closed, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 64];
        while matches!(std::io::Read::read(&mut stdin, &mut buf), Ok(n) if n > 0) {}
        let _ = closed.send(());
    });
    rx
}
