//! Conformance: every vector in `spec/vectors/` against the Rust codec.
//!
//! - a positive vector's bytes decode (with `rmpv::Value` payloads) to the
//!   message its `expected` JSON stands for, and that JSON is the canonical
//!   form of the message;
//! - unless it is `decode_only`, encoding that message gives exactly its bytes;
//! - a rejected vector gives the named `DecodeError` kind (and field).
//!
//! The test fails if the directory is empty or a tag in `ServerTag::ALL` or
//! `ClientTag::ALL` has no exact vector.

#[path = "vectors/json_form.rs"]
mod json_form;

use std::collections::BTreeSet;
use std::path::PathBuf;

use json_form::{DynClient, DynServer, Json};
use ui_flow::codec::{Decoded, Limits};
use ui_flow::{ClientTag, DecodeError, ServerTag};

fn vectors_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors"))
}

/// Every vector of every file, with the file it came from.
fn load() -> Vec<(String, Json)> {
    let mut files: Vec<_> = std::fs::read_dir(vectors_dir())
        .expect("spec/vectors exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable vector file");
        let doc = Json::parse(&text)
            .unwrap_or_else(|e| panic!("{}: not valid JSON: {e}", path.display()));
        let Some(Json::Arr(vectors)) = doc.get("vectors") else {
            panic!("{}: no \"vectors\" list", path.display());
        };
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.extend(vectors.iter().cloned().map(|v| (file.clone(), v)));
    }
    out
}

/// The snake_case kind of a decode error, as the vectors name it.
fn kind(e: &DecodeError) -> (&'static str, Option<(&'static str, &str)>) {
    match e {
        DecodeError::TooLarge { .. } => ("too_large", None),
        DecodeError::Truncated { .. } => ("truncated", None),
        DecodeError::TrailingBytes { .. } => ("trailing_bytes", None),
        DecodeError::TooDeep { .. } => ("too_deep", None),
        DecodeError::LengthExceedsInput { .. } => ("length_exceeds_input", None),
        DecodeError::ReservedByte { .. } => ("reserved_byte", None),
        DecodeError::NotAMap => ("not_a_map", None),
        DecodeError::MissingTag => ("missing_tag", None),
        DecodeError::InvalidTag => ("invalid_tag", None),
        DecodeError::InvalidKey { .. } => ("invalid_key", None),
        DecodeError::MissingField { message, field } => ("missing_field", Some((message, field))),
        DecodeError::DuplicateField { message, field } => {
            ("duplicate_field", Some((message, field)))
        }
        DecodeError::DuplicateKey { message, key } => {
            ("duplicate_field", Some((message, key.as_str())))
        }
        DecodeError::InvalidField { message, field, .. } => {
            ("invalid_field", Some((message, field)))
        }
        _ => ("unlisted", None),
    }
}

/// What decoding a vector's bytes gave, in the vectors' terms.
enum Outcome {
    Message(Json),
    Unknown(u16),
    Error(DecodeError),
}

fn decode(direction: &str, bytes: &[u8], limits: &Limits) -> Result<Outcome, String> {
    Ok(match direction {
        "server" => match DynServer::decode_routed_with(bytes, limits) {
            Ok((channel, Decoded::Message(m))) => {
                Outcome::Message(json_form::server_on(channel, &m))
            }
            Ok((_, Decoded::Unknown { tag })) => Outcome::Unknown(tag),
            Err(e) => Outcome::Error(e),
        },
        "client" => match DynClient::decode_routed_with(bytes, limits) {
            Ok((channel, Decoded::Message(m))) => {
                Outcome::Message(json_form::client_on(channel, &m))
            }
            Ok((_, Decoded::Unknown { tag })) => Outcome::Unknown(tag),
            Err(e) => Outcome::Error(e),
        },
        other => return Err(format!("direction {other:?} is neither server nor client")),
    })
}

fn check_positive(direction: &str, bytes: &[u8], v: &Json) -> Result<(), String> {
    let expected = v.get("expected").ok_or("no expected")?;
    let decode_only = match v.get("decode_only") {
        None => false,
        Some(Json::Bool(true)) => true,
        Some(other) => return Err(format!("decode_only must be true or absent, got {other:?}")),
    };
    let outcome = decode(direction, bytes, &Limits::default())?;

    if let Some(tag) = expected.get("unknown_tag") {
        if !decode_only {
            return Err("an unknown-tag vector must be decode_only".into());
        }
        return match outcome {
            Outcome::Unknown(got) if Some(u64::from(got)) == tag.as_u64() => Ok(()),
            Outcome::Unknown(got) => Err(format!("unknown tag {got}, expected {tag:?}")),
            Outcome::Message(m) => Err(format!("decoded as a known message: {}", m.pretty())),
            Outcome::Error(e) => Err(format!("decode failed: {e}")),
        };
    }

    // The message the JSON stands for, built without looking at the bytes.
    let (wanted_json, encoded) = match direction {
        "server" => {
            let (channel, m) = json_form::to_server(expected)?;
            (json_form::server_on(channel, &m), m.encode_on(channel))
        }
        _ => {
            let (channel, m) = json_form::to_client(expected)?;
            (json_form::client_on(channel, &m), m.encode_on(channel))
        }
    };
    if &wanted_json != expected {
        return Err(format!(
            "expected is not in canonical form; canonical:\n{}",
            wanted_json.pretty()
        ));
    }
    match outcome {
        Outcome::Message(got) if &got == expected => {}
        Outcome::Message(got) => {
            return Err(format!("decoded to something else:\n{}", got.pretty()));
        }
        Outcome::Unknown(tag) => return Err(format!("decoded as unknown tag {tag}")),
        Outcome::Error(e) => return Err(format!("decode failed: {e}")),
    }
    if !decode_only {
        let encoded = encoded.map_err(|e| format!("encode failed: {e}"))?;
        if encoded != bytes {
            return Err(format!(
                "encoding expected gives different bytes:\n  got  {}\n  want {}",
                hex::encode(&encoded),
                hex::encode(bytes)
            ));
        }
    }
    Ok(())
}

fn check_rejected(direction: &str, bytes: &[u8], v: &Json) -> Result<(), String> {
    let want = v.get("error").and_then(Json::as_str).ok_or("no error")?;
    let want_at = match (v.get("in"), v.get("field")) {
        (None, None) => None,
        (Some(Json::Str(within)), Some(Json::Str(field))) => {
            Some((within.as_str(), field.as_str()))
        }
        _ => return Err("\"in\" and \"field\" go together, as strings".into()),
    };
    let mut limits = Limits::default();
    if let Some(l) = v.get("limits") {
        let max = l
            .get("max_frame_len")
            .and_then(Json::as_u64)
            .ok_or("limits without max_frame_len")?;
        limits = limits.max_frame_len(usize::try_from(max).map_err(|e| e.to_string())?);
    }
    match decode(direction, bytes, &limits)? {
        Outcome::Error(e) => {
            let (got, got_at) = kind(&e);
            if got != want || got_at != want_at {
                return Err(format!(
                    "rejected as {got} {got_at:?} ({e}), expected {want} {want_at:?}"
                ));
            }
            Ok(())
        }
        Outcome::Message(m) => Err(format!("accepted as:\n{}", m.pretty())),
        Outcome::Unknown(tag) => Err(format!("accepted as unknown tag {tag}")),
    }
}

const VECTOR_KEYS: &[&str] = &[
    "name",
    "direction",
    "note",
    "hex",
    "decode_only",
    "expected",
    "error",
    "in",
    "field",
    "limits",
];

fn check(v: &Json) -> Result<(), String> {
    if let Json::Obj(entries) = v {
        if let Some((k, _)) = entries
            .iter()
            .find(|(k, _)| !VECTOR_KEYS.contains(&k.as_str()))
        {
            return Err(format!("unknown vector key {k:?}"));
        }
    }
    let direction = v
        .get("direction")
        .and_then(Json::as_str)
        .ok_or("no direction")?;
    let text = v.get("hex").and_then(Json::as_str).ok_or("no hex")?;
    if text.to_lowercase() != text {
        return Err("hex must be lower case".into());
    }
    let bytes = hex::decode(text).map_err(|e| format!("bad hex: {e}"))?;
    match (v.get("expected"), v.get("error")) {
        (Some(_), None) => check_positive(direction, &bytes, v),
        (None, Some(_)) => check_rejected(direction, &bytes, v),
        _ => Err("a vector has exactly one of expected and error".into()),
    }
}

#[test]
fn every_vector_passes_both_ways() {
    let vectors = load();
    assert!(
        !vectors.is_empty(),
        "spec/vectors holds no vectors: run `cargo run -p ui-flow --example write_vectors`"
    );
    let mut names = BTreeSet::new();
    let mut failures = Vec::new();
    for (file, v) in &vectors {
        let name = v.get("name").and_then(Json::as_str).unwrap_or("<unnamed>");
        if !names.insert(name.to_owned()) {
            failures.push(format!("{file}: {name}: duplicate name"));
        }
        if let Err(why) = check(v) {
            failures.push(format!("{file}: {name}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
    println!("vectors: {} passed, 0 failed", vectors.len());
}

#[test]
fn every_tag_has_an_exact_vector() {
    let mut covered: BTreeSet<(String, u64)> = BTreeSet::new();
    for (_, v) in load() {
        let exact = v.get("decode_only").is_none();
        let tag = v
            .get("expected")
            .and_then(|e| e.get("t"))
            .and_then(Json::as_u64);
        let direction = v.get("direction").and_then(Json::as_str);
        if let (true, Some(tag), Some(dir)) = (exact, tag, direction) {
            covered.insert((dir.to_owned(), tag));
        }
    }
    let mut missing = Vec::new();
    for (dir, table) in [("server", ServerTag::ALL), ("client", ClientTag::ALL)] {
        for row in table {
            if !covered.contains(&(dir.to_owned(), u64::from(row.tag))) {
                missing.push(format!("{dir} {} {}", row.tag, row.name));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "tags without an exact vector: {missing:?}"
    );
}

#[test]
fn rejected_vectors_cover_every_failure_class() {
    let kinds: BTreeSet<String> = load()
        .into_iter()
        .filter_map(|(_, v)| v.get("error").and_then(Json::as_str).map(str::to_owned))
        .collect();
    for required in [
        "truncated",
        "trailing_bytes",
        "too_deep",
        "length_exceeds_input",
        "too_large",
        "reserved_byte",
        "not_a_map",
        "missing_tag",
        "invalid_tag",
        "invalid_key",
        "missing_field",
        "invalid_field",
        "duplicate_field",
    ] {
        assert!(
            kinds.contains(required),
            "no rejected vector of kind {required}"
        );
    }
}
