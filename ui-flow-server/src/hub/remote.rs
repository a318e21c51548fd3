//! Presence and signals that cross nodes: the hub's side of a mesh of
//! server nodes (see [`crate::broker`]).
//!
//! A meshed hub keeps, next to each session's local roster, what the other
//! nodes report about their own connections to the resource (one entry per
//! node and user), and shows its clients the merge: one entry per user
//! whichever nodes their tabs are on. It tells the other nodes about its
//! own entries through [`MeshEvent`]s, and relays a `Signal` to another
//! node when the target user is there.
//!
//! It does no IO and keeps no clock: expiring the entries of a node that
//! went quiet is the driver's job (it calls
//! [`replace_remote_presence`](Hub::replace_remote_presence) with nothing).
//!
//! The merge rule for one user: **active** if any node says active, else
//! **idle** if any says idle, else **away**; `connected_at` is the earliest;
//! the name is the first one known.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use ui_flow::{PresenceInfo, PresenceStatus};

use super::roster::Change;
use super::session::Session;
use super::{Hub, Now};
use ui_flow::Model;

/// Something a meshed hub tells the other nodes, drained with
/// [`Hub::poll_mesh`] after every input, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MeshEvent {
    /// This node's own entry for `user` in `resource` changed; `None`: the
    /// user has no connection to the resource on this node any more.
    Presence {
        /// The resource.
        resource: Arc<str>,
        /// The user id.
        user: Arc<str>,
        /// The entry from this node's connections only.
        entry: Option<PresenceInfo>,
    },
    /// A `Signal` for a user who is connected to `resource` on another
    /// node: the relayed frame, encoded once, to queue to the target's
    /// connections there ([`Hub::deliver_signal`]).
    Signal {
        /// The resource.
        resource: Arc<str>,
        /// The target user id.
        target: String,
        /// The encoded `Signal` frame as the target receives it.
        frame: Bytes,
    },
}

/// One node's entries in one resource, by user id.
type NodeEntries = BTreeMap<String, PresenceInfo>;

/// A meshed hub's view of the other nodes, and what to tell them.
#[derive(Debug, Default)]
pub(super) struct Mesh {
    /// resource → node → that node's entries.
    remote: HashMap<Arc<str>, HashMap<Box<str>, NodeEntries>>,
    pub(super) outbox: VecDeque<MeshEvent>,
}

impl Mesh {
    /// Whether it holds no other node's entry and nothing to tell them.
    pub(super) fn is_empty(&self) -> bool {
        self.remote.is_empty() && self.outbox.is_empty()
    }

    fn entries<'a>(
        &'a self,
        resource: &str,
        user: &'a str,
    ) -> impl Iterator<Item = &'a PresenceInfo> + 'a {
        self.remote
            .get(resource)
            .into_iter()
            .flat_map(move |nodes| nodes.values().filter_map(move |users| users.get(user)))
    }

    pub(super) fn has(&self, resource: &str, user: &str) -> bool {
        self.entries(resource, user).next().is_some()
    }

    /// The merged entries of every remote user of a resource.
    pub(super) fn merged_all(&self, resource: &str) -> BTreeMap<String, PresenceInfo> {
        let mut all = BTreeMap::new();
        for users in self
            .remote
            .get(resource)
            .into_iter()
            .flat_map(|n| n.values())
        {
            for (user, entry) in users {
                all.entry(user.clone())
                    .and_modify(|m| merge_into(m, entry))
                    .or_insert_with(|| entry.clone());
            }
        }
        all
    }
}

fn rank(status: PresenceStatus) -> u8 {
    match status {
        PresenceStatus::Active => 0,
        PresenceStatus::Idle => 1,
        PresenceStatus::Away => 2,
    }
}

fn merge_into(merged: &mut PresenceInfo, other: &PresenceInfo) {
    if rank(other.status) < rank(merged.status) {
        merged.status = other.status;
    }
    merged.connected_at = merged.connected_at.min(other.connected_at);
    if merged.name.is_none() {
        merged.name.clone_from(&other.name);
    }
}

/// One user's entry merged from this node's and the others'.
fn merge<'a>(
    local: Option<PresenceInfo>,
    remote: impl Iterator<Item = &'a PresenceInfo>,
) -> Option<PresenceInfo> {
    let mut remote = remote;
    let mut merged = match local {
        Some(entry) => entry,
        None => remote.next()?.clone(),
    };
    for other in remote {
        merge_into(&mut merged, other);
    }
    Some(merged)
}

/// Records the merged entry as shown to the session's clients; the change
/// to announce, if any.
fn show(
    shown: &mut BTreeMap<String, PresenceInfo>,
    user: &str,
    merged: Option<PresenceInfo>,
) -> Option<Change> {
    match (shown.get(user), merged) {
        (None, None) => None,
        (None, Some(entry)) => {
            shown.insert(user.to_owned(), entry.clone());
            Some(Change::Joined(entry))
        }
        (Some(_), None) => {
            shown.remove(user);
            Some(Change::Left(user.to_owned()))
        }
        (Some(old), Some(entry)) if *old == entry => None,
        (Some(_), Some(entry)) => {
            shown.insert(user.to_owned(), entry.clone());
            Some(Change::Updated(entry))
        }
    }
}

impl Change {
    fn user(&self) -> &str {
        match self {
            Change::Joined(info) | Change::Updated(info) => &info.user_id,
            Change::Left(user) => user,
        }
    }
}

/// The presence list a joining connection gets: the merged view when
/// meshed, the local roster otherwise.
pub(super) fn listed(session: &Session, meshed: bool) -> Vec<PresenceInfo> {
    if meshed {
        session.shown.values().cloned().collect()
    } else {
        session.roster.list()
    }
}

impl<M: Model> Hub<M> {
    /// Makes this hub one node of several: presence lists become the merge
    /// of this node's roster and what other nodes report, and changes to
    /// this node's entries and signals for users elsewhere are queued as
    /// [`MeshEvent`]s. Best called before the first connection; sessions
    /// already open keep their list (the others learn of it from the
    /// driver's next heartbeat, [`local_presence`](Self::local_presence)).
    pub fn enable_mesh(&mut self) {
        if self.mesh.is_some() {
            return;
        }
        self.mesh = Some(Mesh::default());
        for session in self.sessions.values_mut() {
            session.shown = session
                .roster
                .list()
                .into_iter()
                .map(|p| (p.user_id.clone(), p))
                .collect();
        }
    }

    /// The next thing to tell the other nodes (always `None` unless
    /// [`enable_mesh`](Self::enable_mesh) was called).
    pub fn poll_mesh(&mut self) -> Option<MeshEvent> {
        self.mesh.as_mut()?.outbox.pop_front()
    }

    /// This node's own presence entries, per resource with connections
    /// here: what a heartbeat to the other nodes carries.
    pub fn local_presence(&self) -> Vec<(Arc<str>, Vec<PresenceInfo>)> {
        self.sessions
            .iter()
            .map(|(resource, s)| (resource.clone(), s.roster.list()))
            .filter(|(_, list)| !list.is_empty())
            .collect()
    }

    /// Node `node` reports its entry for `user` in `resource` (`None`: the
    /// user left there). Ignored unless meshed.
    pub fn handle_remote_presence(
        &mut self,
        now: Now,
        resource: &str,
        node: &str,
        user: &str,
        entry: Option<PresenceInfo>,
    ) {
        self.latest = Some(now.instant);
        let Some(mesh) = self.mesh.as_mut() else {
            return;
        };
        match entry {
            Some(mut entry) => {
                user.clone_into(&mut entry.user_id);
                mesh.remote
                    .entry(Arc::from(resource))
                    .or_default()
                    .entry(Box::from(node))
                    .or_default()
                    .insert(user.to_owned(), entry);
            }
            None => {
                if let Some(nodes) = mesh.remote.get_mut(resource) {
                    if let Some(users) = nodes.get_mut(node) {
                        users.remove(user);
                        if users.is_empty() {
                            nodes.remove(node);
                        }
                    }
                    if nodes.is_empty() {
                        mesh.remote.remove(resource);
                    }
                }
            }
        }
        self.remerge(resource, user);
    }

    /// Node `node` reports all its entries in `resource` (a heartbeat);
    /// every entry of that node not in `entries` is gone. An empty list
    /// removes the node from the resource (it left, or went quiet).
    pub fn replace_remote_presence(
        &mut self,
        now: Now,
        resource: &str,
        node: &str,
        entries: Vec<PresenceInfo>,
    ) {
        self.latest = Some(now.instant);
        let Some(mesh) = self.mesh.as_mut() else {
            return;
        };
        let fresh: BTreeMap<String, PresenceInfo> = entries
            .into_iter()
            .map(|e| (e.user_id.clone(), e))
            .collect();
        let nodes = mesh.remote.entry(Arc::from(resource)).or_default();
        let old = if fresh.is_empty() {
            nodes.remove(node).unwrap_or_default()
        } else {
            nodes
                .insert(Box::from(node), fresh.clone())
                .unwrap_or_default()
        };
        if nodes.is_empty() {
            mesh.remote.remove(resource);
        }
        let mut touched: Vec<String> = old
            .iter()
            .filter(|(user, entry)| fresh.get(*user) != Some(entry))
            .map(|(user, _)| user.clone())
            .collect();
        touched.extend(
            fresh
                .iter()
                .filter(|(user, entry)| old.get(*user) != Some(entry))
                .map(|(user, _)| user.clone()),
        );
        touched.sort_unstable();
        touched.dedup();
        for user in touched {
            self.remerge(resource, &user);
        }
    }

    /// Queues a `Signal` frame relayed by another node to `target`'s
    /// connections to `resource` here; returns how many.
    pub fn deliver_signal(&mut self, resource: &str, target: &str, frame: Bytes) -> usize {
        let Some(session) = self.sessions.get(resource) else {
            return 0;
        };
        let conns: Vec<_> = session.roster.connections_of(target).collect();
        for conn in &conns {
            self.send(*conn, frame.clone());
        }
        conns.len()
    }

    /// A local roster change: tells the other nodes, then turns it into a
    /// change of the merged view (`None` when the merged entry is as shown).
    pub(super) fn merge_local(&mut self, resource: &str, change: Change) -> Option<Change> {
        let user = change.user().to_owned();
        let session = self.sessions.get_mut(resource)?;
        let mesh = self.mesh.as_mut()?;
        let local = session.roster.entry(&user);
        mesh.outbox.push_back(MeshEvent::Presence {
            resource: Arc::from(resource),
            user: Arc::from(user.as_str()),
            entry: local.clone(),
        });
        let merged = merge(local, mesh.entries(resource, &user));
        show(&mut session.shown, &user, merged)
    }

    /// The last local connection of `user` to `resource` closed with the
    /// session (no roster change is announced then): tell the other nodes.
    pub(super) fn left_with_session(&mut self, resource: &Arc<str>, user: &Arc<str>) {
        if let Some(mesh) = self.mesh.as_mut() {
            mesh.outbox.push_back(MeshEvent::Presence {
                resource: resource.clone(),
                user: user.clone(),
                entry: None,
            });
        }
    }

    /// Whether `user` is connected to `resource` on another node.
    pub(super) fn elsewhere(&self, resource: &str, user: &str) -> bool {
        self.mesh.as_ref().is_some_and(|m| m.has(resource, user))
    }

    /// Queues a relayed signal for the other nodes.
    pub(super) fn relay_signal(&mut self, resource: &Arc<str>, target: &str, frame: Bytes) {
        if let Some(mesh) = self.mesh.as_mut() {
            mesh.outbox.push_back(MeshEvent::Signal {
                resource: resource.clone(),
                target: target.to_owned(),
                frame,
            });
        }
    }

    /// The merged entries of a new session's remote users.
    pub(super) fn seed_shown(&self, resource: &str) -> BTreeMap<String, PresenceInfo> {
        self.mesh
            .as_ref()
            .map(|m| m.merged_all(resource))
            .unwrap_or_default()
    }

    /// Recomputes one user's merged entry after a remote report.
    fn remerge(&mut self, resource: &str, user: &str) {
        let (Some(session), Some(mesh)) = (self.sessions.get_mut(resource), self.mesh.as_ref())
        else {
            return;
        };
        let merged = merge(session.roster.entry(user), mesh.entries(resource, user));
        if let Some(change) = show(&mut session.shown, user, merged) {
            self.emit_presence(resource, change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(user: &str, status: PresenceStatus, at: u64) -> PresenceInfo {
        PresenceInfo {
            user_id: user.into(),
            name: None,
            status,
            connected_at: at,
        }
    }

    #[test]
    fn a_user_on_two_nodes_is_one_entry_with_the_liveliest_status() {
        let here = info("ann", PresenceStatus::Away, 20);
        let there = [info("ann", PresenceStatus::Idle, 10)];
        let merged = merge(Some(here), there.iter()).expect("an entry");
        assert_eq!(merged, info("ann", PresenceStatus::Idle, 10));
        assert_eq!(merge(None, std::iter::empty()), None);
    }

    #[test]
    fn show_announces_only_what_changed_in_the_merged_view() {
        let mut shown = BTreeMap::new();
        let a = info("ann", PresenceStatus::Active, 1);
        assert_eq!(
            show(&mut shown, "ann", Some(a.clone())),
            Some(Change::Joined(a.clone()))
        );
        // A second node reporting the same merged entry changes nothing.
        assert_eq!(show(&mut shown, "ann", Some(a)), None);
        assert_eq!(
            show(&mut shown, "ann", None),
            Some(Change::Left("ann".into()))
        );
        assert_eq!(show(&mut shown, "ann", None), None);
    }
}
