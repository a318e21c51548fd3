//! [`JsPayload`]: an application payload (state, delta, action, event,
//! action result) held as a plain JavaScript value, and how it crosses to
//! and from MessagePack.
//!
//! The mapping, both ways:
//!
//! | MessagePack | JavaScript |
//! |---|---|
//! | nil | `null` (`undefined` is sent as nil too; `undefined` object properties are left out) |
//! | bool | boolean |
//! | integer within ±(2^53 − 1) | number |
//! | integer beyond that | BigInt (a BigInt is always sent as an integer; out of 64-bit range is an error) |
//! | float | number (a number that is not a safe integer is sent as a float64) |
//! | str | string |
//! | bin | `Uint8Array` |
//! | array | `Array` |
//! | map with only string keys | plain object (its own properties: a `"__proto__"` key is a key, not the prototype) |
//! | map with any other key | `Map` (a `Map` is always sent as a map) |
//! | str that is not UTF-8 (received only) | `Uint8Array` of its bytes |
//! | extension value (received only) | `[type, Uint8Array]` |

use std::fmt;

use js_sys::{Array, BigInt, Object, Uint8Array};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};
use wasm_bindgen::{JsCast, JsValue};

/// The largest integer a JavaScript number holds exactly
/// (`Number.MAX_SAFE_INTEGER`).
pub(crate) const MAX_SAFE_INTEGER: i128 = (1 << 53) - 1;

/// How deep a JavaScript value may nest when sent, so a cyclic object is an
/// error rather than a stack overflow. (Received values are bounded by the
/// codec's own depth limit.)
const MAX_SEND_DEPTH: usize = 64;

/// A payload as a JavaScript value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct JsPayload(pub(crate) JsValue);

impl Default for JsPayload {
    fn default() -> Self {
        JsPayload(JsValue::UNDEFINED)
    }
}

/// An integer as JavaScript shows it: a number when it is a safe integer,
/// a BigInt otherwise.
pub(crate) fn int_to_js(n: i128) -> JsValue {
    if n.abs() <= MAX_SAFE_INTEGER {
        // Exact: every safe integer is a float64.
        JsValue::from_f64(n as f64)
    } else {
        BigInt::from(n).into()
    }
}

impl<'de> Deserialize<'de> for JsPayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PayloadVisitor).map(JsPayload)
    }
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = JsValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any MessagePack value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<JsValue, E> {
        Ok(JsValue::from_bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<JsValue, E> {
        Ok(int_to_js(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<JsValue, E> {
        Ok(int_to_js(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<JsValue, E> {
        Ok(JsValue::from_f64(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<JsValue, E> {
        Ok(JsValue::from_str(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<JsValue, E> {
        Ok(Uint8Array::from(v).into())
    }

    fn visit_none<E>(self) -> Result<JsValue, E> {
        Ok(JsValue::NULL)
    }

    fn visit_unit<E>(self) -> Result<JsValue, E> {
        Ok(JsValue::NULL)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<JsValue, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<JsValue, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsValue, A::Error> {
        let array = Array::new();
        while let Some(JsPayload(item)) = seq.next_element()? {
            array.push(&item);
        }
        Ok(array.into())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsValue, A::Error> {
        let js_map = js_sys::Map::new();
        let mut string_keys = true;
        while let Some((JsPayload(key), JsPayload(value))) = map.next_entry()? {
            string_keys &= key.is_string();
            js_map.set(&key, &value);
        }
        if !string_keys {
            return Ok(js_map.into());
        }
        // `Object.fromEntries` defines own properties, so a `"__proto__"`
        // key is a key like any other; assigning it (`Reflect.set`) would
        // set the object's prototype instead and the key would be lost.
        Object::from_entries(&js_map)
            .map(Into::into)
            .map_err(|_| de::Error::custom("could not build an object"))
    }
}

impl Serialize for JsPayload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Outgoing {
            value: &self.0,
            depth: 0,
        }
        .serialize(serializer)
    }
}

/// A JavaScript value being sent, with how deep it sits.
struct Outgoing<'a> {
    value: &'a JsValue,
    depth: usize,
}

impl Outgoing<'_> {
    fn child<'b>(&self, value: &'b JsValue) -> Outgoing<'b> {
        Outgoing {
            value,
            depth: self.depth + 1,
        }
    }
}

impl Serialize for Outgoing<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.value;
        if self.depth > MAX_SEND_DEPTH {
            return Err(ser::Error::custom(format!(
                "the value nests deeper than {MAX_SEND_DEPTH} levels (is it cyclic?)"
            )));
        }
        if v.is_null() || v.is_undefined() {
            return s.serialize_unit();
        }
        if let Some(b) = v.as_bool() {
            return s.serialize_bool(b);
        }
        if let Some(n) = v.as_f64() {
            let safe = n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER as f64;
            return match safe {
                true if n >= 0.0 => s.serialize_u64(n as u64),
                true => s.serialize_i64(n as i64),
                false => s.serialize_f64(n),
            };
        }
        if v.is_bigint() {
            if let Ok(n) = u64::try_from(v.clone()) {
                return s.serialize_u64(n);
            }
            if let Ok(n) = i64::try_from(v.clone()) {
                return s.serialize_i64(n);
            }
            return Err(ser::Error::custom("a BigInt outside the 64-bit range"));
        }
        if let Some(text) = v.as_string() {
            return s.serialize_str(&text);
        }
        if let Some(bytes) = v.dyn_ref::<Uint8Array>() {
            return s.serialize_bytes(&bytes.to_vec());
        }
        if Array::is_array(v) {
            let array: &Array = v.unchecked_ref();
            let mut seq = s.serialize_seq(Some(array.length() as usize))?;
            for item in array.iter() {
                seq.serialize_element(&self.child(&item))?;
            }
            return seq.end();
        }
        if let Some(js_map) = v.dyn_ref::<js_sys::Map>() {
            let mut map = s.serialize_map(Some(js_map.size() as usize))?;
            let mut failed = None;
            js_map.for_each(&mut |value, key| {
                if failed.is_none() {
                    failed = map
                        .serialize_entry(&self.child(&key), &self.child(&value))
                        .err();
                }
            });
            return match failed {
                Some(error) => Err(error),
                None => map.end(),
            };
        }
        if v.is_object() && !v.is_function() {
            let entries: Vec<(JsValue, JsValue)> = Object::entries(v.unchecked_ref())
                .iter()
                .map(|entry| {
                    let pair: Array = entry.unchecked_into();
                    (pair.get(0), pair.get(1))
                })
                .filter(|(_, value)| !value.is_undefined())
                .collect();
            let mut map = s.serialize_map(Some(entries.len()))?;
            for (key, value) in &entries {
                map.serialize_entry(&self.child(key), &self.child(value))?;
            }
            return map.end();
        }
        Err(ser::Error::custom(
            "functions and symbols cannot be sent; payloads are plain data",
        ))
    }
}
