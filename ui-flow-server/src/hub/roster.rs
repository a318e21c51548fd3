//! Presence bookkeeping for one resource: one entry per user, however many
//! connections (tabs, devices) the user has.
//!
//! The status rule:
//!
//! - each connection keeps the last presence it reported in a `Ping`
//!   (`active`, `idle` or `away`; `active` until it reports otherwise);
//! - the user is **away** when every one of their connections last reported
//!   `away` (every tab hidden);
//! - otherwise **active** when any of their connections interacted within
//!   `idle_after` (default 60 s): joined, sent an `Action`, or sent a `Ping`
//!   reporting `active`;
//! - otherwise **idle**.
//!
//! `connected_at` is when the user's earliest live connection opened.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ui_flow::{PresenceInfo, PresenceStatus};

use super::transmit::ConnectionId;

#[derive(Debug)]
struct Tab {
    conn: ConnectionId,
    opened_ms: u64,
    report: PresenceStatus,
}

#[derive(Debug)]
struct Member {
    name: Option<String>,
    tabs: Vec<Tab>,
    last_interaction: Instant,
    /// The status and connected_at last announced.
    announced: (PresenceStatus, u64),
    /// Whether an idle deadline for this member is queued in the hub.
    timer_armed: bool,
}

impl Member {
    fn status(&self, now: Instant, idle_after: Duration) -> PresenceStatus {
        if self.tabs.iter().all(|t| t.report == PresenceStatus::Away) {
            PresenceStatus::Away
        } else if now.saturating_duration_since(self.last_interaction) < idle_after {
            PresenceStatus::Active
        } else {
            PresenceStatus::Idle
        }
    }

    fn connected_at(&self) -> u64 {
        self.tabs.iter().map(|t| t.opened_ms).min().unwrap_or(0)
    }

    fn info(&self, user: &str) -> PresenceInfo {
        PresenceInfo {
            user_id: user.to_owned(),
            name: self.name.clone(),
            status: self.announced.0,
            connected_at: self.announced.1,
        }
    }
}

/// A change to announce.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Joined(PresenceInfo),
    Updated(PresenceInfo),
    Left(String),
}

#[derive(Debug, Default)]
pub(crate) struct Roster {
    members: BTreeMap<Arc<str>, Member>,
}

impl Roster {
    pub(crate) fn join(
        &mut self,
        user: &Arc<str>,
        name: Option<&str>,
        conn: ConnectionId,
        now: Instant,
        unix_ms: u64,
        idle_after: Duration,
    ) -> Option<Change> {
        let tab = Tab {
            conn,
            opened_ms: unix_ms,
            report: PresenceStatus::Active,
        };
        if let Some(member) = self.members.get_mut(user) {
            member.tabs.push(tab);
            member.last_interaction = now;
            return self.refresh(user, now, idle_after);
        }
        let member = Member {
            name: name.map(str::to_owned),
            tabs: vec![tab],
            last_interaction: now,
            announced: (PresenceStatus::Active, unix_ms),
            timer_armed: false,
        };
        let info = member.info(user);
        self.members.insert(user.clone(), member);
        Some(Change::Joined(info))
    }

    pub(crate) fn leave(
        &mut self,
        user: &str,
        conn: ConnectionId,
        now: Instant,
        idle_after: Duration,
    ) -> Option<Change> {
        let member = self.members.get_mut(user)?;
        member.tabs.retain(|t| t.conn != conn);
        if member.tabs.is_empty() {
            self.members.remove(user);
            return Some(Change::Left(user.to_owned()));
        }
        self.refresh(user, now, idle_after)
    }

    /// An action or an `active` ping.
    pub(crate) fn interact(
        &mut self,
        user: &str,
        now: Instant,
        idle_after: Duration,
    ) -> Option<Change> {
        self.members.get_mut(user)?.last_interaction = now;
        self.refresh(user, now, idle_after)
    }

    /// A `Ping { presence }` from one connection.
    pub(crate) fn report(
        &mut self,
        user: &str,
        conn: ConnectionId,
        status: PresenceStatus,
        now: Instant,
        idle_after: Duration,
    ) -> Option<Change> {
        let member = self.members.get_mut(user)?;
        if let Some(tab) = member.tabs.iter_mut().find(|t| t.conn == conn) {
            tab.report = status;
        }
        if status == PresenceStatus::Active {
            member.last_interaction = now;
        }
        self.refresh(user, now, idle_after)
    }

    /// Recomputes a member's entry; `Some` when it changed.
    pub(crate) fn refresh(
        &mut self,
        user: &str,
        now: Instant,
        idle_after: Duration,
    ) -> Option<Change> {
        let member = self.members.get_mut(user)?;
        let current = (member.status(now, idle_after), member.connected_at());
        if current == member.announced {
            return None;
        }
        member.announced = current;
        Some(Change::Updated(member.info(user)))
    }

    /// When the member turns idle if nothing happens, if they are active
    /// and no deadline is queued yet; marks the deadline as queued.
    pub(crate) fn arm_idle_timer(&mut self, user: &str, idle_after: Duration) -> Option<Instant> {
        let member = self.members.get_mut(user)?;
        if member.timer_armed || member.announced.0 != PresenceStatus::Active {
            return None;
        }
        member.timer_armed = true;
        member.last_interaction.checked_add(idle_after)
    }

    /// A queued idle deadline fired.
    pub(crate) fn disarm_idle_timer(&mut self, user: &str) {
        if let Some(member) = self.members.get_mut(user) {
            member.timer_armed = false;
        }
    }

    /// The full list, ordered by user id.
    pub(crate) fn list(&self) -> Vec<PresenceInfo> {
        self.members.iter().map(|(id, m)| m.info(id)).collect()
    }

    pub(crate) fn connections_of(&self, user: &str) -> impl Iterator<Item = ConnectionId> + '_ {
        self.members
            .get(user)
            .into_iter()
            .flat_map(|m| m.tabs.iter().map(|t| t.conn))
    }

    pub(crate) fn contains(&self, user: &str) -> bool {
        self.members.contains_key(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(60);

    #[test]
    fn two_tabs_are_one_user_who_leaves_with_the_last_tab() {
        let t0 = Instant::now();
        let alice: Arc<str> = Arc::from("alice");
        let mut roster = Roster::default();
        assert!(matches!(
            roster.join(&alice, None, ConnectionId(1), t0, 1000, IDLE),
            Some(Change::Joined(_))
        ));
        assert_eq!(
            roster.join(&alice, None, ConnectionId(2), t0, 2000, IDLE),
            None
        );
        assert_eq!(roster.list().len(), 1);
        // The first tab closes: connected_at moves to the second tab's.
        match roster.leave("alice", ConnectionId(1), t0, IDLE) {
            Some(Change::Updated(info)) => assert_eq!(info.connected_at, 2000),
            other => panic!("expected an update, got {other:?}"),
        }
        assert_eq!(
            roster.leave("alice", ConnectionId(2), t0, IDLE),
            Some(Change::Left("alice".into()))
        );
        assert!(roster.list().is_empty());
    }

    #[test]
    fn status_follows_interaction_and_reports() {
        let t0 = Instant::now();
        let bob: Arc<str> = Arc::from("bob");
        let mut roster = Roster::default();
        roster.join(&bob, Some("Bob"), ConnectionId(1), t0, 0, IDLE);
        roster.join(&bob, Some("Bob"), ConnectionId(2), t0, 0, IDLE);
        let later = t0 + IDLE;
        let status = |c: Option<Change>| match c {
            Some(Change::Updated(i)) => Some(i.status),
            _ => None,
        };
        assert_eq!(
            status(roster.refresh("bob", later, IDLE)),
            Some(PresenceStatus::Idle)
        );
        // One hidden tab is not enough for away; both are.
        let away = PresenceStatus::Away;
        assert_eq!(
            roster.report("bob", ConnectionId(1), away, later, IDLE),
            None
        );
        assert_eq!(
            status(roster.report("bob", ConnectionId(2), away, later, IDLE)),
            Some(away)
        );
        assert_eq!(
            status(roster.report("bob", ConnectionId(2), PresenceStatus::Active, later, IDLE)),
            Some(PresenceStatus::Active)
        );
        assert_eq!(roster.interact("bob", later, IDLE), None);
    }
}
