//! [`Status`]: the connection indicator (status, latency, reconnect countdown).

use std::time::Duration;

use leptos::prelude::*;
use ui_flow::ConnectionStatus;
use ui_flow::client::Instant;

use crate::game::Game;

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
        ConnectionStatus::Closed { reason } => format!("Closed: {reason:?}"),
    };
    let latency = move || {
        let open = flow.status.with(ConnectionStatus::is_open);
        flow.latency
            .get()
            .filter(|_| open)
            .map(|rtt| format!("{} ms", rtt.as_millis()))
    };
    view! {
        <div class="status" data-status=kind data-testid="status">
            <span class="dot"></span>
            <span class="status-text">{text}</span>
            <span class="latency" title="round trip of the last ping">{latency}</span>
        </div>
    }
}
