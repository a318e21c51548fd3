//! Encode and decode cost of ui-flow frames next to three other ways of
//! putting the same message on the wire:
//!
//! - `ours`: `ui_flow::codec` (tag-first map, envelope by hand, payloads by
//!   rmp-serde);
//! - `sketch`: the design document's shape, written here from its
//!   description: a struct with a `serde_repr` u16 tag and a
//!   `#[serde(flatten)]` payload enum marked `#[serde(untagged)]`, through
//!   `rmp_serde::to_vec_named` / `from_slice` (it is the baseline, and it is
//!   known to mis-decode some frames; see the spec);
//! - `named`: `rmp_serde::to_vec_named` of a plain struct with the same
//!   fields and a `t: u16` field, the floor for a map encoding;
//! - `json`: `serde_json` of that plain struct.
//!
//! Run: `cargo bench -p ui-flow --bench codec`. The byte size of each
//! encoding is printed before the timings. BENCHMARKS.md has the figures.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use ui_flow::{ClientMessage, OpId, ServerMessage};

// ---------------------------------------------------------------------------
// Application payloads
// ---------------------------------------------------------------------------

/// A delta: one entity moved and changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct EntityMoved {
    entity: u64,
    x: f32,
    y: f32,
    heading: f32,
    hp: u32,
    name: String,
    tags: Vec<String>,
}

/// A notification event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reward {
    kind: String,
    amount: u64,
    reason: String,
}

/// A client action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum GameAction {
    Move { dx: i32, dy: i32, run: bool },
    Say(String),
}

/// One entity of the snapshot state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entity {
    id: u64,
    x: f32,
    y: f32,
    hp: u32,
    name: String,
    tags: Vec<String>,
}

/// The snapshot state: about 10 KB encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct World {
    name: String,
    tick: u64,
    entities: Vec<Entity>,
}

type Server = ServerMessage<World, EntityMoved, Reward>;
type Client = ClientMessage<GameAction>;

const OP: u128 = 0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8;
const SEQ: u64 = 1_234_567;
const TIMESTAMP: u64 = 1_700_000_000_123;

fn entity_moved() -> EntityMoved {
    EntityMoved {
        entity: 4_102,
        x: 118.25,
        y: -40.5,
        heading: 1.25,
        hp: 87,
        name: "scout".into(),
        tags: vec!["ally".into(), "moving".into()],
    }
}

fn reward() -> Reward {
    Reward {
        kind: "gold".into(),
        amount: 250,
        reason: "quest complete".into(),
    }
}

fn game_action() -> GameAction {
    GameAction::Move {
        dx: -3,
        dy: 7,
        run: true,
    }
}

fn world() -> World {
    World {
        name: "arena-7".into(),
        tick: 88_123,
        entities: (0..215)
            .map(|i| Entity {
                id: 1_000 + i,
                x: i as f32 * 1.5,
                y: -(i as f32) * 0.25,
                hp: 100 - (i % 100) as u32,
                name: format!("unit-{i}"),
                tags: if i % 3 == 0 {
                    vec!["ally".into()]
                } else {
                    vec![]
                },
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// (i) The design's sketch: u16 tag beside a flattened untagged payload
// ---------------------------------------------------------------------------

mod sketch {
    use serde::{Deserialize, Serialize};
    use serde_repr::{Deserialize_repr, Serialize_repr};

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
    #[repr(u16)]
    pub enum ServerTag {
        Connected = 0,
        Pong = 1,
        Error = 2,
        Snapshot = 1000,
        Delta = 1001,
        Deltas = 1002,
        Presence = 2000,
        Signal = 3000,
        Notify = 4000,
        Progress = 5000,
        ActionOk = 5001,
        ActionErr = 5002,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
    #[repr(u16)]
    pub enum ClientTag {
        Ping = 0,
        Resync = 1,
        Action = 1000,
        Subscribe = 2000,
        Unsubscribe = 2001,
        Signal = 3000,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Presence {
        pub user_id: String,
        pub name: Option<String>,
        pub status: String,
        pub connected_at: u64,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Signal {
        #[serde(rename = "type")]
        pub kind: String,
        pub sdp: Option<String>,
        pub candidate: Option<String>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ServerMessage<S, D, E> {
        pub t: ServerTag,
        #[serde(flatten)]
        pub payload: ServerPayload<S, D, E>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(untagged)]
    pub enum ServerPayload<S, D, E> {
        Connected {
            protocol_version: u8,
            connection_id: String,
        },
        Pong {
            client_ts: u64,
            server_ts: u64,
        },
        Error {
            code: Option<String>,
            message: String,
            fatal: bool,
        },
        Snapshot {
            state: S,
            seq: u64,
            timestamp: u64,
        },
        Delta {
            delta: D,
            seq: u64,
            timestamp: u64,
        },
        Deltas {
            deltas: Vec<D>,
            seq: u64,
            timestamp: u64,
        },
        Presence {
            users: Vec<Presence>,
        },
        Signal {
            from_user_id: String,
            signal: Signal,
        },
        Notify {
            domain: String,
            event: E,
            correlation_id: Option<uuid::Uuid>,
        },
        Progress {
            op_id: uuid::Uuid,
            percent: Option<u8>,
            message: Option<String>,
        },
        ActionOk {
            op_id: uuid::Uuid,
            result: Option<serde_json::Value>,
        },
        ActionErr {
            op_id: uuid::Uuid,
            code: Option<String>,
            message: String,
        },
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ClientMessage<A> {
        pub t: ClientTag,
        #[serde(flatten)]
        pub payload: ClientPayload<A>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(untagged)]
    pub enum ClientPayload<A> {
        Ping {
            ts: u64,
        },
        Resync {
            last_seq: Option<u64>,
        },
        Action {
            op_id: uuid::Uuid,
            action: A,
        },
        Subscribe {
            domains: Vec<String>,
        },
        Unsubscribe {
            domains: Vec<String>,
        },
        Signal {
            target_user_id: String,
            signal: Signal,
        },
    }
}

// ---------------------------------------------------------------------------
// (ii) and (iii): plain structs with the same fields and a `t: u16`
// ---------------------------------------------------------------------------

mod plain {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Delta<D> {
        pub t: u16,
        pub delta: D,
        pub seq: u64,
        pub timestamp: u64,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Notify<E> {
        pub t: u16,
        pub domain: String,
        pub event: E,
        pub correlation_id: Option<uuid::Uuid>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Action<A> {
        pub t: u16,
        pub op_id: uuid::Uuid,
        pub action: A,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Snapshot<S> {
        pub t: u16,
        pub state: S,
        pub seq: u64,
        pub timestamp: u64,
    }
}

// ---------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------

type Encode<'a> = Box<dyn Fn() -> Vec<u8> + 'a>;
type Decode<'a> = Box<dyn Fn(&[u8]) + 'a>;

/// One way of encoding one message.
struct Contender<'a> {
    label: &'static str,
    encode: Encode<'a>,
    decode: Decode<'a>,
}

fn contender<'a, T: 'a>(
    label: &'static str,
    encode: impl Fn() -> Vec<u8> + 'a,
    decode: impl Fn(&[u8]) -> T + 'a,
) -> Contender<'a> {
    Contender {
        label,
        encode: Box::new(encode),
        decode: Box::new(move |bytes| {
            black_box(decode(black_box(bytes)));
        }),
    }
}

/// The `sketch`, `named` and `json` contenders for a message whose sketch
/// form is `sketched` and plain form is `flat`.
fn others<'a, K, P>(sketched: &'a K, flat: &'a P) -> [Contender<'a>; 3]
where
    K: Serialize + DeserializeOwned,
    P: Serialize + DeserializeOwned,
{
    [
        contender(
            "sketch",
            move || rmp_serde::to_vec_named(sketched).expect("encodes"),
            |b| rmp_serde::from_slice::<K>(b).expect("decodes"),
        ),
        contender(
            "named",
            move || rmp_serde::to_vec_named(flat).expect("encodes"),
            |b| rmp_serde::from_slice::<P>(b).expect("decodes"),
        ),
        contender(
            "json",
            move || serde_json::to_vec(flat).expect("encodes"),
            |b| serde_json::from_slice::<P>(b).expect("decodes"),
        ),
    ]
}

/// `CODEC_BENCH_COUNT=<message>/<encode|decode>/<label>:<n>` (for example
/// `delta/decode/ours:2000`) runs only that case, `n` times, outside
/// criterion: run the binary under an instruction counter
/// (`ui-flow/benches/count_instructions.sh`) for figures that a busy machine
/// does not disturb.
fn count_mode() -> Option<(String, u64)> {
    let spec = std::env::var("CODEC_BENCH_COUNT").ok()?;
    let (case, n) = spec.rsplit_once(':')?;
    Some((case.to_owned(), n.parse().ok()?))
}

fn compare(c: &mut Criterion, message: &str, contenders: &[Contender<'_>]) {
    if let Some((case, n)) = count_mode() {
        for k in contenders {
            let bytes = (k.encode)();
            if case == format!("{message}/encode/{}", k.label) {
                (0..n).for_each(|_| drop(black_box((k.encode)())));
            }
            if case == format!("{message}/decode/{}", k.label) {
                (0..n).for_each(|_| (k.decode)(&bytes));
            }
        }
        return;
    }
    let sizes: Vec<String> = contenders
        .iter()
        .map(|k| format!("{} {} B", k.label, (k.encode)().len()))
        .collect();
    println!("{message}: {}", sizes.join(", "));
    let mut group = c.benchmark_group(message);
    for k in contenders {
        group.bench_function(format!("encode/{}", k.label), |b| {
            b.iter(|| black_box((k.encode)()))
        });
    }
    for k in contenders {
        let bytes = (k.encode)();
        group.bench_function(format!("decode/{}", k.label), |b| {
            b.iter(|| (k.decode)(&bytes))
        });
    }
    group.finish();
}

fn delta(c: &mut Criterion) {
    let ours = Server::Delta {
        delta: entity_moved(),
        seq: SEQ,
        timestamp: TIMESTAMP,
        epoch: None,
        prev: None,
    };
    let sketched = sketch::ServerMessage::<World, _, Reward> {
        t: sketch::ServerTag::Delta,
        payload: sketch::ServerPayload::Delta {
            delta: entity_moved(),
            seq: SEQ,
            timestamp: TIMESTAMP,
        },
    };
    let flat = plain::Delta {
        t: 1001,
        delta: entity_moved(),
        seq: SEQ,
        timestamp: TIMESTAMP,
    };
    let [a, b, d] = others(&sketched, &flat);
    let ours = contender(
        "ours",
        || ours.encode().expect("encodes"),
        |b| Server::decode(b).expect("decodes"),
    );
    compare(c, "delta", &[ours, a, b, d]);
}

fn notify(c: &mut Criterion) {
    let id = OpId::from_u128(OP);
    let ours = Server::Notify {
        domain: "rewards".into(),
        event: reward(),
        correlation_id: Some(id),
    };
    let sketched = sketch::ServerMessage::<World, EntityMoved, _> {
        t: sketch::ServerTag::Notify,
        payload: sketch::ServerPayload::Notify {
            domain: "rewards".into(),
            event: reward(),
            correlation_id: Some(uuid::Uuid::from_u128(OP)),
        },
    };
    let flat = plain::Notify {
        t: 4000,
        domain: "rewards".into(),
        event: reward(),
        correlation_id: Some(uuid::Uuid::from_u128(OP)),
    };
    let [a, b, d] = others(&sketched, &flat);
    let ours = contender(
        "ours",
        || ours.encode().expect("encodes"),
        |b| Server::decode(b).expect("decodes"),
    );
    compare(c, "notify", &[ours, a, b, d]);
}

fn action(c: &mut Criterion) {
    let ours = Client::Action {
        op_id: OpId::from_u128(OP),
        action: game_action(),
    };
    let sketched = sketch::ClientMessage {
        t: sketch::ClientTag::Action,
        payload: sketch::ClientPayload::Action {
            op_id: uuid::Uuid::from_u128(OP),
            action: game_action(),
        },
    };
    let flat = plain::Action {
        t: 1000,
        op_id: uuid::Uuid::from_u128(OP),
        action: game_action(),
    };
    let [a, b, d] = others(&sketched, &flat);
    let ours = contender(
        "ours",
        || ours.encode().expect("encodes"),
        |b| Client::decode(b).expect("decodes"),
    );
    compare(c, "action", &[ours, a, b, d]);
}

fn snapshot(c: &mut Criterion) {
    let ours = Server::Snapshot {
        state: world(),
        seq: SEQ,
        timestamp: TIMESTAMP,
        epoch: None,
    };
    let sketched = sketch::ServerMessage::<_, EntityMoved, Reward> {
        t: sketch::ServerTag::Snapshot,
        payload: sketch::ServerPayload::Snapshot {
            state: world(),
            seq: SEQ,
            timestamp: TIMESTAMP,
        },
    };
    let flat = plain::Snapshot {
        t: 1000,
        state: world(),
        seq: SEQ,
        timestamp: TIMESTAMP,
    };
    let [a, b, d] = others(&sketched, &flat);
    let ours = contender(
        "ours",
        || ours.encode().expect("encodes"),
        |b| Server::decode(b).expect("decodes"),
    );
    compare(c, "snapshot", &[ours, a, b, d]);
}

/// Every encoding must carry the same message, or the comparison is moot.
fn same_messages() {
    let ours = Server::Delta {
        delta: entity_moved(),
        seq: SEQ,
        timestamp: TIMESTAMP,
        epoch: None,
        prev: None,
    };
    let frame = ours.encode().expect("encodes");
    let flat: plain::Delta<EntityMoved> =
        rmp_serde::from_slice(&frame).expect("plain decodes ours");
    assert_eq!(flat.delta, entity_moved());
    assert_eq!(rmp_serde::to_vec_named(&flat).expect("encodes"), frame);
    let flat = plain::Snapshot {
        t: 1000,
        state: world(),
        seq: SEQ,
        timestamp: TIMESTAMP,
    };
    let frame = rmp_serde::to_vec_named(&flat).expect("encodes");
    assert!(matches!(
        Server::decode(&frame),
        Ok(ui_flow::codec::Decoded::Message(Server::Snapshot { .. }))
    ));
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

fn checks(_: &mut Criterion) {
    same_messages();
}

criterion_group! {
    name = codec;
    config = config();
    targets = checks, delta, notify, action, snapshot
}
criterion_main!(codec);
