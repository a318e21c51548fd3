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
//! [`handle_action`](crate::FlowHandler::handle_action)), and it does not
//! restrict presence or signalling. Views apply to the server-owned log
//! only: a handler with
//! [`APP_OWNED_STATE`](crate::FlowHandler::APP_OWNED_STATE) sends its own
//! deltas and must filter them itself.

use std::collections::HashMap;
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
