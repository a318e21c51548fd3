//! [`People`]: who is connected, and how present they are.

use leptos::prelude::*;
use ui_flow::PresenceStatus;

use crate::game::Game;
use crate::peer::Peers;

/// The presence list: one row per user (however many tabs), with their
/// status, score and a button to open a direct chat.
#[component]
pub fn People() -> impl IntoView {
    let game = Game::get();
    let peers = expect_context::<Peers>();
    let flow = game.flow;
    let me = game.user();
    let rows = move || {
        let mut members = flow.presence.get().to_vec();
        members.sort_by(|a, b| {
            (a.user_id != me)
                .cmp(&(b.user_id != me))
                .then(a.connected_at.cmp(&b.connected_at))
        });
        members
            .into_iter()
            .map(|member| {
                let user = member.user_id.clone();
                let is_me = user == me;
                let (name, hue, score) = flow.state.with(|w| {
                    w.player(&user)
                        .map(|p| (p.name.clone(), p.hue, Some(p.score)))
                        .unwrap_or_else(|| (user.clone(), demo_world::hue_for(&user), None))
                });
                let status = member.status;
                let label = match status {
                    PresenceStatus::Active => "active",
                    PresenceStatus::Idle => "idle",
                    PresenceStatus::Away => "away",
                };
                let target = user.clone();
                let chat = (!is_me).then(|| {
                    view! {
                        <button class="chat-open" on:click=move |_| peers.open(&target)>"Chat"</button>
                    }
                });
                view! {
                    <li
                        class="person"
                        class:stale=move || !game.is_live()
                        title=move || (!game.is_live()).then_some("last known: the connection is down")
                        data-user=user.clone()
                        data-status=label
                    >
                        <span class="swatch" style=format!("background: hsl({hue} 62% 56%)")></span>
                        <span class="person-name">{name}</span>
                        {is_me.then(|| view! { <span class="you">"you"</span> })}
                        <span class="score">{score.map(|s| format!("{s} pts"))}</span>
                        <span class=format!("presence {label}")>{label}</span>
                        {chat}
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <section class="card people">
            <h2>"Here now" <span class="count">{move || flow.presence.with(|p| p.len())}</span></h2>
            <ul class="people-list" data-testid="presence">{rows}</ul>
        </section>
    }
}
