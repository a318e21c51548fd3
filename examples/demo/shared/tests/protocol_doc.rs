//! `docs/demo-protocol.md` shows example frames in hex; this test encodes
//! the same messages and checks that the document's bytes are exactly
//! theirs, in order, so the document cannot drift from the code.

use demo_world::{
    DigResult, Hex, Item, ItemKind, Player, World, WorldAction, WorldDelta, WorldEvent, domain,
};
use ui_flow::codec::Decoded;
use ui_flow::{ClientMessage, OpId, RawValue, ServerMessage};

type Server = ServerMessage<World, WorldDelta, WorldEvent>;

const DOC: &str = include_str!("../../../../docs/demo-protocol.md");

/// The op id every example uses.
fn op() -> OpId {
    OpId::from_u128(0x0f1e_2d3c_4b5a_6978_8796_a5b4_c3d2_e1f0)
}

const TS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const EPOCH: u32 = 0x2a2a_2a2a;

/// The example frames, in the order the document shows them, as
/// (direction, frame).
fn examples() -> Vec<(&'static str, Vec<u8>)> {
    let ann = Player {
        user: "ann".into(),
        name: "Ann".into(),
        at: Hex::new(0, 0),
        hue: demo_world::hue_for("ann"),
        score: 0,
    };
    let small_world = World {
        radius: 1,
        walls: vec![Hex::new(1, -1)],
        items: vec![Item {
            id: 1,
            kind: ItemKind::Gem,
            at: Hex::new(-1, 0),
        }],
        dug: vec![],
        players: vec![ann],
    };
    let client = |m: ClientMessage<WorldAction>| m.encode().expect("encodes");
    let server = |m: Server| m.encode().expect("encodes");
    vec![
        (
            "client",
            client(ClientMessage::Action {
                op_id: op(),
                action: WorldAction::Move { to: Hex::new(1, 0) },
            }),
        ),
        (
            "server",
            server(ServerMessage::Snapshot {
                state: small_world,
                seq: 41,
                timestamp: TS,
                epoch: Some(EPOCH),
            }),
        ),
        (
            "server",
            server(ServerMessage::Delta {
                delta: WorldDelta::Moved {
                    user: "ann".into(),
                    to: Hex::new(1, 0),
                },
                seq: 42,
                timestamp: TS,
                epoch: None,
                prev: None,
            }),
        ),
        (
            "server",
            server(ServerMessage::ActionErr {
                op_id: op(),
                code: Some("wall".into()),
                message: "(1, -1) is a wall".into(),
            }),
        ),
        (
            "server",
            server(ServerMessage::Notify {
                domain: domain::REWARDS.into(),
                event: WorldEvent::Loot {
                    kind: ItemKind::Gem,
                    points: 5,
                    at: Hex::new(-1, 0),
                },
                correlation_id: Some(op()),
            }),
        ),
        (
            "server",
            server(ServerMessage::ActionOk {
                op_id: op(),
                result: Some(
                    RawValue::encode(&DigResult {
                        found: Some(ItemKind::Gem),
                        points: 5,
                    })
                    .expect("encodes"),
                ),
            }),
        ),
    ]
}

/// The contents of the document's ```hex blocks, whitespace removed.
fn doc_frames() -> Vec<String> {
    let mut frames = Vec::new();
    let mut lines = DOC.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```hex" {
            let block: String = lines
                .by_ref()
                .take_while(|l| l.trim() != "```")
                .flat_map(|l| l.split_whitespace())
                .collect();
            frames.push(block);
        }
    }
    frames
}

#[test]
fn the_documented_frames_are_the_encoded_ones() {
    let ours: Vec<String> = examples().iter().map(|(_, f)| hex::encode(f)).collect();
    let documented = doc_frames();
    if ours != documented {
        for (direction, frame) in examples() {
            eprintln!("{direction}:\n{}\n", spaced(&frame));
        }
    }
    assert_eq!(ours, documented, "docs/demo-protocol.md is out of date");
}

#[test]
fn the_documented_frames_decode_as_the_demo_types() {
    for (direction, frame) in examples() {
        let decoded = match direction {
            "client" => matches!(
                ClientMessage::<WorldAction>::decode(&frame),
                Ok(Decoded::Message(_))
            ),
            _ => matches!(Server::decode(&frame), Ok(Decoded::Message(_))),
        };
        assert!(decoded, "{direction} frame {}", hex::encode(&frame));
    }
}

/// The frame as the document writes it: 16 bytes a line.
fn spaced(frame: &[u8]) -> String {
    frame
        .chunks(16)
        .map(|line| {
            line.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}
