//! [`Game`]: the connection plus what the page remembers about its own
//! actions, shared by every part of the page through context.

use std::time::Duration;

use demo_world::{Hex, WorldAction, WorldDelta, WorldModel};
use leptos::prelude::*;
use ui_flow::{ConnectionStatus, OpId};
use ui_flow_leptos::UseFlow;

use crate::identity::Me;
use crate::reset::Reset;

/// The connection to the world, as `use_flow` returns it.
pub type Flow = UseFlow<WorldModel>;

/// What an action of ours was, so the log and the board can describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Entering the world (or renaming).
    Enter,
    /// A step from one hex to another.
    Move {
        /// Where the player stood.
        from: Hex,
        /// Where they tried to go.
        to: Hex,
    },
    /// A dig at a hex.
    Dig {
        /// Where.
        at: Hex,
    },
}

impl Intent {
    /// A few words for the action log.
    pub fn describe(&self) -> String {
        match self {
            Intent::Enter => "enter".to_owned(),
            Intent::Move { to, .. } => format!("move to {to}"),
            Intent::Dig { at } => format!("dig at {at}"),
        }
    }
}

/// A refused move, flashed on its target hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flash {
    /// The hex the player could not enter.
    pub at: Hex,
    /// Whose move it was.
    pub op: OpId,
}

/// A short message over the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    /// Tells toasts apart.
    pub id: u32,
    /// `refused`, `loot` or `info`: the CSS modifier.
    pub kind: &'static str,
    /// What it says.
    pub text: String,
}

/// The page's shared state. `Copy`: pass it into closures freely.
#[derive(Clone, Copy)]
pub struct Game {
    /// The connection.
    pub flow: Flow,
    /// This tab's player.
    pub me: StoredValue<Me>,
    /// Our actions and what each was, newest last.
    pub intents: RwSignal<Vec<(OpId, Intent)>>,
    /// The action (and its notifications) under the pointer, highlighted in
    /// both lists.
    pub hovered: RwSignal<Option<OpId>>,
    /// The last refused move, while it flashes.
    pub flash: RwSignal<Option<Flash>>,
    /// Messages over the board.
    pub toasts: RwSignal<Vec<Toast>>,
    /// The last time the server's world was replaced, if it was.
    pub reset: RwSignal<Option<Reset>>,
    /// Whether the reset banner was dismissed.
    pub reset_seen: RwSignal<bool>,
    next_toast: StoredValue<u32>,
}

/// How long a toast stays.
const TOAST_TIME: Duration = Duration::from_millis(4500);
/// How long a refused move flashes.
const FLASH_TIME: Duration = Duration::from_millis(900);
/// How many intents are remembered (the client lists 64 settled actions).
const INTENTS_KEPT: usize = 96;

impl Game {
    /// Wraps a connection for the page.
    pub fn new(flow: Flow, me: Me) -> Self {
        Game {
            flow,
            me: StoredValue::new(me),
            intents: RwSignal::new(Vec::new()),
            hovered: RwSignal::new(None),
            flash: RwSignal::new(None),
            toasts: RwSignal::new(Vec::new()),
            reset: RwSignal::new(None),
            reset_seen: RwSignal::new(false),
            next_toast: StoredValue::new(0),
        }
    }

    /// The game from context (every component below `App`).
    pub fn get() -> Self {
        expect_context::<Game>()
    }

    /// Whether the connection is open, so what the page shows is live.
    /// Tracked: use it in views and effects.
    pub fn is_live(&self) -> bool {
        self.flow.status.with(ConnectionStatus::is_open)
    }

    /// This tab's user id.
    pub fn user(&self) -> String {
        self.me.with_value(|me| me.user.clone())
    }

    /// Where our player stands in the world as shown, if it is in it.
    pub fn my_hex(&self) -> Option<Hex> {
        let user = self.user();
        self.flow.state.with(|w| w.player(&user).map(|p| p.at))
    }

    /// What the action `op` was, if it is ours.
    pub fn intent(&self, op: OpId) -> Option<Intent> {
        self.intents
            .with_untracked(|list| list.iter().find(|(id, _)| *id == op).map(|(_, i)| *i))
    }

    fn remember(&self, op: OpId, intent: Intent) {
        self.intents.update(|list| {
            list.push((op, intent));
            let excess = list.len().saturating_sub(INTENTS_KEPT);
            list.drain(..excess);
        });
    }

    /// Enters the world under our name.
    pub fn enter(&self) {
        let name = self.me.with_value(|me| me.name.clone());
        if let Ok(op) = self.flow.send_action(WorldAction::Enter { name }) {
            self.remember(op, Intent::Enter);
        }
    }

    /// Steps to `to`, showing the step at once. The server decides; a
    /// refusal takes the step back (see `App`).
    pub fn step(&self, to: Hex) {
        if !self.flow.status.with_untracked(ConnectionStatus::is_open) {
            self.toast(
                "info",
                "Not connected: steps wait until the connection is back.",
            );
            return;
        }
        let Some(from) = self.my_hex() else { return };
        if from == to {
            return;
        }
        let change = WorldDelta::Moved {
            user: self.user(),
            to,
        };
        match self.flow.send_optimistic(WorldAction::Move { to }, change) {
            Ok(op) => self.remember(op, Intent::Move { from, to }),
            Err(error) => self.toast("refused", error.to_string()),
        }
    }

    /// Digs where we stand.
    pub fn dig(&self) {
        if !self.flow.status.with_untracked(ConnectionStatus::is_open) {
            return;
        }
        let Some(at) = self.my_hex() else { return };
        match self.flow.send_action(WorldAction::Dig) {
            Ok(op) => self.remember(op, Intent::Dig { at }),
            Err(error) => self.toast("refused", error.to_string()),
        }
    }

    /// Flashes a refused move's target.
    pub fn flash(&self, at: Hex, op: OpId) {
        let flash = Flash { at, op };
        self.flash.set(Some(flash));
        let slot = self.flash;
        set_timeout(
            move || {
                slot.try_update(|f| {
                    if *f == Some(flash) {
                        *f = None;
                    }
                });
            },
            FLASH_TIME,
        );
    }

    /// Shows a message over the board for a few seconds.
    pub fn toast(&self, kind: &'static str, text: impl Into<String>) {
        let id = self.next_toast.with_value(|n| *n);
        self.next_toast.set_value(id.wrapping_add(1));
        self.toasts.update(|list| {
            list.push(Toast {
                id,
                kind,
                text: text.into(),
            });
            let excess = list.len().saturating_sub(3);
            list.drain(..excess);
        });
        let toasts = self.toasts;
        set_timeout(
            move || {
                toasts.try_update(|list| list.retain(|t| t.id != id));
            },
            TOAST_TIME,
        );
    }
}

/// The first characters of an op id, as the page shows it.
pub fn short(op: OpId) -> String {
    op.to_string()[..6].to_owned()
}
