//! Presence scopes: which users each connection sees in presence and may
//! signal (see [`PresenceScope`]).
//!
//! The hub evaluates scopes as data the driver hands it; it never asks the
//! application. Every presence frame is encoded once per distinct set of
//! groups seen among its recipients, never per connection. A resource
//! where every connection sees all groups takes the unscoped path: one
//! encoding for everyone, as without scopes.
//!
//! A user's groups are remembered a little after they leave (until the
//! resource's next presence frame has gone out), so their `left` entry
//! reaches exactly the connections that saw them. A user this node never
//! had a connection of (on a mesh: connected to other nodes only) belongs
//! to no group here: only connections that see all groups see them, and
//! no narrow connection may signal them.

use std::collections::HashMap;
use std::sync::Arc;

use ui_flow::{PresenceDiff, PresenceInfo};

use super::session::Session;
use super::transmit::{ConnectionId, Now, Recipients, Transmit};
use super::{Control, Hub};
use crate::view::{Groups, PresenceScope};
use ui_flow::Model;

/// The scopes of the connections that have one other than
/// [`PresenceScope::ALL`], and each resource's users' groups.
#[derive(Debug, Default)]
pub(crate) struct Scopes {
    /// Scopes given before the connection was admitted (during its
    /// handshake).
    pub(super) pending: HashMap<ConnectionId, PresenceScope>,
    of: HashMap<ConnectionId, PresenceScope>,
    per_resource: HashMap<Arc<str>, ResourceScopes>,
}

#[derive(Debug, Default)]
struct ResourceScopes {
    /// Connections that do not see every group.
    narrow: usize,
    /// Each local user's groups (the union over their connections).
    members: HashMap<Arc<str>, Groups>,
    /// Users who left; their groups go at the next prune.
    departed: Vec<Arc<str>>,
}

const ALL: &Groups = &Groups::All;

impl Scopes {
    fn sees(&self, conn: ConnectionId) -> &Groups {
        self.of.get(&conn).map_or(ALL, |s| &s.sees)
    }

    fn narrow(&self, resource: &str) -> bool {
        self.per_resource
            .get(resource)
            .is_some_and(|r| r.narrow > 0)
    }

    /// Whether a connection that sees `sees` sees `user` (a user this node
    /// has no groups for, connected on another node only, belongs to none).
    fn visible(&self, resource: &str, user: &str, sees: &Groups) -> bool {
        sees.is_all()
            || self
                .per_resource
                .get(resource)
                .and_then(|r| r.members.get(user))
                .is_some_and(|groups| groups.meets(sees))
    }

    fn filter_diff(&self, resource: &str, diff: &PresenceDiff, sees: &Groups) -> PresenceDiff {
        let keep = |user: &str| self.visible(resource, user, sees);
        PresenceDiff {
            joined: diff
                .joined
                .iter()
                .filter(|i| keep(&i.user_id))
                .cloned()
                .collect(),
            updated: diff
                .updated
                .iter()
                .filter(|i| keep(&i.user_id))
                .cloned()
                .collect(),
            left: diff.left.iter().filter(|u| keep(u)).cloned().collect(),
        }
    }

    /// Sets a connection's scope; adjusts the resource's count of narrow
    /// connections.
    fn put(&mut self, resource: &Arc<str>, conn: ConnectionId, scope: PresenceScope) {
        let was_narrow = !self.sees(conn).is_all();
        let now_narrow = !scope.sees.is_all();
        if scope == PresenceScope::ALL {
            self.of.remove(&conn);
        } else {
            self.of.insert(conn, scope);
        }
        let entry = self.per_resource.entry(resource.clone()).or_default();
        match (was_narrow, now_narrow) {
            (false, true) => entry.narrow += 1,
            (true, false) => entry.narrow -= 1,
            _ => {}
        }
    }

    /// Recomputes `user`'s groups from their connections in `session`;
    /// whether they changed. A user with no connection left keeps theirs
    /// until the next prune.
    fn update_member(
        &mut self,
        resource: &Arc<str>,
        session: &Session,
        user: &Arc<str>,
        gone: Option<ConnectionId>,
    ) -> bool {
        let mut groups: Option<Groups> = None;
        for conn in session.roster.connections_of(user) {
            if Some(conn) == gone {
                continue;
            }
            let mine = self.of.get(&conn).map_or(ALL, |s| &s.groups);
            match &mut groups {
                None => groups = Some(mine.clone()),
                Some(g) => g.extend(mine),
            }
        }
        let entry = self.per_resource.entry(resource.clone()).or_default();
        match groups {
            None => {
                entry.departed.push(user.clone());
                false
            }
            Some(groups) => entry.members.insert(user.clone(), groups.clone()) != Some(groups),
        }
    }

    /// Forgets the groups of departed users who are still gone. On a
    /// meshed hub, a user whose tabs here closed while they stay connected
    /// elsewhere keeps the groups they had here until they leave the
    /// merged list: the connections that saw them then hear of it.
    fn prune(&mut self, resource: &str, session: &Session) {
        if let Some(r) = self.per_resource.get_mut(resource) {
            let mut kept = Vec::new();
            for user in std::mem::take(&mut r.departed) {
                if session.roster.contains(&user) {
                    continue;
                }
                if session.shown.contains_key(&*user) {
                    kept.push(user);
                } else {
                    r.members.remove(&user);
                }
            }
            r.departed = kept;
        }
    }
}

impl<M: Model> Hub<M> {
    /// Gives a connection still authenticating (from
    /// [`begin_handshake`](Self::begin_handshake)) its presence scope: it
    /// joins presence with it when
    /// [`complete_handshake`](Self::complete_handshake) admits it. Without
    /// one it gets [`PresenceScope::ALL`].
    pub fn set_presence_scope(&mut self, conn: ConnectionId, scope: PresenceScope) {
        if self.handshakes.contains(&conn) {
            self.scopes.pending.insert(conn, scope);
        }
    }

    /// Moves an admitted connection to another presence scope. When it
    /// differs, the connection receives a fresh `Presence` list of its new
    /// scope; when its user's groups changed with it, so does every
    /// connection of the resource that does not see all groups. Returns
    /// whether it changed.
    pub fn change_presence_scope(
        &mut self,
        now: Now,
        conn: ConnectionId,
        scope: PresenceScope,
    ) -> bool {
        self.latest = Some(now.instant);
        let Some(c) = self.connections.get(&conn) else {
            return false;
        };
        if self.scopes.of.get(&conn).unwrap_or(&PresenceScope::ALL) == &scope {
            return false;
        }
        let (resource, user) = (c.resource.clone(), c.user_key.clone());
        self.scopes.put(&resource, conn, scope);
        let Some(session) = self.sessions.get(&resource) else {
            return true;
        };
        let regrouped = self.scopes.update_member(&resource, session, &user, None);
        let mut relist = vec![conn];
        if regrouped {
            relist.extend(
                session
                    .live
                    .iter()
                    .chain(&session.syncing)
                    .filter(|c| **c != conn && !self.scopes.sees(**c).is_all()),
            );
        }
        self.relist(&resource, relist);
        true
    }

    /// The connection's presence scope ([`PresenceScope::ALL`] when it has
    /// none, or is gone).
    pub fn presence_scope(&self, conn: ConnectionId) -> PresenceScope {
        self.scopes.of.get(&conn).cloned().unwrap_or_default()
    }

    /// A connection joined presence (its roster entry exists): records its
    /// scope and its user's groups. Call before announcing the join.
    pub(super) fn join_scope(&mut self, resource: &Arc<str>, conn: ConnectionId, user: &Arc<str>) {
        let scope = self.scopes.pending.remove(&conn).unwrap_or_default();
        self.scopes.put(resource, conn, scope);
        if let Some(session) = self.sessions.get(resource) {
            self.scopes.update_member(resource, session, user, None);
        }
    }

    /// A connection left: forgets its scope and recomputes its user's
    /// groups (kept until the next prune when it was their last).
    /// Call after its roster entry is updated and before announcing.
    pub(super) fn leave_scope(&mut self, resource: &Arc<str>, conn: ConnectionId, user: &Arc<str>) {
        self.scopes.put(resource, conn, PresenceScope::ALL);
        match self.sessions.get(resource) {
            Some(session) => {
                if self
                    .scopes
                    .update_member(resource, session, user, Some(conn))
                {
                    let narrow: Vec<_> = session
                        .live
                        .iter()
                        .chain(&session.syncing)
                        .copied()
                        .filter(|c| !self.scopes.sees(*c).is_all())
                        .collect();
                    self.relist(resource, narrow);
                }
            }
            None => {
                self.scopes.per_resource.remove(resource);
            }
        }
    }

    /// A handshake that never became a connection.
    pub(super) fn forget_pending_scope(&mut self, conn: ConnectionId) {
        self.scopes.pending.remove(&conn);
    }

    /// Whether `conn` may see (and signal) `user`.
    pub(super) fn may_see(&self, conn: ConnectionId, resource: &str, user: &str) -> bool {
        self.scopes.visible(resource, user, self.scopes.sees(conn))
    }

    /// The presence list `conn` gets: the resource's, less the users
    /// outside its scope.
    pub(super) fn presence_list_for(
        &self,
        conn: ConnectionId,
        session: &Session,
    ) -> Vec<PresenceInfo> {
        let all = super::remote::listed(session, self.mesh.is_some());
        let sees = self.scopes.sees(conn);
        if sees.is_all() {
            return all;
        }
        let resource = self.connections.get(&conn).map(|c| c.resource.clone());
        let Some(resource) = resource else {
            return Vec::new();
        };
        all.into_iter()
            .filter(|i| self.scopes.visible(&resource, &i.user_id, sees))
            .collect()
    }

    /// Sends `diff` to every connection of `resource` except the live ones
    /// in `skip` (held for syncing ones), each receiving only the entries
    /// of its scope: one encoding per distinct scope with something to see.
    pub(super) fn send_presence_diff(
        &mut self,
        resource: &str,
        diff: &PresenceDiff,
        skip: &[ConnectionId],
    ) {
        if skip.is_empty() && !self.scopes.narrow(resource) {
            // Everyone sees everyone: one frame, the live list shared.
            let frame = self.control(&Control::PresenceDiff(diff.clone()));
            self.fan_out(resource, frame, None, true);
            self.prune_scopes(resource);
            return;
        }
        let Some(session) = self.sessions.get(resource) else {
            return;
        };
        let live: Vec<ConnectionId> = session
            .live
            .iter()
            .copied()
            .filter(|c| !skip.contains(c))
            .collect();
        let syncing = session.syncing.clone();
        self.send_presence_to(resource, diff, live, syncing);
        self.prune_scopes(resource);
    }

    /// Sends `diff` to `live` (queued) and `syncing` (held, as presence)
    /// connections, grouped by scope.
    pub(super) fn send_presence_to(
        &mut self,
        resource: &str,
        diff: &PresenceDiff,
        live: Vec<ConnectionId>,
        syncing: Vec<ConnectionId>,
    ) {
        let mut groups: Vec<(PresenceDiff, Vec<ConnectionId>, Vec<ConnectionId>)> = Vec::new();
        if self.scopes.narrow(resource) {
            let mut by_sees: HashMap<&Groups, (Vec<ConnectionId>, Vec<ConnectionId>)> =
                HashMap::new();
            for c in &live {
                by_sees.entry(self.scopes.sees(*c)).or_default().0.push(*c);
            }
            for c in &syncing {
                by_sees.entry(self.scopes.sees(*c)).or_default().1.push(*c);
            }
            for (sees, (l, s)) in by_sees {
                let filtered = self.scopes.filter_diff(resource, diff, sees);
                if !super::roster::is_empty(&filtered) {
                    groups.push((filtered, l, s));
                }
            }
        } else {
            groups.push((diff.clone(), live, syncing));
        }
        for (diff, live, syncing) in groups {
            if live.is_empty() && syncing.is_empty() {
                continue;
            }
            let frame = self.control(&Control::PresenceDiff(diff));
            if !live.is_empty() {
                self.transmits.push_back(Transmit::Frame {
                    to: Recipients::Many(Arc::new(live)),
                    bytes: frame.clone(),
                });
            }
            for conn in syncing {
                self.hold(conn, frame.clone(), None, true);
            }
        }
    }

    /// Forgets the groups of users who left, once nothing about them waits
    /// in the resource's presence batch.
    pub(super) fn prune_scopes(&mut self, resource: &str) {
        if let Some(session) = self.sessions.get(resource) {
            if session.batch.is_idle() {
                self.scopes.prune(resource, session);
            }
        }
    }

    /// Sends each of `conns` a fresh `Presence` list of its scope (one
    /// encoding per distinct scope), except those still joining, which get
    /// theirs when their sync finishes.
    fn relist(&mut self, resource: &Arc<str>, conns: Vec<ConnectionId>) {
        let Some(session) = self.sessions.get(resource) else {
            return;
        };
        let mut by_sees: HashMap<&Groups, Vec<ConnectionId>> = HashMap::new();
        for conn in conns {
            let joining = self
                .connections
                .get(&conn)
                .and_then(|c| c.sync.as_ref())
                .is_some_and(|s| s.join);
            if !joining && self.connections.contains_key(&conn) {
                by_sees
                    .entry(self.scopes.sees(conn))
                    .or_default()
                    .push(conn);
            }
        }
        let lists: Vec<(Vec<PresenceInfo>, Vec<ConnectionId>)> = by_sees
            .into_values()
            .map(|conns| (self.presence_list_for(conns[0], session), conns))
            .collect();
        for (users, conns) in lists {
            let frame = self.control(&Control::Presence { users });
            for conn in conns {
                if let Some(session) = self.sessions.get_mut(resource) {
                    session.batch.listed(conn);
                }
                self.send(conn, frame.clone());
            }
        }
    }
}
