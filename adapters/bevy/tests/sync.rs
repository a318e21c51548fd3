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
    ClientAction, ComponentValue, Components, EntityId, Interest, Interests, SyncApp, SyncServer,
    SyncedModel, SyncedWorld, TICK_QUEUE, UiFlowPlugin, WorldDelta, component_name, get_component,
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

// ---- Interest management ----

/// Sees the entities whose Position has `x` in `from..=to`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Band {
    from: i32,
    to: i32,
}

impl Interest for Band {
    fn sees(&self, _entity: EntityId, components: &Components) -> bool {
        matches!(get_component::<Position>(components), Some(Ok(p)) if (self.from..=self.to).contains(&p.x))
    }
}

fn interest_app(sync_every: u32, default: Option<Band>) -> App {
    let mut app = App::new();
    app.add_plugins(
        UiFlowPlugin::<Command>::bind("127.0.0.1:0")
            .expect("bind")
            .sync_every(sync_every)
            .interest(default),
    )
    .sync_component::<Position>()
    .sync_component::<Name>()
    .add_systems(Update, perform);
    // `committed` follows the seq line with a probe: it must see every
    // commit, or a commit it cannot see would never reach it.
    set_interest(
        &mut app,
        "probe",
        Band {
            from: i32::MIN,
            to: i32::MAX,
        },
    );
    app
}

/// What a user with `interest` should mirror: the world, projected.
fn expected_for(world: &mut World, interest: Option<Band>) -> SyncedWorld {
    let mut all = expected(world);
    all.entities
        .retain(|id, components| interest.is_some_and(|i| i.sees(*id, components)));
    all
}

fn set_interest(app: &mut App, user: &str, band: Band) {
    app.world_mut()
        .resource_mut::<Interests<Band>>()
        .set(user, band);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_with_different_interests_see_exactly_their_entities() {
    let left = Band { from: 0, to: 10 };
    let right = Band { from: 100, to: 110 };
    let mut app = interest_app(1, None);
    set_interest(&mut app, "alice", left);
    set_interest(&mut app, "bob", right);
    let world = app.world_mut();
    let a = world
        .spawn((Position { x: 0, y: 0 }, Name("a".into())))
        .id();
    world.spawn(Position { x: 5, y: 1 });
    let c = world
        .spawn((Position { x: 105, y: 2 }, Name("c".into())))
        .id();
    world.spawn(Position { x: 50, y: 3 });
    app.update();
    committed(&app, 1).await;
    let (alice, mut alice_events) = connect(&app, "alice");
    let (bob, mut bob_events) = connect(&app, "bob");
    let (carol, mut carol_events) = connect(&app, "carol");
    for events in [&mut alice_events, &mut bob_events, &mut carol_events] {
        assert!(matches!(next_sync(events).await, Event::Snapshot { .. }));
    }
    assert_eq!(alice.state(), expected_for(app.world_mut(), Some(left)));
    assert_eq!(alice.state().len(), 2);
    assert_eq!(bob.state(), expected_for(app.world_mut(), Some(right)));
    assert_eq!(bob.state().len(), 1);
    assert!(
        carol.state().is_empty(),
        "no interest and no default: nothing"
    );

    // `a` moves from alice's band to bob's: it leaves alice's mirror and
    // arrives whole (with its Name) in bob's.
    app.world_mut().get_mut::<Position>(a).expect("a").x = 101;
    app.update();
    let Event::Delta { delta, .. } = next_sync(&mut alice_events).await else {
        panic!("a delta for alice");
    };
    assert_eq!(delta.despawned, [EntityId(a.to_bits())]);
    let Event::Delta { delta, .. } = next_sync(&mut bob_events).await else {
        panic!("a delta for bob");
    };
    let mut names: Vec<String> = delta.set.iter().map(|(_, n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(
        names,
        [component_name::<Name>(), component_name::<Position>()]
    );
    assert_eq!(alice.state(), expected_for(app.world_mut(), Some(left)));
    assert_eq!(bob.state(), expected_for(app.world_mut(), Some(right)));

    // A change only bob sees: alice gets nothing for it, so her next delta
    // is the one after (her view skips that seq).
    app.world_mut().get_mut::<Position>(c).expect("c").y = 20;
    app.update();
    let Event::Delta { seq: bob_seq, .. } = next_sync(&mut bob_events).await else {
        panic!("a delta for bob");
    };
    app.world_mut().spawn(Position { x: 7, y: 7 });
    app.update();
    let Event::Delta { delta, seq } = next_sync(&mut alice_events).await else {
        panic!("a delta for alice");
    };
    assert_eq!(seq, bob_seq + 1, "alice received nothing for seq {bob_seq}");
    assert_eq!(delta.set.len(), 1);
    assert_eq!(alice.state(), expected_for(app.world_mut(), Some(left)));
    assert!(carol.state().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_an_interest_brings_entities_in_and_out() {
    let mut app = interest_app(1, Some(Band { from: 0, to: 10 }));
    for x in [0, 5, 20, 25, 40] {
        app.world_mut().spawn(Position { x, y: 0 });
    }
    app.update();
    committed(&app, 1).await;
    let (alice, mut events) = connect(&app, "alice");
    next_sync(&mut events).await;
    let default = Some(Band { from: 0, to: 10 });
    assert_eq!(alice.state(), expected_for(app.world_mut(), default));
    assert_eq!(alice.state().len(), 2, "the default interest");

    for band in [
        Band { from: 15, to: 30 },
        Band { from: 0, to: 40 },
        Band { from: 41, to: 50 },
    ] {
        set_interest(&mut app, "alice", band);
        app.update();
        let want = expected_for(app.world_mut(), Some(band));
        converges(&alice, &mut events, &want).await;
    }
    assert!(alice.state().is_empty());
    // Back to the default once the app forgets her interest.
    app.world_mut()
        .resource_mut::<Interests<Band>>()
        .clear("alice");
    app.update();
    let want = expected_for(app.world_mut(), default);
    converges(&alice, &mut events, &want).await;
    assert_eq!(alice.state().len(), 2);
}

/// One step of a random history with a moving interest.
#[derive(Debug, Clone)]
enum Seen {
    World(Step),
    Look { from: i32, width: i32 },
}

fn seen_step() -> impl proptest::strategy::Strategy<Value = Seen> {
    use proptest::prelude::*;
    prop_oneof![
        8 => step().prop_map(Seen::World),
        1 => (-20..20i32, 0..30i32).prop_map(|(from, width)| Seen::Look { from, width }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 16, ..Default::default() })]

    /// Whatever the world and the interest do, a watching client's mirror
    /// ends equal to the world as its interest sees it, and so does the
    /// snapshot of a client with the same interest that joins at the end.
    #[test]
    fn a_mirror_follows_its_interest_through_any_history(
        steps in proptest::collection::vec(seen_step(), 1..60),
        sync_every in 1..4u32,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut band = Band { from: -10, to: 10 };
            let mut app = interest_app(sync_every, None);
            set_interest(&mut app, "early", band);
            let (early, mut early_events) = connect(&app, "early");
            next_sync(&mut early_events).await;
            let mut n = 0;
            for s in &steps {
                match s {
                    Seen::World(Step::Frame) => app.update(),
                    Seen::World(s) => {
                        // Small x, so entities cross the band's edges.
                        let s = match *s {
                            Step::Spawn { x, named } => Step::Spawn { x: x % 30, named },
                            ref other => other.clone(),
                        };
                        apply(app.world_mut(), &s, &mut n);
                    }
                    Seen::Look { from, width } => {
                        band = Band { from: *from, to: from + width };
                        set_interest(&mut app, "early", band);
                        set_interest(&mut app, "late", band);
                    }
                }
            }
            set_interest(&mut app, "late", band);
            for _ in 0..sync_every {
                app.update();
            }
            let want = expected_for(app.world_mut(), Some(band));
            converges(&early, &mut early_events, &want).await;
            let (late, mut late_events) = connect(&app, "late");
            converges(&late, &mut late_events, &want).await;
        });
    }
}

// ---- The bounded tick channel ----

/// Lets everyone in as their token, except "blocker": its authentication
/// holds the server thread (a current-thread runtime) until released, so
/// the thread falls behind the app for as long as the test wants.
struct Blocking {
    entered: mpsc::UnboundedSender<()>,
    release: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

#[async_trait::async_trait]
impl ui_flow_server::Authenticator for Blocking {
    async fn authenticate(
        &self,
        request: ui_flow_server::AuthRequest<'_>,
    ) -> Result<ui_flow_server::Identity, ui_flow_server::AuthError> {
        let release = self
            .release
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take_if(|_| request.token == Some("blocker"));
        if let Some(release) = release {
            // Once: a reconnect after the release is let in at once.
            let _ = self.entered.send(());
            let _ = release.recv_timeout(LIMIT);
        }
        ui_flow_server::UnverifiedUserToken
            .authenticate(request)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_coalesce_when_the_server_falls_behind_and_lose_nothing() {
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let mut app = App::new();
    app.add_plugins(
        UiFlowPlugin::<Command>::bind("127.0.0.1:0")
            .expect("bind")
            .authenticator(Blocking {
                entered: entered_tx,
                release: std::sync::Mutex::new(Some(release_rx)),
            }),
    )
    .sync_component::<Position>()
    .sync_component::<Name>();
    let movers: Vec<Entity> = (0..8)
        .map(|i| app.world_mut().spawn(Position { x: i, y: 0 }).id())
        .collect();
    app.update();
    committed(&app, 1).await;
    let (alice, mut events) = connect(&app, "alice");
    next_sync(&mut events).await;

    // Hold the server thread, then change the world on more frames than
    // the queue holds.
    let (_blocker, _blocker_events) = connect(&app, "blocker");
    tokio::time::timeout(LIMIT, entered.recv())
        .await
        .expect("the blocker reaches authentication")
        .expect("alive");
    let frames = TICK_QUEUE as i32 + 36;
    for frame in 0..frames {
        let world = app.world_mut();
        let e = movers[frame as usize % movers.len()];
        if let Some(mut p) = world.get_mut::<Position>(e) {
            p.y = frame;
        }
        if frame % 10 == 0 {
            world.spawn((
                Position {
                    x: 100 + frame,
                    y: 0,
                },
                Name(format!("f{frame}")),
            ));
        }
        if frame == 50 {
            world.entity_mut(movers[0]).despawn();
        }
        app.update();
    }
    let coalesced = app.world().resource::<SyncServer>().coalesced_ticks();
    assert!(
        coalesced > 0,
        "a queue of {TICK_QUEUE} cannot hold {frames} ticks"
    );
    let want = expected(app.world_mut());

    // Released, the server catches up; frames go on (as the app's runner
    // would), carrying the put-off changes.
    release.send(()).expect("release");
    let deadline = tokio::time::Instant::now() + LIMIT;
    while alice.state() != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the mirror caught up within the limit"
        );
        app.update();
        let _ = tokio::time::timeout(Duration::from_millis(5), events.recv()).await;
    }
    let seq = alice.seq().expect("synced");
    assert!(
        seq < 1 + frames as u64,
        "{frames} ticks with changes took {seq} seqs: some were merged"
    );
    assert_eq!(alice.state(), expected(app.world_mut()));
}
