//! Measures what one client receives from the example world, per second of
//! simulation at 60 Hz, and how long a frame takes on the app's side.
//!
//! `cargo run --release -p bevy-world --example bandwidth`
//!
//! The last scenarios use interest management (`--interest RADIUS` of the
//! server): the client sees only the entities within RADIUS of the centre
//! of the 1000 × 1000 square, entering and leaving as they move.
//!
//! Each scenario steps 60 frames (one simulated second, a sync tick every
//! frame) and counts the bytes of the binary WebSocket messages one raw
//! client (tokio-tungstenite on 127.0.0.1) receives after its snapshot:
//! ui-flow frames, without the WebSocket header. Frame time is the mean
//! wall time of `app.update()` (movement, marking, encoding the tick); the
//! server thread's fan-out is not in it.

use std::time::{Duration, Instant};

use bevy_app::Update;
use bevy_ecs::prelude::*;
use bevy_world::simulation::{self, Settings};
use bevy_world::{Name, Velocity};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use ui_flow::ServerTag;
use ui_flow::codec::{Limits, peek_tag};
use ui_flow_bevy::SyncServer;

const FRAMES: u64 = 60;

/// Marks every entity's Velocity and Name changed each frame, so all
/// three components travel every tick (the worst case).
fn touch_all(mut q: Query<'_, '_, (&mut Velocity, &mut Name)>) {
    for (mut v, mut n) in &mut q {
        v.set_changed();
        n.set_changed();
    }
}

async fn scenario(label: &str, entities: usize, all_components: bool, interest: Option<f32>) {
    let settings = Settings {
        addr: "127.0.0.1:0".into(),
        entities,
        hz: 60,
        sync_every: 1,
    };
    let mut app =
        simulation::app_with_interest(&settings, simulation::ServerConfig::default(), interest)
            .expect("app");
    if all_components {
        app.add_systems(Update, touch_all.after(simulation::movement));
    }
    app.update();
    let url = format!("{}?token=bench", app.world().resource::<SyncServer>().url());
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let limits = Limits::default();
    let mut snapshot_bytes = 0;
    while snapshot_bytes == 0 {
        if let Some(Ok(Message::Binary(bytes))) = socket.next().await
            && peek_tag(&bytes, &limits).ok() == Some(ServerTag::SNAPSHOT.0)
        {
            snapshot_bytes = bytes.len();
        }
    }
    let mut spent = Duration::ZERO;
    for _ in 0..FRAMES {
        let start = Instant::now();
        app.update();
        spent += start.elapsed();
    }
    let (mut deltas, mut bytes_in) = (0, 0);
    while deltas < FRAMES {
        match socket.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                // With interest, a view's delta may also come as `Deltas`.
                let tag = peek_tag(&bytes, &limits).ok();
                if tag == Some(ServerTag::DELTA.0) || tag == Some(ServerTag::DELTAS.0) {
                    deltas += 1;
                }
                bytes_in += bytes.len();
            }
            Some(Ok(_)) => {}
            other => panic!("the socket ended: {other:?}"),
        }
    }
    println!(
        "{label}: snapshot {snapshot_bytes} B, {bytes_in} B/s per client ({:.1} KB/s), {:.0} B per tick, frame {:.1} µs",
        bytes_in as f64 / 1000.0,
        bytes_in as f64 / FRAMES as f64,
        spent.as_secs_f64() * 1e6 / FRAMES as f64,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    scenario(
        "3 entities x 3 components, only Position changing",
        3,
        false,
        None,
    )
    .await;
    scenario(
        "3 entities x 3 components, all three changing",
        3,
        true,
        None,
    )
    .await;
    scenario("500 moving entities (Position changing)", 500, false, None).await;
    for radius in [250.0, 100.0] {
        scenario(
            &format!("500 moving entities, interest radius {radius} around the centre"),
            500,
            false,
            Some(radius),
        )
        .await;
    }
}
