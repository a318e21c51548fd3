//! The frames of `spec/vectors/`, when that folder exists.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

/// Every frame found under a key named `hex` (or ending in `_hex`) in the
/// JSON files below `spec/vectors/`. Empty when the folder is missing or
/// empty; a file that is not JSON fails the test, since the vectors are
/// meant to be machine-readable.
pub fn frames() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors");
    let mut out = Vec::new();
    for file in json_files(&dir) {
        let text = fs::read(&file).expect("read a vector file");
        let json: Json = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()));
        collect_hex(&json, None, &mut out);
    }
    out
}

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
