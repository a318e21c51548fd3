//! Presence scopes over real WebSockets: a connection's `Presence` and
//! `PresenceDiff` frames carry only the users of the groups it sees
//! (checked on the bytes), a `Signal` across scopes is refused exactly as
//! one to a user who is not there, and a scope change brings a fresh list.

mod common;

use common::teams::Membership;
use common::*;
use ui_flow::codec::Decoded;
use ui_flow::{ClientMessage, FlowState, SignalPayload};
use ui_flow_server::{ActionContext, ActionOutcome, FlowHandler, Identity, PresenceScope};

#[derive(Clone, Default, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Count(u64);

impl FlowState for Count {
    type Delta = u64;
    fn apply_delta(&mut self, n: u64) {
        self.0 += n;
    }
}

struct CountModel;

impl ui_flow::Model for CountModel {
    type State = Count;
    type Delta = u64;
    type Event = ();
    type Action = ();
}

/// Users see their own team only; `admin` sees everyone and is in no
/// team (it is in group `staff`, which no one else sees).
#[derive(Default)]
struct Teams(Membership);

#[async_trait::async_trait]
impl FlowHandler for Teams {
    type Model = CountModel;

    async fn handle_action(&self, _: &ActionContext<Self>, _: ()) -> ActionOutcome {
        ActionOutcome::ok()
    }

    fn presence_scope(&self, user: &Identity, _resource: &str) -> PresenceScope {
        match self.0.team_of(&user.user_id) {
            Some(team) => PresenceScope::group(team),
            None => PresenceScope::seeing_all(["staff"]),
        }
    }
}

/// The raw bytes of every frame up to and including the first presence
/// frame that names `user`.
async fn read_until_presence_of(client: &mut Client, user: &str) -> Vec<Vec<u8>> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + STUCK;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stuck waiting for {user} in presence"
        );
        let bytes = client.raw_frame().await;
        let msg = Msg::decode(&bytes).expect("server frames decode");
        let names = match &msg {
            Decoded::Message(Msg::Presence { users }) => users.iter().any(|u| u.user_id == user),
            Decoded::Message(Msg::PresenceDiff(d)) => {
                d.joined.iter().chain(&d.updated).any(|u| u.user_id == user)
            }
            _ => false,
        };
        seen.push(bytes);
        if names {
            return seen;
        }
    }
}

fn ids(users: &[ui_flow::PresenceInfo]) -> Vec<&str> {
    let mut ids: Vec<&str> = users.iter().map(|u| u.user_id.as_str()).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn each_scope_sees_only_its_users_on_the_bytes() {
    let t = start(Teams::default(), many_joins()).await;
    let (mut admin, _) = Client::join(t.addr, "room", "admin").await;
    let mut red = Vec::new();
    let mut blue = Vec::new();
    for n in 0..2 {
        let (client, joined) = Client::join(t.addr, "room", &format!("red-{n}")).await;
        red.push((client, joined));
        let (client, joined) = Client::join(t.addr, "room", &format!("blue-{n}")).await;
        blue.push((client, joined));
    }
    assert_eq!(ids(&red[1].1.users), ["red-0", "red-1"]);
    assert_eq!(ids(&blue[1].1.users), ["blue-0", "blue-1"]);
    // Fences: a late joiner of each team. Frames to one connection keep
    // their order, so once a client has its team's fence it has every
    // presence frame about the joins before it.
    let (_red_fence, _) = Client::join(t.addr, "room", "red-9").await;
    let (_blue_fence, _) = Client::join(t.addr, "room", "blue-9").await;
    for (client, _) in &mut red {
        for bytes in read_until_presence_of(client, "red-9").await {
            assert!(!contains(&bytes, "blue"), "red got a blue user");
            assert!(!contains(&bytes, "admin"), "red got the admin");
        }
    }
    for (client, _) in &mut blue {
        for bytes in read_until_presence_of(client, "blue-9").await {
            assert!(!contains(&bytes, "red"), "blue got a red user");
            assert!(!contains(&bytes, "admin"), "blue got the admin");
        }
    }
    // The admin sees both teams.
    let seen = read_until_presence_of(&mut admin, "blue-9").await;
    assert!(seen.iter().any(|b| contains(b, "red-9")));
}

fn offer(to: &str) -> ClientMessage<()> {
    ClientMessage::Signal {
        target_user_id: to.into(),
        signal: SignalPayload::Offer { sdp: "v=0".into() },
    }
}

#[tokio::test]
async fn a_signal_across_scopes_is_refused_as_unknown_target() {
    let t = start(Teams::default(), many_joins()).await;
    let (mut red, _) = Client::join(t.addr, "room", "red-0").await;
    let (mut blue, _) = Client::join(t.addr, "room", "blue-0").await;
    let (mut admin, _) = Client::join(t.addr, "room", "admin").await;

    red.send(&offer("blue-0")).await;
    let hidden = red.recv_until(|m| matches!(m, Msg::Error { .. })).await;
    red.send(&offer("nobody")).await;
    let absent = red.recv_until(|m| matches!(m, Msg::Error { .. })).await;
    assert_eq!(error_code(&hidden), Some(("unknown_target".into(), false)));
    assert_eq!(hidden, absent, "a hidden user is answered as an absent one");

    // The refusal was sent before the admin's signal was read, so the
    // first signal blue-0 receives is the admin's: red's never came.
    admin.send(&offer("blue-0")).await;
    match blue.recv_until(|m| matches!(m, Msg::Signal { .. })).await {
        Msg::Signal { from_user_id, .. } => assert_eq!(from_user_id, "admin"),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_scope_change_brings_the_new_scope_s_list() {
    let handler = Teams::default();
    let t = start(handler, many_joins()).await;
    let (mut stayer, _) = Client::join(t.addr, "room", "red-0").await;
    let (mut mover, _) = Client::join(t.addr, "room", "red-1").await;
    let (mut blue, _) = Client::join(t.addr, "room", "blue-0").await;
    let room = t.server.session("room");
    t.server.handler().0.move_to("red-1", "blue");
    assert_eq!(room.refresh_views_of("red-1"), 1);
    assert_eq!(room.refresh_views(), 0, "the scopes are already current");

    let list = |m: &Msg| matches!(m, Msg::Presence { .. });
    let Msg::Presence { users } = mover.recv_until(list).await else {
        unreachable!()
    };
    assert_eq!(ids(&users), ["blue-0", "red-1"]);
    // Its user's groups changed, so the others' lists change too.
    let Msg::Presence { users } = blue.recv_until(list).await else {
        unreachable!()
    };
    assert_eq!(ids(&users), ["blue-0", "red-1"]);
    let Msg::Presence { users } = stayer.recv_until(list).await else {
        unreachable!()
    };
    assert_eq!(ids(&users), ["red-0"]);
    // And signals follow the new scope.
    mover.send(&offer("red-0")).await;
    let refused = mover.recv_until(|m| matches!(m, Msg::Error { .. })).await;
    assert_eq!(error_code(&refused), Some(("unknown_target".into(), false)));
}
