//! The demo server with its worlds on disk, killed with SIGKILL in the
//! middle of a burst of actions, twenty times, and started again on the same
//! folder each time. Three native ui-flow clients keep acting throughout.
//!
//! What must hold: the store always reopens; every client resumes every time
//! with `Deltas` (it is sent exactly one snapshot, at its first join, so the
//! epoch never changed); the seqs it applies run 1, 2, 3... with no gap and
//! no repeat; no acknowledged action is lost and none is applied twice (each
//! `ActionOk` for a move is exactly one `Moved` delta of that player, and
//! every action ends with exactly one outcome).

mod support;

use std::path::{Path, PathBuf};

use support::{DemoServer, Player, assert_nothing_lost, burst, enter_all, settle};
use tokio::sync::watch;

const KILLS: usize = 20;
const PLAYERS: usize = 3;
/// Outcomes to wait for between two kills.
const ACKS_PER_ROUND: usize = 6;

fn data_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("demo-restart-{}-{nanos}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The demo server on `data`, at `addr` (port 0: any).
fn start(addr: &str, data: &Path) -> (DemoServer, String) {
    let (server, addr) = DemoServer::start([
        "--addr".as_ref(),
        addr.as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
    ]);
    (server, addr.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twenty_times_mid_burst_every_client_resumes_with_deltas_and_loses_nothing() {
    let data = data_dir();
    let (mut server, addr) = start("127.0.0.1:0", &data);
    let (acks, mut acked) = watch::channel(0usize);
    let (events, mut heard) = watch::channel(0usize);
    let mut players: Vec<Player> = (0..PLAYERS)
        .map(|i| {
            Player::connect(
                addr.parse().expect("addr"),
                &format!("p{i}"),
                7 + i as u64,
                acks.clone(),
                events.clone(),
            )
        })
        .collect();
    enter_all(&mut players);
    let mut round = 0;
    for kill in 0..KILLS {
        // A burst, then a kill with actions still in flight, then the
        // server again on the same folder and port.
        let what = format!("kill {kill}");
        burst(&mut players, &mut acked, ACKS_PER_ROUND, &mut round, &what).await;
        server.kill();
        server = start(&addr, &data).0;
    }
    settle(&players, &mut heard).await;
    assert_nothing_lost(&players);
    drop(players);
    server.kill();
    let _ = std::fs::remove_dir_all(&data);
}
