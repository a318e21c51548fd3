//! `spec/PROTOCOL.md` against the code and the vectors.
//!
//! The spec's tables are marked with HTML comments (`<!-- table: NAME -->`,
//! `<!-- fields: DIRECTION NAME -->`) followed by a markdown table. This test
//! parses them and checks:
//!
//! - the tag tables equal `ServerTag::ALL` and `ClientTag::ALL`;
//! - the error and close code tables equal `ErrorCode::ALL` and
//!   `CloseCode::ALL` (numbers, names, flags and descriptions), and the
//!   server's own ActionErr codes equal `code::action_code::ALL`;
//! - every tag has a field table, every field type is a defined type, and every
//!   exact vector's fields are in the table, in table order, with every
//!   required field present;
//! - every rejected vector's error kind is in the spec's error kind table.

#[path = "vectors/json_form.rs"]
mod json_form;

use std::collections::{BTreeMap, BTreeSet};

use json_form::Json;
use ui_flow::code::{CloseCodeInfo, ErrorCodeInfo};
use ui_flow::{ClientTag, CloseCode, ErrorCode, ServerTag, TagInfo};

const SPEC: &str = include_str!("../../spec/PROTOCOL.md");

/// The rows of every marked table, keyed by the marker's text.
fn tables() -> BTreeMap<String, Vec<Vec<String>>> {
    let mut out = BTreeMap::new();
    let mut lines = SPEC.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(marker) = line
            .trim()
            .strip_prefix("<!--")
            .and_then(|l| l.strip_suffix("-->"))
        else {
            continue;
        };
        let marker = marker.trim().to_owned();
        let mut rows = Vec::new();
        while lines.peek().is_some_and(|l| l.trim().is_empty()) {
            lines.next();
        }
        while let Some(row) = lines.next_if(|l| l.trim_start().starts_with('|')) {
            let cells: Vec<String> = row
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect();
            rows.push(cells);
        }
        assert!(
            rows.len() >= 2,
            "marker {marker:?} is not followed by a table"
        );
        rows.drain(..2); // header and separator
        assert!(
            out.insert(marker.clone(), rows).is_none(),
            "marker {marker:?} appears twice"
        );
    }
    out
}

fn table(name: &str) -> Vec<Vec<String>> {
    tables()
        .remove(name)
        .unwrap_or_else(|| panic!("spec/PROTOCOL.md has no table marked {name:?}"))
}

fn flag(cell: &str) -> bool {
    match cell {
        "yes" => true,
        "no" => false,
        other => panic!("expected yes or no, got {other:?}"),
    }
}

fn tag_rows(name: &str) -> Vec<(u16, String, String)> {
    table(name)
        .into_iter()
        .map(|r| {
            let tag = r[0]
                .parse()
                .unwrap_or_else(|_| panic!("bad tag {:?}", r[0]));
            (tag, r[1].clone(), r[2].clone())
        })
        .collect()
}

fn code_tags(all: &[TagInfo]) -> Vec<(u16, String, String)> {
    all.iter()
        .map(|t| (t.tag, t.name.to_owned(), t.description.to_owned()))
        .collect()
}

#[test]
fn tag_tables_match_the_code() {
    assert_eq!(tag_rows("table: server-tags"), code_tags(ServerTag::ALL));
    assert_eq!(tag_rows("table: client-tags"), code_tags(ClientTag::ALL));
}

#[test]
fn action_code_table_matches_the_code() {
    let spec: Vec<(String, String)> = table("table: action-error-codes")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let code: Vec<(String, String)> = ui_flow::code::action_code::ALL
        .iter()
        .map(|info| (info.code.to_owned(), info.description.to_owned()))
        .collect();
    assert_eq!(spec, code);
}

#[test]
fn error_code_table_matches_the_code() {
    let spec: Vec<(String, bool, bool, String)> = table("table: error-codes")
        .into_iter()
        .map(|r| (r[0].clone(), flag(&r[1]), flag(&r[2]), r[3].clone()))
        .collect();
    let code: Vec<(String, bool, bool, String)> = ErrorCode::ALL
        .iter()
        .map(
            |&ErrorCodeInfo {
                 code,
                 fatal,
                 reconnect,
                 description,
             }| { (code.to_owned(), fatal, reconnect, description.to_owned()) },
        )
        .collect();
    assert_eq!(spec, code);
}

#[test]
fn close_code_table_matches_the_code() {
    let spec: Vec<(u16, String, bool, String)> = table("table: close-codes")
        .into_iter()
        .map(|r| {
            let code = r[0]
                .parse()
                .unwrap_or_else(|_| panic!("bad code {:?}", r[0]));
            (code, r[1].clone(), flag(&r[2]), r[3].clone())
        })
        .collect();
    let code: Vec<(u16, String, bool, String)> = CloseCode::ALL
        .iter()
        .map(
            |&CloseCodeInfo {
                 code,
                 name,
                 reconnect,
                 description,
             }| { (code, name.to_owned(), reconnect, description.to_owned()) },
        )
        .collect();
    assert_eq!(spec, code);
}

/// One row of a field table.
struct Field {
    name: String,
    ty: String,
    /// `yes`, `no`, or `when type is ...`.
    required: String,
}

fn field_tables() -> BTreeMap<String, Vec<Field>> {
    tables()
        .into_iter()
        .filter_map(|(marker, rows)| {
            let key = marker.strip_prefix("fields: ")?.to_owned();
            let fields = rows
                .into_iter()
                .map(|r| Field {
                    name: r[0].clone(),
                    ty: r[1].clone(),
                    required: r[2].clone(),
                })
                .collect();
            Some((key, fields))
        })
        .collect()
}

#[test]
fn every_tag_has_a_field_table_with_defined_types() {
    let types: BTreeSet<String> = table("table: field-types")
        .into_iter()
        .map(|r| r[0].clone())
        .filter(|t| t != "[T]")
        .collect();
    let tables = field_tables();
    let mut wanted: BTreeSet<String> = ServerTag::ALL
        .iter()
        .map(|t| format!("server {}", t.name))
        .chain(ClientTag::ALL.iter().map(|t| format!("client {}", t.name)))
        .collect();
    wanted.insert("type PresenceInfo".into());
    wanted.insert("type SignalPayload".into());
    let have: BTreeSet<String> = tables.keys().cloned().collect();
    assert_eq!(
        have, wanted,
        "field tables in the spec vs messages in the code"
    );
    for (key, fields) in &tables {
        assert!(!fields.is_empty(), "{key}: empty field table");
        for f in fields {
            let base = f.ty.trim_start_matches('[').trim_end_matches(']');
            assert!(
                types.contains(base),
                "{key}.{}: undefined type {:?}",
                f.name,
                f.ty
            );
            let ok = f.required == "yes"
                || f.required == "no"
                || f.required.starts_with("when type is \"");
            assert!(ok, "{key}.{}: required is {:?}", f.name, f.required);
        }
    }
}

fn load_vectors() -> Vec<Json> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("spec/vectors exists") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("readable vector file");
            let doc = Json::parse(&text).expect("vector files are JSON");
            if let Some(Json::Arr(vectors)) = doc.get("vectors") {
                out.extend(vectors.iter().cloned());
            }
        }
    }
    assert!(!out.is_empty(), "spec/vectors holds no vectors");
    out
}

/// Checks one object's keys against a field table: every key in the table,
/// in table order, every required field present.
fn check_fields(
    what: &str,
    keys: &[&str],
    fields: &[Field],
    signal_type: Option<&str>,
) -> Result<(), String> {
    let mut at = 0;
    for key in keys {
        match fields[at..].iter().position(|f| f.name == *key) {
            Some(i) => at += i + 1,
            None => {
                return Err(format!(
                    "{what}: key {key:?} missing from the table or out of order"
                ));
            }
        }
    }
    for f in fields {
        let required = match (f.required.as_str(), signal_type) {
            ("yes", _) => true,
            (when, Some(ty)) if when.starts_with("when type is") => {
                when.contains(&format!("\"{ty}\""))
            }
            _ => false,
        };
        if required && !keys.contains(&f.name.as_str()) {
            return Err(format!("{what}: required field {:?} absent", f.name));
        }
    }
    Ok(())
}

fn keys(j: &Json) -> Vec<&str> {
    match j {
        Json::Obj(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn exact_vectors_follow_the_field_tables() {
    let tables = field_tables();
    let mut failures = Vec::new();
    let mut checked = 0;
    for v in load_vectors() {
        let exact = v.get("decode_only").is_none();
        let (Some(expected), Some(dir)) = (v.get("expected"), v.get("direction")) else {
            continue;
        };
        let Some(name) = expected.get("name").and_then(Json::as_str) else {
            continue; // unknown tag
        };
        if !exact {
            continue;
        }
        let vector = v.get("name").and_then(Json::as_str).unwrap_or_default();
        let dir = dir.as_str().unwrap_or_default();
        let Some(fields) = tables.get(&format!("{dir} {name}")) else {
            failures.push(format!("{vector}: no field table for {dir} {name}"));
            continue;
        };
        let top: Vec<&str> = keys(expected)
            .into_iter()
            .filter(|k| *k != "t" && *k != "name")
            .collect();
        if let Err(e) = check_fields(vector, &top, fields, None) {
            failures.push(e);
        }
        for (key, value) in match expected {
            Json::Obj(entries) => entries.as_slice(),
            _ => &[],
        } {
            let nested = fields
                .iter()
                .find(|f| f.name == *key)
                .map(|f| f.ty.as_str());
            let items: Vec<&Json> = match (nested, value) {
                (Some("[PresenceInfo]"), Json::Arr(items)) => items.iter().collect(),
                (Some("SignalPayload"), one) => vec![one],
                _ => continue,
            };
            let ty = nested
                .unwrap_or_default()
                .trim_matches(|c| c == '[' || c == ']');
            let table = &tables[&format!("type {ty}")];
            for item in items {
                let signal_type = item.get("type").and_then(Json::as_str);
                if let Err(e) =
                    check_fields(&format!("{vector}.{key}"), &keys(item), table, signal_type)
                {
                    failures.push(e);
                }
            }
        }
        checked += 1;
    }
    assert!(checked > 0, "no exact vectors checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rejected_vectors_use_the_spec_error_kinds() {
    let kinds: BTreeSet<String> = table("table: decode-errors")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    for v in load_vectors() {
        if let Some(kind) = v.get("error").and_then(Json::as_str) {
            assert!(
                kinds.contains(kind),
                "error kind {kind:?} is not in the spec's table"
            );
        }
    }
}
