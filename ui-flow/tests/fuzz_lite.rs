//! Fuzz-lite: a stable-Rust, deterministic stand-in for the cargo-fuzz
//! targets in `fuzz/`, run with the normal test suite.
//!
//! It replays every frame in `spec/vectors/` (when that folder exists), then
//! pushes seeded random frames through both decoders, with typed payloads and
//! with `rmpv::Value`: frames built from the protocol's schema, and mutations
//! (bit flips, truncation, splices, inserted length bombs and deep nesting).
//! No frame may panic a decoder, and any frame that decodes must re-encode to
//! bytes that decode to the same message (see `fuzz_lite/check.rs`).
//!
//! `UI_FLOW_FUZZ_FRAMES` sets how many random frames run (default 1,000,000)
//! and `UI_FLOW_FUZZ_SEED` the seed (default below); both are printed, and a
//! failure names the seed and the frame so the run can be repeated.

#[path = "fuzz_lite/check.rs"]
mod check;
#[path = "fuzz_lite/frames.rs"]
mod frames;
#[path = "fuzz_lite/payload.rs"]
mod payload;
#[path = "fuzz_lite/vectors.rs"]
mod vectors;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use rmpv::Value;
use ui_flow::codec::Decoded;
use ui_flow::{
    ClientMessage, DecodeError, OpId, PresenceDiff, PresenceInfo, PresenceStatus, RawValue,
    ServerMessage, SignalPayload,
};

use frames::FrameGen;
use payload::{Act, Board, Change, Reward};

const DEFAULT_FRAMES: u64 = 1_000_000;
const DEFAULT_SEED: u64 = 0x7569_2d66_6c6f_7721; // "ui-flow!"
/// Frames run under one `catch_unwind`.
const BATCH: usize = 4096;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        }
        Err(_) => default,
    }
}

/// One message of every variant in both directions, typed and dynamic.
fn every_variant() -> Vec<Vec<u8>> {
    let id = OpId::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
    let user = |n: &str| PresenceInfo {
        user_id: n.into(),
        name: Some(format!("{n} name")),
        status: PresenceStatus::Idle,
        connected_at: 1_700_000_000_000,
    };
    let candidate = SignalPayload::IceCandidate {
        candidate: "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: None,
    };
    let server: Vec<ServerMessage<Board, Change, Reward>> = vec![
        ServerMessage::Connected {
            protocol_version: ui_flow::PROTOCOL_VERSION,
            connection_id: "c-1".into(),
            user_id: Some("u-1".into()),
            channels: None,
        },
        ServerMessage::Pong {
            client_ts: 1,
            server_ts: u64::MAX,
        },
        ServerMessage::Error {
            code: Some(ui_flow::ErrorCode::BAD_FRAME),
            message: "bad".into(),
            fatal: true,
            op_id: None,
        },
        ServerMessage::Snapshot {
            state: Board {
                name: "b".into(),
                cells: vec![0, 1, u32::MAX],
            },
            seq: 7,
            timestamp: 8,
            epoch: Some(3),
        },
        ServerMessage::Delta {
            delta: Change::Set { index: 1, value: 2 },
            seq: 8,
            timestamp: 9,
            epoch: None,
            prev: None,
        },
        ServerMessage::Deltas {
            deltas: vec![Change::Rename("r".into()), Change::Clear],
            seq: 10,
            timestamp: 11,
            epoch: Some(0),
            prev: None,
        },
        ServerMessage::Presence {
            users: vec![user("a"), user("b")],
        },
        ServerMessage::PresenceDiff(PresenceDiff {
            joined: vec![user("c")],
            updated: vec![],
            left: vec!["a".into()],
        }),
        ServerMessage::Signal {
            from_user_id: "a".into(),
            signal: candidate.clone(),
        },
        ServerMessage::Notify {
            domain: "rewards".into(),
            event: Reward {
                kind: "gold".into(),
                amount: 1 << 60,
            },
            correlation_id: Some(id),
        },
        ServerMessage::Progress {
            op_id: id,
            percent: Some(50),
            message: None,
        },
        ServerMessage::ActionOk {
            op_id: id,
            result: Some(RawValue::encode(&(1u8, "one")).expect("encodes")),
        },
        ServerMessage::ActionErr {
            op_id: id,
            code: Some("nope".into()),
            message: "no".into(),
        },
    ];
    let client: Vec<ClientMessage<Act>> = vec![
        ClientMessage::Ping {
            ts: 5,
            presence: Some(PresenceStatus::Away),
        },
        ClientMessage::Resync {
            last_seq: Some(9),
            epoch: Some(3),
        },
        ClientMessage::Action {
            op_id: id,
            action: Act::Move { dx: -1, dy: 2 },
        },
        ClientMessage::Subscribe {
            domains: vec!["world".into(), "".into()],
        },
        ClientMessage::Unsubscribe {
            domains: vec!["world".into()],
        },
        ClientMessage::Signal {
            target_user_id: "b".into(),
            signal: SignalPayload::Offer { sdp: "v=0".into() },
        },
    ];
    let mut out = Vec::new();
    for m in &server {
        out.push(m.encode().expect("encodes"));
    }
    for m in &client {
        out.push(m.encode().expect("encodes"));
    }
    // The same frames must decode with dynamic payloads as well.
    for bytes in &out {
        let server = ServerMessage::<Value, Value, Value>::decode(bytes);
        let client = ClientMessage::<Value>::decode(bytes);
        assert!(
            matches!(server, Ok(Decoded::Message(_))) || matches!(client, Ok(Decoded::Message(_))),
            "{bytes:02x?}: {server:?} / {client:?}"
        );
    }
    out
}

#[derive(Default)]
struct Tally {
    frames: u64,
    client: u64,
    client_typed: u64,
    server: u64,
    server_typed: u64,
    unknown_tag: u64,
    panics: u64,
    /// (frame index, frame) of the first few panics.
    examples: Vec<(u64, Vec<u8>)>,
}

impl Tally {
    fn add(&mut self, o: check::Outcome) {
        self.frames += 1;
        self.client += u64::from(o.client);
        self.client_typed += u64::from(o.client_typed);
        self.server += u64::from(o.server);
        self.server_typed += u64::from(o.server_typed);
        self.unknown_tag += u64::from(o.unknown_tag);
    }

    /// Runs a batch under one `catch_unwind`; if anything panics, runs it
    /// again frame by frame to count and keep the culprits.
    fn run(&mut self, first_index: u64, batch: &[Vec<u8>]) {
        let whole = catch_unwind(AssertUnwindSafe(|| {
            batch.iter().map(|f| check::frame(f)).collect::<Vec<_>>()
        }));
        match whole {
            Ok(outcomes) => outcomes.into_iter().for_each(|o| self.add(o)),
            Err(_) => {
                for (i, f) in batch.iter().enumerate() {
                    match catch_unwind(AssertUnwindSafe(|| check::frame(f))) {
                        Ok(o) => self.add(o),
                        Err(_) => {
                            self.frames += 1;
                            self.panics += 1;
                            if self.examples.len() < 5 {
                                self.examples.push((first_index + i as u64, f.clone()));
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn vectors_and_a_million_random_frames_never_panic_and_round_trip() {
    let count = env_u64("UI_FLOW_FUZZ_FRAMES", DEFAULT_FRAMES);
    let seed = env_u64("UI_FLOW_FUZZ_SEED", DEFAULT_SEED);
    println!("fuzz-lite: seed {seed:#018x}, {count} random frames");
    let started = Instant::now();

    let vectors = vectors::frames();
    let mut pool = every_variant();
    pool.extend(vectors.iter().cloned());

    let mut tally = Tally::default();
    tally.run(0, &pool);
    let replayed = tally.frames;

    let mut generator = FrameGen::new(seed);
    // Grow the pool with schema-built frames that decode, so mutations start
    // from many shapes of valid message.
    for _ in 0..2_000 {
        let f = generator.schema_frame();
        if check::frame(&f).client || check::frame(&f).server {
            pool.push(f);
        }
    }

    let mut done = 0;
    let mut batch = Vec::with_capacity(BATCH);
    while done < count {
        batch.clear();
        let n = (count - done).min(BATCH as u64);
        batch.extend((0..n).map(|_| generator.frame(&pool)));
        tally.run(replayed + done, &batch);
        done += n;
    }

    println!(
        "fuzz-lite: {} vector frames + {} built + {} random frames in {:.1?}; \
         decoded as client {} (typed {}), as server {} (typed {}), unknown tag {}; panics {}",
        vectors.len(),
        replayed - vectors.len() as u64,
        count,
        started.elapsed(),
        tally.client,
        tally.client_typed,
        tally.server,
        tally.server_typed,
        tally.unknown_tag,
        tally.panics,
    );
    let examples: Vec<String> = tally
        .examples
        .iter()
        .map(|(i, f)| format!("frame #{i}: {}", hex::encode(f)))
        .collect();
    assert_eq!(
        tally.panics,
        0,
        "seed {seed:#018x}: panicking frames, first ones:\n{}",
        examples.join("\n")
    );
    assert_eq!(tally.frames, replayed + count);
    // The generators must reach the success paths, or the run proves little.
    assert!(tally.client > count / 50, "too few client decodes");
    assert!(tally.server > count / 50, "too few server decodes");
    assert!(tally.client_typed > 0 && tally.server_typed > 0);
}

/// Frames the cargo-fuzz targets found, kept as regression tests.
#[test]
fn fuzz_findings_stay_fixed() {
    // An extension header whose type byte is missing (length 0) once made
    // the walk end past the input and the trailing-bytes check overflow.
    for frame in [&[0xc7, 0x00][..], &[0xc8, 0x00, 0x00], &[0xc9, 0, 0, 0, 0]] {
        assert!(
            matches!(
                ClientMessage::<Value>::decode(frame),
                Err(DecodeError::Truncated { .. })
            ),
            "{frame:02x?}"
        );
        assert!(
            matches!(
                ServerMessage::<Value, Value, Value>::decode(frame),
                Err(DecodeError::Truncated { .. })
            ),
            "{frame:02x?}"
        );
    }
}
