//! The page beside the world: the built static site (see
//! `scripts/demo.sh bevy`) on its own HTTP listener.
//!
//! The world's WebSocket lives on the plugin's listener, which serves only
//! `/realtime/{resource}`; this module serves the page's files from another
//! port, plus one generated script, `/world.js`, that tells the page where
//! the world is (`window.BEVY_WORLD = {port, resource}`; the page connects
//! to the host it was loaded from, on that port). Because the page and the
//! WebSocket differ in port, they are different origins:
//! [`Site::origins`] is the policy that lets this page (and no other site)
//! connect.
//!
//! It is not a general web server: no compression, no caching headers, no
//! TLS. It runs on a thread of its own, so it never waits on Bevy's
//! schedule, and lives as long as the process.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use tower_http::services::ServeDir;
use ui_flow_server::OriginPolicy;

/// The page's listener, bound and not yet serving.
#[derive(Debug)]
pub struct Site {
    listener: std::net::TcpListener,
    dir: PathBuf,
}

impl Site {
    /// Binds `addr` (`127.0.0.1:0` picks a free port) for the files in
    /// `dir`. Fails when `dir` has no `index.html` (the site was not built)
    /// or the address is taken.
    pub fn bind(addr: &str, dir: impl Into<PathBuf>) -> std::io::Result<Site> {
        let dir = dir.into();
        if !dir.join("index.html").is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "{} has no index.html: build the page with ./scripts/demo.sh bevy --build-only",
                    dir.display()
                ),
            ));
        }
        let listener = std::net::TcpListener::bind(addr)?;
        Ok(Site { listener, dir })
    }

    /// Where the page is served.
    pub fn addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The origins the world's server must accept for this page:
    /// `http://HOST:PORT` of the listener, and `http://localhost:PORT` too
    /// when it listens on a loopback address.
    pub fn origins(&self) -> std::io::Result<OriginPolicy> {
        let addr = self.addr()?;
        let mut origins = vec![format!("http://{addr}")];
        if addr.ip().is_loopback() {
            origins.push(format!("http://localhost:{}", addr.port()));
        }
        Ok(OriginPolicy::AllowList(origins))
    }

    /// Serves the files and `/world.js` (naming `world_port` and
    /// `resource`) on a thread of its own, until the process ends.
    pub fn serve(self, world_port: u16, resource: &str) -> std::io::Result<()> {
        let script = world_script(world_port, resource);
        let app = Router::new()
            .route(
                "/world.js",
                get(move || async move { ([(header::CONTENT_TYPE, "text/javascript")], script) }),
            )
            .fallback_service(ServeDir::new(self.dir));
        self.listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = self.listener;
        std::thread::Builder::new()
            .name("bevy-world-site".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            if let Err(e) = axum::serve(listener, app).await {
                                eprintln!("the page's server stopped: {e}");
                            }
                        }
                        Err(e) => eprintln!("the page's server could not listen: {e}"),
                    }
                });
            })?;
        Ok(())
    }
}

/// The generated `/world.js`.
fn world_script(port: u16, resource: &str) -> String {
    let world = serde_json::json!({ "port": port, "resource": resource });
    format!("window.BEVY_WORLD = {world};\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_names_port_and_resource_as_json() {
        assert_eq!(
            world_script(9100, "wor\"ld"),
            "window.BEVY_WORLD = {\"port\":9100,\"resource\":\"wor\\\"ld\"};\n"
        );
    }
}
