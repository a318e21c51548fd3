//! The server the browser tests talk to: the journal app on a real
//! ui-flow-server, behind the fault-injecting proxy.
//!
//! ```text
//! flow-test-server [PROXY_ADDR] [--max-seconds N]
//! ```
//!
//! PROXY_ADDR defaults to `127.0.0.1:0` (a free port). The first line
//! printed is `ws://HOST:PORT`, the base URL clients append
//! `/realtime/{resource}?token={user}` to. The process exits by itself
//! after `--max-seconds` (default 600), so a test run that dies cannot
//! leave it behind for long.

#[cfg(not(target_arch = "wasm32"))]
#[tokio::main]
async fn main() -> std::io::Result<()> {
    use std::io::Write;
    use std::time::Duration;

    let mut addr = "127.0.0.1:0".to_owned();
    let mut max_seconds = 600;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--max-seconds" => {
                max_seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| std::io::Error::other("--max-seconds needs a number"))?;
            }
            other => addr = other.to_owned(),
        }
    }
    let addr = addr.parse().map_err(std::io::Error::other)?;
    let server = ui_flow_client_tests::server::TestServer::start_on(addr).await?;
    let mut out = std::io::stdout();
    writeln!(out, "ws://{}", server.proxy_addr())?;
    out.flush()?;
    tokio::time::sleep(Duration::from_secs(max_seconds)).await;
    Ok(())
}

#[cfg(target_arch = "wasm32")]
fn main() {}
