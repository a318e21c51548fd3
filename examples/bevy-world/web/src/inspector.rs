//! The entity inspector: the selected entity's components, live, and a
//! rename through the `Rename` action with its outcome.

use bevy_world::{NAME_MAX_CHARS, Name, Position, Velocity, WorldCommand};
use leptos::prelude::*;
use ui_flow::OpId;
use ui_flow::client::OpState;
use ui_flow_bevy::{EntityId, component_name};
use ui_flow_leptos::use_entity_component;

use crate::app::Flow;

/// The panel: a hint until an entity is selected, then that entity.
#[component]
pub fn Inspector(flow: Flow, selected: RwSignal<Option<EntityId>>) -> impl IntoView {
    view! {
        <aside class="inspector" data-testid="inspector">
            {move || match selected.get() {
                None => view! { <p class="hint">"Click an entity to inspect it."</p> }.into_any(),
                Some(id) => view! { <Entity flow id /> }.into_any(),
            }}
        </aside>
    }
}

/// One entity's components and the rename form.
#[component]
fn Entity(flow: Flow, id: EntityId) -> impl IntoView {
    let position = use_entity_component::<Position>(flow.state, id);
    let velocity = use_entity_component::<Velocity>(flow.state, id);
    let name = use_entity_component::<Name>(flow.state, id);
    // Which components the entity has: changes when one is added or removed.
    let components = Memo::new(move |_| {
        flow.state.with(|w| {
            w.entities
                .get(&id)
                .map(|c| c.keys().cloned().collect::<Vec<_>>())
        })
    });
    // A component's value in words: the example's own types decoded, any
    // other by its size (the page does not know its type).
    let value = move |component: &str| -> String {
        if component == component_name::<Position>() {
            position
                .get()
                .map(|p| format!("x {:.1}, y {:.1}", p.x, p.y))
                .unwrap_or_default()
        } else if component == component_name::<Velocity>() {
            velocity
                .get()
                .map(|v| format!("dx {:.2}, dy {:.2}", v.dx, v.dy))
                .unwrap_or_default()
        } else if component == component_name::<Name>() {
            name.get().map(|n| n.0).unwrap_or_default()
        } else {
            flow.state.with(|w| {
                w.entities
                    .get(&id)
                    .and_then(|c| c.get(component))
                    .map(|v| format!("{} bytes", v.as_bytes().len()))
                    .unwrap_or_default()
            })
        }
    };
    let rows = move || {
        components
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|component| {
                let (shown, label) = (component.clone(), component.clone());
                view! {
                    <tr data-component=component>
                        <th>{label}</th>
                        <td>{move || value(&shown)}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <h2>"Entity " {id.to_string()}</h2>
        <Show
            when=move || components.with(Option::is_some)
            fallback=|| view! { <p class="gone">"This entity is gone."</p> }
        >
            <table class="components" data-testid="components" data-entity=id.0.to_string()>
                {rows}
            </table>
        </Show>
        <Rename flow id current=name />
    }
}

/// A text field and a button that send `Rename`, and the last outcome.
#[component]
fn Rename(flow: Flow, id: EntityId, current: Memo<Option<Name>>) -> impl IntoView {
    let draft = RwSignal::new(current.get_untracked().map(|n| n.0).unwrap_or_default());
    let sent = RwSignal::new(None::<Result<OpId, String>>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let rename = WorldCommand::Rename {
            entity: id.0,
            name: draft.get_untracked(),
        };
        sent.set(Some(flow.send_action(rename).map_err(|e| e.to_string())));
    };
    // The outcome of the last rename, as the client tracks it.
    let outcome = move || {
        let op = match sent.get()? {
            Ok(op) => op,
            Err(why) => return Some(("err", format!("Not sent: {why}"))),
        };
        let state = flow
            .ops
            .with(|ops| ops.iter().find(|(o, _)| *o == op).map(|(_, s)| s.clone()));
        Some(match state {
            None | Some(OpState::Pending) | Some(OpState::Progress { .. }) => {
                ("pending", "Renaming…".to_owned())
            }
            Some(OpState::Ok { .. }) => ("ok", "Renamed.".to_owned()),
            Some(OpState::Err { code, message }) => (
                "err",
                format!("Refused ({}): {message}", code.unwrap_or_default()),
            ),
        })
    };
    view! {
        <form class="rename" on:submit=submit>
            <input
                data-testid="rename-input"
                placeholder=format!("1 to {NAME_MAX_CHARS} characters")
                prop:value=draft
                on:input=move |ev| draft.set(event_target_value(&ev))
            />
            <button type="submit" data-testid="rename">
                "Rename"
            </button>
        </form>
        {move || {
            outcome()
                .map(|(state, text)| {
                    view! {
                        <p class="outcome" data-testid="outcome" data-state=state>
                            {text}
                        </p>
                    }
                })
        }}
    }
}
