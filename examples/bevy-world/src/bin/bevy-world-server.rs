//! Runs the example: `cargo run -p bevy-world --bin bevy-world-server --
//! --addr 127.0.0.1:9100 --entities 300` prints the WebSocket URL. With
//! `--site target/bevy-world/site` (built by `./scripts/demo.sh bevy
//! --build-only`) it also serves the page on `--site-addr` and prints its
//! address.

use std::path::PathBuf;

use bevy_world::simulation::{self, Settings};
use bevy_world::site::Site;
use clap::Parser;
use ui_flow_bevy::SyncServer;

/// A headless Bevy simulation served to ui-flow clients.
#[derive(Parser)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:9100")]
    addr: String,
    /// Entities spawned at start.
    #[arg(long, default_value_t = 300)]
    entities: usize,
    /// Simulation frames per second.
    #[arg(long, default_value_t = 60)]
    hz: u32,
    /// A sync tick every this many frames (3 at 60 Hz: 20 syncs a second).
    #[arg(long, default_value_t = 1)]
    sync_every: u32,
    /// No join rate limits (for load tests from one address).
    #[arg(long)]
    no_join_limits: bool,
    /// Serve the page (the built static site) from this folder.
    #[arg(long)]
    site: Option<PathBuf>,
    /// Where the page is served (with --site); its origin may connect.
    #[arg(long, default_value = "127.0.0.1:8080")]
    site_addr: String,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let settings = Settings {
        addr: args.addr,
        entities: args.entities,
        hz: args.hz,
        sync_every: args.sync_every,
    };
    let mut config = simulation::ServerConfig::default();
    if args.no_join_limits {
        let unlimited = simulation::RateLimit {
            per_second: 1e9,
            burst: u32::MAX,
        };
        config.join_rate = unlimited;
        config.join_rate_per_ip = unlimited;
    }
    let site = match &args.site {
        Some(dir) => {
            let site = Site::bind(&args.site_addr, dir)?;
            config.origins = site.origins()?;
            Some(site)
        }
        None => None,
    };
    let app = simulation::app_with_config(&settings, config)?;
    let server = app.world().resource::<SyncServer>();
    println!("{}?token=YOUR_NAME", server.url());
    if let Some(site) = site {
        let page = site.addr()?;
        site.serve(server.addr().port(), server.resource())?;
        println!("page: http://{page}/");
    }
    simulation::run(app, &settings);
    Ok(())
}
