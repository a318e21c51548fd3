//! MessagePack values as JSON, without losing anything.
//!
//! JSON has no binary, no integers past 2^53 in most readers, no NaN, and
//! only string keys, so the few MessagePack values JSON cannot hold are
//! written as one-key objects whose key starts with `$`:
//!
//! | MessagePack | JSON |
//! |---|---|
//! | integer | number, exact (u64 and i64 are printed digit for digit) |
//! | float NaN / ±inf | `{"$float": "NaN" \| "inf" \| "-inf"}` |
//! | bin | `{"$bin": "<hex>"}` |
//! | str that is not UTF-8 | `{"$str_hex": "<hex>"}` |
//! | ext | `{"$ext": {"type": n, "hex": "<hex>"}}` |
//! | map with a non-string or repeated key | `{"$map": [[key, value], ...]}` |
//!
//! Maps keep their wire order. An operation id (`op_id`, `correlation_id`:
//! a 16-byte bin) is shown as `{"$uuid": "..."}`, the form client logs print.

use std::collections::HashSet;

use rmpv::Value;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// One value, serialized as the JSON form above.
pub struct Json<'a>(pub &'a Value);

/// The fields of a frame (its map without `"t"`), in wire order.
pub struct Fields<'a>(pub &'a [(Value, Value)]);

/// The keys whose 16-byte bin values are operation ids.
const OP_ID_KEYS: [&str; 2] = ["op_id", "correlation_id"];

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Nil => s.serialize_unit(),
            Value::Boolean(b) => s.serialize_bool(*b),
            Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
                (Some(u), _) => s.serialize_u64(u),
                (None, Some(n)) => s.serialize_i64(n),
                // Every MessagePack integer fits one of the two.
                (None, None) => s.serialize_f64(i.as_f64().unwrap_or(f64::NAN)),
            },
            Value::F32(f) if f.is_finite() => s.serialize_f32(*f),
            Value::F64(f) if f.is_finite() => s.serialize_f64(*f),
            Value::F32(f) => tagged(s, "$float", non_finite(f64::from(*f))),
            Value::F64(f) => tagged(s, "$float", non_finite(*f)),
            Value::String(text) => match text.as_str() {
                Some(text) => s.serialize_str(text),
                None => tagged(s, "$str_hex", &hex::encode(text.as_bytes())),
            },
            Value::Binary(bytes) => tagged(s, "$bin", &hex::encode(bytes)),
            Value::Ext(kind, data) => tagged(
                s,
                "$ext",
                &Ext {
                    kind: *kind,
                    hex: hex::encode(data),
                },
            ),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Json(item))?;
                }
                seq.end()
            }
            Value::Map(entries) => map(s, entries, |_| false),
        }
    }
}

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        map(s, self.0, |key| key.as_str() == Some("t"))
    }
}

/// A map as a JSON object in wire order, or as `{"$map": [...]}` when its
/// keys cannot all be JSON keys. Entries for which `skip` holds are left out.
fn map<S: Serializer>(
    s: S,
    entries: &[(Value, Value)],
    skip: impl Fn(&Value) -> bool,
) -> Result<S::Ok, S::Error> {
    let entries: Vec<&(Value, Value)> = entries.iter().filter(|(k, _)| !skip(k)).collect();
    let mut seen = HashSet::new();
    let plain = entries
        .iter()
        .all(|(k, _)| k.as_str().is_some_and(|k| seen.insert(k)));
    if !plain {
        let pairs: Vec<[Json<'_>; 2]> = entries.iter().map(|(k, v)| [Json(k), Json(v)]).collect();
        return tagged(s, "$map", &pairs);
    }
    let mut out = s.serialize_map(Some(entries.len()))?;
    for (key, value) in entries {
        let key = key.as_str().unwrap_or_default();
        match value {
            Value::Binary(id) if id.len() == 16 && OP_ID_KEYS.contains(&key) => {
                let id = <[u8; 16]>::try_from(id.as_slice()).unwrap_or_default();
                out.serialize_entry(key, &Uuid(ui_flow::OpId::from_bytes(id).to_string()))?;
            }
            _ => out.serialize_entry(key, &Json(value))?,
        }
    }
    out.end()
}

fn tagged<S: Serializer, T: Serialize + ?Sized>(
    s: S,
    tag: &str,
    value: &T,
) -> Result<S::Ok, S::Error> {
    let mut out = s.serialize_map(Some(1))?;
    out.serialize_entry(tag, value)?;
    out.end()
}

fn non_finite(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

#[derive(Serialize)]
struct Ext {
    #[serde(rename = "type")]
    kind: i8,
    hex: String,
}

struct Uuid(String);

impl Serialize for Uuid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        tagged(s, "$uuid", &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: &Value) -> String {
        serde_json::to_string(&Json(v)).expect("serializes")
    }

    #[test]
    fn integers_stay_exact() {
        assert_eq!(json(&Value::from(u64::MAX)), "18446744073709551615");
        assert_eq!(json(&Value::from(i64::MIN)), "-9223372036854775808");
        assert_eq!(json(&Value::from((1u64 << 53) + 1)), "9007199254740993");
    }

    #[test]
    fn what_json_lacks_is_tagged() {
        assert_eq!(json(&Value::Binary(vec![0, 0xff])), r#"{"$bin":"00ff"}"#);
        assert_eq!(json(&Value::F64(f64::NAN)), r#"{"$float":"NaN"}"#);
        assert_eq!(json(&Value::F32(f32::NEG_INFINITY)), r#"{"$float":"-inf"}"#);
        assert_eq!(json(&Value::F32(0.1)), "0.1");
        assert_eq!(
            json(&Value::Ext(-1, vec![1, 2])),
            r#"{"$ext":{"type":-1,"hex":"0102"}}"#
        );
        let bad_utf8 = rmpv::decode::read_value(&mut &[0xa2, 0xff, 0xfe][..]).expect("decodes");
        assert_eq!(json(&bad_utf8), r#"{"$str_hex":"fffe"}"#);
    }

    #[test]
    fn maps_keep_wire_order_unless_keys_cannot_be_json_keys() {
        let ordered = Value::Map(vec![
            (Value::from("z"), Value::from(1)),
            (Value::from("a"), Value::Nil),
        ]);
        assert_eq!(json(&ordered), r#"{"z":1,"a":null}"#);
        let odd = Value::Map(vec![
            (Value::from(1), Value::from("one")),
            (Value::from("a"), Value::Boolean(true)),
        ]);
        assert_eq!(json(&odd), r#"{"$map":[[1,"one"],["a",true]]}"#);
        let repeated = Value::Map(vec![
            (Value::from("a"), Value::from(1)),
            (Value::from("a"), Value::from(2)),
        ]);
        assert_eq!(json(&repeated), r#"{"$map":[["a",1],["a",2]]}"#);
    }

    #[test]
    fn frame_fields_skip_t_and_show_op_ids_as_uuids() {
        let entries = vec![
            (Value::from("t"), Value::from(5001)),
            (Value::from("op_id"), Value::Binary((0..16).collect())),
            (Value::from("blob"), Value::Binary(vec![1; 16])),
        ];
        assert_eq!(
            serde_json::to_string(&Fields(&entries)).expect("serializes"),
            r#"{"op_id":{"$uuid":"00010203-0405-0607-0809-0a0b0c0d0e0f"},"blob":{"$bin":"01010101010101010101010101010101"}}"#
        );
    }
}
