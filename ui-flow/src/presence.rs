//! Presence: who is connected to a resource, and how present they are.

use std::fmt;

/// One user connected to a resource.
///
/// A user with several tabs or devices open is still one `PresenceInfo`: the
/// server merges their connections (see `spec/PROTOCOL.md`, "Presence").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceInfo {
    /// The authenticated user id (never taken from a client payload).
    pub user_id: String,
    /// A display name, when the authenticator supplied one.
    pub name: Option<String>,
    /// How present the user is right now.
    pub status: PresenceStatus,
    /// When the user's earliest live connection was opened, in Unix milliseconds.
    pub connected_at: u64,
}

/// How present a connected user is.
///
/// On the wire this is the lowercase string `"active"`, `"idle"` or `"away"`.
/// The server derives it from the user's connections: `Active` while any
/// connection has sent an action or ping recently, `Idle` after a quiet spell,
/// `Away` when every connection reports its page hidden (the exact rule is in
/// `spec/PROTOCOL.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PresenceStatus {
    /// Interacting with the app now.
    #[default]
    Active,
    /// Connected, but nothing has happened for a while.
    Idle,
    /// Connected with the app in the background.
    Away,
}

impl PresenceStatus {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            PresenceStatus::Active => "active",
            PresenceStatus::Idle => "idle",
            PresenceStatus::Away => "away",
        }
    }

    /// Parses the wire string; `None` for anything else.
    pub fn from_wire(s: &str) -> Option<Self> {
        match s {
            "active" => Some(PresenceStatus::Active),
            "idle" => Some(PresenceStatus::Idle),
            "away" => Some(PresenceStatus::Away),
            _ => None,
        }
    }
}

impl fmt::Display for PresenceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change to the presence list, sent after the first full list so that one
/// join costs each recipient a few bytes rather than the whole list again.
///
/// Apply with [`PresenceDiff::apply`]: `left` first, then `joined` and
/// `updated` replace or insert by `user_id`. Empty lists are omitted on the
/// wire.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PresenceDiff {
    /// Users who were not in the list and now are.
    pub joined: Vec<PresenceInfo>,
    /// Users still present whose entry changed (status, name).
    pub updated: Vec<PresenceInfo>,
    /// User ids that left (their last connection closed or timed out).
    pub left: Vec<String>,
}

impl PresenceDiff {
    /// True when the diff changes nothing.
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.updated.is_empty() && self.left.is_empty()
    }

    /// Applies the diff to a member list, keeping one entry per user id.
    pub fn apply(&self, members: &mut Vec<PresenceInfo>) {
        members.retain(|m| !self.left.contains(&m.user_id));
        for info in self.joined.iter().chain(&self.updated) {
            match members.iter_mut().find(|m| m.user_id == info.user_id) {
                Some(slot) => *slot = info.clone(),
                None => members.push(info.clone()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, status: PresenceStatus) -> PresenceInfo {
        PresenceInfo {
            user_id: id.into(),
            name: None,
            status,
            connected_at: 1,
        }
    }

    #[test]
    fn diff_applies_leave_join_update() {
        let mut members = vec![
            user("a", PresenceStatus::Active),
            user("b", PresenceStatus::Active),
        ];
        let diff = PresenceDiff {
            joined: vec![user("c", PresenceStatus::Active)],
            updated: vec![user("b", PresenceStatus::Away)],
            left: vec!["a".into()],
        };
        diff.apply(&mut members);
        assert_eq!(
            members,
            vec![
                user("b", PresenceStatus::Away),
                user("c", PresenceStatus::Active)
            ]
        );
    }

    #[test]
    fn status_wire_strings_round_trip() {
        for s in [
            PresenceStatus::Active,
            PresenceStatus::Idle,
            PresenceStatus::Away,
        ] {
            assert_eq!(PresenceStatus::from_wire(s.as_str()), Some(s));
        }
        assert_eq!(PresenceStatus::from_wire("Active"), None);
    }
}
