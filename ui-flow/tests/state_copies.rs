//! How often the client copies the whole state on its way to listeners
//! (issue 13 item 4): a state whose `Clone` counts, driven through the
//! sans-IO `Client` and its real codec, read the way a driver reads it for
//! its state callbacks (`Client::shared_state`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use ui_flow::client::{Client, ClientConfig, Instant, SocketCommand};
use ui_flow::{FlowState, Model, ServerMessage};

/// Copies of [`Counted`] made so far (this file's only test touches it).
static COPIES: AtomicUsize = AtomicUsize::new(0);

#[derive(Default, Debug, PartialEq, Serialize, Deserialize)]
struct Counted(Vec<i64>);

impl Clone for Counted {
    fn clone(&self) -> Self {
        COPIES.fetch_add(1, Ordering::SeqCst);
        Counted(self.0.clone())
    }
}

impl FlowState for Counted {
    type Delta = i64;
    fn apply_delta(&mut self, delta: i64) {
        self.0.push(delta);
    }
}

struct Counting;
impl Model for Counting {
    type State = Counted;
    type Delta = i64;
    type Action = i64;
    type Event = ();
}

type Msg = ServerMessage<Counted, i64, ()>;

fn copies_during(f: impl FnOnce()) -> usize {
    let before = COPIES.load(Ordering::SeqCst);
    f();
    COPIES.load(Ordering::SeqCst) - before
}

#[test]
fn a_delta_reaches_every_listener_with_one_copy_of_the_state() {
    let now = Instant::now();
    let mut client: Client<Counting> = Client::new(ClientConfig::default(), now).expect("config");
    let Some(SocketCommand::Open(socket)) = client.poll_socket() else {
        panic!("the client dials at once");
    };
    client.handle_open(now, socket);
    let frames = [
        Msg::Connected {
            protocol_version: ui_flow::PROTOCOL_VERSION,
            connection_id: "c1".into(),
            user_id: None,
            channels: None,
        },
        Msg::Snapshot {
            state: Counted(vec![1]),
            seq: 1,
            timestamp: 0,
            epoch: None,
        },
    ];
    for frame in frames {
        client.handle_frame(now, socket, &frame.encode().expect("encodes"));
    }

    // Two listeners keep the state shown now, as adapters' signals do.
    let kept_a = client.shared_state();
    let kept_b = client.shared_state();
    assert_eq!(kept_a, kept_b);

    // An optimistic action: the shown state is the client's own copy.
    let sent = copies_during(|| {
        client.send_optimistic(10, 10).expect("sent");
    });
    assert_eq!(sent, 1, "showing an optimistic change copies once");

    // A delta from the server while it is pending: the confirmed state
    // changes in place, the shown one is rebuilt once, and every listener
    // gets that one value.
    let delta = Msg::Delta {
        delta: 2,
        seq: 2,
        timestamp: 0,
        epoch: None,
        prev: None,
    }
    .encode()
    .expect("encodes");
    let mut shown = Vec::new();
    let copies = copies_during(|| {
        client.handle_frame(now, socket, &delta);
        while client.poll_event().is_some() {}
        for _listener in 0..3 {
            shown.push(client.shared_state());
        }
    });
    assert_eq!(copies, 1, "one delta, three listeners, one copy");
    assert_eq!(
        shown[0].0,
        [1, 2, 10],
        "confirmed delta under the pending change"
    );
    assert!(shown.iter().all(|s| Arc::ptr_eq(s, &shown[0])));
    // What listeners kept earlier is untouched.
    assert_eq!(kept_a.0, [1]);
}
