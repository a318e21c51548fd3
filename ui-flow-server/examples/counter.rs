//! A runnable ui-flow server around the example `Counter` handler.
//!
//! ```text
//! cargo run -p ui-flow-server --example counter -- [ADDR] [--tick-ms N] [--until-stdin-closes]
//! ```
//!
//! ADDR defaults to `127.0.0.1:0` (a free port). The first line printed is
//! `listening on ws://HOST:PORT/realtime/{resource_id}` so a test harness can
//! read the port. Any token is accepted and becomes the user id (development
//! only). With `--tick-ms N` the server adds 1 to resource `demo` every N ms.
//! Stops on Ctrl-C or SIGTERM (or, with `--until-stdin-closes`, when stdin closes),
//! telling clients to reconnect.
//!
//! Logs go to stderr, filtered by `RUST_LOG` (default `info`; try
//! `RUST_LOG=ui_flow_server=debug`). `GET /metrics` serves the counters in
//! the Prometheus text format and `GET /healthz` answers `ok` (503 once
//! shutting down).

use std::time::Duration;

use axum::routing::get;
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::io::AsyncReadExt;
use tracing_subscriber::EnvFilter;
use ui_flow_server::counter::Counter;
use ui_flow_server::{FlowServer, UnverifiedUserToken};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .map_err(std::io::Error::other)?;
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:0".to_owned();
    let mut tick = None;
    let mut watch_stdin = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tick-ms" => tick = args.next().and_then(|v| v.parse::<u64>().ok()),
            "--until-stdin-closes" => watch_stdin = true,
            other => addr = other.to_owned(),
        }
    }
    let server = FlowServer::new(Counter, UnverifiedUserToken);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "listening on ws://{}/realtime/{{resource_id}}",
        listener.local_addr()?
    );
    if let Some(ms) = tick {
        let server = server.clone();
        tokio::spawn(async move {
            let demo = server.session("demo");
            let mut every = tokio::time::interval(Duration::from_millis(ms.max(1)));
            loop {
                every.tick().await;
                let _ = Counter::add(&demo, 1).await;
            }
        });
    }
    let stop = {
        let server = server.clone();
        async move {
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 64];
            tokio::select! {
                () = ui_flow_server::shutdown_signal() => {}
                _ = async { while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {} }, if watch_stdin => {}
            }
            server.shutdown().await;
        }
    };
    let scrape = server.clone();
    let app = server.router().merge(server.health_router()).route(
        "/metrics",
        get(move || async move {
            scrape.record_metrics();
            prometheus.render()
        }),
    );
    server.serve_until(listener, app, stop).await
}
