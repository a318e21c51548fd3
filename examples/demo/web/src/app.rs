//! [`App`]: connects, enters the world, reacts to outcomes, lays out the page.

use std::collections::HashSet;
use std::time::Duration;

use demo_world::{DigResult, WorldModel, domain};
use leptos::prelude::*;
use ui_flow::client::{ClientConfig, OpState};
use ui_flow::{OpId, PresenceStatus};
use ui_flow_leptos::{UseFlowOptions, use_flow_with_options};

use crate::actions::{ActionLog, YouCard};
use crate::board::Board;
use crate::chat::Chat;
use crate::game::{Game, Intent};
use crate::identity::Me;
use crate::news::News;
use crate::peer::Peers;
use crate::people::People;
use crate::reset::{self, ResetBanner};
use crate::status::{OfflineNotice, Status};

/// After this long without a pointer or key, the page reports `idle`.
const IDLE_AFTER: Duration = Duration::from_secs(15);

/// The demo's connection policy: ui-flow's defaults, but pings every 5 s so
/// the latency shown stays fresh, and retries at most 8 s apart.
fn config() -> ClientConfig {
    ClientConfig {
        ping_interval: Duration::from_secs(5),
        backoff_max: Duration::from_secs(8),
        ..ClientConfig::default()
    }
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let me = Me::from_page();
    let peers = Peers::new(me.user.clone());
    // The configuration is valid by construction; the defaults would do too.
    let options = UseFlowOptions::default()
        .config(config())
        .unwrap_or_default()
        .token(me.user.clone())
        .subscribe(domain::ALL)
        .on_signal(move |from: &str, signal| peers.receive(from, signal));
    let flow = use_flow_with_options::<WorldModel>(me.url(), options);
    let game = Game::new(flow, me);
    provide_context(game);
    peers.attach(game);
    provide_context(peers);

    enter_when_missing(game);
    react_to_outcomes(game);
    report_idleness(game);
    reset::watch(game);

    view! {
        <div class="app" class:stale=move || !game.is_live() data-live=move || game.is_live().to_string()>
            <header class="topbar">
                <div class="brand">
                    <svg class="logo" viewBox="-10 -10 20 20" aria-hidden="true">
                        <polygon points="0,-9 7.8,-4.5 7.8,4.5 0,9 -7.8,4.5 -7.8,-4.5"></polygon>
                    </svg>
                    <span class="title">"Hexfield"</span>
                    <span class="subtitle">"a ui-flow demo"</span>
                </div>
                <Status/>
            </header>
            <main class="layout">
                <section class="stage">
                    <OfflineNotice/>
                    <ResetBanner/>
                    <Board/>
                    <div class="legend">
                        <span class="key"><i class="berry"></i>"berry 1"</span>
                        <span class="key"><i class="coin"></i>"coin 3"</span>
                        <span class="key"><i class="gem"></i>"gem 5"</span>
                        <span class="key"><i class="wall"></i>"wall"</span>
                        <span class="key"><i class="crater"></i>"dug"</span>
                    </div>
                    <p class="hint">
                        "Click a neighbouring hex to step. Illegal steps are refused and rolled back."
                    </p>
                </section>
                <div class="panels">
                    <div class="column">
                        <YouCard/>
                        <People/>
                        <Chat/>
                    </div>
                    <div class="column">
                        <News/>
                        <ActionLog/>
                    </div>
                </div>
            </main>
        </div>
    }
}

/// Enters the world once per connection whenever our player is missing
/// from it: on first join, and after a server restart emptied the world.
fn enter_when_missing(game: Game) {
    let asked = StoredValue::new(false);
    let user = game.user();
    Effect::new(move |_| {
        if !game.flow.status.with(|s| s.is_open()) {
            asked.set_value(false);
            return;
        }
        let (loaded, here) = game
            .flow
            .state
            .with(|w| (w.radius > 0, w.player(&user).is_some()));
        if loaded && !here && !asked.get_value() {
            asked.set_value(true);
            game.enter();
        }
    });
}

/// Refused actions flash and say why; a finished dig says what it found.
fn react_to_outcomes(game: Game) {
    let seen = StoredValue::new(HashSet::<OpId>::new());
    Effect::new(move |_| {
        let settled: Vec<(OpId, OpState)> = game.flow.ops.with(|ops| {
            ops.iter()
                .filter(|(_, s)| s.is_settled())
                .cloned()
                .collect()
        });
        for (op, state) in settled {
            if !seen.try_update_value(|s| s.insert(op)).unwrap_or(false) {
                continue;
            }
            match (game.intent(op), state) {
                (Some(Intent::Move { to, .. }), OpState::Err { message, .. }) => {
                    game.flash(to, op);
                    game.toast("refused", format!("Step refused: {message}"));
                }
                (Some(intent), OpState::Err { message, .. }) => {
                    game.toast(
                        "refused",
                        format!("{} refused: {message}", intent.describe()),
                    );
                }
                (Some(Intent::Dig { .. }), OpState::Ok { result }) => {
                    let found = result.and_then(|r| r.decode::<DigResult>().ok());
                    match found {
                        Some(DigResult {
                            found: Some(kind),
                            points,
                        }) => {
                            game.toast("loot", format!("You dug up a {} (+{points})", kind.name()))
                        }
                        _ => game.toast("info", "Nothing here but soil."),
                    }
                }
                _ => {}
            }
        }
    });
}

/// Reports `idle` after a quiet spell and `active` again on the next
/// pointer or key. (Hiding the page reports `away`; the client does that.)
fn report_idleness(game: Game) {
    let last = StoredValue::new(js_sys::Date::now());
    let idle = StoredValue::new(false);
    let touch = move || {
        last.set_value(js_sys::Date::now());
        if idle.get_value() {
            idle.set_value(false);
            let _ = game.flow.set_presence(Some(PresenceStatus::Active));
        }
    };
    let handles = [
        window_event_listener(leptos::ev::pointerdown, move |_| touch()),
        window_event_listener(leptos::ev::pointermove, move |_| touch()),
        window_event_listener(leptos::ev::keydown, move |_| touch()),
    ];
    let check = set_interval_with_handle(
        move || {
            let quiet = js_sys::Date::now() - last.get_value();
            if !idle.get_value() && quiet >= IDLE_AFTER.as_millis() as f64 {
                idle.set_value(true);
                let _ = game.flow.set_presence(Some(PresenceStatus::Idle));
            }
        },
        Duration::from_secs(1),
    );
    on_cleanup(move || {
        for handle in handles {
            handle.remove();
        }
        if let Ok(check) = check {
            check.clear();
        }
    });
}
