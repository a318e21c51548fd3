//! The example's simulation against a native ui-flow client over a real
//! WebSocket on 127.0.0.1: entities move in the mirror, a spawn and a
//! velocity edit round-trip. Frames are stepped by hand; every network wait
//! is for an event, bounded by [`LIMIT`].

use std::time::Duration;

use bevy_world::simulation::{self, Settings};
use bevy_world::{Name, Position, Velocity, WorldCommand};
use tokio::sync::mpsc;
use ui_flow::client::{Event, OpState};
use ui_flow::{FlowConnection, OpId};
use ui_flow_bevy::{EntityId, SyncServer, SyncedModel, SyncedWorld};

const LIMIT: Duration = Duration::from_secs(30);

type Conn = FlowConnection<SyncedModel<WorldCommand>>;
type ClientEvent = Event<SyncedWorld, ()>;

fn connect(url: String, user: &str) -> (Conn, mpsc::UnboundedReceiver<ClientEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let conn = Conn::builder()
        .url(url)
        .token(user)
        .on_event(move |event| {
            let _ = tx.send(event.clone());
        })
        .connect()
        .expect("connect");
    (conn, rx)
}

/// Steps frames (one per 2 ms, standing in for the runner) until `done`
/// holds for an event, bounded by [`LIMIT`].
async fn step_until(
    app: &mut bevy_app::App,
    events: &mut mpsc::UnboundedReceiver<ClientEvent>,
    mut done: impl FnMut(&ClientEvent) -> bool,
) -> ClientEvent {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited past the limit"
        );
        app.update();
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(2), events.recv()).await
        {
            if done(&event) {
                return event;
            }
        }
    }
}

fn settled(op: OpId) -> impl FnMut(&ClientEvent) -> bool {
    move |e| matches!(e, Event::Action { op_id, state } if *op_id == op && state.is_settled())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_move_and_edits_round_trip() {
    let settings = Settings {
        addr: "127.0.0.1:0".into(),
        entities: 20,
        hz: 0,
        sync_every: 1,
    };
    let mut app = simulation::app(&settings).expect("app");
    let url = app.world().resource::<SyncServer>().url();
    let (conn, mut events) = connect(url, "alice");
    // The first tick carries all 20 movers.
    step_until(&mut app, &mut events, |_| mirrors_n_entities(&conn, 20)).await;
    let before = conn.state().components::<Position>();
    // Events already queued may be of deltas `before` has: only one that
    // arrives after them is sure to be newer.
    while events.try_recv().is_ok() {}
    step_until(&mut app, &mut events, |e| matches!(e, Event::Delta { .. })).await;
    let after = conn.state().components::<Position>();
    assert_eq!(before.len(), 20);
    assert!(
        before.iter().any(|(id, p)| after.get(id) != Some(p)),
        "something moved"
    );

    let op = conn
        .send_action(WorldCommand::Spawn { x: 10.0, y: 20.0 })
        .expect("send");
    let Event::Action {
        state: OpState::Ok { result: Some(id) },
        ..
    } = step_until(&mut app, &mut events, settled(op)).await
    else {
        panic!("the spawn succeeds");
    };
    let spawned = EntityId(id.decode::<u64>().expect("an id"));
    let mirror = conn.state();
    assert_eq!(
        mirror.component::<Name>(spawned).map(Result::ok),
        Some(Some(Name("alice's".into())))
    );
    assert_eq!(
        mirror.component::<Position>(spawned).map(Result::ok),
        Some(Some(Position { x: 10.0, y: 20.0 }))
    );

    let velocity = Velocity { dx: 1.5, dy: -0.5 };
    let op = conn
        .send_action(WorldCommand::SetVelocity {
            entity: spawned.0,
            velocity,
        })
        .expect("send");
    assert!(matches!(
        step_until(&mut app, &mut events, settled(op)).await,
        Event::Action {
            state: OpState::Ok { .. },
            ..
        }
    ));
    assert_eq!(
        conn.state().component::<Velocity>(spawned).map(Result::ok),
        Some(Some(velocity))
    );

    let op = conn
        .send_action(WorldCommand::Spawn { x: -1.0, y: 0.0 })
        .expect("send");
    assert!(
        matches!(step_until(&mut app, &mut events, settled(op)).await,
        Event::Action { state: OpState::Err { code: Some(code), .. }, .. } if code == "out_of_bounds")
    );
}

/// The outcome of `command`, stepping frames until it settles.
async fn outcome(
    app: &mut bevy_app::App,
    events: &mut mpsc::UnboundedReceiver<ClientEvent>,
    conn: &Conn,
    command: WorldCommand,
) -> OpState {
    let op = conn.send_action(command).expect("send");
    match step_until(app, events, settled(op)).await {
        Event::Action { state, .. } => state,
        _ => unreachable!("settled() matches actions only"),
    }
}

fn refused_with(state: &OpState, want: &str) -> bool {
    matches!(state, OpState::Err { code: Some(code), .. } if code == want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_is_trimmed_and_bad_names_are_refused() {
    let settings = Settings {
        addr: "127.0.0.1:0".into(),
        entities: 3,
        hz: 0,
        sync_every: 1,
    };
    let mut app = simulation::app(&settings).expect("app");
    let url = app.world().resource::<SyncServer>().url();
    let (conn, mut events) = connect(url, "alice");
    step_until(&mut app, &mut events, |_| mirrors_n_entities(&conn, 3)).await;
    let (entity, _) = conn
        .state()
        .components::<Name>()
        .into_iter()
        .next()
        .expect("a named entity");
    let name_of = |conn: &Conn| conn.state().component::<Name>(entity).map(Result::ok);

    let renamed = WorldCommand::Rename {
        entity: entity.0,
        name: "  Blue Comet ".into(),
    };
    let state = outcome(&mut app, &mut events, &conn, renamed).await;
    assert!(matches!(state, OpState::Ok { .. }), "{state:?}");
    // The answer is released after the tick that carries the change.
    assert_eq!(name_of(&conn), Some(Some(Name("Blue Comet".into()))));

    let too_long = "x".repeat(bevy_world::NAME_MAX_CHARS + 1);
    let longest = "é".repeat(bevy_world::NAME_MAX_CHARS);
    for bad in ["", "   ", too_long.as_str(), "tab\there"] {
        let command = WorldCommand::Rename {
            entity: entity.0,
            name: bad.to_owned(),
        };
        let state = outcome(&mut app, &mut events, &conn, command).await;
        assert!(refused_with(&state, "invalid_name"), "{bad:?}: {state:?}");
    }
    assert_eq!(name_of(&conn), Some(Some(Name("Blue Comet".into()))));

    let command = WorldCommand::Rename {
        entity: entity.0,
        name: longest.clone(),
    };
    let state = outcome(&mut app, &mut events, &conn, command).await;
    assert!(matches!(state, OpState::Ok { .. }), "{state:?}");
    assert_eq!(name_of(&conn), Some(Some(Name(longest))));

    let command = WorldCommand::Rename {
        entity: u64::MAX,
        name: "Nobody".into(),
    };
    let state = outcome(&mut app, &mut events, &conn, command).await;
    assert!(refused_with(&state, "not_found"), "{state:?}");
}

/// A predicate that holds once the mirror has `n` entities.
fn mirrors_n_entities(conn: &Conn, n: usize) -> bool {
    conn.seq().is_some() && conn.state().len() == n
}
