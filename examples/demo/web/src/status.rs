//! [`Status`]: the connection indicator (status, round trips, reconnect
//! countdown), and [`OfflineNotice`], which says over the board that what
//! it shows may be out of date.

use std::time::Duration;

use leptos::prelude::*;
use ui_flow::ConnectionStatus;
use ui_flow::client::Instant;

use crate::game::Game;
use crate::round_trip::RoundTrip;

/// How often the countdown redraws.
const TICK: Duration = Duration::from_millis(200);

/// A dot and a line of text: connecting, connected (with the round trip),
/// reconnecting (with the attempt and the seconds until it), closed.
#[component]
pub fn Status() -> impl IntoView {
    let flow = Game::get().flow;
    let now = RwSignal::new(Instant::now());
    if let Ok(ticker) = set_interval_with_handle(move || now.set(Instant::now()), TICK) {
        on_cleanup(move || ticker.clear());
    }
    let kind = move || match flow.status.get() {
        ConnectionStatus::Connecting => "connecting",
        ConnectionStatus::Open => "open",
        ConnectionStatus::Reconnecting { .. } => "reconnecting",
        ConnectionStatus::Closed { .. } => "closed",
    };
    let text = move || match flow.status.get() {
        ConnectionStatus::Connecting => "Connecting…".to_owned(),
        ConnectionStatus::Open => "Connected".to_owned(),
        ConnectionStatus::Reconnecting { attempt, next_try } => {
            let left = next_try.saturating_duration_since(now.get());
            if left.is_zero() {
                format!("Reconnecting… (attempt {attempt})")
            } else {
                format!(
                    "Reconnecting in {:.1} s (attempt {attempt})",
                    left.as_secs_f64()
                )
            }
        }
        ConnectionStatus::Closed { reason } => format!("Closed: {reason}"),
    };
    view! {
        <div class="status" data-status=kind data-testid="status">
            <span class="dot"></span>
            <span class="status-text">{text}</span>
            <RoundTrip/>
        </div>
    }
}

/// While the connection is not open: a line over the board saying that
/// the world shown is the last one received and that moves wait.
#[component]
pub fn OfflineNotice() -> impl IntoView {
    let game = Game::get();
    let text = move || match game.flow.status.get() {
        ConnectionStatus::Open => None,
        ConnectionStatus::Connecting => {
            Some("Connecting… the world appears once the server answers.")
        }
        ConnectionStatus::Reconnecting { .. } => Some(
            "Connection lost. This is the world as it was; others may have moved. \
             Steps and digs are paused until it is back.",
        ),
        ConnectionStatus::Closed { .. } => {
            Some("Disconnected for good (see the status above). Reload the page to join again.")
        }
    };
    move || {
        text().map(|text| {
            view! { <div class="banner offline" role="status" data-testid="offline">{text}</div> }
        })
    }
}
