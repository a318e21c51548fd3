//! [`News`]: notifications in the `world` and `rewards` domains, each of
//! which can be switched off, linked to the action that caused them.

use demo_world::{WorldEvent, domain};
use leptos::prelude::*;

use crate::game::{Game, short};
use crate::reset;

/// How many notifications the feed shows, newest first. The feed grows to
/// fit them rather than scrolling, so no row is ever cut in half.
const SHOWN: usize = 10;

/// One line of text for an event.
fn describe(event: &WorldEvent) -> String {
    match event {
        WorldEvent::Entered { name } => format!("{name} entered the world"),
        WorldEvent::Left { name } => format!("{name} left"),
        WorldEvent::Took { name, kind } => format!("{name} picked up a {}", kind.name()),
        WorldEvent::Dug { name, at } => format!("{name} dug at {at}"),
        WorldEvent::Spawned { kind, at } => format!("A {} appeared at {at}", kind.name()),
        WorldEvent::Loot { kind, points, at } => {
            format!("You found a {} at {at}: +{points}", kind.name())
        }
    }
}

/// A switch for one domain: subscribes or unsubscribes at once.
#[component]
fn DomainSwitch(name: &'static str) -> impl IntoView {
    let game = Game::get();
    let on = RwSignal::new(true);
    let toggle = move |_| {
        let want = !on.get_untracked();
        let done = if want {
            game.flow.subscribe([name])
        } else {
            game.flow.unsubscribe([name])
        };
        if done.is_ok() {
            on.set(want);
        }
    };
    view! {
        <button
            class=format!("switch {name}")
            class:on=move || on.get()
            data-domain=name
            aria-pressed=move || on.get().to_string()
            on:click=toggle
        >
            <span class="knob"></span>
            {name}
        </button>
    }
}

/// The notification feed, newest first. After a world reset, those that
/// arrived before it are dimmed below a divider.
#[component]
pub fn News() -> impl IntoView {
    let game = Game::get();
    let flow = game.flow;
    let lines = move || {
        let notes = flow.notifications.get();
        // How many of the oldest notes in the window predate the reset.
        let before_reset = game.reset.with(|r| {
            r.as_ref()
                .map_or(0, |r| reset::carried_over(&r.notes_before, &notes))
        });
        let mut rows = Vec::new();
        for (i, note) in notes.iter().cloned().enumerate().rev().take(SHOWN) {
            let old = i < before_reset;
            if old && i + 1 == before_reset {
                rows.push(
                    view! {
                        <li class="divider" data-testid="reset-divider">"before the world was reset"</li>
                    }
                    .into_any(),
                );
            }
            let cause = note.correlation_id;
            let related = move || cause.is_some() && game.hovered.get() == cause;
            let chip = cause.map(|op| {
                view! { <span class="op-chip" title="the action that caused it">{format!("#{}", short(op))}</span> }
            });
            rows.push(
                view! {
                    // One class string for what does not change (a separate
                    // `class:` toggle would be lost when a reused row's
                    // class string is rewritten).
                    <li
                        class=format!("note {}{}", note.domain, if old { " before-reset" } else { "" })
                        class:related=related
                        data-domain=note.domain.clone()
                        on:mouseenter=move |_| game.hovered.set(cause)
                        on:mouseleave=move |_| game.hovered.set(None)
                    >
                        <span class="domain">{note.domain.clone()}</span>
                        <span class="note-text">{describe(&note.event)}</span>
                        {chip}
                    </li>
                }
                .into_any(),
            );
        }
        rows
    };
    view! {
        <section class="card news">
            <h2>"Notifications"</h2>
            <div class="switches">
                <DomainSwitch name=domain::WORLD/>
                <DomainSwitch name=domain::REWARDS/>
            </div>
            <ul class="feed" data-testid="news">{lines}</ul>
        </section>
    }
}
