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

use ui_flow::{PresenceDiff, PresenceInfo, PresenceStatus};

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

    /// One user's entry as last announced, if connected.
    pub(crate) fn entry(&self, user: &str) -> Option<PresenceInfo> {
        self.members.get(user).map(|m| m.info(user))
    }

    pub(crate) fn contains(&self, user: &str) -> bool {
        self.members.contains_key(user)
    }
}

/// Presence changes of one resource, batched per window.
///
/// The first change after a quiet window goes out at once; later changes
/// within `window` of it are merged and go out as one `PresenceDiff` when
/// the window ends. Merging nets changes per user against what the other
/// connections last saw: a user who joined and left within one window
/// produces nothing, one who left and came back is `updated`, and a user id
/// appears at most once in a diff.
///
/// A connection that receives its full `Presence` list while changes wait
/// here already has them: it is [`listed`](Batch::listed), and at the end
/// of the window it gets only the changes made after its list.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pending: BTreeMap<String, Net>,
    /// Changes added in this window, numbering them.
    count: u64,
    /// Connections that got the full list in this window, with `count` then.
    listed: Vec<(ConnectionId, u64)>,
    /// When the current window ends (`None`: no window open).
    pub(crate) until: Option<Instant>,
}

#[derive(Debug)]
struct Net {
    /// Whether the others had this user in their list before the window.
    was_present: bool,
    /// The latest entry; `None` once the user left.
    now: Option<PresenceInfo>,
    /// The number of the latest change.
    last: u64,
}

/// What a window's end sends.
#[derive(Debug, Default)]
pub(crate) struct Flush {
    /// For every connection not listed in the window (`None`: nothing changed).
    pub(crate) diff: Option<PresenceDiff>,
    /// Connections listed in the window: they get `late`, not `diff`.
    pub(crate) listed: Vec<ConnectionId>,
    /// For listed connections, the changes after their list.
    pub(crate) late: Vec<(PresenceDiff, Vec<ConnectionId>)>,
}

impl Batch {
    /// Whether a change at `now` goes out at once (opening a window that
    /// ends at `now + window`) rather than into the batch.
    pub(crate) fn open(&mut self, now: Instant, window: Duration) -> bool {
        if window.is_zero() {
            return true;
        }
        if !self.pending.is_empty() || self.until.is_some_and(|until| now < until) {
            return false;
        }
        self.until = Some(now + window);
        self.listed.clear();
        self.count = 0;
        true
    }

    /// Whether no change waits for the end of a window.
    pub(crate) fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// Adds a change to the open window.
    pub(crate) fn add(&mut self, change: Change) {
        self.count += 1;
        let last = self.count;
        let (user, now, was_present) = match change {
            Change::Joined(info) => (info.user_id.clone(), Some(info), false),
            Change::Updated(info) => (info.user_id.clone(), Some(info), true),
            Change::Left(user) => (user, None, true),
        };
        self.pending
            .entry(user)
            .and_modify(|net| {
                net.now.clone_from(&now);
                net.last = last;
            })
            .or_insert(Net {
                was_present,
                now,
                last,
            });
    }

    /// `conn` received the full presence list, which includes every change
    /// waiting here.
    pub(crate) fn listed(&mut self, conn: ConnectionId) {
        if !self.pending.is_empty() {
            self.listed.push((conn, self.count));
        }
    }

    /// The window ended at `now`: what to send, if anything changed. Sending
    /// opens the next window.
    pub(crate) fn close(&mut self, now: Instant, window: Duration) -> Option<Flush> {
        let pending = std::mem::take(&mut self.pending);
        let listed = std::mem::take(&mut self.listed);
        self.count = 0;
        if pending.is_empty() {
            self.until = None;
            return None;
        }
        self.until = Some(now + window);
        let mut flush = Flush::default();
        let mut diff = PresenceDiff::default();
        for (user, net) in &pending {
            match (net.was_present, &net.now) {
                (false, Some(info)) => diff.joined.push(info.clone()),
                (true, Some(info)) => diff.updated.push(info.clone()),
                (true, None) => diff.left.push(user.clone()),
                (false, None) => {}
            }
        }
        if !is_empty(&diff) {
            flush.diff = Some(diff);
        }
        let mut by_count: BTreeMap<u64, Vec<ConnectionId>> = BTreeMap::new();
        flush.listed = listed.iter().map(|(conn, _)| *conn).collect();
        for (conn, count) in listed {
            by_count.entry(count).or_default().push(conn);
        }
        for (count, conns) in by_count {
            let mut late = PresenceDiff::default();
            for (user, net) in pending.iter().filter(|(_, n)| n.last > count) {
                match &net.now {
                    Some(info) => late.updated.push(info.clone()),
                    None => late.left.push(user.clone()),
                }
            }
            if !is_empty(&late) {
                flush.late.push((late, conns));
            }
        }
        Some(flush)
    }
}

pub(crate) fn is_empty(diff: &PresenceDiff) -> bool {
    diff.joined.is_empty() && diff.updated.is_empty() && diff.left.is_empty()
}

/// The diff for one change sent on its own.
pub(crate) fn single(change: Change) -> PresenceDiff {
    let mut diff = PresenceDiff::default();
    match change {
        Change::Joined(info) => diff.joined.push(info),
        Change::Updated(info) => diff.updated.push(info),
        Change::Left(user) => diff.left.push(user),
    }
    diff
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

    fn info(user: &str, status: PresenceStatus) -> PresenceInfo {
        PresenceInfo {
            user_id: user.into(),
            name: None,
            status,
            connected_at: 0,
        }
    }

    #[test]
    fn a_batch_nets_changes_per_user() {
        let t0 = Instant::now();
        let window = Duration::from_millis(50);
        let mut batch = Batch::default();
        // The first change goes out at once and opens a window.
        assert!(batch.open(t0, window));
        assert!(!batch.open(t0 + Duration::from_millis(10), window));
        let active = PresenceStatus::Active;
        // Joined and left within the window: nothing.
        batch.add(Change::Joined(info("churn", active)));
        batch.add(Change::Left("churn".into()));
        // Left and back: updated. Updated twice: the last one.
        batch.add(Change::Left("carol".into()));
        batch.add(Change::Joined(info("carol", active)));
        batch.add(Change::Updated(info("dave", active)));
        batch.add(Change::Updated(info("dave", PresenceStatus::Away)));
        batch.add(Change::Joined(info("erin", active)));
        batch.add(Change::Left("frank".into()));
        let diff = batch
            .close(t0 + window, window)
            .and_then(|f| f.diff)
            .expect("a diff");
        assert_eq!(diff.joined, [info("erin", active)]);
        assert_eq!(
            diff.updated,
            [info("carol", active), info("dave", PresenceStatus::Away)]
        );
        assert_eq!(diff.left, ["frank"]);
        // A window that ends with nothing pending closes.
        assert!(batch.close(t0 + window * 2, window).is_none());
        assert_eq!(batch.until, None);
    }

    #[test]
    fn a_connection_listed_in_the_window_gets_only_later_changes() {
        let t0 = Instant::now();
        let window = Duration::from_millis(50);
        let mut batch = Batch::default();
        assert!(batch.open(t0, window));
        let active = PresenceStatus::Active;
        batch.add(Change::Joined(info("ann", active)));
        // This connection's full list already shows ann.
        batch.listed(ConnectionId(9));
        batch.add(Change::Left("bo".into()));
        let flush = batch.close(t0 + window, window).expect("a flush");
        let diff = flush.diff.expect("a diff for the others");
        assert_eq!(diff.joined, [info("ann", active)]);
        assert_eq!(diff.left, ["bo"]);
        let [(late, conns)] = &flush.late[..] else {
            panic!("expected one late diff, got {:?}", flush.late);
        };
        assert_eq!(conns, &[ConnectionId(9)]);
        assert_eq!(flush.listed, [ConnectionId(9)]);
        assert!(late.joined.is_empty() && late.updated.is_empty());
        assert_eq!(late.left, ["bo"]);
    }
}
