//! Property: with random views, random commits and random view changes,
//! over real WebSockets with the real client core mirroring each
//! connection, every connection's mirrored state equals the projection of
//! the server's state for its current view once the network settles, and
//! no state frame sent to a connection carries another view's data (checked
//! on the frame's bytes).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use common::*;
use futures::{SinkExt, StreamExt};
use proptest::prelude::*;
use tokio_tungstenite::tungstenite::Message;
use ui_flow::FlowState;
use ui_flow::client::{Client as Core, ClientConfig, SocketCommand, SocketId};
use ui_flow::codec::Decoded;
use ui_flow_server::{
    ActionContext, ActionOutcome, FlowHandler, Identity, Projected, ServerConfig, SessionHandle,
    ViewKey,
};

const TEAMS: [&str; 3] = ["red", "blue", "green"];
const CLIENTS: usize = 4;

/// Items per team, each named `team:n`; `view` names the view a projected
/// state belongs to (empty for the whole state); `tick` is seen by all.
#[derive(Clone, Default, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Board {
    view: String,
    tick: u64,
    items: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum Change {
    /// Appends `team:item` to a team.
    Add { team: String, item: u32 },
    /// Removes a team's first item, if any.
    Drop { team: String },
    /// Appends `team:item` to every team that has a list.
    Everyone { item: u32 },
    /// Moves `from`'s first item to `to`, renamed `to:n`.
    Transfer { from: String, to: String },
    /// Seen by every view.
    Tick,
}

fn name(team: &str, item: u32) -> String {
    format!("{team}:{item}")
}

fn number(item: &str) -> u32 {
    item.rsplit(':')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl FlowState for Board {
    type Delta = Change;
    fn apply_delta(&mut self, change: Change) {
        match change {
            Change::Add { team, item } => {
                let item = name(&team, item);
                self.items.entry(team).or_default().push(item);
            }
            Change::Drop { team } => {
                if let Some(list) = self.items.get_mut(&team).filter(|l| !l.is_empty()) {
                    list.remove(0);
                }
            }
            Change::Everyone { item } => {
                for (team, list) in &mut self.items {
                    list.push(name(team, item));
                }
            }
            Change::Transfer { from, to } => {
                let Some(first) = self.items.get_mut(&from).filter(|l| !l.is_empty()) else {
                    return;
                };
                let n = number(&first.remove(0));
                self.items.entry(to.clone()).or_default().push(name(&to, n));
            }
            Change::Tick => self.tick += 1,
        }
    }
}

/// Each user's team (`None`: sees everything), changed by the test.
#[derive(Default)]
struct Teams {
    of: Mutex<HashMap<String, Option<String>>>,
}

impl Teams {
    fn team(&self, user: &str) -> Option<String> {
        self.of.lock().expect("lock").get(user).cloned().flatten()
    }
}

fn project(team: &str, state: &Board) -> Board {
    Board {
        view: team.to_owned(),
        tick: state.tick,
        items: state
            .items
            .iter()
            .filter(|(t, _)| t.as_str() == team)
            .map(|(t, l)| (t.clone(), l.clone()))
            .collect(),
    }
}

/// The payload types of [`Teams`].
struct TeamsModel;

impl ui_flow::Model for TeamsModel {
    type State = Board;
    type Delta = Change;
    type Event = ();
    type Action = ();
}

#[async_trait::async_trait]
impl FlowHandler for Teams {
    type Model = TeamsModel;

    async fn handle_action(&self, _: &ActionContext<Self>, _: ()) -> ActionOutcome {
        ActionOutcome::ok()
    }

    fn view(&self, user: &Identity, _resource: &str) -> ViewKey {
        self.team(&user.user_id).map_or(ViewKey::ALL, ViewKey::new)
    }

    fn project_state(&self, view: &ViewKey, state: &Board) -> Board {
        project(view.name().unwrap_or_default(), state)
    }

    fn project_delta(
        &self,
        view: &ViewKey,
        before: &Board,
        _after: &Board,
        change: &Change,
    ) -> Projected<Change> {
        let team = view.name().unwrap_or_default();
        let has = |t: &str| before.items.get(t).is_some_and(|l| !l.is_empty());
        match change {
            Change::Add { team: t, .. } | Change::Drop { team: t } if t == team => Projected::Same,
            Change::Add { .. } | Change::Drop { .. } => Projected::Nothing,
            Change::Everyone { item } if before.items.contains_key(team) => {
                Projected::Deltas(vec![Change::Add {
                    team: team.to_owned(),
                    item: *item,
                }])
            }
            Change::Everyone { .. } => Projected::Nothing,
            Change::Transfer { from, to } if !has(from) || (from != team && to != team) => {
                Projected::Nothing
            }
            Change::Transfer { from, to } => {
                let n = number(&before.items[from][0]);
                let mut out = Vec::new();
                if from == team {
                    out.push(Change::Drop { team: from.clone() });
                }
                if to == team {
                    out.push(Change::Add {
                        team: to.clone(),
                        item: n,
                    });
                }
                Projected::Deltas(out)
            }
            Change::Tick => Projected::Same,
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Commit(Vec<Change>),
    /// A user gets another team (`None`: everything); `all` refreshes every
    /// connection's view rather than the user's.
    Move {
        client: usize,
        team: Option<usize>,
        all: bool,
    },
    Settle,
}

fn team() -> impl Strategy<Value = String> {
    (0..TEAMS.len()).prop_map(|i| TEAMS[i].to_owned())
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => (team(), 0u32..1000).prop_map(|(team, item)| Change::Add { team, item }),
        2 => team().prop_map(|team| Change::Drop { team }),
        1 => (0u32..1000).prop_map(|item| Change::Everyone { item }),
        2 => (team(), team()).prop_map(|(from, to)| Change::Transfer { from, to }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => prop::collection::vec(change(), 1..4).prop_map(Step::Commit),
        2 => (0..CLIENTS, prop::option::weighted(0.8, 0..TEAMS.len()), any::<bool>())
            .prop_map(|(client, team, all)| Step::Move { client, team, all }),
        1 => Just(Step::Settle),
    ]
}

/// One connection: its socket and the real client core mirroring it.
struct Peer {
    user: String,
    ws: WsStream,
    core: Core<TeamsModel>,
    socket: SocketId,
    /// The view of the latest snapshot on the wire ("" for everything).
    wire_view: Option<String>,
    /// Views this user was given since the last settle (snapshots may
    /// carry any of them).
    allowed: HashSet<String>,
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn view_name(team: &Option<String>) -> String {
    team.clone().unwrap_or_default()
}

impl Peer {
    async fn join(addr: std::net::SocketAddr, user: &str, team: &Option<String>) -> Peer {
        let now = std::time::Instant::now();
        let mut core = Core::new(ClientConfig::default(), now).expect("config");
        let Some(SocketCommand::Open(socket)) = core.poll_socket() else {
            panic!("the core asks for a socket first");
        };
        let (ws, _) = tokio_tungstenite::connect_async(url(addr, "room", user))
            .await
            .expect("connect");
        core.handle_open(now, socket);
        let mut peer = Peer {
            user: user.to_owned(),
            ws,
            core,
            socket,
            wire_view: None,
            allowed: HashSet::from([view_name(team)]),
        };
        peer.flush().await;
        peer
    }

    /// Sends what the core wants sent.
    async fn flush(&mut self) {
        while let Some(frame) = self.core.poll_transmit() {
            self.ws
                .send(Message::Binary(frame.into()))
                .await
                .expect("send");
        }
        while self.core.poll_event().is_some() {}
    }

    /// Reads frames into the core until its confirmed seq is `seq`,
    /// checking each state frame's bytes against the peer's view.
    async fn settle_at(&mut self, seq: u64) {
        while self.core.seq() != Some(seq) {
            let next = tokio::time::timeout(STUCK, self.ws.next())
                .await
                .expect("stuck waiting for a frame");
            let bytes = match next {
                Some(Ok(Message::Binary(b))) => b.to_vec(),
                Some(Ok(_)) => continue,
                other => panic!("{}: the connection ended: {other:?}", self.user),
            };
            self.check(&bytes);
            self.core
                .handle_frame(std::time::Instant::now(), self.socket, &bytes);
            self.flush().await;
        }
    }

    fn check(&mut self, bytes: &[u8]) {
        let Ok(Decoded::Message(msg)) = Msg::decode(bytes) else {
            panic!("{}: a frame that does not decode", self.user);
        };
        match &msg {
            Msg::Snapshot { state, .. } => {
                let view = state
                    .as_map()
                    .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("view")))
                    .and_then(|(_, v)| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                assert!(
                    self.allowed.contains(&view),
                    "{}: a snapshot of view {view:?}, given {:?}",
                    self.user,
                    self.allowed
                );
                self.wire_view = Some(view);
            }
            Msg::Delta { .. } | Msg::Deltas { .. } => {}
            _ => return,
        }
        let view = self.wire_view.as_deref().unwrap_or_default();
        if view.is_empty() {
            return;
        }
        for other in TEAMS.iter().filter(|t| **t != view) {
            assert!(
                !contains(bytes, other),
                "{}: a frame for view {view} carries {other}: {msg:?}",
                self.user
            );
        }
        assert!(
            !contains(bytes, "Transfer") && !contains(bytes, "Everyone"),
            "{}: an unprojected delta reached view {view}",
            self.user
        );
    }
}

async fn settle(room: &SessionHandle<Teams>, peers: &mut [Peer], teams: &Teams) {
    let fence = room.commit(Change::Tick).await.expect("commit");
    let state = room.read(|s, _| s.clone()).await.expect("read");
    for peer in peers.iter_mut() {
        peer.settle_at(fence).await;
        let team = teams.team(&peer.user);
        let expected = match &team {
            None => state.clone(),
            Some(t) => project(t, &state),
        };
        assert_eq!(
            peer.core.confirmed_state(),
            &expected,
            "{} ({team:?}) mirrors its view",
            peer.user
        );
        peer.allowed = HashSet::from([view_name(&team)]);
    }
}

async fn run(initial: Vec<Option<usize>>, steps: Vec<Step>) {
    let t = start(Teams::default(), many_joins()).await;
    let teams = t.server.handler().clone();
    let room = t.server.session("room");
    let mut peers = Vec::new();
    for (i, team) in initial.iter().enumerate() {
        let user = format!("u{i}");
        let team = team.map(|t| TEAMS[t].to_owned());
        teams
            .of
            .lock()
            .expect("lock")
            .insert(user.clone(), team.clone());
        peers.push(Peer::join(t.addr, &user, &team).await);
    }
    for step in steps {
        match step {
            Step::Commit(changes) => {
                room.commit_all(changes).await.expect("commit");
            }
            Step::Move { client, team, all } => {
                let team = team.map(|t| TEAMS[t].to_owned());
                let user = peers[client].user.clone();
                teams
                    .of
                    .lock()
                    .expect("lock")
                    .insert(user.clone(), team.clone());
                peers[client].allowed.insert(view_name(&team));
                if all {
                    room.refresh_views();
                } else {
                    room.refresh_views_of(&user);
                }
            }
            Step::Settle => settle(&room, &mut peers, &teams).await,
        }
    }
    settle(&room, &mut peers, &teams).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_connection_mirrors_exactly_its_view(
        initial in prop::collection::vec(prop::option::weighted(0.8, 0..TEAMS.len()), CLIENTS),
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run(initial, steps));
    }
}

/// A delta projected to more entries than it has seqs, for a view whose
/// last change was seqs ago: a client that joined in between must get the
/// whole projection (the frame carries `prev`), not read the entries as
/// one per seq.
#[tokio::test]
async fn a_projection_longer_than_its_commit_reaches_a_client_that_joined_since() {
    let t = start(Teams::default(), ServerConfig::default()).await;
    let teams = t.server.handler().clone();
    let room = t.server.session("room");
    let red = Some("red".to_owned());
    for user in ["u0", "u1"] {
        teams
            .of
            .lock()
            .expect("lock")
            .insert(user.into(), red.clone());
    }
    let add = |team: &str, item| Change::Add {
        team: team.into(),
        item,
    };
    room.commit(add("red", 1)).await.expect("commit");
    let mut peers = vec![Peer::join(t.addr, "u0", &red).await];
    // red's last change is at 1; blue's commit at 2 skips it.
    let skipped = room.commit(add("blue", 2)).await.expect("commit");
    let mut late = Peer::join(t.addr, "u1", &red).await;
    late.settle_at(skipped).await;
    peers.push(late);
    // One delta, two entries for red (a drop and an add), after red's 1.
    let transfer = Change::Transfer {
        from: "red".into(),
        to: "red".into(),
    };
    room.commit(transfer).await.expect("commit");
    settle(&room, &mut peers, &teams).await;
}
