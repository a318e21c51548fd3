//! `demo-server`: runs the flagship demo. Usually started by
//! `scripts/demo.sh`, which builds the frontends first.
//!
//! ```text
//! demo-server [--addr HOST:PORT] [--site DIR] [--data DIR | --memory | --nats URL] [--no-fog]
//! ```
//!
//! The first line printed is `listening on http://HOST:PORT/` (with the real
//! port when 0 was asked for), so scripts can wait for it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use demo_server::{Demo, Settings};

/// The ui-flow demo: a shared hex world.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Where to listen. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The built static site (index.html, pkg/, plain/).
    #[arg(long, default_value = "target/demo/site")]
    site: PathBuf,
    /// Where the worlds are kept (one file, `worlds.redb`, created if
    /// missing): a restarted server continues every world where it was.
    #[arg(long, default_value = "target/demo/data", conflicts_with = "memory")]
    data: PathBuf,
    /// Keep the worlds in memory only: they are gone when the server stops.
    #[arg(long, conflicts_with = "nats")]
    memory: bool,
    /// Everyone sees every item and dug hex (no fog of war). A reconnect
    /// then resumes with deltas; with fog, it gets a snapshot of what its
    /// player sees.
    #[arg(long)]
    no_fog: bool,
    /// Join a cluster: keep the worlds in NATS JetStream at this URL
    /// (`nats://127.0.0.1:4222`) and share presence, signals and
    /// notifications through it; every node started on the same NATS
    /// serves the same worlds (`scripts/demo.sh --cluster N` starts some).
    #[arg(long, value_name = "URL", conflicts_with = "data")]
    nats: Option<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    if !args.site.join("index.html").is_file() {
        eprintln!(
            "warning: {} has no index.html; build the frontends with scripts/demo.sh",
            args.site.display()
        );
    }
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}/");
    println!();
    println!("  Open http://{addr}/ in two browser windows (each tab is its own user).");
    println!("  The plain JavaScript client of the same world: http://{addr}/plain/");
    println!("  Realtime endpoint: ws://{addr}/realtime/{{resource_id}}?token=USER");
    println!();
    let settings = Settings {
        fog: !args.no_fog,
        ..Settings::default()
    };
    let demo = if let Some(url) = &args.nats {
        println!("  Ctrl-C (or SIGTERM) stops this node; the worlds are kept in NATS at {url}.");
        Demo::on_nats(args.site, settings, url)
            .await
            .map_err(std::io::Error::other)?
    } else if args.memory {
        println!("  Ctrl-C (or SIGTERM) stops the server; the worlds live in memory only.");
        Demo::new(args.site, settings)
    } else {
        println!(
            "  Ctrl-C (or SIGTERM) stops the server; the worlds are kept in {}.",
            args.data.display()
        );
        Demo::on_disk(args.site, settings, &args.data).map_err(std::io::Error::other)?
    };
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(std::io::Error::other)?;
    println!("  Metrics: http://{addr}/metrics   Health: http://{addr}/healthz");
    demo.with_metrics(prometheus)
        .serve(listener, ui_flow_server::shutdown_signal())
        .await
}
