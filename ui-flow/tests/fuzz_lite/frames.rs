//! Seeded frame generators: well-formed frames built field by field from the
//! protocol's schema (with deliberate slips), and mutations of existing
//! frames (bit flips, truncation, splices, inserted length bombs and deep
//! nesting).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use ui_flow::{ClientTag, ServerTag};

/// Bytes that mean something special to a MessagePack reader.
const INTERESTING: [u8; 20] = [
    0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc4, 0xc7, 0xcf, 0xd4, 0xd9,
    0xdc, 0xdd, 0xde, 0xdf,
];

/// Headers that declare far more than any frame holds.
const LENGTH_BOMBS: [&[u8]; 9] = [
    &[0xdd, 0xff, 0xff, 0xff, 0xff],       // array32
    &[0xdf, 0xff, 0xff, 0xff, 0xff],       // map32
    &[0xdc, 0xff, 0xff],                   // array16
    &[0xde, 0xff, 0xff],                   // map16
    &[0xdb, 0xff, 0xff, 0xff, 0xff],       // str32
    &[0xc6, 0xff, 0xff, 0xff, 0xff],       // bin32
    &[0xc9, 0xff, 0xff, 0xff, 0xff, 0x01], // ext32
    &[0xda, 0x7f, 0xff],                   // str16
    &[0xc5, 0x10, 0x00],                   // bin16
];

/// Every field name the protocol uses, at any level.
const KEYS: [&str; 45] = [
    "t",
    "ts",
    "presence",
    "last_seq",
    "epoch",
    "op_id",
    "action",
    "domains",
    "target_user_id",
    "signal",
    "protocol_version",
    "connection_id",
    "user_id",
    "client_ts",
    "server_ts",
    "code",
    "message",
    "fatal",
    "state",
    "seq",
    "timestamp",
    "delta",
    "deltas",
    "users",
    "joined",
    "updated",
    "left",
    "from_user_id",
    "domain",
    "event",
    "correlation_id",
    "percent",
    "result",
    "type",
    "sdp",
    "candidate",
    "sdpMid",
    "sdpMLineIndex",
    "usernameFragment",
    "name",
    "status",
    "connected_at",
    "Move",
    "Say",
    "Reset",
];

/// The fields of the message(s) with this tag, in either direction.
fn fields_of(tag: u16) -> &'static [&'static str] {
    match tag {
        0 => &[
            "protocol_version",
            "connection_id",
            "user_id",
            "ts",
            "presence",
        ],
        1 => &["client_ts", "server_ts", "last_seq", "epoch"],
        2 => &["code", "message", "fatal"],
        1000 => &["state", "seq", "timestamp", "epoch", "op_id", "action"],
        1001 => &["delta", "seq", "timestamp", "epoch"],
        1002 => &["deltas", "seq", "timestamp", "epoch"],
        2000 => &["users", "domains"],
        2001 => &["joined", "updated", "left", "domains"],
        3000 => &["from_user_id", "target_user_id", "signal"],
        4000 => &["domain", "event", "correlation_id"],
        5000 => &["op_id", "percent", "message"],
        5001 => &["op_id", "result"],
        5002 => &["op_id", "code", "message"],
        _ => &["seq", "message", "domains"],
    }
}

/// A seeded source of test frames.
pub struct FrameGen {
    rng: SmallRng,
}

impl FrameGen {
    pub fn new(seed: u64) -> Self {
        FrameGen {
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// The next frame: a pool frame, a schema-built frame, or a mutation of
    /// either.
    pub fn frame(&mut self, pool: &[Vec<u8>]) -> Vec<u8> {
        let pick = |g: &mut Self| pool[g.rng.random_range(0..pool.len())].clone();
        match self.rng.random_range(0..100) {
            0..5 => pick(self),
            5..35 => self.schema_frame(),
            35..50 => {
                let f = self.schema_frame();
                self.mutate(f, pool)
            }
            _ => {
                let f = pick(self);
                self.mutate(f, pool)
            }
        }
    }

    /// A frame built from the schema: a map with `"t"` first and plausible
    /// values for the tag's fields, with occasional slips (a dropped or
    /// unknown field, another order, a wrong type, a duplicate).
    pub fn schema_frame(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let tag = match self.rng.random_range(0..100) {
            0..45 => ServerTag::ALL[self.rng.random_range(0..ServerTag::ALL.len())].tag,
            45..90 => ClientTag::ALL[self.rng.random_range(0..ClientTag::ALL.len())].tag,
            _ => self.rng.random(),
        };
        let mut fields: Vec<&str> = fields_of(tag)
            .iter()
            .copied()
            .filter(|_| self.rng.random_bool(0.85))
            .collect();
        if self.rng.random_bool(0.1) {
            fields.push(KEYS[self.rng.random_range(0..KEYS.len())]);
        }
        if self.rng.random_bool(0.05) {
            fields.push("future_field");
        }
        if self.rng.random_bool(0.2) {
            for i in (1..fields.len()).rev() {
                fields.swap(i, self.rng.random_range(0..=i));
            }
        }
        if self.rng.random_bool(0.02) && !fields.is_empty() {
            fields.push(fields[0]);
        }
        let tag_first = self.rng.random_bool(0.97);
        map_len(&mut out, fields.len() + 1);
        if tag_first {
            self.tag(&mut out, tag);
        }
        for field in fields {
            str(&mut out, field);
            self.value_for(&mut out, field);
        }
        if !tag_first {
            self.tag(&mut out, tag);
        }
        out
    }

    fn tag(&mut self, out: &mut Vec<u8>, tag: u16) {
        str(out, "t");
        match self.rng.random_range(0..100) {
            0 => self.any_value(out, 1),
            1 => uint_wide(out, u64::from(tag) + 65536),
            2..10 => uint_wide(out, u64::from(tag)),
            _ => uint(out, u64::from(tag)),
        }
    }

    /// A plausible value for `key`, or now and then anything at all.
    fn value_for(&mut self, out: &mut Vec<u8>, key: &str) {
        if self.rng.random_bool(0.05) {
            return self.any_value(out, 3);
        }
        if self.rng.random_bool(0.04) {
            return out.push(0xc0);
        }
        match key {
            "ts" | "last_seq" | "client_ts" | "server_ts" | "seq" | "timestamp"
            | "connected_at" => self.uint_up_to(out, u64::MAX),
            "epoch" => self.uint_up_to(out, u64::from(u32::MAX)),
            "percent" | "protocol_version" => self.uint_up_to(out, u64::from(u8::MAX)),
            "sdpMLineIndex" => self.uint_up_to(out, u64::from(u16::MAX)),
            "op_id" | "correlation_id" => match self.rng.random_range(0..10) {
                0 => str(out, "67e55044-10b1-426f-9247-bb680e5fe0c8"),
                1 => bin(out, &self.bytes(20)),
                _ => {
                    let id: [u8; 16] = self.rng.random();
                    bin(out, &id);
                }
            },
            "presence" | "status" => {
                let statuses = ["active", "idle", "away", "busy"];
                str(out, statuses[self.rng.random_range(0..statuses.len())]);
            }
            "type" => {
                let kinds = ["offer", "answer", "candidate", "pranswer"];
                str(out, kinds[self.rng.random_range(0..kinds.len())]);
            }
            "fatal" => out.push(if self.rng.random() { 0xc3 } else { 0xc2 }),
            "domains" | "left" => self.list(out, |g, out| g.text(out)),
            "users" | "joined" | "updated" => self.list(out, |g, out| g.presence_info(out)),
            "signal" => self.signal(out),
            "action" => self.action(out),
            "state" => self.board(out),
            "delta" => self.change(out),
            "deltas" => self.list(out, |g, out| g.change(out)),
            "event" => {
                map_len(out, 2);
                str(out, "kind");
                self.text(out);
                str(out, "amount");
                self.uint_up_to(out, u64::MAX);
            }
            "result" => self.any_value(out, 3),
            _ => self.text(out),
        }
    }

    fn list(&mut self, out: &mut Vec<u8>, mut item: impl FnMut(&mut Self, &mut Vec<u8>)) {
        let len = self.rng.random_range(0..4);
        array_len(out, len);
        for _ in 0..len {
            item(self, out);
        }
    }

    fn presence_info(&mut self, out: &mut Vec<u8>) {
        let named = self.rng.random_bool(0.5);
        map_len(out, 3 + usize::from(named));
        for key in ["user_id", "status", "connected_at"] {
            str(out, key);
            self.value_for(out, key);
        }
        if named {
            str(out, "name");
            self.text(out);
        }
    }

    fn signal(&mut self, out: &mut Vec<u8>) {
        let keys: &[&str] = match self.rng.random_range(0..3) {
            0 => &["type", "sdp"],
            1 => &[
                "type",
                "candidate",
                "sdpMid",
                "sdpMLineIndex",
                "usernameFragment",
            ],
            _ => &["type", "candidate"],
        };
        map_len(out, keys.len());
        for key in keys {
            str(out, key);
            self.value_for(out, key);
        }
    }

    /// An `Act`-shaped value, as rmp-serde writes externally tagged enums.
    fn action(&mut self, out: &mut Vec<u8>) {
        match self.rng.random_range(0..3) {
            0 => {
                map_len(out, 1);
                str(out, "Move");
                map_len(out, 2);
                for key in ["dx", "dy"] {
                    str(out, key);
                    self.int(out);
                }
            }
            1 => {
                map_len(out, 1);
                str(out, "Say");
                self.text(out);
            }
            _ => str(out, "Reset"),
        }
    }

    fn board(&mut self, out: &mut Vec<u8>) {
        map_len(out, 2);
        str(out, "name");
        self.text(out);
        str(out, "cells");
        self.list(out, |g, out| g.uint_up_to(out, u64::from(u32::MAX)));
    }

    fn change(&mut self, out: &mut Vec<u8>) {
        match self.rng.random_range(0..3) {
            0 => {
                map_len(out, 1);
                str(out, "Set");
                map_len(out, 2);
                for key in ["index", "value"] {
                    str(out, key);
                    self.uint_up_to(out, u64::from(u32::MAX));
                }
            }
            1 => {
                map_len(out, 1);
                str(out, "Rename");
                self.text(out);
            }
            _ => str(out, "Clear"),
        }
    }

    /// An unsigned integer, usually at most `max`, often at a boundary, in
    /// its shortest form or a wider one.
    fn uint_up_to(&mut self, out: &mut Vec<u8>, max: u64) {
        let v = match self.rng.random_range(0..10) {
            0 => 0,
            1 => max,
            2 => max.saturating_add(1),
            3 => 1 << 53,
            4 => self.rng.random(),
            _ => self.rng.random_range(0..=max.min(1 << 40)),
        };
        if self.rng.random_bool(0.1) {
            uint_wide(out, v);
        } else {
            uint(out, v);
        }
    }

    fn int(&mut self, out: &mut Vec<u8>) {
        let v: i64 = match self.rng.random_range(0..4) {
            0 => i64::from(self.rng.random::<i32>()),
            1 => i64::MIN,
            _ => self.rng.random_range(-200..200),
        };
        rmp::encode::write_sint(out, v).expect("vec write");
    }

    fn text(&mut self, out: &mut Vec<u8>) {
        const WORDS: [&str; 8] = [
            "",
            "world",
            "rewards",
            "user-1",
            "ünïcødé",
            "日本",
            "a\0b",
            "🦀",
        ];
        match self.rng.random_range(0..10) {
            0 => {
                // A str header over bytes that may not be UTF-8.
                let bytes = self.bytes(6);
                rmp::encode::write_str_len(out, bytes.len() as u32).expect("vec write");
                out.extend_from_slice(&bytes);
            }
            1 => {
                let s: String = (0..self.rng.random_range(0..40))
                    .map(|_| char::from(self.rng.random_range(b' '..b'~')))
                    .collect();
                str(out, &s);
            }
            _ => str(out, WORDS[self.rng.random_range(0..WORDS.len())]),
        }
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.rng.random_range(0..=max);
        (0..len).map(|_| self.rng.random()).collect()
    }

    /// Any MessagePack value, nested at most `depth` deep.
    pub fn any_value(&mut self, out: &mut Vec<u8>, depth: u32) {
        let kinds = if depth == 0 { 10 } else { 12 };
        match self.rng.random_range(0..kinds) {
            0 => out.push(0xc0),
            1 => out.push(if self.rng.random() { 0xc3 } else { 0xc2 }),
            2 => self.uint_up_to(out, u64::MAX),
            3 => self.int(out),
            4 => rmp::encode::write_f32(out, self.rng.random()).expect("vec write"),
            5 => {
                let v = match self.rng.random_range(0..4) {
                    0 => f64::NAN,
                    1 => f64::NEG_INFINITY,
                    _ => self.rng.random(),
                };
                rmp::encode::write_f64(out, v).expect("vec write");
            }
            6 => self.text(out),
            7 => bin(out, &self.bytes(8)),
            8 => {
                let data = self.bytes(17);
                rmp::encode::write_ext_meta(out, data.len() as u32, self.rng.random())
                    .expect("vec write");
                out.extend_from_slice(&data);
            }
            9 => {
                let key = KEYS[self.rng.random_range(0..KEYS.len())];
                str(out, key);
            }
            10 => {
                let len = self.rng.random_range(0..4);
                array_len(out, len);
                for _ in 0..len {
                    self.any_value(out, depth - 1);
                }
            }
            _ => {
                let len = self.rng.random_range(0..4);
                map_len(out, len);
                for _ in 0..len {
                    if self.rng.random_bool(0.8) {
                        str(out, KEYS[self.rng.random_range(0..KEYS.len())]);
                    } else {
                        self.any_value(out, 0);
                    }
                    self.any_value(out, depth - 1);
                }
            }
        }
    }

    /// One to three random mutations of `frame`.
    pub fn mutate(&mut self, mut frame: Vec<u8>, pool: &[Vec<u8>]) -> Vec<u8> {
        for _ in 0..self.rng.random_range(1..=3) {
            let len = frame.len();
            let at = self.rng.random_range(0..=len);
            match self.rng.random_range(0..10) {
                0 | 1 if len > 0 => {
                    let i = self.rng.random_range(0..len);
                    frame[i] ^= 1 << self.rng.random_range(0..8);
                }
                2 if len > 0 => {
                    let i = self.rng.random_range(0..len);
                    frame[i] = INTERESTING[self.rng.random_range(0..INTERESTING.len())];
                }
                3 => frame.truncate(at),
                4 => {
                    let end = self.rng.random_range(at..=len);
                    frame.drain(at..end);
                }
                5 => {
                    let end = self.rng.random_range(at..=len.min(at + 16));
                    let copy = frame[at..end].to_vec();
                    let to = self.rng.random_range(0..=len);
                    frame.splice(to..to, copy);
                }
                6 => {
                    let other = &pool[self.rng.random_range(0..pool.len())];
                    let from = self.rng.random_range(0..=other.len());
                    frame.truncate(at);
                    frame.extend_from_slice(&other[from..]);
                }
                7 => {
                    let bomb = LENGTH_BOMBS[self.rng.random_range(0..LENGTH_BOMBS.len())];
                    frame.splice(at..at, bomb.iter().copied());
                }
                8 => {
                    let depth = match self.rng.random_range(0..10) {
                        0 => 2_000,
                        1..4 => self.rng.random_range(1..200),
                        _ => self.rng.random_range(60..70),
                    };
                    let mut nest = Vec::with_capacity(depth * 3 + 1);
                    for _ in 0..depth {
                        if self.rng.random() {
                            nest.push(0x91); // [ ...
                        } else {
                            nest.extend_from_slice(&[0x81, 0xa1, b'k']); // {"k": ...
                        }
                    }
                    nest.push(0xc0);
                    frame.splice(at..at, nest);
                }
                _ => {
                    let mut value = Vec::new();
                    self.any_value(&mut value, 2);
                    frame.splice(at..at, value);
                }
            }
        }
        frame
    }
}

fn map_len(out: &mut Vec<u8>, len: usize) {
    rmp::encode::write_map_len(out, len as u32).expect("vec write");
}

fn array_len(out: &mut Vec<u8>, len: usize) {
    rmp::encode::write_array_len(out, len as u32).expect("vec write");
}

fn str(out: &mut Vec<u8>, s: &str) {
    rmp::encode::write_str(out, s).expect("vec write");
}

fn bin(out: &mut Vec<u8>, b: &[u8]) {
    rmp::encode::write_bin(out, b).expect("vec write");
}

fn uint(out: &mut Vec<u8>, v: u64) {
    rmp::encode::write_uint(out, v).expect("vec write");
}

/// `v` as a uint64, a width no encoder picks for small values but every
/// decoder must accept.
fn uint_wide(out: &mut Vec<u8>, v: u64) {
    rmp::encode::write_u64(out, v).expect("vec write");
}
