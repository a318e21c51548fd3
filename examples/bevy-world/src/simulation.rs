//! The simulation: spawning, movement, and the systems that perform
//! client commands.

use std::time::Duration;

use bevy_app::{App, ScheduleRunnerPlugin, Update};
use bevy_ecs::prelude::*;
use ui_flow_bevy::{ClientAction, SyncApp, UiFlowPlugin};
pub use ui_flow_server::{RateLimit, ServerConfig};

use crate::{Name, Position, SIZE, Velocity, WorldCommand};

/// How the example runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the server listens.
    pub addr: String,
    /// Entities spawned at start.
    pub entities: usize,
    /// Simulation frames per second when run with [`run`]; 0: as fast as
    /// the tests step it.
    pub hz: u32,
    /// A sync tick every this many frames.
    pub sync_every: u32,
}

/// The app, without a runner: step it with `app.update()` (tests) or give
/// it to [`run`].
pub fn app(settings: &Settings) -> std::io::Result<App> {
    app_with_config(settings, ServerConfig::default())
}

/// [`app`] with the server's limits and timers.
pub fn app_with_config(settings: &Settings, config: ServerConfig) -> std::io::Result<App> {
    let mut app = App::new();
    app.add_plugins(
        UiFlowPlugin::<WorldCommand>::bind(settings.addr.as_str())?
            .sync_every(settings.sync_every)
            .server_config(config),
    )
    .sync_component::<Position>()
    .sync_component::<Velocity>()
    .sync_component::<Name>()
    .add_systems(Update, (perform, movement).chain());
    let mut seed = 0x2545_f491_u32;
    for i in 0..settings.entities {
        let mut next = || {
            // xorshift32: a fixed, repeatable start without a dependency.
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed % 10_000) as f32 / 10_000.0
        };
        app.world_mut().spawn((
            Position {
                x: next() * SIZE,
                y: next() * SIZE,
            },
            Velocity {
                dx: next() * 4.0 - 2.0,
                dy: next() * 4.0 - 2.0,
            },
            Name(format!("mover {i}")),
        ));
    }
    Ok(app)
}

/// Runs the app at `settings.hz` frames per second until the process ends.
pub fn run(mut app: App, settings: &Settings) {
    let frame = Duration::from_secs_f64(1.0 / f64::from(settings.hz.max(1)));
    app.add_plugins(ScheduleRunnerPlugin::run_loop(frame));
    app.run();
}

/// Moves every entity by its velocity, bouncing off the walls. Only the
/// entities that move are marked changed.
pub fn movement(mut movers: Query<'_, '_, (&mut Position, &mut Velocity)>) {
    for (mut position, mut velocity) in &mut movers {
        if velocity.dx == 0.0 && velocity.dy == 0.0 {
            continue;
        }
        let (mut x, mut y) = (position.x + velocity.dx, position.y + velocity.dy);
        if !(0.0..=SIZE).contains(&x) {
            velocity.dx = -velocity.dx;
            x = x.clamp(0.0, SIZE);
        }
        if !(0.0..=SIZE).contains(&y) {
            velocity.dy = -velocity.dy;
            y = y.clamp(0.0, SIZE);
        }
        *position = Position { x, y };
    }
}

/// Performs client commands; each is answered once.
pub fn perform(
    mut commands: Commands<'_, '_>,
    mut actions: MessageReader<'_, '_, ClientAction<WorldCommand>>,
    mut velocities: Query<'_, '_, &mut Velocity>,
    mut named: Query<'_, '_, &mut Name>,
) {
    for request in actions.read() {
        match request.action() {
            WorldCommand::Spawn { x, y } => {
                if !(0.0..=SIZE).contains(x) || !(0.0..=SIZE).contains(y) {
                    request.err("out_of_bounds", format!("the world is {SIZE} square"));
                    continue;
                }
                let entity = commands
                    .spawn((
                        Position { x: *x, y: *y },
                        Velocity { dx: 0.0, dy: 0.0 },
                        Name(format!("{}'s", request.user_id())),
                    ))
                    .id();
                request.ok_with(&entity.to_bits());
            }
            WorldCommand::SetVelocity { entity, velocity } => {
                let found = Entity::try_from_bits(*entity).and_then(|e| velocities.get_mut(e).ok());
                match found {
                    Some(mut v) if velocity.dx.is_finite() && velocity.dy.is_finite() => {
                        *v = *velocity;
                        request.ok();
                    }
                    Some(_) => {
                        request.err("invalid", "a velocity must be finite");
                    }
                    None => {
                        request.err("not_found", "no such entity");
                    }
                }
            }
            WorldCommand::Rename { entity, name } => {
                let Some(mut current) =
                    Entity::try_from_bits(*entity).and_then(|e| named.get_mut(e).ok())
                else {
                    request.err("not_found", "no such entity");
                    continue;
                };
                match Name::parse(name) {
                    Ok(name) => {
                        // Only a real change marks the component changed.
                        current.set_if_neq(name);
                        request.ok();
                    }
                    Err(why) => {
                        request.err("invalid_name", why);
                    }
                }
            }
            WorldCommand::Despawn { entity } => {
                match Entity::try_from_bits(*entity).filter(|e| named.contains(*e)) {
                    Some(e) => {
                        commands.entity(e).despawn();
                        request.ok();
                    }
                    None => {
                        request.err("not_found", "no such entity");
                    }
                }
            }
        }
    }
}
