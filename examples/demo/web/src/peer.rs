//! [`Peers`]: direct chats over WebRTC data channels, negotiated through
//! the ui-flow signalling relay.
//!
//! The one who opens a chat makes the offer; offer, answer and ICE
//! candidates travel as `Signal` frames through the server, which stamps
//! the sender. Once the data channel opens, messages go browser to browser
//! and the server never sees them. No STUN or TURN server is configured, so
//! peers must reach each other directly (the same machine or network).
//!
//! When both sides open a chat at the same moment, the offer of the user
//! with the smaller id is dropped in favour of the other's ("polite peer").

use std::collections::HashMap;

use js_sys::Reflect;
use leptos::prelude::*;
use leptos::task::spawn_local;
use ui_flow::SignalPayload;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MessageEvent, RtcDataChannel, RtcDataChannelEvent, RtcIceCandidateInit, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcPeerConnectionState, RtcSdpType, RtcSessionDescriptionInit,
};

use crate::game::Game;

/// Candidates kept per peer while its offer has not arrived.
const MAX_STRAY: usize = 64;

/// Where a chat stands, as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatState {
    /// Offer, answer and candidates are going through the relay.
    Signalling,
    /// The data channel is open: messages go directly.
    Open,
    /// The channel closed or the connection failed.
    Closed,
}

impl ChatState {
    /// The CSS modifier and `data-state` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatState::Signalling => "signalling",
            ChatState::Open => "open",
            ChatState::Closed => "closed",
        }
    }
}

/// One chat as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatView {
    /// The other user's id.
    pub peer: String,
    /// Where it stands.
    pub state: ChatState,
    /// The messages, oldest first: `(sent by us, text)`.
    pub lines: Vec<(bool, String)>,
}

/// One peer connection and what it needs until it is set up.
struct Link {
    pc: RtcPeerConnection,
    channel: Option<RtcDataChannel>,
    /// Candidates that arrived before the remote description.
    early: Vec<RtcIceCandidateInit>,
    remote_set: bool,
    /// The JS callbacks; they must live as long as the connection.
    _callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.pc.set_onicecandidate(None);
        self.pc.set_ondatachannel(None);
        self.pc.set_onconnectionstatechange(None);
        if let Some(channel) = &self.channel {
            channel.set_onopen(None);
            channel.set_onclose(None);
            channel.set_onmessage(None);
            channel.close();
        }
        self.pc.close();
    }
}

/// Every chat of this page. `Copy`: the JS objects stay in the reactive
/// arena, on this thread.
#[derive(Clone, Copy)]
pub struct Peers {
    me: StoredValue<String>,
    game: StoredValue<Option<Game>>,
    links: StoredValue<HashMap<String, Link>, LocalStorage>,
    /// Candidates from peers whose offer has not arrived yet (the relay
    /// keeps each sender's order, but a browser may trickle a candidate
    /// before its offer is sent).
    stray: StoredValue<HashMap<String, Vec<RtcIceCandidateInit>>, LocalStorage>,
    /// The chats, in the order they were opened.
    pub chats: RwSignal<Vec<ChatView>>,
    /// The chat shown.
    pub selected: RwSignal<Option<String>>,
}

impl Peers {
    /// No chats yet, for user `me`.
    pub fn new(me: String) -> Self {
        Peers {
            me: StoredValue::new(me),
            game: StoredValue::new(None),
            links: StoredValue::new_local(HashMap::new()),
            stray: StoredValue::new_local(HashMap::new()),
            chats: RwSignal::new(Vec::new()),
            selected: RwSignal::new(None),
        }
    }

    /// Connects to the game, through which signals are sent.
    pub fn attach(&self, game: Game) {
        self.game.set_value(Some(game));
    }

    fn signal(&self, peer: &str, payload: SignalPayload) {
        if let Some(game) = self.game.get_value()
            && let Err(error) = game.flow.send_signal(peer, payload)
        {
            game.toast("refused", format!("Signal not sent: {error}"));
        }
    }

    fn set_state(&self, peer: &str, state: ChatState) {
        self.chats
            .try_update(|chats| match chats.iter_mut().find(|c| c.peer == peer) {
                Some(chat) => chat.state = state,
                None => chats.push(ChatView {
                    peer: peer.to_owned(),
                    state,
                    lines: Vec::new(),
                }),
            });
    }

    fn add_line(&self, peer: &str, ours: bool, text: String) {
        self.chats.try_update(|chats| {
            if let Some(chat) = chats.iter_mut().find(|c| c.peer == peer) {
                chat.lines.push((ours, text));
            }
        });
    }

    /// Opens a chat with `peer` (or shows the one already open) by sending
    /// an offer through the relay.
    pub fn open(&self, peer: &str) {
        self.selected.set(Some(peer.to_owned()));
        let live = self.chats.with_untracked(|chats| {
            chats
                .iter()
                .any(|c| c.peer == peer && c.state != ChatState::Closed)
        });
        if live {
            return;
        }
        let Some(link) = self.link(peer) else { return };
        let channel = link.pc.create_data_channel("chat");
        let mut link = link;
        self.wire_channel(peer, &channel, &mut link);
        link.channel = Some(channel);
        let pc = link.pc.clone();
        self.links.update_value(|links| {
            links.insert(peer.to_owned(), link);
        });
        self.set_state(peer, ChatState::Signalling);
        let (peers, peer) = (*self, peer.to_owned());
        spawn_local(async move {
            let Some(sdp) = describe(&pc, RtcSdpType::Offer).await else {
                return peers.set_state(&peer, ChatState::Closed);
            };
            peers.signal(&peer, SignalPayload::Offer { sdp });
        });
    }

    /// Sends a chat message to `peer` over the data channel.
    pub fn say(&self, peer: &str, text: String) {
        let sent = self.links.with_value(|links| {
            links
                .get(peer)
                .and_then(|l| l.channel.as_ref())
                .is_some_and(|c| c.send_with_str(&text).is_ok())
        });
        if sent {
            self.add_line(peer, true, text);
        }
    }

    /// Handles a signal relayed from `from`.
    pub fn receive(&self, from: &str, signal: SignalPayload) {
        match signal {
            SignalPayload::Offer { sdp } => self.answer(from, sdp),
            SignalPayload::Answer { sdp } => {
                let pc = self
                    .links
                    .with_value(|links| links.get(from).map(|l| l.pc.clone()));
                let Some(pc) = pc else { return };
                let (peers, from) = (*self, from.to_owned());
                spawn_local(async move {
                    let init = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
                    init.set_sdp(&sdp);
                    if JsFuture::from(pc.set_remote_description(&init))
                        .await
                        .is_ok()
                    {
                        peers.remote_set(&from);
                    }
                });
            }
            SignalPayload::IceCandidate {
                candidate,
                sdp_mid,
                sdp_m_line_index,
                username_fragment,
            } => {
                if candidate.is_empty() {
                    return; // end of candidates: nothing to add
                }
                let init = RtcIceCandidateInit::new(&candidate);
                init.set_sdp_mid(sdp_mid.as_deref());
                init.set_sdp_m_line_index(sdp_m_line_index);
                if let Some(ufrag) = username_fragment {
                    let _ = Reflect::set(&init, &"usernameFragment".into(), &ufrag.into());
                }
                let stray = self
                    .links
                    .try_update_value(|links| match links.get_mut(from) {
                        Some(link) if link.remote_set => {
                            add_candidate(&link.pc, &init);
                            None
                        }
                        Some(link) => {
                            link.early.push(init);
                            None
                        }
                        None => Some(init),
                    });
                if let Some(Some(init)) = stray {
                    self.stray.update_value(|stray| {
                        let waiting = stray.entry(from.to_owned()).or_default();
                        if waiting.len() < MAX_STRAY {
                            waiting.push(init);
                        }
                    });
                }
            }
        }
    }

    /// Accepts an offer from `from`: a new connection, answered through the relay.
    fn answer(&self, from: &str, sdp: String) {
        let me = self.me.get_value();
        let offering = self.links.with_value(|links| {
            links.get(from).is_some_and(|l| {
                l.pc.signaling_state() == web_sys::RtcSignalingState::HaveLocalOffer
            })
        });
        // Both offered at once: the larger id keeps its own offer.
        if offering && me.as_str() > from {
            return;
        }
        let Some(mut link) = self.link(from) else {
            return;
        };
        let peers = *self;
        let peer = from.to_owned();
        let on_channel = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let event: RtcDataChannelEvent = event.unchecked_into();
            let channel = event.channel();
            peers.links.update_value(|links| {
                if let Some(link) = links.get_mut(&peer) {
                    peers.wire_channel(&peer, &channel, link);
                    link.channel = Some(channel);
                }
            });
        });
        link.pc
            .set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
        link._callbacks.push(on_channel);
        if let Some(Some(waiting)) = self.stray.try_update_value(|stray| stray.remove(from)) {
            link.early.extend(waiting);
        }
        let pc = link.pc.clone();
        self.links.update_value(|links| {
            links.insert(from.to_owned(), link);
        });
        self.set_state(from, ChatState::Signalling);
        let from = from.to_owned();
        spawn_local(async move {
            let init = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
            init.set_sdp(&sdp);
            if JsFuture::from(pc.set_remote_description(&init))
                .await
                .is_err()
            {
                return peers.set_state(&from, ChatState::Closed);
            }
            peers.remote_set(&from);
            match describe(&pc, RtcSdpType::Answer).await {
                Some(sdp) => peers.signal(&from, SignalPayload::Answer { sdp }),
                None => peers.set_state(&from, ChatState::Closed),
            }
        });
    }

    /// The remote description is in: add the candidates that waited for it.
    fn remote_set(&self, peer: &str) {
        self.links.update_value(|links| {
            if let Some(link) = links.get_mut(peer) {
                link.remote_set = true;
                for init in link.early.drain(..) {
                    add_candidate(&link.pc, &init);
                }
            }
        });
    }

    /// A fresh peer connection to `peer` whose candidates go through the
    /// relay. Replaces (and closes) any earlier one when inserted.
    fn link(&self, peer: &str) -> Option<Link> {
        let pc = RtcPeerConnection::new().ok()?;
        let peers = *self;
        let target = peer.to_owned();
        let on_candidate = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let event: RtcPeerConnectionIceEvent = event.unchecked_into();
            let Some(candidate) = event.candidate() else {
                return;
            };
            let username_fragment = Reflect::get(&candidate, &"usernameFragment".into())
                .ok()
                .and_then(|v| v.as_string());
            peers.signal(
                &target,
                SignalPayload::IceCandidate {
                    candidate: candidate.candidate(),
                    sdp_mid: candidate.sdp_mid(),
                    sdp_m_line_index: candidate.sdp_m_line_index(),
                    username_fragment,
                },
            );
        });
        pc.set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));
        let watched = pc.clone();
        let target = peer.to_owned();
        let on_state = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            if matches!(
                watched.connection_state(),
                RtcPeerConnectionState::Failed | RtcPeerConnectionState::Closed
            ) {
                peers.set_state(&target, ChatState::Closed);
            }
        });
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        Some(Link {
            pc,
            channel: None,
            early: Vec::new(),
            remote_set: false,
            _callbacks: vec![on_candidate, on_state],
        })
    }

    /// Shows the channel's opening, messages and closing in the chat.
    fn wire_channel(&self, peer: &str, channel: &RtcDataChannel, link: &mut Link) {
        let peers = *self;
        let who = peer.to_owned();
        let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            peers.set_state(&who, ChatState::Open);
        });
        let who = peer.to_owned();
        let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            peers.set_state(&who, ChatState::Closed);
        });
        let who = peer.to_owned();
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let event: MessageEvent = event.unchecked_into();
            if let Some(text) = event.data().as_string() {
                peers.add_line(&who, false, text);
            }
        });
        channel.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        channel.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        link._callbacks.extend([on_open, on_close, on_message]);
    }
}

/// Adds a remote candidate. One that does not fit (left over from an
/// earlier attempt) is rejected by the browser, and ignored here.
fn add_candidate(pc: &RtcPeerConnection, init: &RtcIceCandidateInit) {
    let added = JsFuture::from(pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(init)));
    spawn_local(async move {
        let _ = added.await;
    });
}

/// Creates an offer or answer, sets it as the local description and
/// returns its SDP.
async fn describe(pc: &RtcPeerConnection, kind: RtcSdpType) -> Option<String> {
    let made = match kind {
        RtcSdpType::Offer => pc.create_offer(),
        _ => pc.create_answer(),
    };
    let description = JsFuture::from(made).await.ok()?;
    let sdp = Reflect::get(&description, &"sdp".into())
        .ok()?
        .as_string()?;
    let init = RtcSessionDescriptionInit::new(kind);
    init.set_sdp(&sdp);
    JsFuture::from(pc.set_local_description(&init)).await.ok()?;
    Some(sdp)
}
