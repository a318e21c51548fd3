//! Per-connection views over real WebSockets: each connection receives only
//! its view's projection, every view is projected and encoded once per
//! commit however many connections share it, and a view change replaces the
//! client's state with its new view's snapshot.

mod common;

use std::collections::HashMap;

use common::teams::{Board, Change, Membership, TeamsModel, add, project_board, project_change};
use common::*;
use ui_flow::ServerMessage;
use ui_flow::codec::Decoded;
use ui_flow_server::{ActionContext, ActionOutcome, FlowHandler, Identity, Projected, ViewKey};

/// Members of a team see its items only; `admin` sees everything.
#[derive(Default)]
struct Teams(Membership);

#[async_trait::async_trait]
impl FlowHandler for Teams {
    type Model = TeamsModel;

    async fn handle_action(&self, _: &ActionContext<Self>, _: ()) -> ActionOutcome {
        ActionOutcome::ok()
    }

    fn view(&self, user: &Identity, _resource: &str) -> ViewKey {
        self.0.view_of(&user.user_id)
    }

    fn project_state(&self, view: &ViewKey, state: &Board) -> Board {
        project_board(view, state)
    }

    fn project_delta(
        &self,
        view: &ViewKey,
        before: &Board,
        _after: &Board,
        change: &Change,
    ) -> Projected<Change> {
        project_change(view, before, change)
    }
}

/// The raw bytes of every frame up to and including the state frame (a
/// Snapshot, Delta or Deltas) at `seq`, with the decoded messages.
async fn read_through(client: &mut Client, seq: u64) -> Vec<(Vec<u8>, Msg)> {
    let mut seen = Vec::new();
    loop {
        let bytes = client.raw_frame().await;
        let Decoded::Message(msg) = Msg::decode(&bytes).expect("server frames decode") else {
            continue;
        };
        let at = match &msg {
            Msg::Snapshot { seq, .. } | Msg::Delta { seq, .. } | Msg::Deltas { seq, .. } => {
                Some(*seq)
            }
            _ => None,
        };
        seen.push((bytes, msg));
        if at == Some(seq) {
            return seen;
        }
    }
}

fn is_state(m: &Msg) -> bool {
    matches!(
        m,
        Msg::Snapshot { .. } | Msg::Delta { .. } | Msg::Deltas { .. }
    )
}

#[tokio::test]
async fn each_view_is_encoded_once_per_commit_and_reaches_only_its_connections() {
    let t = start(Teams::default(), many_joins()).await;
    let room = t.server.session("room");
    // Every team has a list before anyone joins.
    for team in ["red", "blue", "green"] {
        room.commit(add(team, &format!("{team}-start")))
            .await
            .expect("commit");
    }
    let mut clients = Vec::new();
    for team in ["red", "blue", "green"] {
        for n in 0..3 {
            let (client, joined) = Client::join(t.addr, "room", &format!("{team}-{n}")).await;
            let Msg::Snapshot { state, .. } = &joined.sync else {
                panic!("a view joins with a snapshot: {:?}", joined.sync);
            };
            let text = format!("{state:?}");
            assert!(text.contains(&format!("{team}-start")), "{text}");
            for other in ["red", "blue", "green"].iter().filter(|o| **o != team) {
                assert!(!text.contains(other), "{team} sees {other}: {text}");
            }
            clients.push((team, client));
        }
    }
    let (mut admin, _) = Client::join(t.addr, "room", "admin").await;

    let before = t.server.view_frame_count();
    // One delta seen by one view: one view frame.
    room.commit(add("red", "red-a")).await.expect("commit");
    assert_eq!(t.server.view_frame_count() - before, 1);
    // One delta seen by every view, as a different delta each: three.
    let fence = room
        .commit(Change::Everyone {
            item: "all-b".into(),
        })
        .await
        .expect("commit");
    assert_eq!(t.server.view_frame_count() - before, 1 + 3);

    let mut by_team: HashMap<&str, Vec<Vec<u8>>> = HashMap::new();
    for (team, client) in &mut clients {
        let frames = read_through(client, fence).await;
        // State frames: presence (user ids) is not restricted by views.
        for (bytes, _) in frames.iter().filter(|(_, m)| is_state(m)) {
            for other in ["red", "blue", "green"].iter().filter(|o| *o != team) {
                assert!(!contains(bytes, other), "{team} got {other}'s data");
            }
            assert!(
                !contains(bytes, "Everyone"),
                "{team} got the unprojected delta"
            );
        }
        let state: Vec<Vec<u8>> = frames
            .into_iter()
            .filter(|(_, m)| matches!(m, Msg::Delta { .. } | Msg::Deltas { .. }))
            .map(|(b, _)| b)
            .collect();
        by_team.entry(team).or_default().extend(state);
    }
    // Red got two frames, blue and green one; the same bytes within a team.
    for (team, frames) in &by_team {
        let per_client = if *team == "red" { 2 } else { 1 };
        assert_eq!(frames.len(), 3 * per_client, "{team}");
        for client in frames.chunks(per_client).skip(1) {
            assert_eq!(
                client,
                &frames[..per_client],
                "{team}: one encoding per view"
            );
        }
    }
    // The admin sees everything, unprojected.
    let seen = read_through(&mut admin, fence).await;
    assert!(seen.iter().any(|(b, _)| contains(b, "Everyone")));
}

#[tokio::test]
async fn a_seq_a_view_skips_is_announced_with_prev() {
    let t = start(Teams::default(), many_joins()).await;
    let room = t.server.session("room");
    room.commit(add("red", "r0")).await.expect("commit");
    let (mut red, joined) = Client::join(t.addr, "room", "red-1").await;
    assert_eq!(joined.seq, 1);
    room.commit(add("blue", "b1")).await.expect("commit");
    room.commit(add("blue", "b2")).await.expect("commit");
    let seq = room.commit(add("red", "r3")).await.expect("commit");
    assert_eq!(seq, 4);
    let frames = read_through(&mut red, seq).await;
    let (_, msg) = frames.last().expect("a frame");
    assert!(
        matches!(
            msg,
            Msg::Delta {
                seq: 4,
                prev: Some(1),
                ..
            }
        ),
        "seqs 2 and 3 were blue's: {msg:?}"
    );
    assert_eq!(frames.len(), 1, "nothing was sent for seqs 2 and 3");
}

#[tokio::test]
async fn a_changed_view_gets_its_new_snapshot_and_nothing_of_the_old_view() {
    let t = start(Teams::default(), many_joins()).await;
    let room = t.server.session("room");
    room.commit(add("red", "r0")).await.expect("commit");
    room.commit(add("blue", "b0")).await.expect("commit");
    let (mut mover, _) = Client::join(t.addr, "room", "red-1").await;
    let (mut stayer, _) = Client::join(t.addr, "room", "red-2").await;
    t.server.handler().0.move_to("red-1", "blue");
    assert_eq!(room.refresh_views_of("red-1"), 1);
    assert_eq!(room.refresh_views(), 0, "the views are already current");
    let seq = room.commit(add("red", "r1")).await.expect("commit");
    let fence = room
        .commit(Change::Everyone { item: "e".into() })
        .await
        .expect("commit");
    let frames = read_through(&mut mover, fence).await;
    let snapshot = frames
        .iter()
        .position(|(_, m)| matches!(m, Msg::Snapshot { .. }))
        .expect("the moved connection gets a snapshot");
    let Msg::Snapshot { state, .. } = &frames[snapshot].1 else {
        unreachable!()
    };
    let text = format!("{state:?}");
    assert!(text.contains("b0") && !text.contains("red"), "{text}");
    for (bytes, _) in frames[snapshot..].iter().filter(|(_, m)| is_state(m)) {
        assert!(!contains(bytes, "red"), "red data after the move");
    }
    let stayed = read_through(&mut stayer, seq).await;
    assert!(stayed.iter().any(|(b, _)| contains(b, "r1")));
}

#[tokio::test]
async fn a_frame_from_another_node_never_reaches_a_view_which_resyncs_instead() {
    let t = start(Teams::default(), many_joins()).await;
    let room = t.server.session("room");
    let seq = room.commit(add("red", "r0")).await.expect("commit");
    let (mut red, _) = Client::join(t.addr, "room", "red-1").await;
    let (mut admin, _) = Client::join(t.addr, "room", "admin").await;
    // As another node would publish it: unprojected.
    let frame = ServerMessage::<(), Change, ()>::Delta {
        delta: add("blue", "secret"),
        seq: seq + 1,
        timestamp: 0,
        epoch: None,
        prev: None,
    }
    .encode()
    .expect("encode");
    let reached = t
        .server
        .deliver_published("room", frame.into(), seq + 1, seq + 1);
    assert_eq!(reached, 1, "only the connection that sees everything");
    let seen = read_through(&mut admin, seq + 1).await;
    assert!(seen.iter().any(|(b, _)| contains(b, "secret")));
    // The view gets a snapshot of its view from this node's log instead.
    let frames = read_through(&mut red, seq).await;
    let (bytes, last) = frames.last().expect("a frame");
    assert!(matches!(last, Msg::Snapshot { .. }), "{last:?}");
    assert!(frames.iter().all(|(b, _)| !contains(b, "secret")));
    assert!(contains(bytes, "r0"));
}
