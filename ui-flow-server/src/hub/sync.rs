//! Bringing a connection in sync: the join snapshot and `Resync`.
//!
//! While a connection syncs, everything addressed to it is held back in
//! order. When the snapshot (at seq `S`) or the catch-up deltas (ending at
//! `S`) arrive, the hub sends them, then the held frames, skipping deltas at
//! or below `S`. So a delta broadcast while the snapshot was being built is
//! neither lost nor applied twice. A held batch that straddles `S` cannot be
//! cut, so the hub asks for a fresh snapshot instead.
//!
//! A `Resync { last_seq, epoch }` is answered with deltas when all of
//! `last_seq + 1 ..= head` can be had (at most `max_resync_deltas`, same
//! epoch), as one `Deltas` message (empty when the client is at the head);
//! otherwise with a snapshot: no `last_seq`, another or absent epoch,
//! `last_seq` ahead of the head or too far behind it, or an incomplete answer
//! from `deltas_since`.

use bytes::Bytes;
use ui_flow::{CloseCode, ErrorCode, Model, ServerMessage};

use super::session::Sync;
use super::transmit::{ConnectionId, Now, Recipients, Request, SyncTicket, Transmit};
use super::{Control, Hub};

impl<M: Model> Hub<M> {
    /// The result of a [`Request::Sync`]: the encoded `Snapshot` or `Deltas`
    /// frame and the seq it brings the client to, or why there is none
    /// (the connection is closed with `sync_failed`).
    pub fn complete_sync(
        &mut self,
        now: Now,
        ticket: SyncTicket,
        result: Result<(Bytes, u64), String>,
    ) {
        self.latest = Some(now.instant);
        if self.current_sync(ticket).is_none() {
            return;
        }
        let conn = ticket.conn;
        let (frame, seq) = match result {
            Ok(answer) => answer,
            Err(_) => return self.sync_failed(conn),
        };
        if self.straddles(conn, seq) {
            return self.request_snapshot(conn);
        }
        self.finish_sync(now, conn, frame, seq);
    }

    /// The result of a [`Request::Snapshot`].
    pub fn complete_snapshot(
        &mut self,
        now: Now,
        ticket: SyncTicket,
        result: Result<(M::State, u64), String>,
    ) {
        self.latest = Some(now.instant);
        if self.current_sync(ticket).is_none() {
            return;
        }
        let conn = ticket.conn;
        let (state, seq) = match result {
            Ok(snapshot) => snapshot,
            Err(_) => return self.sync_failed(conn),
        };
        if self.straddles(conn, seq) {
            return self.request_snapshot(conn);
        }
        let frame = self.encode(&ServerMessage::<&M::State, (), ()>::Snapshot {
            state: &state,
            seq,
            timestamp: now.unix_ms,
            epoch: Some(self.epoch),
        });
        match frame {
            Ok(frame) => self.finish_sync(now, conn, frame, seq),
            Err(_) => self.sync_failed(conn),
        }
    }

    /// The result of a [`Request::Deltas`]. Used only when complete and
    /// contiguous; otherwise the hub asks for a snapshot.
    pub fn complete_deltas(
        &mut self,
        now: Now,
        ticket: SyncTicket,
        result: Result<Vec<(M::Delta, u64)>, String>,
    ) {
        self.latest = Some(now.instant);
        let Some(sync) = self.current_sync(ticket) else {
            return;
        };
        let conn = ticket.conn;
        let Some((after, head)) = sync.deltas.take() else {
            return;
        };
        let deltas = match result {
            Ok(list) if complete(&list, after, head) => list,
            _ => return self.request_snapshot(conn),
        };
        let seq = after + deltas.len() as u64;
        if self.straddles(conn, seq) {
            return self.request_snapshot(conn);
        }
        let frame = self.encode(&ServerMessage::<(), &M::Delta, ()>::Deltas {
            deltas: deltas.iter().map(|(d, _)| d).collect(),
            seq,
            timestamp: now.unix_ms,
            epoch: Some(self.epoch),
            prev: None,
        });
        match frame {
            Ok(frame) => self.finish_sync(now, conn, frame, seq),
            Err(_) => self.request_snapshot(conn),
        }
    }

    pub(super) fn resync(
        &mut self,
        now: Now,
        conn: ConnectionId,
        last_seq: Option<u64>,
        epoch: Option<u32>,
    ) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.sync.is_some() {
            c.pending_resync = Some((last_seq, epoch));
            return;
        }
        c.sync = Some(Sync {
            attempt: 0,
            join: false,
            deltas: None,
            held: Default::default(),
            held_bytes: 0,
        });
        let resource = c.resource.clone();
        if let Some(session) = self.sessions.get_mut(&resource) {
            session.make_syncing(conn);
        }
        self.start_sync(now, conn, Some((last_seq, epoch)));
    }

    /// Decides how to sync a connection that is already marked syncing.
    pub(super) fn start_sync(
        &mut self,
        now: Now,
        conn: ConnectionId,
        from: Option<(Option<u64>, Option<u32>)>,
    ) {
        if self.logged {
            let resume = from.and_then(|(seq, epoch)| seq.map(|s| (s, epoch)));
            return self.request_sync(conn, resume);
        }
        let cap = self.config.max_resync_deltas;
        let epoch = self.epoch;
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let head = self.sessions.get(&c.resource).and_then(|s| s.head);
        let servable = match (from, head) {
            (Some((Some(last), Some(e))), Some(head))
                if e == epoch && last <= head && head - last <= cap =>
            {
                Some((last, head))
            }
            _ => None,
        };
        match servable {
            Some((last, head)) if last == head => {
                let frame = self.encode(&ServerMessage::<(), (), ()>::Deltas {
                    deltas: Vec::new(),
                    seq: head,
                    timestamp: now.unix_ms,
                    epoch: Some(epoch),
                    prev: None,
                });
                match frame {
                    Ok(frame) => self.finish_sync(now, conn, frame, head),
                    Err(_) => self.request_snapshot(conn),
                }
            }
            Some((last, head)) => {
                let attempt = self.bump_attempt();
                let Some(c) = self.connections.get_mut(&conn) else {
                    return;
                };
                let Some(sync) = c.sync.as_mut() else {
                    return;
                };
                sync.attempt = attempt;
                sync.deltas = Some((last, head));
                self.requests.push_back(Request::Deltas {
                    ticket: SyncTicket { conn, attempt },
                    resource: c.resource.clone(),
                    after: last,
                });
            }
            None => self.request_snapshot(conn),
        }
    }

    fn request_sync(&mut self, conn: ConnectionId, resume: Option<(u64, Option<u32>)>) {
        if let Some((ticket, resource)) = self.new_ticket(conn) {
            self.requests.push_back(Request::Sync {
                ticket,
                resource,
                resume,
            });
        }
    }

    pub(super) fn request_snapshot(&mut self, conn: ConnectionId) {
        if self.logged {
            return self.request_sync(conn, None);
        }
        if let Some((ticket, resource)) = self.new_ticket(conn) {
            self.requests
                .push_back(Request::Snapshot { ticket, resource });
        }
    }

    /// A new ticket for a syncing connection (any older answer is now
    /// stale), with its resource.
    fn new_ticket(&mut self, conn: ConnectionId) -> Option<(SyncTicket, std::sync::Arc<str>)> {
        let attempt = self.bump_attempt();
        let c = self.connections.get_mut(&conn)?;
        let sync = c.sync.as_mut()?;
        sync.attempt = attempt;
        sync.deltas = None;
        Some((SyncTicket { conn, attempt }, c.resource.clone()))
    }

    fn bump_attempt(&mut self) -> u64 {
        self.next_attempt += 1;
        self.next_attempt
    }

    /// The connection's sync, if `ticket` is its outstanding request.
    fn current_sync(&mut self, ticket: SyncTicket) -> Option<&mut Sync> {
        self.connections
            .get_mut(&ticket.conn)
            .and_then(|c| c.sync.as_mut())
            .filter(|s| s.attempt == ticket.attempt)
    }

    /// Whether a held batch of deltas spans `seq` (some of it at or below,
    /// some above), so it can be neither sent nor skipped whole.
    fn straddles(&self, conn: ConnectionId, seq: u64) -> bool {
        self.connections
            .get(&conn)
            .and_then(|c| c.sync.as_ref())
            .is_some_and(|s| {
                s.held
                    .iter()
                    .any(|h| matches!(h.seqs, Some((first, last)) if first <= seq && seq < last))
            })
    }

    /// Sends the sync's first frame, the presence list after a join, then
    /// the held frames newer than `seq`; the connection is live again.
    fn finish_sync(&mut self, now: Now, conn: ConnectionId, first: Bytes, seq: u64) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        let Some(sync) = c.sync.take() else {
            return;
        };
        let pending = c.pending_resync.take();
        let resource = c.resource.clone();
        self.transmits.push_back(Transmit::Frame {
            to: Recipients::One(conn),
            bytes: first,
        });
        let Some(session) = self.sessions.get_mut(&resource) else {
            return;
        };
        session.advance_head(seq);
        session.make_live(conn);
        if sync.join {
            session.batch.listed(conn);
            let users = self.presence_list_for(conn, &self.sessions[&resource]);
            let list = self.control(&Control::Presence { users });
            self.transmits.push_back(Transmit::Frame {
                to: Recipients::One(conn),
                bytes: list,
            });
        }
        for held in sync.held {
            if held.seqs.is_some_and(|(_, last)| last <= seq) {
                continue;
            }
            self.transmits.push_back(Transmit::Frame {
                to: Recipients::One(conn),
                bytes: held.bytes,
            });
        }
        if let Some((last_seq, epoch)) = pending {
            self.resync(now, conn, last_seq, epoch);
        }
    }

    fn sync_failed(&mut self, conn: ConnectionId) {
        self.close(
            conn,
            ErrorCode::SYNC_FAILED,
            "the server could not produce a snapshot; reconnect",
            CloseCode::INTERNAL_ERROR,
            "snapshot failed",
        );
    }
}

/// Whether `list` holds exactly `after + 1, after + 2, ...` reaching `head`.
fn complete<D>(list: &[(D, u64)], after: u64, head: u64) -> bool {
    let contiguous = list
        .iter()
        .enumerate()
        .all(|(i, (_, seq))| *seq == after + 1 + i as u64);
    contiguous && after + list.len() as u64 >= head
}
