//! What each server message does to the client.

use std::collections::HashSet;
use std::time::Duration;

use web_time::Instant;

use super::Client;
use crate::client::event::Event;
use crate::client::mirror::Sync;
use crate::client::ops::OpState;
use crate::code::{CloseCode, ErrorCode};
use crate::message::{ClientMessage, ServerMessage};
use crate::model::Model;
use crate::op::OpId;
use crate::presence::{PresenceDiff, PresenceInfo};
use crate::status::{CloseReason, ConnectionStatus};

impl<M: Model> Client<M> {
    pub(super) fn on_message(
        &mut self,
        now: Instant,
        message: ServerMessage<M::State, M::Delta, M::Event>,
    ) {
        match message {
            ServerMessage::Connected {
                protocol_version,
                connection_id,
                user_id,
                channels,
            } => {
                self.on_connected(now, protocol_version, connection_id, user_id);
                if self.link.is_up() {
                    self.resources.on_connected(channels, &mut self.transmits);
                }
            }
            // Only a channel other than 0 is joined or left; those frames
            // go to their resource, never here.
            ServerMessage::Joined | ServerMessage::Left { .. } => {}
            ServerMessage::Pong { client_ts, .. } => {
                if let Some(sent) = self.origin.checked_add(Duration::from_millis(client_ts)) {
                    let latency = now.saturating_duration_since(sent);
                    self.latency = Some(latency);
                    self.events.push_back(Event::Latency(latency));
                }
            }
            // `op_id` only says which frame an error is about; an action is
            // settled by its ActionOk or ActionErr alone.
            ServerMessage::Error {
                code,
                message,
                fatal,
                ..
            } => self.on_error(now, code, message, fatal),
            ServerMessage::Snapshot {
                state, seq, epoch, ..
            } => {
                self.events.push_back(Event::Snapshot {
                    state: state.clone(),
                    seq,
                    epoch,
                });
                let events = &mut self.events;
                let result = self.mirror.snapshot(state, seq, epoch, &mut |seq, delta| {
                    events.push_back(Event::Delta {
                        delta: delta.clone(),
                        seq,
                    });
                });
                self.resync_since = None;
                if let Err(gap) = result {
                    self.events.push_back(Event::Violation(gap));
                    self.request_resync(now);
                }
                self.rebase();
            }
            ServerMessage::Delta {
                delta,
                seq,
                epoch,
                prev,
                ..
            } => self.on_deltas(now, seq, epoch, prev, vec![delta]),
            ServerMessage::Deltas {
                deltas,
                seq,
                epoch,
                prev,
                ..
            } => {
                // A Deltas, even an empty one, is how a Resync is answered.
                self.resync_since = None;
                self.on_deltas(now, seq, epoch, prev, deltas);
            }
            ServerMessage::Presence { users } => {
                let diff = presence_change(&self.presence, &users);
                self.presence = users;
                if !diff.is_empty() {
                    self.events.push_back(Event::Presence(diff));
                }
            }
            ServerMessage::PresenceDiff(diff) => {
                diff.apply(&mut self.presence);
                self.events.push_back(Event::Presence(diff));
            }
            ServerMessage::Signal {
                from_user_id,
                signal,
            } => self.events.push_back(Event::Signal {
                from_user_id,
                signal,
            }),
            ServerMessage::Notify {
                domain,
                event,
                correlation_id,
            } => self.events.push_back(Event::Notify {
                domain,
                event,
                correlation_id,
            }),
            ServerMessage::Progress {
                op_id,
                percent,
                message,
            } => {
                if let Some(state) = self.ops.progress(op_id, percent, message) {
                    self.events.push_back(Event::Action { op_id, state });
                }
            }
            ServerMessage::ActionOk { op_id, result } => self.settle(op_id, OpState::Ok { result }),
            ServerMessage::ActionErr {
                op_id,
                code,
                message,
            } => self.settle(op_id, OpState::Err { code, message }),
        }
    }

    fn on_connected(
        &mut self,
        now: Instant,
        protocol_version: u8,
        connection_id: String,
        user_id: Option<String>,
    ) {
        if protocol_version != crate::PROTOCOL_VERSION {
            self.drop_socket(
                CloseCode::INCOMPATIBLE_VERSION,
                "incompatible protocol version",
            );
            self.finish(CloseReason::Incompatible {
                server_version: protocol_version,
            });
            return;
        }
        if !self.link.up(now) {
            return; // a repeated Connected on the same socket
        }
        self.connection_id = Some(connection_id.clone());
        // Assigned, not `clone_from`: that is one more function in the
        // browser client for a string set once per connection.
        self.user_id = user_id.clone();
        self.events.push_back(Event::Connected {
            connection_id,
            user_id,
        });
        self.set_status(ConnectionStatus::Open);
        if self.mirror.seq().is_some() {
            // The server answers every join with a Snapshot or, for a dial
            // that carried the resume point, Deltas: that answer is the
            // resync, so none is requested until it has come.
            self.resync_since = Some(now);
        }
        if !self.subscriptions.is_empty() {
            self.transmit(ClientMessage::Subscribe {
                domains: self.subscriptions.clone(),
            });
        }
        for frame in self.ops.frames() {
            self.transmits.push_back(frame.to_vec());
        }
        // Moved one by one: `extend` over a `drain` links `VecDeque`'s
        // bulk-insert and drain code (about 1.2 KB of wasm) for this alone.
        while let Some(frame) = self.outbox.pop_front() {
            self.transmits.push_back(frame);
        }
        // The new connection has not heard this client's presence yet.
        self.presence_pending = self.presence_report.is_some();
        self.ping(now);
    }

    fn on_error(&mut self, now: Instant, code: Option<ErrorCode>, message: String, fatal: bool) {
        self.events.push_back(Event::ServerError {
            code: code.clone(),
            message: message.clone(),
            fatal,
        });
        if !fatal {
            return;
        }
        // For a code this build does not know, the close code that follows
        // decides (see handle_close); until it comes, the socket stays.
        let Some(reconnect) = code
            .as_ref()
            .and_then(ErrorCode::info)
            .map(|row| row.reconnect)
        else {
            return;
        };
        self.drop_socket(CloseCode::NORMAL, "the server reported a fatal error");
        if reconnect {
            self.lose(now);
        } else {
            self.finish(CloseReason::Fatal { code, message });
        }
    }

    fn on_deltas(
        &mut self,
        now: Instant,
        seq: u64,
        epoch: Option<u32>,
        prev: Option<u64>,
        deltas: Vec<M::Delta>,
    ) {
        let events = &mut self.events;
        let outcome = self
            .mirror
            .deltas(seq, epoch, prev, deltas, &mut |seq, delta| {
                events.push_back(Event::Delta {
                    delta: delta.clone(),
                    seq,
                });
            });
        match outcome {
            Sync::Applied => {
                self.resync_since = None;
                self.rebase();
            }
            Sync::Stale | Sync::Buffered => {}
            Sync::Gap(gap) => {
                self.events.push_back(Event::Violation(gap));
                self.request_resync(now);
            }
            Sync::EpochChanged => self.request_resync(now),
            Sync::Invalid(violation) => {
                self.events.push_back(Event::Violation(violation));
                self.request_resync(now);
            }
        }
    }

    fn settle(&mut self, op_id: OpId, outcome: OpState) {
        if let Some(had_change) = self.ops.settle(op_id, outcome.clone()) {
            self.events.push_back(Event::Action {
                op_id,
                state: outcome,
            });
            if had_change {
                self.rebase();
            }
        }
    }
}

/// The difference between two full presence lists.
///
/// Entries are matched through sets of byte strings, `HashSet<&[u8]>`, the
/// one table type the frame reader also uses, so the browser client links
/// a single copy of the hash table's code: a set of user ids says who
/// joined and who left, and a set of whole entries ([`entry_key`]) says
/// whose entry changed. (A map from id to entry was a second copy, about
/// 0.6 KB of compressed wasm.)
fn presence_change(old: &[PresenceInfo], new: &[PresenceInfo]) -> PresenceDiff {
    // Only `insert` is used (it says whether the value was new): the
    // reader's one use of the table, so no other method is compiled.
    fn set_of<'a>(values: impl Iterator<Item = &'a [u8]>) -> HashSet<&'a [u8]> {
        let mut set = HashSet::new();
        for value in values {
            set.insert(value);
        }
        set
    }
    fn id(info: &PresenceInfo) -> &[u8] {
        info.user_id.as_bytes()
    }
    let mut old_keys = Vec::with_capacity(old.len());
    let mut new_keys = Vec::with_capacity(new.len());
    for (list, keys) in [(old, &mut old_keys), (new, &mut new_keys)] {
        for info in list {
            keys.push(entry_key(info));
        }
    }
    let mut before = set_of(old.iter().map(id));
    let mut old_entries = set_of(old_keys.iter().map(Vec::as_slice));
    let mut after = set_of(new.iter().map(id));
    let mut diff = PresenceDiff::default();
    for (info, key) in new.iter().zip(&new_keys) {
        // One entry per user id, so adding the new ones changes no answer.
        if before.insert(id(info)) {
            diff.joined.push(info.clone());
        } else if old_entries.insert(key) {
            diff.updated.push(info.clone());
        }
    }
    for info in old {
        if after.insert(id(info)) {
            diff.left.push(info.user_id.clone());
        }
    }
    diff
}

/// A presence entry as bytes: two entries have the same key exactly when
/// they are equal (each text is length-prefixed, so no two entries run
/// together). Every field is named here, so a new field of
/// [`PresenceInfo`] does not compile until it is part of the key.
fn entry_key(info: &PresenceInfo) -> Vec<u8> {
    let PresenceInfo {
        user_id,
        name,
        status,
        connected_at,
    } = info;
    let mut key = Vec::with_capacity(user_id.len() + name.as_ref().map_or(0, String::len) + 26);
    for text in [Some(user_id), name.as_ref()] {
        match text {
            None => key.push(0),
            Some(text) => {
                key.push(1);
                key.extend_from_slice(&(text.len() as u64).to_le_bytes());
                key.extend_from_slice(text.as_bytes());
            }
        }
    }
    key.push(*status as u8);
    key.extend_from_slice(&connected_at.to_le_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presence::PresenceStatus;

    fn user(id: &str, status: PresenceStatus) -> PresenceInfo {
        PresenceInfo {
            user_id: id.into(),
            name: None,
            status,
            connected_at: 0,
        }
    }

    #[test]
    fn full_presence_lists_become_diffs() {
        let old = [
            user("a", PresenceStatus::Active),
            user("b", PresenceStatus::Active),
        ];
        let new = [
            user("b", PresenceStatus::Away),
            user("c", PresenceStatus::Active),
        ];
        let diff = presence_change(&old, &new);
        assert_eq!(diff.joined, [user("c", PresenceStatus::Active)]);
        assert_eq!(diff.updated, [user("b", PresenceStatus::Away)]);
        assert_eq!(diff.left, ["a"]);
        let mut members = old.to_vec();
        diff.apply(&mut members);
        assert_eq!(members, new);
    }

    #[test]
    fn an_entry_is_updated_when_any_field_changes_and_only_then() {
        let base = PresenceInfo {
            name: Some("Ann".into()),
            ..user("a", PresenceStatus::Idle)
        };
        let changes = [
            PresenceInfo {
                name: None,
                ..base.clone()
            },
            PresenceInfo {
                name: Some("Anne".into()),
                ..base.clone()
            },
            PresenceInfo {
                status: PresenceStatus::Away,
                ..base.clone()
            },
            PresenceInfo {
                connected_at: 7,
                ..base.clone()
            },
        ];
        for changed in changes {
            let diff = presence_change(std::slice::from_ref(&base), std::slice::from_ref(&changed));
            assert_eq!(diff.updated, std::slice::from_ref(&changed), "{changed:?}");
            assert!(diff.joined.is_empty() && diff.left.is_empty());
        }
        let one = std::slice::from_ref(&base);
        let same = presence_change(one, one);
        assert!(same.is_empty(), "{same:?}");
        // A name that swallows the next field's bytes is still a change.
        let a = PresenceInfo {
            user_id: "ab".into(),
            name: None,
            ..base.clone()
        };
        let b = PresenceInfo {
            user_id: "ab".into(),
            name: Some(String::new()),
            ..base
        };
        let b = std::slice::from_ref(&b);
        assert_eq!(presence_change(&[a], b).updated, b);
    }
}
