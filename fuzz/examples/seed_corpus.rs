//! Writes the seed corpora for the fuzz targets into `fuzz/corpus/<target>/`:
//! every hex frame found in `spec/vectors/*.json` (when that folder exists),
//! plus frames encoded from messages built out of a fixed pseudo-random byte
//! stream, so every variant is in the corpus from the first run.
//!
//! Run it with `fuzz/seed.sh`, or
//! `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus`.

use std::fs;
use std::path::{Path, PathBuf};

use arbitrary::Unstructured;
use rmpv::Value;
use serde_json::Value as Json;
use ui_flow_fuzz::build::{client_message, server_message};
use ui_flow_fuzz::payload::{Action, Board, Change, Reward};

const TARGETS: [&str; 3] = ["decode_client", "decode_server", "roundtrip"];
/// Messages generated per direction and payload kind.
const GENERATED: u64 = 64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let vectors_dir = fuzz_dir.join("../spec/vectors");
    let corpus = fuzz_dir.join("corpus");
    for target in TARGETS {
        fs::create_dir_all(corpus.join(target))?;
    }

    let mut from_vectors = 0;
    for file in json_files(&vectors_dir) {
        let json: Json = serde_json::from_slice(&fs::read(&file)?)
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let mut frames = Vec::new();
        collect_hex(&json, None, &mut frames);
        for frame in frames {
            write_all(&corpus, "vector", &frame)?;
            from_vectors += 1;
        }
    }

    let mut generated = 0;
    for seed in 0..GENERATED {
        let bytes = pseudo_random(seed, 512);
        // The raw stream seeds the round-trip target, which builds from it.
        write(&corpus.join("roundtrip"), "stream", &bytes)?;
        let frames = [
            server_message::<Value, Value, Value>(&mut Unstructured::new(&bytes))
                .map(|m| m.encode()),
            server_message::<Board, Change, Reward>(&mut Unstructured::new(&bytes))
                .map(|m| m.encode()),
            client_message::<Value>(&mut Unstructured::new(&bytes)).map(|m| m.encode()),
            client_message::<Action>(&mut Unstructured::new(&bytes)).map(|m| m.encode()),
        ];
        for frame in frames.into_iter().flatten() {
            write_all(&corpus, "generated", &frame?)?;
            generated += 1;
        }
    }
    println!(
        "seeded {} with {from_vectors} vector frame(s) from {} and {generated} generated frame(s)",
        corpus.display(),
        vectors_dir.display()
    );
    Ok(())
}

/// Every `.json` file under `dir`, sorted; none when `dir` does not exist.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(json_files(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Collects every string under a key named `hex` (or ending in `_hex`) that
/// is valid hex, wherever it sits in the document.
fn collect_hex(json: &Json, key: Option<&str>, out: &mut Vec<Vec<u8>>) {
    match json {
        Json::String(s) if key.is_some_and(|k| k == "hex" || k.ends_with("_hex")) => {
            let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            if let Ok(bytes) = hex::decode(compact) {
                out.push(bytes);
            }
        }
        Json::Array(items) => items.iter().for_each(|v| collect_hex(v, key, out)),
        Json::Object(map) => map
            .iter()
            .for_each(|(k, v)| collect_hex(v, Some(k.as_str()), out)),
        _ => {}
    }
}

fn write_all(corpus: &Path, prefix: &str, frame: &[u8]) -> std::io::Result<()> {
    for target in TARGETS {
        write(&corpus.join(target), prefix, frame)?;
    }
    Ok(())
}

/// Writes `bytes` under a name derived from their content, so re-running
/// the seeder does not duplicate files.
fn write(dir: &Path, prefix: &str, bytes: &[u8]) -> std::io::Result<()> {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    fs::write(dir.join(format!("{prefix}-{hash:016x}")), bytes)
}

/// `len` bytes of SplitMix64 output for `seed`.
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}
