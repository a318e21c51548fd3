//! What each server message does to the client.

use std::collections::HashMap;
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
        self.user_id.clone_from(&user_id);
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
fn presence_change<'a>(old: &'a [PresenceInfo], new: &'a [PresenceInfo]) -> PresenceDiff {
    // Loops rather than `collect`s: each `collect` compiles an iterator
    // pipeline of its own into the browser client; `insert` and `push` are
    // there anyway.
    let by_id = |list: &'a [PresenceInfo]| {
        let mut map = HashMap::with_capacity(list.len());
        for p in list {
            map.insert(p.user_id.as_str(), p);
        }
        map
    };
    let before = by_id(old);
    let after = by_id(new);
    let mut diff = PresenceDiff::default();
    for info in new {
        match before.get(info.user_id.as_str()) {
            None => diff.joined.push(info.clone()),
            Some(prev) if *prev != info => diff.updated.push(info.clone()),
            Some(_) => {}
        }
    }
    for p in old {
        if !after.contains_key(p.user_id.as_str()) {
            diff.left.push(p.user_id.clone());
        }
    }
    diff
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
}
