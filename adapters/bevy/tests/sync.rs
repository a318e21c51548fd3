//! The plugin against native ui-flow clients over real WebSockets on
//! 127.0.0.1. The app is stepped by hand (`app.update()` is one frame), so
//! "one tick" is exact; every wait for the network is for an event, bounded
//! by [`LIMIT`].

use std::collections::BTreeMap;
use std::time::Duration;

use bevy_app::{App, Update};
use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use ui_flow::client::{ClientConfig, Event, OpState};
use ui_flow::{FlowConnection, OpId};
use ui_flow_bevy::{
    ClientAction, ComponentValue, EntityId, SyncApp, SyncServer, SyncedModel, SyncedWorld,
    UiFlowPlugin, WorldDelta, component_name,
};

/// The bound on any single wait: a test that needs longer has failed.
const LIMIT: Duration = Duration::from_secs(30);

#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Position {
    x: i32,
    y: i32,
}

#[derive(Component, Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Name(String);

/// Not registered: never travels.
#[derive(Component)]
struct Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Command {
    Spawn { x: i32, y: i32 },
    Delete { entity: u64 },
    Ignored,
}

type Conn = FlowConnection<SyncedModel<Command>>;
type ClientEvent = Event<SyncedWorld, ()>;

fn app(sync_every: u32) -> App {
    let mut app = App::new();
    app.add_plugins(
        UiFlowPlugin::<Command>::bind("127.0.0.1:0")
            .expect("bind")
            .sync_every(sync_every),
    )
    .sync_component::<Position>()
    .sync_component::<Name>()
    .add_systems(Update, perform);
    app
}

/// The app's action system: spawn answers with the new entity's id,
/// deleting a missing entity is refused, `Ignored` is left unanswered.
fn perform(
    mut commands: Commands<'_, '_>,
    mut actions: MessageReader<'_, '_, ClientAction<Command>>,
) {
    for request in actions.read() {
        match request.action() {
            Command::Spawn { x, y } => {
                request.progress(Some(50), Some("spawning"));
                let entity = commands
                    .spawn((
                        Position { x: *x, y: *y },
                        Name(request.user_id().to_owned()),
                    ))
                    .id();
                request.ok_with(&entity.to_bits());
            }
            Command::Delete { entity } => match Entity::try_from_bits(*entity) {
                Some(e) => {
                    commands.entity(e).try_despawn();
                    request.ok();
                }
                None => {
                    request.err("not_found", "no such entity");
                }
            },
            Command::Ignored => {}
        }
    }
}

fn connect(app: &App, user: &str) -> (Conn, mpsc::UnboundedReceiver<ClientEvent>) {
    let url = app.world().resource::<SyncServer>().url();
    let (tx, rx) = mpsc::unbounded_channel();
    let conn = Conn::builder()
        .url(url)
        .token(user)
        .config(ClientConfig::default())
        .on_event(move |event| {
            let _ = tx.send(event.clone());
        })
        .connect()
        .expect("connect");
    (conn, rx)
}

async fn next(events: &mut mpsc::UnboundedReceiver<ClientEvent>) -> ClientEvent {
    tokio::time::timeout(LIMIT, events.recv())
        .await
        .expect("an event within the limit")
        .expect("the connection is alive")
}

/// The next snapshot or delta, skipping status and other events.
async fn next_sync(events: &mut mpsc::UnboundedReceiver<ClientEvent>) -> ClientEvent {
    loop {
        let event = next(events).await;
        if matches!(event, Event::Snapshot { .. } | Event::Delta { .. }) {
            return event;
        }
    }
}

/// Waits until the server's log has reached `seq`: a probe client
/// follows the seq line to it. (Commits leave the app asynchronously; a
/// client that joins after this gets a snapshot at `seq` or later.)
async fn committed(app: &App, seq: u64) {
    let (probe, mut events) = connect(app, "probe");
    loop {
        match next_sync(&mut events).await {
            Event::Snapshot { seq: at, .. } | Event::Delta { seq: at, .. } if at >= seq => break,
            _ => {}
        }
    }
    probe.close();
}

/// What a client should mirror: the registered components of the world,
/// read straight from Bevy.
fn expected(world: &mut World) -> SyncedWorld {
    let mut out = SyncedWorld::default();
    let mut query = world.query::<(Entity, Option<&Position>, Option<&Name>)>();
    for (entity, position, name) in query.iter(world) {
        let mut components = BTreeMap::new();
        if let Some(p) = position {
            components.insert(
                component_name::<Position>(),
                ComponentValue::encode(p).expect("encode"),
            );
        }
        if let Some(n) = name {
            components.insert(
                component_name::<Name>(),
                ComponentValue::encode(n).expect("encode"),
            );
        }
        if !components.is_empty() {
            out.entities.insert(EntityId(entity.to_bits()), components);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_client_gets_the_world_as_its_snapshot() {
    let mut app = app(1);
    let world = app.world_mut();
    for i in 0..5 {
        world.spawn((Position { x: i, y: -i }, Name(format!("n{i}"))));
    }
    world.spawn(Position { x: 9, y: 9 });
    world.spawn((Name("only a name".into()), Secret));
    world.spawn(Secret);
    app.update();
    committed(&app, 1).await;
    let (_conn, mut events) = connect(&app, "alice");
    let Event::Snapshot { state, seq, .. } = next_sync(&mut events).await else {
        panic!("a snapshot first");
    };
    assert_eq!(seq, 1, "the first tick is one commit");
    assert_eq!(state, expected(app.world_mut()));
    assert_eq!(
        state.len(),
        7,
        "the entity with only an unregistered component is left out"
    );
    assert_eq!(state.components::<Position>().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_in_one_tick_are_one_seq_and_quiet_ticks_none() {
    let mut app = app(1);
    let a = app.world_mut().spawn(Position { x: 0, y: 0 }).id();
    let b = app.world_mut().spawn(Position { x: 1, y: 1 }).id();
    let c = app
        .world_mut()
        .spawn((Position { x: 2, y: 2 }, Name("c".into())))
        .id();
    app.update();
    committed(&app, 1).await;
    let (conn, mut events) = connect(&app, "alice");
    assert!(matches!(
        next_sync(&mut events).await,
        Event::Snapshot { seq: 1, .. }
    ));

    // One frame: two moves, an insert, a removal, a spawn, a despawn.
    let world = app.world_mut();
    world.get_mut::<Position>(a).expect("a").x = 10;
    world.get_mut::<Position>(b).expect("b").y = 11;
    world.entity_mut(a).insert(Name("a".into()));
    world.entity_mut(c).remove::<Name>();
    let d = world.spawn(Position { x: 3, y: 3 }).id();
    world.entity_mut(b).despawn();
    app.update();
    let Event::Delta { delta, seq } = next_sync(&mut events).await else {
        panic!("a delta");
    };
    assert_eq!(seq, 2, "one tick, one seq");
    assert_eq!(delta.despawned, [EntityId(b.to_bits())]);
    assert_eq!(
        delta.removed,
        [(EntityId(c.to_bits()), component_name::<Name>())]
    );
    let mut set: Vec<(EntityId, String)> =
        delta.set.iter().map(|(e, n, _)| (*e, n.clone())).collect();
    set.sort();
    let mut want = vec![
        (EntityId(a.to_bits()), component_name::<Position>()),
        (EntityId(a.to_bits()), component_name::<Name>()),
        (EntityId(d.to_bits()), component_name::<Position>()),
    ];
    want.sort();
    assert_eq!(set, want, "only the changed components travel");

    // Quiet ticks take no seq: the next change is seq 3, not 6.
    for _ in 0..3 {
        app.update();
    }
    app.world_mut().get_mut::<Position>(d).expect("d").x = 30;
    app.update();
    let Event::Delta { delta, seq } = next_sync(&mut events).await else {
        panic!("a delta");
    };
    assert_eq!(seq, 3);
    assert_eq!(delta.set.len(), 1);
    assert_eq!(conn.state(), expected(app.world_mut()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_between_sync_ticks_are_coalesced() {
    let mut app = app(3);
    let a = app.world_mut().spawn(Position { x: 0, y: 0 }).id();
    for _ in 0..3 {
        app.update();
    }
    committed(&app, 1).await;
    let (conn, mut events) = connect(&app, "alice");
    assert!(matches!(
        next_sync(&mut events).await,
        Event::Snapshot { seq: 1, .. }
    ));
    // Three frames, three changes to one component, one sync tick.
    for x in 1..=3 {
        app.world_mut().get_mut::<Position>(a).expect("a").x = x;
        app.update();
    }
    let Event::Delta { delta, seq } = next_sync(&mut events).await else {
        panic!("a delta");
    };
    assert_eq!(seq, 2);
    assert_eq!(delta.set.len(), 1, "{delta:?}");
    assert_eq!(
        conn.state()
            .component::<Position>(EntityId(a.to_bits()))
            .map(Result::ok),
        Some(Some(Position { x: 3, y: 0 }))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_registered_before_the_plugin_sync_too() {
    let mut app = App::new();
    app.sync_component::<Position>().add_plugins(
        UiFlowPlugin::<Command>::bind("127.0.0.1:0")
            .expect("bind")
            .sync_every(2),
    );
    app.world_mut().spawn(Position { x: 1, y: 2 });
    app.update();
    app.update();
    committed(&app, 1).await;
    let (conn, mut events) = connect(&app, "alice");
    next_sync(&mut events).await;
    assert_eq!(conn.state(), expected(app.world_mut()));
    assert_eq!(conn.seq(), Some(1), "two frames, one tick");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_despawned_entity_leaves_the_mirror() {
    let mut app = app(1);
    let a = app
        .world_mut()
        .spawn((Position { x: 0, y: 0 }, Name("a".into())))
        .id();
    let keep = app.world_mut().spawn(Position { x: 1, y: 1 }).id();
    app.update();
    committed(&app, 1).await;
    let (conn, mut events) = connect(&app, "alice");
    next_sync(&mut events).await;
    assert!(conn.state().entities.contains_key(&EntityId(a.to_bits())));
    app.world_mut().entity_mut(a).despawn();
    app.update();
    let Event::Delta { delta, .. } = next_sync(&mut events).await else {
        panic!("a delta");
    };
    assert_eq!(
        delta,
        WorldDelta {
            despawned: vec![EntityId(a.to_bits())],
            ..WorldDelta::default()
        }
    );
    let mirror = conn.state();
    assert!(!mirror.entities.contains_key(&EntityId(a.to_bits())));
    assert!(mirror.entities.contains_key(&EntityId(keep.to_bits())));
}

/// Steps frames until the op settles, recording the events seen; bounded
/// by [`LIMIT`]. (A frame every 2 ms stands for the app's runner.)
async fn run_until_settled(
    app: &mut App,
    events: &mut mpsc::UnboundedReceiver<ClientEvent>,
    op: OpId,
) -> Vec<ClientEvent> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the action settled within the limit"
        );
        app.update();
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(2), events.recv()).await
        {
            let settled = matches!(&event, Event::Action { op_id, state } if *op_id == op && state.is_settled());
            seen.push(event);
            if settled {
                return seen;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_round_trip_with_ok_err_and_progress() {
    let mut app = app(1);
    app.update();
    let (conn, mut events) = connect(&app, "alice");
    next_sync(&mut events).await;

    let op = conn
        .send_action(Command::Spawn { x: 4, y: 5 })
        .expect("send");
    let seen = run_until_settled(&mut app, &mut events, op).await;
    let Some(Event::Action {
        state: OpState::Ok {
            result: Some(result),
        },
        ..
    }) = seen.last()
    else {
        panic!("ActionOk with a result: {seen:?}");
    };
    let spawned = EntityId(result.decode::<u64>().expect("an entity id"));
    // The delta that spawned it arrived before the ActionOk.
    let delta_at = seen
        .iter()
        .position(|e| matches!(e, Event::Delta { delta, .. } if delta.set.iter().any(|(id, _, _)| *id == spawned)))
        .expect("the spawn's delta");
    assert!(delta_at < seen.len() - 1);
    assert!(seen.iter().any(|e| matches!(e,
        Event::Action { op_id, state: OpState::Progress { percent: Some(50), .. } } if *op_id == op)));
    assert_eq!(
        conn.state().component::<Name>(spawned).map(Result::ok),
        Some(Some(Name("alice".into()))),
        "the acting user comes from authentication"
    );

    let op = conn
        .send_action(Command::Delete { entity: 0 })
        .expect("send");
    let seen = run_until_settled(&mut app, &mut events, op).await;
    assert!(matches!(seen.last(),
        Some(Event::Action { state: OpState::Err { code: Some(code), .. }, .. }) if code == "not_found"));

    let op = conn.send_action(Command::Ignored).expect("send");
    let seen = run_until_settled(&mut app, &mut events, op).await;
    assert!(matches!(seen.last(),
        Some(Event::Action { state: OpState::Err { code: Some(code), .. }, .. }) if code == "unanswered"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnected_clients_leave_nothing_behind() {
    let app = app(1);
    let server = app.world().resource::<SyncServer>();
    for round in 0..50 {
        let (conn, mut events) = connect(&app, &format!("user{round}"));
        next_sync(&mut events).await;
        conn.close();
        drop(conn);
    }
    // No event says "the server forgot the socket": poll, bounded.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while server.connection_count() > 0 || server.session_count() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "every connection left within the limit"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    Spawn { x: i32, named: bool },
    Move { pick: usize, dx: i32 },
    Rename { pick: usize },
    Unname { pick: usize },
    Unplace { pick: usize },
    Despawn { pick: usize },
    Frame,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        (any::<i32>(), any::<bool>()).prop_map(|(x, named)| Step::Spawn { x, named }),
        (any::<usize>(), -5..5i32).prop_map(|(pick, dx)| Step::Move { pick, dx }),
        any::<usize>().prop_map(|pick| Step::Rename { pick }),
        any::<usize>().prop_map(|pick| Step::Unname { pick }),
        any::<usize>().prop_map(|pick| Step::Unplace { pick }),
        any::<usize>().prop_map(|pick| Step::Despawn { pick }),
        Just(Step::Frame),
        Just(Step::Frame),
    ]
}

fn apply(world: &mut World, step: &Step, n: &mut u32) {
    // Only the test's own entities: Bevy keeps some of its own too.
    let entities: Vec<Entity> = world
        .query_filtered::<Entity, Or<(With<Position>, With<Name>)>>()
        .iter(world)
        .collect();
    let pick = |i: usize| (!entities.is_empty()).then(|| entities[i % entities.len()]);
    match *step {
        Step::Spawn { x, named } => {
            let e = world.spawn(Position { x, y: 0 }).id();
            if named {
                world.entity_mut(e).insert(Name(format!("s{x}")));
            }
        }
        Step::Move { pick: i, dx } => {
            if let Some(mut p) = pick(i).and_then(|e| world.get_mut::<Position>(e)) {
                p.x = p.x.wrapping_add(dx);
            }
        }
        Step::Rename { pick: i } => {
            if let Some(e) = pick(i) {
                *n += 1;
                world.entity_mut(e).insert(Name(format!("r{n}")));
            }
        }
        Step::Unname { pick: i } => {
            if let Some(e) = pick(i) {
                world.entity_mut(e).remove::<Name>();
            }
        }
        Step::Unplace { pick: i } => {
            if let Some(e) = pick(i) {
                world.entity_mut(e).remove::<Position>();
            }
        }
        Step::Despawn { pick: i } => {
            if let Some(e) = pick(i) {
                world.entity_mut(e).despawn();
            }
        }
        Step::Frame => {}
    }
}

/// Waits until the client's mirror equals `want`, bounded by [`LIMIT`].
async fn converges(
    conn: &Conn,
    events: &mut mpsc::UnboundedReceiver<ClientEvent>,
    want: &SyncedWorld,
) {
    while conn.state() != *want || conn.seq().is_none() {
        next(events).await;
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// A world changed over many frames (spawns, moves, inserts, removals,
    /// despawns) and a client that watched it all end up equal, and so
    /// does the snapshot of a client that joins at the end.
    #[test]
    fn a_mirror_follows_any_history(
        steps in proptest::collection::vec(step(), 1..60),
        sync_every in 1..4u32,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut app = app(sync_every);
            let (early, mut early_events) = connect(&app, "early");
            next_sync(&mut early_events).await;
            let mut n = 0;
            for s in &steps {
                if matches!(s, Step::Frame) {
                    app.update();
                } else {
                    apply(app.world_mut(), s, &mut n);
                }
            }
            for _ in 0..sync_every {
                app.update();
            }
            let want = expected(app.world_mut());
            converges(&early, &mut early_events, &want).await;
            let (late, mut late_events) = connect(&app, "late");
            converges(&late, &mut late_events, &want).await;
        });
    }
}
