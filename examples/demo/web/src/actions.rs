//! [`YouCard`] (your player, the dig button and its progress) and
//! [`ActionLog`] (every action you sent, with its progress and outcome).

use demo_world::DigResult;
use leptos::prelude::*;
use ui_flow::client::OpState;

use crate::game::{Game, Intent, short};

/// Your name, score and place, and the dig in progress.
#[component]
pub fn YouCard() -> impl IntoView {
    let game = Game::get();
    let flow = game.flow;
    let user = game.user();
    let me = Memo::new(move |_| {
        flow.state.with(|w| {
            w.player(&user)
                .map(|p| (p.name.clone(), p.score, p.at, p.hue))
        })
    });
    // What the last reset cost us, until dismissed.
    let lost = Memo::new(move |_| {
        game.reset
            .get()
            .and_then(|r| r.lost_score)
            .filter(|points| *points > 0 && !game.reset_seen.get())
    });
    // The newest dig that has not finished, with its progress.
    let digging = move || {
        flow.ops.with(|ops| {
            ops.iter().rev().find_map(|(op, state)| {
                if !matches!(game.intent(*op), Some(Intent::Dig { .. })) {
                    return None;
                }
                match state {
                    OpState::Pending => Some((0u8, "Starting…".to_owned())),
                    OpState::Progress { percent, message } => {
                        Some((percent.unwrap_or(0), message.clone().unwrap_or_default()))
                    }
                    _ => None,
                }
            })
        })
    };
    let can_dig = move || {
        game.is_live()
            && digging().is_none()
            && me
                .get()
                .is_some_and(|(_, _, at, _)| flow.state.with(|w| !w.is_dug(at)))
    };
    view! {
        <section class="card you">
            {move || match me.get() {
                Some((name, score, at, hue)) => view! {
                    <div class="you-row">
                        <span class="swatch big" style=format!("background: hsl({hue} 62% 56%)")></span>
                        <div class="you-text">
                            <div class="you-name">{name}</div>
                            <div class="you-meta">{format!("at {at}")}</div>
                            {lost.get().map(|points| view! {
                                <div class="you-lost" data-testid="lost-score">{format!("{points} pts lost in the reset")}</div>
                            })}
                        </div>
                        <div class="you-score" data-testid="score">
                            <span class="points">{score}</span>
                            <span class="unit">"pts"</span>
                        </div>
                    </div>
                }
                .into_any(),
                None => view! { <div class="you-row muted">"Entering the world…"</div> }.into_any(),
            }}
            <div class="dig-row">
                <button class="dig" disabled=move || !can_dig() on:click=move |_| game.dig()>
                    "Dig here"
                </button>
                {move || match digging() {
                    Some((percent, message)) => view! {
                        <div class="dig-progress" data-testid="dig-progress">
                            <div class="bar"><div class="fill" style=format!("width: {percent}%")></div></div>
                            <span class="progress-text">{format!("{message} · {percent}%")}</span>
                        </div>
                    }
                    .into_any(),
                    None if !game.is_live() => view! {
                        <span class="dig-hint">"Paused while the connection is down."</span>
                    }
                    .into_any(),
                    None => {
                        let dug = me
                            .get()
                            .is_some_and(|(_, _, at, _)| flow.state.with(|w| w.is_dug(at)));
                        let hint = if dug {
                            "This hex has been dug. Step elsewhere to dig again."
                        } else {
                            "A dig takes a few seconds and may turn up loot."
                        };
                        view! { <span class="dig-hint">{hint}</span> }.into_any()
                    }
                }}
            </div>
        </section>
    }
}

/// What an action's state looks like in the log: a CSS modifier and text.
fn outcome(intent: Intent, state: &OpState) -> (&'static str, String) {
    match state {
        OpState::Pending => ("pending", "sent…".to_owned()),
        OpState::Progress { percent, message } => (
            "progress",
            format!(
                "{}{}",
                percent.map(|p| format!("{p}% ")).unwrap_or_default(),
                message.clone().unwrap_or_default()
            ),
        ),
        OpState::Ok { result } => {
            let found = matches!(intent, Intent::Dig { .. })
                .then(|| result.as_ref().and_then(|r| r.decode::<DigResult>().ok()))
                .flatten();
            match found {
                Some(DigResult {
                    found: Some(kind),
                    points,
                }) => ("ok", format!("ok · {} +{points}", kind.name())),
                Some(_) => ("ok", "ok · nothing".to_owned()),
                None => ("ok", "ok".to_owned()),
            }
        }
        OpState::Err { code, .. } => (
            "err",
            format!("refused · {}", code.as_deref().unwrap_or("error")),
        ),
    }
}

/// Your actions, newest first: what each was, and where it stands.
#[component]
pub fn ActionLog() -> impl IntoView {
    let game = Game::get();
    let flow = game.flow;
    let rows = move || {
        let ops = flow.ops.get();
        game.intents
            .get()
            .into_iter()
            .rev()
            .filter_map(|(op, intent)| {
                let state = ops.iter().find(|(id, _)| *id == op)?.1.clone();
                Some((op, intent, state))
            })
            .take(8)
            .map(|(op, intent, state)| {
                let (kind, text) = outcome(intent, &state);
                view! {
                    <li
                        class=format!("op {kind}")
                        class:related=move || game.hovered.get() == Some(op)
                        data-op=op.to_string()
                        data-state=kind
                        on:mouseenter=move |_| game.hovered.set(Some(op))
                        on:mouseleave=move |_| game.hovered.set(None)
                    >
                        <span class="op-chip">{format!("#{}", short(op))}</span>
                        <span class="op-what">{intent.describe()}</span>
                        <span class="op-state">{text}</span>
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <section class="card log">
            <h2>"Your actions"</h2>
            <ul class="ops" data-testid="actions">{rows}</ul>
        </section>
    }
}
