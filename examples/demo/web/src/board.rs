//! [`Board`]: the world drawn as an SVG hex grid.

use demo_world::{Hex, ItemKind};
use leptos::prelude::*;
use ui_flow::client::OpState;

use crate::game::{Game, Intent};

/// Centre-to-corner size of one hex, in SVG units.
const SIZE: f64 = 30.0;
const SQRT_3: f64 = 1.732_050_807_568_877_2;

/// The centre of a hex (pointy-top layout).
fn centre(h: Hex) -> (f64, f64) {
    let (q, r) = (f64::from(h.q), f64::from(h.r));
    (SIZE * SQRT_3 * (q + r / 2.0), SIZE * 1.5 * r)
}

/// The polygon of a hex, drawn `inset` units smaller for the gap between cells.
fn outline(h: Hex, inset: f64) -> String {
    let (x, y) = centre(h);
    let size = SIZE - inset;
    (0..6)
        .map(|i| {
            let angle = (60.0 * f64::from(i) - 30.0).to_radians();
            format!(
                "{:.1},{:.1}",
                x + size * angle.cos(),
                y + size * angle.sin()
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn view_box(radius: u8) -> String {
    let n = f64::from(radius.max(1));
    let (w, h) = (SQRT_3 * SIZE * (2.0 * n + 1.0), SIZE * (3.0 * n + 2.0));
    let pad = 8.0;
    format!(
        "{:.0} {:.0} {:.0} {:.0}",
        -w / 2.0 - pad,
        -h / 2.0 - pad,
        w + 2.0 * pad,
        h + 2.0 * pad
    )
}

/// The grid, its items, flashes and players. Clicking a hex steps there.
#[component]
pub fn Board() -> impl IntoView {
    let game = Game::get();
    let flow = game.flow;
    let user = game.user();
    let radius = Memo::new(move |_| flow.state.with(|w| w.radius));

    let cells = move || {
        let me = game.my_hex();
        flow.state.with(|w| {
            Hex::all_within(w.radius)
                .map(|h| {
                    let mut class = String::from("cell");
                    if w.is_wall(h) {
                        class.push_str(" wall");
                    } else if me.is_some_and(|m| m.distance(h) == 1) {
                        class.push_str(" near");
                    }
                    let dug = w.is_dug(h).then(|| {
                        let (x, y) = centre(h);
                        view! { <ellipse class="crater" cx=x cy=y + 6.0 rx="11" ry="5"></ellipse> }
                    });
                    view! {
                        <polygon
                            class=class
                            points=outline(h, 1.5)
                            data-q=h.q
                            data-r=h.r
                            on:click=move |_| game.step(h)
                        ></polygon>
                        {dug}
                    }
                })
                .collect_view()
        })
    };

    let items = move || {
        flow.state.with(|w| {
            w.items
                .iter()
                .map(|item| {
                    let (x, y) = centre(item.at);
                    let transform = format!("translate({x:.1} {y:.1})");
                    let shape = match item.kind {
                        ItemKind::Berry => view! {
                            <circle r="6" cx="-2" cy="2"></circle>
                            <circle r="6" cx="4" cy="-1"></circle>
                        }
                        .into_any(),
                        ItemKind::Coin => view! {
                            <circle r="8"></circle>
                            <circle class="inner" r="4.5"></circle>
                        }
                        .into_any(),
                        ItemKind::Gem | ItemKind::Relic => view! {
                            <polygon points="0,-10 8,-2 0,10 -8,-2"></polygon>
                            <polygon class="facet" points="0,-10 8,-2 0,0 -8,-2"></polygon>
                        }
                        .into_any(),
                    };
                    view! {
                        <g
                            class=format!("item {}", item.kind.name())
                            transform=transform
                            data-item=item.id
                            data-q=item.at.q
                            data-r=item.at.r
                        >
                            {shape}
                        </g>
                    }
                })
                .collect_view()
        })
    };

    let players = move || {
        flow.state
            .with(|w| w.players.iter().map(|p| p.user.clone()).collect::<Vec<_>>())
    };

    view! {
        <div class="board-wrap">
            <Toasts/>
            <svg class="board" viewBox=move || view_box(radius.get()) data-testid="board">
                <g class="cells">{cells}</g>
                <g class="items">{items}</g>
                <g class="flashes">
                    <For
                        each=move || game.flash.get().into_iter()
                        key=|flash| flash.op
                        children=|flash| view! { <polygon class="flash" points=outline(flash.at, 1.5)></polygon> }
                    />
                </g>
                <g class="players">
                    <For
                        each=players
                        key=|user| user.clone()
                        children=move |player| view! { <Avatar player=player.clone() me=player == user/> }
                    />
                </g>
            </svg>
            <Show when=move || radius.get() == 0>
                <div class="board-loading">"Joining the world…"</div>
            </Show>
        </div>
    }
}

/// One player's token, sliding from hex to hex.
#[component]
fn Avatar(player: String, me: bool) -> impl IntoView {
    let game = Game::get();
    let flow = game.flow;
    let who = player.clone();
    let info = Memo::new(move |_| {
        flow.state.with(|w| {
            w.player(&who)
                .map(|p| (p.at, p.hue, p.name.clone()))
                .unwrap_or_default()
        })
    });
    let stepping = move || {
        me && flow.ops.with(|ops| {
            ops.iter().any(|(op, state)| {
                !state.is_settled()
                    && matches!(game.intent(*op), Some(Intent::Move { .. }))
                    && !matches!(state, OpState::Err { .. })
            })
        })
    };
    let refused = move || me && game.flash.get().is_some();
    let style = move || {
        let (at, _, _) = info.get();
        let (x, y) = centre(at);
        format!("transform: translate({x:.1}px, {y:.1}px)")
    };
    let fill = move || format!("hsl({} 62% 56%)", info.get().1);
    let initial = move || {
        info.get()
            .2
            .chars()
            .next()
            .map(|c| c.to_uppercase().to_string())
            .unwrap_or_default()
    };
    view! {
        <g
            class="avatar"
            class:me=me
            class:stepping=stepping
            class:refused=refused
            style=style
            data-player=player
            data-q=move || info.get().0.q
            data-r=move || info.get().0.r
        >
            <g class="token">
                <circle class="halo" r="17"></circle>
                <circle class="body" r="13" fill=fill></circle>
                <text class="initial" y="4.5">{initial}</text>
            </g>
            <text class="label" y="27">{move || info.get().2}</text>
        </g>
    }
}

/// Short messages in a strip above the board (never over it): refusals,
/// finds, newest first.
#[component]
fn Toasts() -> impl IntoView {
    let game = Game::get();
    view! {
        <div class="toasts" data-testid="toasts">
            <For
                each=move || game.toasts.get().into_iter().rev()
                key=|toast| toast.id
                children=|toast| view! { <div class=format!("toast {}", toast.kind)>{toast.text}</div> }
            />
        </div>
    }
}
