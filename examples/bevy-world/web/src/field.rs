//! The entities, drawn: one SVG group per entity, moved by its `Position`.

use bevy_world::{Name, Position, SIZE};
use leptos::prelude::*;
use ui_flow_bevy::EntityId;
use ui_flow_leptos::{use_entities, use_entity_component};

use crate::app::Flow;

/// The square the entities move in. Clicking a dot selects its entity.
#[component]
pub fn Field(flow: Flow, selected: RwSignal<Option<EntityId>>) -> impl IntoView {
    // Changes only when an entity appears or goes: moving re-renders no list.
    let entities = use_entities(flow.state);
    view! {
        <svg class="field" data-testid="field" viewBox=format!("0 0 {SIZE} {SIZE}")>
            <rect class="ground" width=SIZE height=SIZE />
            <For each=move || entities.get() key=|id| *id let:id>
                <Mover flow id selected />
            </For>
            // Last, so it is drawn above every dot.
            {move || selected.get().map(|id| view! { <Highlight flow id /> })}
        </svg>
    }
}

/// One entity: a dot where it is. Its memos recompute on every tick but
/// notify only when its own components changed, so the dot re-renders when
/// it moves and not when another entity does.
#[component]
fn Mover(flow: Flow, id: EntityId, selected: RwSignal<Option<EntityId>>) -> impl IntoView {
    let position = use_entity_component::<Position>(flow.state, id);
    let name = use_entity_component::<Name>(flow.state, id);
    let name = move || name.get().map(|n| n.0).unwrap_or_default();
    let is_selected = Memo::new(move |_| selected.get() == Some(id));
    view! {
        <g
            class="mover"
            class:selected=is_selected
            data-entity=id.0.to_string()
            data-name=name
            transform=move || translate(position.get())
            on:click=move |_| selected.set(Some(id))
        >
            <circle r="9" />
        </g>
    }
}

/// The selected entity: a ring around it and its name beside it.
#[component]
fn Highlight(flow: Flow, id: EntityId) -> impl IntoView {
    let position = use_entity_component::<Position>(flow.state, id);
    let name = use_entity_component::<Name>(flow.state, id);
    view! {
        <g
            class="highlight"
            data-testid="highlight"
            data-entity=id.0.to_string()
            transform=move || translate(position.get())
        >
            <circle r="15" />
            <text x="20" y="9">
                {move || name.get().map(|n| n.0)}
            </text>
        </g>
    }
}

/// Where a group is drawn; none while the entity has no position.
fn translate(position: Option<Position>) -> Option<String> {
    position.map(|p| format!("translate({:.1} {:.1})", p.x, p.y))
}
