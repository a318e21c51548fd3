//! [`RoundTrip`]: the ping round trips of the last minute as a small
//! sparkline, with the latest in milliseconds.
//!
//! It shows what the client measured (one sample per ping, see the
//! client's `ping_interval`), not the server's view, and nothing while
//! disconnected but the dimmed samples it had.

use std::collections::VecDeque;
use std::time::Duration;

use leptos::prelude::*;
use ui_flow::ConnectionStatus;

use crate::game::Game;

/// How far back the sparkline reaches.
const WINDOW: Duration = Duration::from_secs(60);
/// The sparkline's size, in CSS pixels.
const WIDTH: f64 = 84.0;
const HEIGHT: f64 = 20.0;
/// The least round trip the sparkline's height stands for, in ms.
const FLOOR_MS: f64 = 20.0;

/// One measured round trip: when (ms since the epoch) and how long (ms).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    at: f64,
    rtt: f64,
}

/// Where `samples` seen at `now` go in the sparkline: time runs left to
/// right over the last [`WINDOW`], and the slowest sample touches the top.
fn points(samples: &VecDeque<Sample>, now: f64) -> Vec<(f64, f64)> {
    let window = WINDOW.as_secs_f64() * 1000.0;
    // A floor for the scale, so a few milliseconds of jitter on a fast
    // link stays a nearly flat line rather than filling the height.
    let top = samples.iter().map(|s| s.rtt).fold(FLOOR_MS, f64::max);
    samples
        .iter()
        .map(|s| {
            let x = WIDTH - (now - s.at) / window * WIDTH;
            let y = HEIGHT - 1.5 - s.rtt / top * (HEIGHT - 3.0);
            (x, y)
        })
        .collect()
}

/// `points` as an SVG `points` attribute.
fn polyline(points: &[(f64, f64)]) -> String {
    points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Least, median and most of the samples, in ms.
fn spread(samples: &VecDeque<Sample>) -> Option<(f64, f64, f64)> {
    let mut rtts: Vec<f64> = samples.iter().map(|s| s.rtt).collect();
    rtts.sort_by(f64::total_cmp);
    Some((*rtts.first()?, rtts[rtts.len() / 2], *rtts.last()?))
}

/// How often old samples are dropped and the line redrawn.
const TICK: Duration = Duration::from_secs(1);

/// The sparkline and the latest round trip.
#[component]
pub fn RoundTrip() -> impl IntoView {
    let flow = Game::get().flow;
    let now = RwSignal::new(js_sys::Date::now());
    if let Ok(ticker) = set_interval_with_handle(move || now.set(js_sys::Date::now()), TICK) {
        on_cleanup(move || ticker.clear());
    }
    let samples = RwSignal::new(VecDeque::<Sample>::new());
    Effect::new(move |_| {
        if let Some(rtt) = flow.latency.get() {
            let at = js_sys::Date::now();
            samples.update(|list| {
                list.push_back(Sample {
                    at,
                    rtt: rtt.as_secs_f64() * 1000.0,
                });
            });
        }
    });
    // Drop samples older than the window as the clock moves.
    Effect::new(move |_| {
        let oldest = now.get() - WINDOW.as_secs_f64() * 1000.0;
        if samples.with_untracked(|l| l.front().is_some_and(|s| s.at < oldest)) {
            samples.update(|l| l.retain(|s| s.at >= oldest));
        }
    });
    let open = move || flow.status.with(ConnectionStatus::is_open);
    let latest = move || {
        samples
            .with(|l| l.back().map(|s| format!("{:.0} ms", s.rtt)))
            .filter(|_| open())
    };
    let title = move || {
        samples.with(|l| match spread(l) {
            Some((least, median, most)) => format!(
                "Round trip of the pings over the last minute ({} samples): \
                 least {least:.0} ms, median {median:.0} ms, most {most:.0} ms",
                l.len()
            ),
            None => "No round trip measured yet".to_owned(),
        })
    };
    view! {
        <span
            class="round-trip"
            class:stale=move || !open()
            title=title
            data-testid="rtt"
            data-samples=move || samples.with(VecDeque::len)
        >
            <svg class="spark" width=WIDTH height=HEIGHT viewBox=format!("0 0 {WIDTH} {HEIGHT}") aria-hidden="true">
                <line class="base" x1="0" x2=WIDTH y1=HEIGHT - 0.5 y2=HEIGHT - 0.5></line>
                <polyline points=move || samples.with(|l| polyline(&points(l, now.get())))></polyline>
                {move || {
                    samples
                        .with(|l| points(l, now.get()).last().copied())
                        .map(|(x, y)| view! { <circle class="latest" cx=x cy=y r="1.8"></circle> })
                }}
            </svg>
            <span class="latency">{latest}</span>
        </span>
    }
}
