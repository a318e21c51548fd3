//! The page: a status line, the field and the inspector.

use bevy_world::WorldCommand;
use leptos::prelude::*;
use ui_flow::ConnectionStatus;
use ui_flow_bevy::{EntityId, SyncedModel};
use ui_flow_leptos::{UseFlow, UseFlowOptions, use_flow_with_options};

use crate::field::Field;
use crate::inspector::Inspector;
use crate::page;

/// The connection to the world, as every part of the page uses it.
pub type Flow = UseFlow<SyncedModel<WorldCommand>>;

#[component]
pub fn App() -> impl IntoView {
    let url = match page::world_url() {
        Ok(url) => url,
        Err(why) => return view! { <p class="error">{why}</p> }.into_any(),
    };
    let flow: Flow = use_flow_with_options(url, UseFlowOptions::default().token(page::user()));
    let selected = RwSignal::new(None::<EntityId>);
    let status = move || match flow.status.get() {
        ConnectionStatus::Connecting => "connecting",
        ConnectionStatus::Open => "open",
        ConnectionStatus::Reconnecting { .. } => "reconnecting",
        ConnectionStatus::Closed { .. } => "closed",
    };
    view! {
        <header>
            <h1>"A Bevy world"</h1>
            <span class="status" data-testid="status" data-status=status>
                {status}
            </span>
            <span class="count">
                {move || format!("{} entities", flow.state.with(|w| w.len()))}
            </span>
        </header>
        <main>
            <Field flow selected />
            <Inspector flow selected />
        </main>
    }
    .into_any()
}
