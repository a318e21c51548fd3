//! Writes the test vectors in `spec/vectors/`.
//!
//! ```text
//! cargo run -p ui-flow --example write_vectors
//! ```
//!
//! Three kinds of vector come out of here:
//!
//! - exact vectors: a Rust message, its bytes from ui-flow's encoder, and its
//!   JSON form written from the Rust value (not by decoding the bytes);
//! - decode-only vectors: bytes built by hand (nil optionals, other field
//!   orders, unknown fields, OpIds as text, wider integer formats, unknown
//!   tags) and the message they must decode to;
//! - rejected vectors: bytes built by hand and the error kind a decoder must
//!   report.
//!
//! The files are the spec's data; the conformance tests (`tests/vectors.rs`
//! and `spec/js/check.mjs`) read them. Re-run this after a deliberate wire
//! change and review the diff.

mod channels;
mod client;
#[path = "../../tests/vectors/json_form.rs"]
mod json_form;
mod rejected;
mod server;

use std::path::PathBuf;

use json_form::{DynClient, DynServer, Json};
use rmpv::Value;
use ui_flow::{Channel, OpId, PresenceInfo, PresenceStatus, RawValue, SignalPayload};

const OP: OpId = OpId::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
const OP_TEXT: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";
const OP_ZERO: OpId = OpId::from_u128(0);
const OP_MAX: OpId = OpId::from_u128(u128::MAX);
const TS: u64 = 1_700_000_000_000;
const SAFE: u64 = (1 << 53) - 1;

// ---------------------------------------------------------------------------
// building values and bytes by hand

fn s(text: &str) -> Value {
    Value::from(text)
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (s(k), v)).collect())
}

fn arr(items: Vec<Value>) -> Value {
    Value::Array(items)
}

fn bin(bytes: &[u8]) -> Value {
    Value::Binary(bytes.to_vec())
}

fn enc(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).expect("writing to a Vec");
    out
}

/// A frame written by hand: a map with `entries` in this order.
fn frame(entries: Vec<(&str, Value)>) -> Vec<u8> {
    enc(&map(entries))
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn key(name: &str) -> Vec<u8> {
    enc(&s(name))
}

fn nested_arrays(levels: usize) -> Value {
    let mut v = arr(vec![]);
    for _ in 1..levels {
        v = arr(vec![v]);
    }
    v
}

fn user(id: &str, name: Option<&str>, status: PresenceStatus, at: u64) -> PresenceInfo {
    PresenceInfo {
        user_id: id.into(),
        name: name.map(Into::into),
        status,
        connected_at: at,
    }
}

fn user_value(id: &str, status: &str, at: u64) -> Vec<(&'static str, Value)> {
    vec![
        ("user_id", s(id)),
        ("status", s(status)),
        ("connected_at", Value::from(at)),
    ]
}

fn raw(v: &Value) -> RawValue {
    RawValue::from_bytes(enc(v)).expect("one valid value")
}

const SDP: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

fn candidate() -> SignalPayload {
    SignalPayload::IceCandidate {
        candidate: "candidate:842163049 1 udp 1677729535 192.0.2.7 46154 typ srflx".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: Some("EsIl".into()),
    }
}

// ---------------------------------------------------------------------------
// vectors

struct Book {
    file: &'static str,
    about: &'static str,
    vectors: Vec<Json>,
}

impl Book {
    fn new(file: &'static str, about: &'static str) -> Self {
        Book {
            file,
            about,
            vectors: Vec::new(),
        }
    }

    fn push(&mut self, entries: Vec<(&str, Json)>) {
        self.vectors.push(Json::obj(entries));
    }

    fn server(&mut self, name: &str, note: &str, m: DynServer) {
        self.server_on(name, note, Channel::URL, m);
    }

    fn server_on(&mut self, name: &str, note: &str, channel: Channel, m: DynServer) {
        let bytes = m.encode_on(channel).expect("vector messages encode");
        self.push(vec![
            ("name", Json::str(name)),
            ("direction", Json::str("server")),
            ("note", Json::str(note)),
            ("hex", Json::Str(hex::encode(bytes))),
            ("expected", json_form::server_on(channel, &m)),
        ]);
    }

    fn client(&mut self, name: &str, note: &str, m: DynClient) {
        self.client_on(name, note, Channel::URL, m);
    }

    fn client_on(&mut self, name: &str, note: &str, channel: Channel, m: DynClient) {
        let bytes = m.encode_on(channel).expect("vector messages encode");
        self.push(vec![
            ("name", Json::str(name)),
            ("direction", Json::str("client")),
            ("note", Json::str(note)),
            ("hex", Json::Str(hex::encode(bytes))),
            ("expected", json_form::client_on(channel, &m)),
        ]);
    }

    fn server_decodes(&mut self, name: &str, note: &str, bytes: Vec<u8>, m: DynServer) {
        self.server_decodes_on(name, note, bytes, Channel::URL, m);
    }

    fn server_decodes_on(
        &mut self,
        name: &str,
        note: &str,
        bytes: Vec<u8>,
        c: Channel,
        m: DynServer,
    ) {
        self.decode_only(name, "server", note, bytes, json_form::server_on(c, &m));
    }

    fn client_decodes(&mut self, name: &str, note: &str, bytes: Vec<u8>, m: DynClient) {
        self.client_decodes_on(name, note, bytes, Channel::URL, m);
    }

    fn client_decodes_on(
        &mut self,
        name: &str,
        note: &str,
        bytes: Vec<u8>,
        c: Channel,
        m: DynClient,
    ) {
        self.decode_only(name, "client", note, bytes, json_form::client_on(c, &m));
    }

    fn unknown(&mut self, name: &str, direction: &str, note: &str, bytes: Vec<u8>, tag: u16) {
        let expected = Json::obj(vec![("unknown_tag", Json::U64(u64::from(tag)))]);
        self.decode_only(name, direction, note, bytes, expected);
    }

    fn decode_only(&mut self, name: &str, dir: &str, note: &str, bytes: Vec<u8>, e: Json) {
        self.push(vec![
            ("name", Json::str(name)),
            ("direction", Json::str(dir)),
            ("note", Json::str(note)),
            ("hex", Json::Str(hex::encode(bytes))),
            ("decode_only", Json::Bool(true)),
            ("expected", e),
        ]);
    }

    /// A frame that must be rejected with `error`; `at` is `(in, field)` for
    /// field errors.
    fn reject(
        &mut self,
        name: &str,
        dir: &str,
        note: &str,
        bytes: Vec<u8>,
        error: &str,
        at: Option<(&str, &str)>,
    ) {
        let mut v = vec![
            ("name", Json::str(name)),
            ("direction", Json::str(dir)),
            ("note", Json::str(note)),
            ("hex", Json::Str(hex::encode(bytes))),
            ("error", Json::str(error)),
        ];
        if let Some((within, field)) = at {
            v.push(("in", Json::str(within)));
            v.push(("field", Json::str(field)));
        }
        self.push(v);
    }

    fn write(&self, dir: &std::path::Path) {
        let doc = Json::obj(vec![
            ("about", Json::str(self.about)),
            ("vectors", Json::Arr(self.vectors.clone())),
        ]);
        let path = dir.join(self.file);
        std::fs::write(&path, doc.pretty() + "\n").expect("write vector file");
        println!("{}: {} vectors", path.display(), self.vectors.len());
    }
}

fn main() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors"));
    std::fs::create_dir_all(&dir).expect("create spec/vectors");
    let (mut server, mut client, mut rejected) = (
        server::server_vectors(),
        client::client_vectors(),
        rejected::rejected_vectors(),
    );
    channels::add(&mut server, &mut client, &mut rejected);
    for book in [server, client, rejected] {
        book.write(&dir);
    }
}
