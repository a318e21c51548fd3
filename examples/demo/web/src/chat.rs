//! [`Chat`]: direct messages over WebRTC data channels.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::game::Game;
use crate::peer::{ChatState, Peers};

/// The chats: a tab per peer, the selected chat's messages and a box to
/// write in. Hidden until a chat is opened (from the presence list, or by
/// the other side).
#[component]
pub fn Chat() -> impl IntoView {
    let game = Game::get();
    let peers = expect_context::<Peers>();
    let draft = RwSignal::new(String::new());
    let shown = move || {
        let chats = peers.chats.get();
        let selected = peers.selected.get();
        selected
            .and_then(|s| chats.iter().find(|c| c.peer == s).cloned())
            .or_else(|| chats.last().cloned())
    };
    let name_of = move |user: &str| {
        game.flow.state.with(|w| {
            w.player(user)
                .map_or_else(|| user.to_owned(), |p| p.name.clone())
        })
    };
    let send = move || {
        let Some(chat) = shown() else { return };
        let text = draft.get_untracked().trim().to_owned();
        if text.is_empty() || chat.state != ChatState::Open {
            return;
        }
        peers.say(&chat.peer, text);
        draft.set(String::new());
    };
    let tabs = move || {
        let current = shown().map(|c| c.peer);
        peers
            .chats
            .get()
            .into_iter()
            .map(|chat| {
                let peer = chat.peer.clone();
                let active = current.as_deref() == Some(peer.as_str());
                view! {
                    <button
                        class=format!("tab {}", chat.state.as_str())
                        class:active=active
                        on:click=move |_| peers.selected.set(Some(peer.clone()))
                    >
                        <span class="dot"></span>
                        {name_of(&chat.peer)}
                    </button>
                }
            })
            .collect_view()
    };
    let state = Memo::new(move |_| shown().map(|c| c.state));
    let open = move || state.get() == Some(ChatState::Open);
    let caption = move || match state.get() {
        Some(ChatState::Signalling) => "Negotiating through the server's signalling relay…",
        Some(ChatState::Open) => {
            "Direct WebRTC data channel: the server does not see these messages."
        }
        _ => "This chat has closed.",
    };
    let lines = move || {
        shown().map(|chat| {
            chat.lines
                .into_iter()
                .map(|(ours, text)| view! { <li class="line" class:ours=ours>{text}</li> })
                .collect_view()
        })
    };
    // The form is built once, so typing keeps its focus while messages arrive.
    let body = view! {
        <div
            class="chat-body"
            data-peer=move || shown().map(|c| c.peer).unwrap_or_default()
            data-state=move || state.get().map_or("closed", ChatState::as_str)
        >
            <p class="chat-caption">{caption}</p>
            <ul class="lines" data-testid="chat-lines">{lines}</ul>
            <form class="say" on:submit=move |ev| {
                ev.prevent_default();
                send();
            }>
                <input
                    type="text"
                    placeholder=move || if open() { "Say something…" } else { "Waiting for the channel…" }
                    prop:value=move || draft.get()
                    disabled=move || !open()
                    on:input=move |ev| {
                        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                            draft.set(input.value());
                        }
                    }
                />
                <button type="submit" disabled=move || !open()>"Send"</button>
            </form>
        </div>
    };
    view! {
        <section
            class="card chat"
            class:hidden=move || peers.chats.with(Vec::is_empty)
            data-testid="chat"
        >
            <h2>"Direct chat" <span class="tag">"WebRTC"</span></h2>
            <div class="tabs">{tabs}</div>
            {body}
        </section>
    }
}
