//! The page's server (`bevy_world::site`) on 127.0.0.1: it serves the
//! built files and `/world.js`, refuses a folder that was never built, and
//! names the page's origins for the world's origin policy.

use std::path::PathBuf;

use bevy_world::site::Site;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ui_flow_server::OriginPolicy;

/// A folder of its own under the system's temporary folder, removed on drop.
struct Folder(PathBuf);

impl Folder {
    fn new(name: &str) -> Folder {
        let dir = std::env::temp_dir().join(format!("bevy-world-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        Folder(dir)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `GET path` over a fresh connection: the status line and the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, body.to_owned())
}

#[tokio::test]
async fn serves_the_files_and_where_the_world_is() {
    let folder = Folder::new("site");
    std::fs::write(folder.0.join("index.html"), "<p>the page</p>").expect("write");
    let site = Site::bind("127.0.0.1:0", &folder.0).expect("bind");
    let addr = site.addr().expect("addr");
    assert_eq!(
        site.origins().expect("origins"),
        OriginPolicy::AllowList(vec![
            format!("http://{addr}"),
            format!("http://localhost:{}", addr.port()),
        ])
    );
    site.serve(9100, "world").expect("serve");

    let (status, body) = get(addr, "/world.js").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        body,
        "window.BEVY_WORLD = {\"port\":9100,\"resource\":\"world\"};\n"
    );
    let (status, body) = get(addr, "/").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "<p>the page</p>");
    let (status, _) = get(addr, "/missing.js").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

#[test]
fn a_folder_without_index_html_is_refused() {
    let folder = Folder::new("unbuilt");
    let error = Site::bind("127.0.0.1:0", &folder.0).expect_err("no index.html");
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    assert!(error.to_string().contains("demo.sh bevy"), "{error}");
}
