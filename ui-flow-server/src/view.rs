//! Per-connection views: which part of a resource's state a connection may
//! see.
//!
//! The application names a connection's view with a [`ViewKey`]
//! ([`FlowHandler::view`](crate::FlowHandler::view)) and says how a view sees
//! the state ([`FlowHandler::project_state`](crate::FlowHandler::project_state))
//! and each committed delta
//! ([`FlowHandler::project_delta`](crate::FlowHandler::project_delta)). The
//! server then projects every commit once per distinct view among the
//! resource's connections, encodes it once per view, and sends each
//! connection only its view's frame; a connection never receives bytes
//! computed for another view. Views are a security boundary, not a
//! bandwidth filter: a frame the server could not project for a view (the
//! projection panicked, or the frame came from another node) is never sent
//! to that view's connections; they get a fresh snapshot of their view
//! instead.
//!
//! It is not an access check on actions (do that in
//! [`handle_action`](crate::FlowHandler::handle_action)). Presence and
//! signalling have their own boundary, a [`PresenceScope`]
//! ([`FlowHandler::presence_scope`](crate::FlowHandler::presence_scope)).
//! Views apply to the server-owned log
//! only: a handler with
//! [`APP_OWNED_STATE`](crate::FlowHandler::APP_OWNED_STATE) sends its own
//! deltas and must filter them itself.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// The name of a view. Connections with equal keys see the same projection
/// and share its frames, so a key must say everything the projection
/// depends on (a tenant, a role, a position on a map).
///
/// [`ViewKey::ALL`], the default, sees the whole state: its connections get
/// the unprojected frames, exactly as without views.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct ViewKey(Option<Arc<str>>);

impl ViewKey {
    /// The whole state, unprojected.
    pub const ALL: ViewKey = ViewKey(None);

    /// A named view. Two keys with the same name are the same view.
    pub fn new(name: impl AsRef<str>) -> Self {
        ViewKey(Some(Arc::from(name.as_ref())))
    }

    /// The name given to [`new`](Self::new); `None` for [`ALL`](Self::ALL).
    pub fn name(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// Whether this is [`ALL`](Self::ALL).
    pub fn is_all(&self) -> bool {
        self.0.is_none()
    }
}

impl fmt::Debug for ViewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("ViewKey::ALL"),
            Some(name) => write!(f, "ViewKey({name:?})"),
        }
    }
}

/// What one committed delta is to a view.
#[derive(Debug, Clone, PartialEq)]
pub enum Projected<D> {
    /// The view does not change: its connections receive nothing for it.
    Nothing,
    /// The view sees the delta as it is (its encoding is reused).
    Same,
    /// The view changes by these deltas instead, applied in order to the
    /// view's state (for instance: an item entering sight is an "add" for a
    /// view that never saw it). An empty list is the same as `Nothing`.
    Deltas(Vec<D>),
}

/// The frames one commit produced for each view the log projected it for.
/// A view that is absent was not projected (its connections are resynced);
/// `None` means the view did not change (nothing is sent).
#[derive(Debug, Default, Clone)]
pub struct ViewFrames(pub(crate) HashMap<ViewKey, Option<Bytes>>);

impl ViewFrames {
    /// The frame for `view`: `Some(Some(frame))` to send, `Some(None)` when
    /// the view did not change, `None` when the view was not projected.
    pub fn get(&self, view: &ViewKey) -> Option<Option<&Bytes>> {
        self.0.get(view).map(Option::as_ref)
    }

    /// How many distinct frames (one per changed view) were encoded.
    pub fn encoded(&self) -> usize {
        self.0.values().filter(|f| f.is_some()).count()
    }
}

/// Who a connection's user is in presence, and whom the connection may see
/// and signal: the user belongs to some named groups, and the connection
/// sees the users of some groups.
///
/// A connection receives a presence entry (in `Presence` and
/// `PresenceDiff`) only for users who belong to a group it sees, and a
/// `Signal` it sends to anyone else is refused as `unknown_target`, exactly
/// like a signal to a user who is not connected. Connections that see the
/// same groups share one encoding of each presence frame.
///
/// [`PresenceScope::ALL`], the default, belongs to every group and sees
/// every group: with it, presence and signals work exactly as without
/// scopes. A user's groups are the union of those of their connections on
/// this node. On a cluster, a user connected only to another node belongs
/// to no group here: only connections that see every group see them.
///
/// It is not a view of the state (that is [`ViewKey`]), and it does not
/// hide a user from connections that see all groups.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct PresenceScope {
    pub(crate) groups: Groups,
    pub(crate) sees: Groups,
}

/// A set of group names, or every group.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub(crate) enum Groups {
    #[default]
    All,
    Some(BTreeSet<Arc<str>>),
}

impl Groups {
    fn from_names<I: IntoIterator<Item = S>, S: AsRef<str>>(names: I) -> Self {
        Groups::Some(names.into_iter().map(|n| Arc::from(n.as_ref())).collect())
    }

    pub(crate) fn is_all(&self) -> bool {
        matches!(self, Groups::All)
    }

    /// Adds `other`'s groups to these.
    pub(crate) fn extend(&mut self, other: &Groups) {
        match (&mut *self, other) {
            (Groups::All, _) => {}
            (_, Groups::All) => *self = Groups::All,
            (Groups::Some(mine), Groups::Some(theirs)) => mine.extend(theirs.iter().cloned()),
        }
    }

    /// Whether the two share a group (every group shares with `All`).
    pub(crate) fn meets(&self, other: &Groups) -> bool {
        match (self, other) {
            (Groups::All, _) | (_, Groups::All) => true,
            (Groups::Some(a), Groups::Some(b)) => a.iter().any(|g| b.contains(g)),
        }
    }
}

impl PresenceScope {
    /// Belongs to every group, sees every group: presence unrestricted.
    pub const ALL: PresenceScope = PresenceScope {
        groups: Groups::All,
        sees: Groups::All,
    };

    /// Belongs to `groups` and sees exactly the users of `sees`.
    pub fn new<G, S>(groups: G, sees: S) -> Self
    where
        G: IntoIterator,
        G::Item: AsRef<str>,
        S: IntoIterator,
        S::Item: AsRef<str>,
    {
        PresenceScope {
            groups: Groups::from_names(groups),
            sees: Groups::from_names(sees),
        }
    }

    /// Belongs to `group` and sees its users only.
    pub fn group(group: impl AsRef<str>) -> Self {
        Self::new([group.as_ref()], [group.as_ref()])
    }

    /// Belongs to `groups` and sees every user (a moderator, say).
    pub fn seeing_all<G>(groups: G) -> Self
    where
        G: IntoIterator,
        G::Item: AsRef<str>,
    {
        PresenceScope {
            groups: Groups::from_names(groups),
            sees: Groups::All,
        }
    }

    /// Whether this connection sees every user.
    pub fn sees_all(&self) -> bool {
        self.sees.is_all()
    }
}
