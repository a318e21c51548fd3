//! [`Reset`]: noticing that the server's world was replaced (a restart with
//! a new epoch brought a fresh snapshot), and [`ResetBanner`], which says so.
//!
//! An ordinary reconnect keeps the epoch and is not a reset, even when it
//! brings a snapshot; only a new epoch is.

use std::sync::Arc;

use demo_world::WorldEvent;
use leptos::prelude::*;
use ui_flow_leptos::Notification;

use crate::game::Game;

/// What the page knew just before the world was reset.
#[derive(Debug, Clone, PartialEq)]
pub struct Reset {
    /// Counts resets, so a second one shows again after a dismissal.
    pub count: u32,
    /// Our score in the world that is gone (`None` if we were not in it).
    pub lost_score: Option<u32>,
    /// The notifications received before the reset, oldest first.
    pub notes_before: Arc<Vec<Notification<WorldEvent>>>,
}

/// Watches the epoch; on a change after the first, records a [`Reset`] in
/// `game.reset` with the score the old world gave us.
pub fn watch(game: Game) {
    let user = game.user();
    // The last epoch seen, and our score in that world.
    let last = StoredValue::new(None::<(u32, Option<u32>)>);
    Effect::new(move |_| {
        let Some(epoch) = game.flow.epoch.get() else {
            return;
        };
        let score = game.flow.state.with(|w| w.player(&user).map(|p| p.score));
        if let Some((before, lost_score)) = last.get_value()
            && before != epoch
        {
            let notes_before = game.flow.notifications.get_untracked();
            let count = game
                .reset
                .with_untracked(|r| r.as_ref().map_or(0, |r| r.count))
                + 1;
            game.reset.set(Some(Reset {
                count,
                lost_score,
                notes_before,
            }));
            game.reset_seen.set(false);
        }
        last.set_value(Some((epoch, score)));
    });
}

/// How many of `now`'s first notifications are the last ones of `before`:
/// the adapter keeps a window of recent notifications, so those from
/// before the reset are a prefix of the window until newer ones push them
/// out.
pub fn carried_over<T: PartialEq>(before: &[T], now: &[T]) -> usize {
    (0..=before.len().min(now.len()))
        .rev()
        .find(|&n| before[before.len() - n..] == now[..n])
        .unwrap_or(0)
}

/// A line over the board after a reset: what happened, and what it cost.
#[component]
pub fn ResetBanner() -> impl IntoView {
    let game = Game::get();
    let shown = move || game.reset.get().filter(|_| !game.reset_seen.get());
    move || {
        shown().map(|reset| {
            let cost = match reset.lost_score {
                Some(1) => {
                    " Your 1 point was in the old world; everyone starts again from 0.".to_owned()
                }
                Some(points) if points > 0 => format!(
                    " Your {points} points were in the old world; everyone starts again from 0."
                ),
                _ => " Everyone starts again.".to_owned(),
            };
            view! {
                <div class="banner reset" role="status" data-testid="reset-banner">
                    <strong>"The world was reset."</strong>
                    {format!(" The server restarted without keeping it.{cost} Older notifications are marked as before the reset.")}
                    <button class="dismiss" on:click=move |_| game.reset_seen.set(true)>"OK"</button>
                </div>
            }
        })
    }
}
