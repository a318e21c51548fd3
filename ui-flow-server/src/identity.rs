//! Who a connection belongs to: [`Identity`], as an
//! [`Authenticator`](crate::Authenticator) established it.
//!
//! A plain value with no IO, shared by the sans-IO hub and the async side.

use std::fmt;

/// An authenticated user.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// The stable user id, used for presence, signals and `notify_user`.
    pub user_id: String,
    /// A display name for presence lists, if known.
    pub name: Option<String>,
}

impl Identity {
    /// An identity with no display name.
    pub fn new(user_id: impl Into<String>) -> Self {
        Identity {
            user_id: user_id.into(),
            name: None,
        }
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({:?}", self.user_id)?;
        if let Some(name) = &self.name {
            write!(f, ", {name:?}")?;
        }
        write!(f, ")")
    }
}
