//! Which view each connection has, and fanning a commit out per view (see
//! [`crate::view`]).
//!
//! The hub only routes: the frames for each view are projected and encoded
//! by the resource's log, outside the hub's lock. A connection whose view
//! has no frame for a commit (its view was not projected) never gets the
//! unprojected one: it is resynced with a snapshot of its view.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::Hub;
use super::transmit::{ConnectionId, Now, Recipients, Transmit};
use crate::identity::Identity;
use crate::view::{ViewFrames, ViewKey};
use ui_flow::Model;

/// The views of the connections that have one other than [`ViewKey::ALL`].
#[derive(Debug, Default)]
pub(crate) struct Views {
    of: HashMap<ConnectionId, ViewKey>,
    /// Per resource: each view and how many connections have it.
    per_resource: HashMap<Arc<str>, HashMap<ViewKey, usize>>,
}

impl Views {
    fn insert(&mut self, resource: &Arc<str>, conn: ConnectionId, view: ViewKey) {
        if view.is_all() {
            return;
        }
        *self
            .per_resource
            .entry(resource.clone())
            .or_default()
            .entry(view.clone())
            .or_default() += 1;
        self.of.insert(conn, view);
    }

    fn remove(&mut self, resource: &str, conn: ConnectionId) {
        let Some(view) = self.of.remove(&conn) else {
            return;
        };
        let Some(counts) = self.per_resource.get_mut(resource) else {
            return;
        };
        if let Some(n) = counts.get_mut(&view) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&view);
            }
        }
        if counts.is_empty() {
            self.per_resource.remove(resource);
        }
    }
}

impl<M: Model> Hub<M> {
    /// Gives a connection that was just admitted its view. Call it before
    /// draining the admission's outputs: its sync request is answered for
    /// the view the connection has when the driver runs the request (see
    /// [`view`](Self::view)).
    pub fn set_view(&mut self, conn: ConnectionId, view: ViewKey) {
        let Some(resource) = self.connections.get(&conn).map(|c| c.resource.clone()) else {
            return;
        };
        self.views.remove(&resource, conn);
        self.views.insert(&resource, conn, view);
    }

    /// Moves a connection to another view. When the view differs, the
    /// connection resyncs with a fresh snapshot of its new view: nothing it
    /// holds from the old view survives it. A connection already syncing
    /// gets the new view's snapshot instead of the one under way, so no
    /// frame of the new view follows a snapshot of the old one. Returns
    /// whether it changed.
    pub fn change_view(&mut self, now: Now, conn: ConnectionId, view: ViewKey) -> bool {
        if self.view(conn) == view || !self.connections.contains_key(&conn) {
            return false;
        }
        self.set_view(conn, view);
        let syncing = self
            .connections
            .get(&conn)
            .is_some_and(|c| c.sync.is_some());
        if syncing {
            // A new ticket: an answer already under way is for the old
            // view and is dropped when it arrives.
            self.request_snapshot(conn);
        } else {
            self.resync(now, conn, None, None);
        }
        true
    }

    /// The connection's view ([`ViewKey::ALL`] when it has none, or is gone).
    pub fn view(&self, conn: ConnectionId) -> ViewKey {
        self.views.of.get(&conn).cloned().unwrap_or_default()
    }

    /// The distinct views other than [`ViewKey::ALL`] among the connections
    /// of `resource`, live or syncing: those a commit must be projected for.
    pub fn views_of(&self, resource: &str) -> Vec<ViewKey> {
        self.views
            .per_resource
            .get(resource)
            .map(|counts| counts.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every connection of `resource` with its user, to recompute views.
    pub fn members(&self, resource: &str) -> Vec<(ConnectionId, Arc<Identity>)> {
        let Some(session) = self.sessions.get(resource) else {
            return Vec::new();
        };
        session
            .live
            .iter()
            .chain(&session.syncing)
            .filter_map(|id| self.connections.get(id).map(|c| (*id, c.user.clone())))
            .collect()
    }

    /// Queues a commit's frames carrying seqs `first..=last`: `full` to the
    /// connections that see everything, and to every other connection the
    /// frame of its view from `frames` (nothing when its view did not
    /// change; a snapshot of its view when `frames` has none for it).
    /// Returns how many connections a frame was queued or held for.
    pub fn deliver_view_frames(
        &mut self,
        now: Now,
        resource: &str,
        full: Bytes,
        frames: &ViewFrames,
        first: u64,
        last: u64,
    ) -> usize {
        if !self.views.per_resource.contains_key(resource) {
            return self.fan_out(resource, full, Some((first, last)), false);
        }
        let Some(session) = self.sessions.get_mut(resource) else {
            return 0;
        };
        session.advance_head(last);
        let (live, syncing) = (session.live.clone(), session.syncing.clone());
        self.stats.view_frames += frames.encoded() as u64;
        let mut everything = Vec::new();
        let mut groups: HashMap<&ViewKey, Vec<ConnectionId>> = HashMap::new();
        let mut unserved = Vec::new();
        for conn in live.iter() {
            match self.views.of.get(conn) {
                None => everything.push(*conn),
                Some(view) => match frames.get(view) {
                    Some(Some(_)) => groups.entry(view).or_default().push(*conn),
                    Some(None) => {}
                    None => unserved.push(*conn),
                },
            }
        }
        let mut count = everything.len();
        let mut out = Vec::with_capacity(groups.len() + 1);
        if !everything.is_empty() {
            out.push((everything, full.clone()));
        }
        for (view, conns) in groups {
            if let Some(Some(frame)) = frames.get(view) {
                count += conns.len();
                out.push((conns, frame.clone()));
            }
        }
        for (conns, bytes) in out {
            self.transmits.push_back(Transmit::Frame {
                to: Recipients::Many(Arc::new(conns)),
                bytes,
            });
        }
        for conn in syncing {
            let frame = match self.views.of.get(&conn) {
                None => Some(full.clone()),
                Some(view) => match frames.get(view) {
                    Some(frame) => frame.cloned(),
                    None => {
                        unserved.push(conn);
                        None
                    }
                },
            };
            if let Some(frame) = frame {
                if self.hold(conn, frame, Some((first, last)), false) {
                    count += 1;
                }
            }
        }
        for conn in unserved {
            self.resync(now, conn, None, None);
        }
        count
    }

    /// Forgets a departing connection's view.
    pub(super) fn forget_view(&mut self, resource: &str, conn: ConnectionId) {
        self.views.remove(resource, conn);
    }

    /// Whether some connection of `resource` has a view of its own.
    pub(super) fn has_views(&self, resource: &str) -> bool {
        self.views.per_resource.contains_key(resource)
    }
}
