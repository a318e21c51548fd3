//! The server behind the adapter examples (`examples/{leptos,yew,seed,js}-todo`)
//! and the adapters' browser tests: one to-do list per resource, served at
//! `ws://ADDR/realtime/{resource_id}?token=USER`.
//!
//! ```text
//! cargo run -p adapter-server -- [ADDR] [--static DIR]
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
//! Actions are checked by `TodoState::check`: an empty title, a reused id
//! or an unknown item is answered with `ActionErr`, which is how tests get a
//! rejection on demand. Stops on Ctrl-C, SIGTERM or when stdin closes,
//! telling clients to reconnect. Logs go to stderr, filtered by `RUST_LOG`
//! (default `info`).

mod todos;

use tokio::io::AsyncReadExt;
use tower_http::services::ServeDir;
use tracing_subscriber::EnvFilter;
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
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--static" => files = args.next(),
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
    let server = FlowServer::with_config(todos::Todos, UnverifiedUserToken, config);
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
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 64];
            tokio::select! {
                () = ui_flow_server::shutdown_signal() => {}
                _ = async { while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {} } => {}
            }
            server.shutdown().await;
        }
    };
    server.serve_until(listener, app, stop).await
}
