//! Views and presence scopes on joined channels, over real WebSockets: a
//! socket that joins a view-projected resource on a channel gets exactly
//! its user's projection there (snapshot and deltas, checked on the bytes
//! and against the same user's connection opened for the resource), never
//! the full state nor another user's view; a view refresh reaches the
//! member on its channel; a presence scope applies to members as to
//! connections opened for the resource.

mod common;

use common::teams::{Board, Change, Membership, TeamsModel, add, project_board, project_change};
use common::*;
use ui_flow::codec::Decoded;
use ui_flow::{Channel, ClientMessage};
use ui_flow_server::{
    ActionContext, ActionOutcome, FlowHandler, Identity, PresenceScope, Projected, ViewKey,
};

/// Members of a team see its items and its users only; `admin` sees
/// everything and everyone.
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

    fn presence_scope(&self, user: &Identity, _resource: &str) -> PresenceScope {
        match self.0.team_of(&user.user_id) {
            Some(team) => PresenceScope::group(team),
            None => PresenceScope::seeing_all(["staff"]),
        }
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

/// One frame as it came off the wire, with its channel and message.
struct Seen {
    channel: Channel,
    bytes: Vec<u8>,
    msg: Msg,
}

impl Seen {
    fn is_state(&self) -> bool {
        matches!(
            self.msg,
            Msg::Snapshot { .. } | Msg::Delta { .. } | Msg::Deltas { .. }
        )
    }

    fn seq(&self) -> Option<u64> {
        match &self.msg {
            Msg::Snapshot { seq, .. } | Msg::Delta { seq, .. } | Msg::Deltas { seq, .. } => {
                Some(*seq)
            }
            _ => None,
        }
    }
}

async fn next_seen(client: &mut Client) -> Seen {
    loop {
        let bytes = client.raw_frame().await;
        if let (channel, Decoded::Message(msg)) =
            Msg::decode_routed(&bytes).expect("server frames decode")
        {
            return Seen {
                channel,
                bytes,
                msg,
            };
        }
    }
}

/// Every frame (of any channel) up to and including the state frame at
/// `seq` on `channel`.
async fn read_through(client: &mut Client, channel: Channel, seq: u64) -> Vec<Seen> {
    let mut seen = Vec::new();
    loop {
        let frame = next_seen(client).await;
        let done = frame.channel == channel && frame.seq() == Some(seq);
        seen.push(frame);
        if done {
            return seen;
        }
    }
}

/// Every frame up to and including the first presence frame on `channel`
/// that names `user`.
async fn read_until_presence_of(client: &mut Client, channel: Channel, user: &str) -> Vec<Seen> {
    let mut seen = Vec::new();
    loop {
        let frame = next_seen(client).await;
        let names = frame.channel == channel
            && match &frame.msg {
                Msg::Presence { users } => users.iter().any(|u| u.user_id == user),
                Msg::PresenceDiff(d) => {
                    d.joined.iter().chain(&d.updated).any(|u| u.user_id == user)
                }
                _ => false,
            };
        seen.push(frame);
        if names {
            return seen;
        }
    }
}

/// A socket opened for `home` that joins `resource` on `channel`: the
/// frames up to its `Presence` there, which come after `Joined` and the
/// snapshot, in that order.
async fn member(
    addr: std::net::SocketAddr,
    home: &str,
    user: &str,
    resource: &str,
    channel: u16,
) -> (Client, Vec<Seen>) {
    let (mut client, joined) = Client::join(addr, home, user).await;
    match &joined.connected {
        Msg::Connected { channels, .. } => assert!(channels.is_some(), "channels are served"),
        other => panic!("{other:?}"),
    }
    let join = ClientMessage::<()>::Join {
        resource: resource.into(),
        last_seq: None,
        epoch: None,
    }
    .encode_on(Channel(channel))
    .expect("encode");
    client.send_raw(join).await;
    let mut on = Vec::new();
    loop {
        let frame = next_seen(&mut client).await;
        if frame.channel != Channel(channel) {
            continue;
        }
        let presence = matches!(frame.msg, Msg::Presence { .. });
        on.push(frame);
        if presence {
            break;
        }
    }
    let kinds: Vec<_> = on
        .iter()
        .map(|f| match f.msg {
            Msg::Joined => "joined",
            Msg::Snapshot { .. } => "snapshot",
            Msg::Presence { .. } => "presence",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["joined", "snapshot", "presence"]);
    (client, on)
}

/// The state of a snapshot, as text.
fn snapshot_text(frame: &Seen) -> String {
    match &frame.msg {
        Msg::Snapshot { state, .. } => format!("{state:?}"),
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

/// The user ids of a presence list, sorted.
fn ids(frame: &Seen) -> Vec<String> {
    match &frame.msg {
        Msg::Presence { users } => {
            let mut ids: Vec<String> = users.iter().map(|u| u.user_id.clone()).collect();
            ids.sort_unstable();
            ids
        }
        other => panic!("expected a presence list, got {other:?}"),
    }
}

/// `frames` of channel `channel` that carry state.
fn state_on(frames: &[Seen], channel: Channel) -> Vec<&Seen> {
    frames
        .iter()
        .filter(|f| f.channel == channel && f.is_state())
        .collect()
}

#[tokio::test]
async fn each_member_gets_its_own_view_on_its_channel_snapshot_and_deltas() {
    let t = start(Teams::default(), many_joins()).await;
    let room = t.server.session("room");
    room.commit(add("red", "red-start")).await.expect("commit");
    room.commit(add("blue", "blue-start"))
        .await
        .expect("commit");
    // red-1 holds room on channel 1 of a socket opened for home, and on a
    // socket opened for room; blue-1 on channel 3 of its home socket.
    let (mut red, red_join) = member(t.addr, "home", "red-1", "room", 1).await;
    let (mut red_url, red_url_join) = Client::join(t.addr, "room", "red-1").await;
    let (mut blue, blue_join) = member(t.addr, "home", "blue-1", "room", 3).await;
    let (mut admin, admin_join) = member(t.addr, "home", "admin", "room", 2).await;

    let red_snapshot = snapshot_text(&red_join[1]);
    assert!(red_snapshot.contains("red-start"), "{red_snapshot}");
    assert!(!contains(&red_join[1].bytes, "blue"), "{red_snapshot}");
    let blue_snapshot = snapshot_text(&blue_join[1]);
    assert!(blue_snapshot.contains("blue-start"), "{blue_snapshot}");
    assert!(!contains(&blue_join[1].bytes, "red"), "{blue_snapshot}");
    // The member's snapshot is the one its user gets on a connection of
    // its own, put on its channel.
    let Msg::Snapshot { state: on_url, .. } = &red_url_join.sync else {
        panic!("{:?}", red_url_join.sync);
    };
    let Msg::Snapshot {
        state: on_channel, ..
    } = &red_join[1].msg
    else {
        unreachable!()
    };
    assert_eq!(on_channel, on_url);
    let admin_snapshot = snapshot_text(&admin_join[1]);
    assert!(
        admin_snapshot.contains("red-start") && admin_snapshot.contains("blue-start"),
        "the admin's view is everything: {admin_snapshot}"
    );

    room.commit(add("red", "red-a")).await.expect("commit");
    room.commit(add("blue", "blue-b")).await.expect("commit");
    let fence = room
        .commit(Change::Everyone {
            item: "all-c".into(),
        })
        .await
        .expect("commit");

    let red_frames = read_through(&mut red, Channel(1), fence).await;
    let red_url_frames = read_through(&mut red_url, Channel::URL, fence).await;
    let blue_frames = read_through(&mut blue, Channel(3), fence).await;
    let admin_frames = read_through(&mut admin, Channel(2), fence).await;

    // Whatever came on any channel of the member sockets: no other team's
    // data, no unprojected delta.
    for frame in red_frames.iter().filter(|f| f.is_state()) {
        assert!(!contains(&frame.bytes, "blue"), "red got blue's data");
        assert!(
            !contains(&frame.bytes, "Everyone"),
            "red got the full delta"
        );
    }
    for frame in blue_frames.iter().filter(|f| f.is_state()) {
        assert!(!contains(&frame.bytes, "red"), "blue got red's data");
        assert!(
            !contains(&frame.bytes, "Everyone"),
            "blue got the full delta"
        );
    }
    // Red's channel carries exactly the frames of red's own connection to
    // room, each put on channel 1: red-a and its all-c, not blue-b's seq.
    let red_state = state_on(&red_frames, Channel(1));
    let url_state = state_on(&red_url_frames, Channel::URL);
    assert_eq!(red_state.len(), 2, "red-a and all-c");
    assert_eq!(red_state.len(), url_state.len());
    for (member, own) in red_state.iter().zip(&url_state) {
        let tagged = ui_flow::codec::encoded::on_channel(&own.bytes, Channel(1)).expect("tags");
        assert_eq!(member.bytes, tagged, "the member's frame is its view's");
    }
    assert!(contains(&red_state[0].bytes, "red-a"));
    assert!(contains(&red_state[1].bytes, "all-c"));
    let blue_state = state_on(&blue_frames, Channel(3));
    assert_eq!(blue_state.len(), 2, "blue-b and all-c");
    assert!(contains(&blue_state[0].bytes, "blue-b"));
    // The admin sees everything on its channel, unprojected.
    let admin_state = state_on(&admin_frames, Channel(2));
    assert_eq!(admin_state.len(), 3);
    assert!(contains(&admin_state[2].bytes, "Everyone"));
}

#[tokio::test]
async fn a_view_refresh_reaches_the_member_on_its_channel() {
    let t = start(Teams::default(), many_joins()).await;
    let room = t.server.session("room");
    room.commit(add("red", "red-start")).await.expect("commit");
    room.commit(add("blue", "blue-start"))
        .await
        .expect("commit");
    let (mut mover, _) = member(t.addr, "home", "red-1", "room", 4).await;
    let (mut mover_url, _) = Client::join(t.addr, "room", "red-1").await;
    let (mut stayer, _) = member(t.addr, "home", "red-2", "room", 4).await;

    t.server.handler().0.move_to("red-1", "blue");
    // Both of red-1's connections to room: the member and the URL's.
    assert_eq!(room.refresh_views_of("red-1"), 2);
    assert_eq!(room.refresh_views(), 0, "the views are already current");
    let seq = room.commit(add("red", "red-after")).await.expect("commit");
    let fence = room
        .commit(Change::Everyone {
            item: "all-e".into(),
        })
        .await
        .expect("commit");

    for (client, channel) in [(&mut mover, Channel(4)), (&mut mover_url, Channel::URL)] {
        let frames = read_through(client, channel, fence).await;
        let on: Vec<&Seen> = frames.iter().filter(|f| f.channel == channel).collect();
        let at = on
            .iter()
            .position(|f| matches!(f.msg, Msg::Snapshot { .. }))
            .expect("the moved connection gets its new view's snapshot");
        let text = snapshot_text(on[at]);
        assert!(
            text.contains("blue-start") && !text.contains("red"),
            "{channel}: {text}"
        );
        for frame in on[at..].iter().filter(|f| f.is_state()) {
            assert!(
                !contains(&frame.bytes, "red"),
                "{channel}: red data after the move"
            );
        }
        // The new scope's list: blue users, so red-1 alone. It is held
        // while the connection resyncs, so it may come after the fence; a
        // list of the old scope may come first (sent when red-1's other
        // connection changed scope, before this one did).
        let listed = |f: &Seen| f.channel == channel && matches!(f.msg, Msg::Presence { .. });
        let mut lists: Vec<Vec<String>> = on.iter().filter(|f| listed(f)).map(|f| ids(f)).collect();
        while !lists.iter().any(|l| l == &["red-1"]) {
            let frame = next_seen(client).await;
            if listed(&frame) {
                lists.push(ids(&frame));
            }
        }
    }
    let stayed = read_through(&mut stayer, Channel(4), seq).await;
    assert!(
        state_on(&stayed, Channel(4))
            .iter()
            .any(|f| contains(&f.bytes, "red-after")),
        "the red member that stayed still gets red's deltas"
    );
}

#[tokio::test]
async fn a_presence_scope_applies_to_members() {
    let t = start(Teams::default(), many_joins()).await;
    let (_red_url, _) = Client::join(t.addr, "room", "red-0").await;
    let (mut red, red_join) = member(t.addr, "home", "red-1", "room", 1).await;
    let (mut blue, blue_join) = member(t.addr, "home", "blue-1", "room", 1).await;
    let (mut admin, admin_join) = member(t.addr, "home", "admin", "room", 9).await;
    assert_eq!(ids(&red_join[2]), ["red-0", "red-1"]);
    assert_eq!(ids(&blue_join[2]), ["blue-1"]);
    assert_eq!(ids(&admin_join[2]), ["admin", "blue-1", "red-0", "red-1"]);
    // Fences: a late member of each team. Frames of one channel keep their
    // order, so once a member has its team's fence it has every presence
    // frame about the joins before it.
    let (_red_fence, _) = member(t.addr, "home", "red-9", "room", 5).await;
    let (_blue_fence, _) = member(t.addr, "home", "blue-9", "room", 5).await;
    for frame in read_until_presence_of(&mut red, Channel(1), "red-9").await {
        assert!(!contains(&frame.bytes, "blue"), "red got a blue user");
        assert!(!contains(&frame.bytes, "admin"), "red got the admin");
    }
    for frame in read_until_presence_of(&mut blue, Channel(1), "blue-9").await {
        assert!(!contains(&frame.bytes, "red"), "blue got a red user");
        assert!(!contains(&frame.bytes, "admin"), "blue got the admin");
    }
    let seen = read_until_presence_of(&mut admin, Channel(9), "blue-9").await;
    assert!(
        seen.iter()
            .any(|f| f.channel == Channel(9) && contains(&f.bytes, "red-9")),
        "the admin's scope is everyone"
    );
}

#[tokio::test]
async fn a_resync_on_a_members_channel_is_answered_from_its_view() {
    let t = start(Teams::default(), many_joins()).await;
    let room = t.server.session("room");
    room.commit(add("red", "red-start")).await.expect("commit");
    let (mut red, joined) = member(t.addr, "home", "red-1", "room", 6).await;
    let Msg::Snapshot {
        seq: from, epoch, ..
    } = joined[1].msg
    else {
        unreachable!()
    };
    room.commit(add("blue", "blue-hidden"))
        .await
        .expect("commit");
    room.commit(add("red", "red-next")).await.expect("commit");
    let fence = room
        .commit(Change::Everyone {
            item: "all-f".into(),
        })
        .await
        .expect("commit");
    let live = read_through(&mut red, Channel(6), fence).await;
    // From the resume point (deltas) and without one (a snapshot).
    for last_seq in [Some(from), None] {
        let resync = ClientMessage::<()>::Resync { last_seq, epoch }
            .encode_on(Channel(6))
            .expect("encode");
        red.send_raw(resync).await;
        let answer = read_through(&mut red, Channel(6), fence).await;
        let state = state_on(&answer, Channel(6));
        assert!(!state.is_empty(), "{last_seq:?}: an answer on channel 6");
        let all: Vec<u8> = state.iter().flat_map(|f| f.bytes.clone()).collect();
        assert!(
            contains(&all, "red-next") && contains(&all, "all-f"),
            "{last_seq:?}"
        );
        for frame in answer.iter().chain(&live).filter(|f| f.is_state()) {
            assert!(!contains(&frame.bytes, "blue"), "{last_seq:?}: blue's data");
            assert!(
                !contains(&frame.bytes, "Everyone"),
                "{last_seq:?}: the full delta"
            );
        }
    }
}
