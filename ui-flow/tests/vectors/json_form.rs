//! The JSON form of frames used by `spec/vectors` (spec/PROTOCOL.md, "The JSON
//! form of vectors"), in both directions: Rust values to JSON for the vector
//! generator, JSON back to Rust values for the conformance test.
//!
//! Shared by `tests/vectors.rs` and `examples/write_vectors.rs` through a
//! `#[path]` module, so the generator writes exactly the form the test reads.

#![allow(dead_code)] // each includer uses one half

use std::fmt;

use rmpv::Value;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use ui_flow::{
    Channel, ClientMessage, ClientTag, ErrorCode, OpId, PresenceDiff, PresenceInfo, PresenceStatus,
    RawValue, ServerMessage, ServerTag, SignalPayload,
};

/// A server message with dynamic payloads.
pub type DynServer = ServerMessage<Value, Value, Value>;
/// A client message with a dynamic payload.
pub type DynClient = ClientMessage<Value>;

/// Largest integer a JSON number carries exactly in every reader (2^53 - 1).
pub const MAX_SAFE: u64 = (1 << 53) - 1;

/// A JSON value whose objects keep their key order.
///
/// `serde_json::Value` sorts keys unless a workspace-wide feature is enabled;
/// the vectors need wire order, so this small type keeps it.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// A number with a fraction or exponent.
    F64(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn obj(entries: Vec<(&str, Json)>) -> Json {
        Json::Obj(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    pub fn str(s: &str) -> Json {
        Json::Str(s.to_owned())
    }

    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::U64(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn parse(text: &str) -> Result<Json, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    pub fn pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("JSON form always serializes")
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::U64(n) => s.serialize_u64(*n),
            Json::I64(n) => s.serialize_i64(*n),
            Json::F64(n) => s.serialize_f64(*n),
            Json::Str(v) => s.serialize_str(v),
            Json::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Obj(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::U64(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(if v >= 0 {
            Json::U64(v as u64)
        } else {
            Json::I64(v)
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::F64(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(String, Json)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            if entries.iter().any(|(seen, _)| *seen == k) {
                return Err(de::Error::custom(format!("duplicate key {k:?}")));
            }
            entries.push((k, v));
        }
        Ok(Json::Obj(entries))
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

// ---------------------------------------------------------------------------
// MessagePack values <-> JSON form

fn tagged(key: &str, value: Json) -> Json {
    Json::obj(vec![(key, value)])
}

fn float_json(v: f64) -> Json {
    if v.is_nan() {
        Json::str("NaN")
    } else if v == f64::INFINITY {
        Json::str("Infinity")
    } else if v == f64::NEG_INFINITY {
        Json::str("-Infinity")
    } else {
        Json::F64(v)
    }
}

/// An unsigned integer: a JSON number up to 2^53 - 1, `{"$u64": "..."}` above.
pub fn uint(n: u64) -> Json {
    if n <= MAX_SAFE {
        Json::U64(n)
    } else {
        tagged("$u64", Json::Str(n.to_string()))
    }
}

fn sint(n: i64) -> Json {
    if n >= 0 {
        uint(n as u64)
    } else if n.unsigned_abs() <= MAX_SAFE {
        Json::I64(n)
    } else {
        tagged("$i64", Json::Str(n.to_string()))
    }
}

/// The JSON form of one MessagePack value.
pub fn value(v: &Value) -> Json {
    match v {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(n), _) => uint(n),
            (None, Some(n)) => sint(n),
            (None, None) => unreachable!("an rmpv integer is a u64 or an i64"),
        },
        Value::F32(f) => tagged("$f32", float_json(f64::from(*f))),
        Value::F64(f) => tagged("$f64", float_json(*f)),
        Value::String(s) => match s.as_str() {
            Some(s) => Json::str(s),
            None => panic!("invalid UTF-8 in a str has no JSON form"),
        },
        Value::Binary(b) => tagged("$bin", Json::Str(hex::encode(b))),
        Value::Array(items) => Json::Arr(items.iter().map(value).collect()),
        Value::Map(entries) => {
            let plain = entries
                .iter()
                .all(|(k, _)| k.as_str().is_some_and(|k| !k.starts_with('$')));
            if plain {
                Json::Obj(
                    entries
                        .iter()
                        .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), value(v)))
                        .collect(),
                )
            } else {
                let pairs = entries
                    .iter()
                    .map(|(k, v)| Json::Arr(vec![value(k), value(v)]))
                    .collect();
                tagged("$map", Json::Arr(pairs))
            }
        }
        Value::Ext(ty, data) => tagged(
            "$ext",
            Json::Arr(vec![sint(i64::from(*ty)), Json::Str(hex::encode(data))]),
        ),
    }
}

fn parse_float(j: &Json) -> Result<f64, String> {
    match j {
        Json::F64(f) => Ok(*f),
        Json::U64(n) => Ok(*n as f64),
        Json::I64(n) => Ok(*n as f64),
        Json::Str(s) if s == "NaN" => Ok(f64::NAN),
        Json::Str(s) if s == "Infinity" => Ok(f64::INFINITY),
        Json::Str(s) if s == "-Infinity" => Ok(f64::NEG_INFINITY),
        other => Err(format!("not a float: {other:?}")),
    }
}

fn parse_hex(j: &Json) -> Result<Vec<u8>, String> {
    let text = j
        .as_str()
        .ok_or_else(|| format!("expected hex text, got {j:?}"))?;
    hex::decode(text).map_err(|e| format!("bad hex {text:?}: {e}"))
}

/// The MessagePack value a JSON form stands for.
pub fn to_value(j: &Json) -> Result<Value, String> {
    Ok(match j {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::U64(n) => Value::from(*n),
        Json::I64(n) => Value::from(*n),
        Json::F64(f) => return Err(format!("bare float {f}: floats are $f32 or $f64")),
        Json::Str(s) => Value::from(s.as_str()),
        Json::Arr(items) => Value::Array(items.iter().map(to_value).collect::<Result<_, _>>()?),
        Json::Obj(entries) => match entries.as_slice() {
            [(key, inner)] if key.starts_with('$') => match key.as_str() {
                "$u64" => Value::from(
                    inner
                        .as_str()
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| format!("bad $u64 {inner:?}"))?,
                ),
                "$i64" => Value::from(
                    inner
                        .as_str()
                        .and_then(|s| s.parse::<i64>().ok())
                        .ok_or_else(|| format!("bad $i64 {inner:?}"))?,
                ),
                "$f32" => Value::F32(parse_float(inner)? as f32),
                "$f64" => Value::F64(parse_float(inner)?),
                "$bin" => Value::Binary(parse_hex(inner)?),
                "$ext" => match inner {
                    Json::Arr(parts) if parts.len() == 2 => {
                        let ty = match &parts[0] {
                            Json::U64(n) => i8::try_from(*n).ok(),
                            Json::I64(n) => i8::try_from(*n).ok(),
                            _ => None,
                        }
                        .ok_or_else(|| format!("bad $ext type {:?}", parts[0]))?;
                        Value::Ext(ty, parse_hex(&parts[1])?)
                    }
                    other => return Err(format!("bad $ext {other:?}")),
                },
                "$map" => match inner {
                    Json::Arr(pairs) => Value::Map(
                        pairs
                            .iter()
                            .map(|pair| match pair {
                                Json::Arr(kv) if kv.len() == 2 => {
                                    Ok((to_value(&kv[0])?, to_value(&kv[1])?))
                                }
                                other => Err(format!("bad $map entry {other:?}")),
                            })
                            .collect::<Result<_, String>>()?,
                    ),
                    other => return Err(format!("bad $map {other:?}")),
                },
                other => return Err(format!("unknown tag {other:?}")),
            },
            _ => {
                if let Some((k, _)) = entries.iter().find(|(k, _)| k.starts_with('$')) {
                    return Err(format!(
                        "key {k:?} starts with '$' in a plain object; use $map"
                    ));
                }
                Value::Map(
                    entries
                        .iter()
                        .map(|(k, v)| Ok((Value::from(k.as_str()), to_value(v)?)))
                        .collect::<Result<_, String>>()?,
                )
            }
        },
    })
}

// ---------------------------------------------------------------------------
// Messages -> JSON form

fn push(out: &mut Vec<(String, Json)>, key: &str, v: Json) {
    out.push((key.to_owned(), v));
}

fn push_opt<T>(out: &mut Vec<(String, Json)>, key: &str, v: &Option<T>, f: impl Fn(&T) -> Json) {
    if let Some(v) = v {
        push(out, key, f(v));
    }
}

fn op_id(id: &OpId) -> Json {
    Json::Str(id.to_string())
}

fn presence_info(p: &PresenceInfo) -> Json {
    let mut o = Vec::new();
    push(&mut o, "user_id", Json::str(&p.user_id));
    push_opt(&mut o, "name", &p.name, |n| Json::str(n));
    push(&mut o, "status", Json::str(p.status.as_str()));
    push(&mut o, "connected_at", uint(p.connected_at));
    Json::Obj(o)
}

fn presence_list(users: &[PresenceInfo]) -> Json {
    Json::Arr(users.iter().map(presence_info).collect())
}

fn signal(s: &SignalPayload) -> Json {
    let mut o = Vec::new();
    push(&mut o, "type", Json::str(s.kind()));
    match s {
        SignalPayload::Offer { sdp } | SignalPayload::Answer { sdp } => {
            push(&mut o, "sdp", Json::str(sdp));
        }
        SignalPayload::IceCandidate {
            candidate,
            sdp_mid,
            sdp_m_line_index,
            username_fragment,
        } => {
            push(&mut o, "candidate", Json::str(candidate));
            push_opt(&mut o, "sdpMid", sdp_mid, |m| Json::str(m));
            push_opt(&mut o, "sdpMLineIndex", sdp_m_line_index, |i| {
                uint(u64::from(*i))
            });
            push_opt(&mut o, "usernameFragment", username_fragment, |u| {
                Json::str(u)
            });
        }
    }
    Json::Obj(o)
}

fn raw(r: &RawValue) -> Json {
    let mut bytes = r.as_bytes();
    let v = rmpv::decode::read_value(&mut bytes).expect("a RawValue holds one valid value");
    value(&v)
}

/// The opening of a message's form: `"t"`, `"name"`, then `"c"` unless the
/// channel is 0 (canonical: the field is omitted there).
fn head(tag: u16, name: Option<&str>, channel: Channel) -> Vec<(String, Json)> {
    let name = name.expect("a known tag");
    let mut o = vec![
        ("t".to_owned(), Json::U64(u64::from(tag))),
        ("name".to_owned(), Json::str(name)),
    ];
    if !channel.is_url() {
        push(&mut o, "c", uint(u64::from(channel.0)));
    }
    o
}

/// The JSON form of a decoded server message on channel 0.
pub fn server(m: &DynServer) -> Json {
    server_on(Channel::URL, m)
}

/// The JSON form of a decoded server message on `channel` (canonical: what
/// encoding it would write, with OpIds as text).
pub fn server_on(channel: Channel, m: &DynServer) -> Json {
    let mut o = head(m.tag().0, m.tag().name(), channel);
    match m {
        ServerMessage::Connected {
            protocol_version,
            connection_id,
            user_id,
            channels,
        } => {
            push(
                &mut o,
                "protocol_version",
                uint(u64::from(*protocol_version)),
            );
            push(&mut o, "connection_id", Json::str(connection_id));
            push_opt(&mut o, "user_id", user_id, |u| Json::str(u));
            push_opt(&mut o, "channels", channels, |n| uint(u64::from(*n)));
        }
        ServerMessage::Joined => {}
        ServerMessage::Left { code, message } => {
            push_opt(&mut o, "code", code, |c| Json::str(c.as_str()));
            push_opt(&mut o, "message", message, |m| Json::str(m));
        }
        ServerMessage::Pong {
            client_ts,
            server_ts,
        } => {
            push(&mut o, "client_ts", uint(*client_ts));
            push(&mut o, "server_ts", uint(*server_ts));
        }
        ServerMessage::Error {
            code,
            message,
            fatal,
            op_id: about,
        } => {
            push_opt(&mut o, "code", code, |c| Json::str(c.as_str()));
            push(&mut o, "message", Json::str(message));
            push(&mut o, "fatal", Json::Bool(*fatal));
            push_opt(&mut o, "op_id", about, op_id);
        }
        ServerMessage::Snapshot {
            state,
            seq,
            timestamp,
            epoch,
        } => {
            push(&mut o, "state", value(state));
            push(&mut o, "seq", uint(*seq));
            push(&mut o, "timestamp", uint(*timestamp));
            push_opt(&mut o, "epoch", epoch, |e| uint(u64::from(*e)));
        }
        ServerMessage::Delta {
            delta,
            seq,
            timestamp,
            epoch,
            prev,
        } => {
            push(&mut o, "delta", value(delta));
            push(&mut o, "seq", uint(*seq));
            push(&mut o, "timestamp", uint(*timestamp));
            push_opt(&mut o, "epoch", epoch, |e| uint(u64::from(*e)));
            push_opt(&mut o, "prev", prev, |p| uint(*p));
        }
        ServerMessage::Deltas {
            deltas,
            seq,
            timestamp,
            epoch,
            prev,
        } => {
            push(
                &mut o,
                "deltas",
                Json::Arr(deltas.iter().map(value).collect()),
            );
            push(&mut o, "seq", uint(*seq));
            push(&mut o, "timestamp", uint(*timestamp));
            push_opt(&mut o, "epoch", epoch, |e| uint(u64::from(*e)));
            push_opt(&mut o, "prev", prev, |p| uint(*p));
        }
        ServerMessage::Presence { users } => push(&mut o, "users", presence_list(users)),
        ServerMessage::PresenceDiff(d) => {
            if !d.joined.is_empty() {
                push(&mut o, "joined", presence_list(&d.joined));
            }
            if !d.updated.is_empty() {
                push(&mut o, "updated", presence_list(&d.updated));
            }
            if !d.left.is_empty() {
                push(&mut o, "left", strings(&d.left));
            }
        }
        ServerMessage::Signal {
            from_user_id,
            signal: s,
        } => {
            push(&mut o, "from_user_id", Json::str(from_user_id));
            push(&mut o, "signal", signal(s));
        }
        ServerMessage::Notify {
            domain,
            event,
            correlation_id,
        } => {
            push(&mut o, "domain", Json::str(domain));
            push(&mut o, "event", value(event));
            push_opt(&mut o, "correlation_id", correlation_id, op_id);
        }
        ServerMessage::Progress {
            op_id: id,
            percent,
            message,
        } => {
            push(&mut o, "op_id", op_id(id));
            push_opt(&mut o, "percent", percent, |p| uint(u64::from(*p)));
            push_opt(&mut o, "message", message, |m| Json::str(m));
        }
        ServerMessage::ActionOk { op_id: id, result } => {
            push(&mut o, "op_id", op_id(id));
            push_opt(&mut o, "result", result, raw);
        }
        ServerMessage::ActionErr {
            op_id: id,
            code,
            message,
        } => {
            push(&mut o, "op_id", op_id(id));
            push_opt(&mut o, "code", code, |c| Json::str(c));
            push(&mut o, "message", Json::str(message));
        }
    }
    Json::Obj(o)
}

fn strings(items: &[String]) -> Json {
    Json::Arr(items.iter().map(|s| Json::str(s)).collect())
}

/// The JSON form of a decoded client message on channel 0.
pub fn client(m: &DynClient) -> Json {
    client_on(Channel::URL, m)
}

/// The JSON form of a decoded client message on `channel`.
pub fn client_on(channel: Channel, m: &DynClient) -> Json {
    let mut o = head(m.tag().0, m.tag().name(), channel);
    match m {
        ClientMessage::Join {
            resource,
            last_seq,
            epoch,
        } => {
            push(&mut o, "resource", Json::str(resource));
            push_opt(&mut o, "last_seq", last_seq, |s| uint(*s));
            push_opt(&mut o, "epoch", epoch, |e| uint(u64::from(*e)));
        }
        ClientMessage::Leave => {}
        ClientMessage::Ping { ts, presence } => {
            push(&mut o, "ts", uint(*ts));
            push_opt(&mut o, "presence", presence, |p| Json::str(p.as_str()));
        }
        ClientMessage::Resync { last_seq, epoch } => {
            push_opt(&mut o, "last_seq", last_seq, |s| uint(*s));
            push_opt(&mut o, "epoch", epoch, |e| uint(u64::from(*e)));
        }
        ClientMessage::Action { op_id: id, action } => {
            push(&mut o, "op_id", op_id(id));
            push(&mut o, "action", value(action));
        }
        ClientMessage::Subscribe { domains } | ClientMessage::Unsubscribe { domains } => {
            push(&mut o, "domains", strings(domains));
        }
        ClientMessage::Signal {
            target_user_id,
            signal: s,
        } => {
            push(&mut o, "target_user_id", Json::str(target_user_id));
            push(&mut o, "signal", signal(s));
        }
    }
    Json::Obj(o)
}

// ---------------------------------------------------------------------------
// JSON form -> messages

/// Reads the fields of one JSON object, rejecting keys nobody asked for.
struct Obj<'a> {
    what: String,
    entries: &'a [(String, Json)],
    used: Vec<&'a str>,
}

impl<'a> Obj<'a> {
    fn new(j: &'a Json, what: &str) -> Result<Self, String> {
        match j {
            Json::Obj(entries) => Ok(Obj {
                what: what.to_owned(),
                entries,
                used: Vec::new(),
            }),
            other => Err(format!("{what}: expected an object, got {other:?}")),
        }
    }

    fn opt(&mut self, key: &'a str) -> Option<&'a Json> {
        self.used.push(key);
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn req(&mut self, key: &'a str) -> Result<&'a Json, String> {
        let what = self.what.clone();
        self.opt(key)
            .ok_or_else(|| format!("{what}: missing {key:?}"))
    }

    fn finish(self) -> Result<(), String> {
        match self
            .entries
            .iter()
            .find(|(k, _)| !self.used.contains(&k.as_str()))
        {
            Some((k, _)) => Err(format!("{}: unexpected key {k:?}", self.what)),
            None => Ok(()),
        }
    }
}

fn to_uint(j: &Json) -> Result<u64, String> {
    match j {
        Json::U64(n) if *n <= MAX_SAFE => Ok(*n),
        Json::Obj(_) => match to_value(j)? {
            Value::Integer(i) if i.as_u64().is_some_and(|n| n > MAX_SAFE) => {
                Ok(i.as_u64().unwrap_or_default())
            }
            other => Err(format!("not a canonical unsigned integer: {other:?}")),
        },
        other => Err(format!("not a canonical unsigned integer: {other:?}")),
    }
}

fn to_narrow<T: TryFrom<u64>>(j: &Json) -> Result<T, String> {
    let n = to_uint(j)?;
    T::try_from(n).map_err(|_| format!("{n} is out of range"))
}

fn to_string(j: &Json) -> Result<String, String> {
    j.as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("expected a string, got {j:?}"))
}

fn to_bool(j: &Json) -> Result<bool, String> {
    j.as_bool()
        .ok_or_else(|| format!("expected a boolean, got {j:?}"))
}

fn to_strings(j: &Json) -> Result<Vec<String>, String> {
    match j {
        Json::Arr(items) => items.iter().map(to_string).collect(),
        other => Err(format!("expected a list of strings, got {other:?}")),
    }
}

fn to_op_id(j: &Json) -> Result<OpId, String> {
    let text = to_string(j)?;
    if text.len() != 36 || text.to_lowercase() != text {
        return Err(format!("OpId {text:?} is not lowercase hyphenated text"));
    }
    text.parse().map_err(|e| format!("{e}"))
}

fn to_status(j: &Json) -> Result<PresenceStatus, String> {
    let text = to_string(j)?;
    PresenceStatus::from_wire(&text).ok_or_else(|| format!("bad presence status {text:?}"))
}

fn to_presence_info(j: &Json) -> Result<PresenceInfo, String> {
    let mut o = Obj::new(j, "PresenceInfo")?;
    let info = PresenceInfo {
        user_id: to_string(o.req("user_id")?)?,
        name: o.opt("name").map(to_string).transpose()?,
        status: to_status(o.req("status")?)?,
        connected_at: to_uint(o.req("connected_at")?)?,
    };
    o.finish()?;
    Ok(info)
}

fn to_presence_list(j: &Json) -> Result<Vec<PresenceInfo>, String> {
    match j {
        Json::Arr(items) => items.iter().map(to_presence_info).collect(),
        other => Err(format!("expected a list of PresenceInfo, got {other:?}")),
    }
}

fn to_signal(j: &Json) -> Result<SignalPayload, String> {
    let mut o = Obj::new(j, "SignalPayload")?;
    let kind = to_string(o.req("type")?)?;
    let s = match kind.as_str() {
        "offer" => SignalPayload::Offer {
            sdp: to_string(o.req("sdp")?)?,
        },
        "answer" => SignalPayload::Answer {
            sdp: to_string(o.req("sdp")?)?,
        },
        "candidate" => SignalPayload::IceCandidate {
            candidate: to_string(o.req("candidate")?)?,
            sdp_mid: o.opt("sdpMid").map(to_string).transpose()?,
            sdp_m_line_index: o.opt("sdpMLineIndex").map(to_narrow).transpose()?,
            username_fragment: o.opt("usernameFragment").map(to_string).transpose()?,
        },
        other => return Err(format!("bad signal type {other:?}")),
    };
    o.finish()?;
    Ok(s)
}

fn to_payloads(j: &Json) -> Result<Vec<Value>, String> {
    match j {
        Json::Arr(items) => items.iter().map(to_value).collect(),
        other => Err(format!("expected a list, got {other:?}")),
    }
}

fn to_raw(j: &Json) -> Result<RawValue, String> {
    let v = to_value(j)?;
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &v).map_err(|e| e.to_string())?;
    RawValue::from_bytes(bytes).map_err(|e| e.to_string())
}

fn opening<'a>(
    j: &'a Json,
    names: &dyn Fn(u16) -> Option<&'static str>,
) -> Result<(u16, Channel, Obj<'a>), String> {
    let mut o = Obj::new(j, "message")?;
    let tag = o.req("t")?.as_u64().ok_or("\"t\" is not a number")?;
    let tag = u16::try_from(tag).map_err(|_| format!("tag {tag} over 65535"))?;
    let name = to_string(o.req("name")?)?;
    let channel = match o.opt("c").map(to_narrow::<u16>).transpose()? {
        Some(0) => return Err("a canonical form omits \"c\": 0".into()),
        Some(c) => Channel(c),
        None => Channel::URL,
    };
    match names(tag) {
        Some(known) if known == name => {
            o.what = name;
            Ok((tag, channel, o))
        }
        known => Err(format!("tag {tag} is {known:?}, the vector says {name:?}")),
    }
}

/// The server message a JSON form stands for, with its channel.
pub fn to_server(j: &Json) -> Result<(Channel, DynServer), String> {
    let (tag, channel, mut o) = opening(j, &|t| ServerTag(t).name())?;
    let m = match ServerTag(tag) {
        ServerTag::CONNECTED => ServerMessage::Connected {
            protocol_version: to_narrow(o.req("protocol_version")?)?,
            connection_id: to_string(o.req("connection_id")?)?,
            user_id: o.opt("user_id").map(to_string).transpose()?,
            channels: o.opt("channels").map(to_narrow).transpose()?,
        },
        ServerTag::JOINED => ServerMessage::Joined,
        ServerTag::LEFT => ServerMessage::Left {
            code: o
                .opt("code")
                .map(to_string)
                .transpose()?
                .map(ErrorCode::from),
            message: o.opt("message").map(to_string).transpose()?,
        },
        ServerTag::PONG => ServerMessage::Pong {
            client_ts: to_uint(o.req("client_ts")?)?,
            server_ts: to_uint(o.req("server_ts")?)?,
        },
        ServerTag::ERROR => ServerMessage::Error {
            code: o
                .opt("code")
                .map(to_string)
                .transpose()?
                .map(ErrorCode::from),
            message: to_string(o.req("message")?)?,
            fatal: to_bool(o.req("fatal")?)?,
            op_id: o.opt("op_id").map(to_op_id).transpose()?,
        },
        ServerTag::SNAPSHOT => ServerMessage::Snapshot {
            state: to_value(o.req("state")?)?,
            seq: to_uint(o.req("seq")?)?,
            timestamp: to_uint(o.req("timestamp")?)?,
            epoch: o.opt("epoch").map(to_narrow).transpose()?,
        },
        ServerTag::DELTA => ServerMessage::Delta {
            delta: to_value(o.req("delta")?)?,
            seq: to_uint(o.req("seq")?)?,
            timestamp: to_uint(o.req("timestamp")?)?,
            epoch: o.opt("epoch").map(to_narrow).transpose()?,
            prev: o.opt("prev").map(to_uint).transpose()?,
        },
        ServerTag::DELTAS => ServerMessage::Deltas {
            deltas: to_payloads(o.req("deltas")?)?,
            seq: to_uint(o.req("seq")?)?,
            timestamp: to_uint(o.req("timestamp")?)?,
            epoch: o.opt("epoch").map(to_narrow).transpose()?,
            prev: o.opt("prev").map(to_uint).transpose()?,
        },
        ServerTag::PRESENCE => ServerMessage::Presence {
            users: to_presence_list(o.req("users")?)?,
        },
        ServerTag::PRESENCE_DIFF => ServerMessage::PresenceDiff(PresenceDiff {
            joined: o
                .opt("joined")
                .map(to_presence_list)
                .transpose()?
                .unwrap_or_default(),
            updated: o
                .opt("updated")
                .map(to_presence_list)
                .transpose()?
                .unwrap_or_default(),
            left: o
                .opt("left")
                .map(to_strings)
                .transpose()?
                .unwrap_or_default(),
        }),
        ServerTag::SIGNAL => ServerMessage::Signal {
            from_user_id: to_string(o.req("from_user_id")?)?,
            signal: to_signal(o.req("signal")?)?,
        },
        ServerTag::NOTIFY => ServerMessage::Notify {
            domain: to_string(o.req("domain")?)?,
            event: to_value(o.req("event")?)?,
            correlation_id: o.opt("correlation_id").map(to_op_id).transpose()?,
        },
        ServerTag::PROGRESS => ServerMessage::Progress {
            op_id: to_op_id(o.req("op_id")?)?,
            percent: o.opt("percent").map(to_narrow).transpose()?,
            message: o.opt("message").map(to_string).transpose()?,
        },
        ServerTag::ACTION_OK => ServerMessage::ActionOk {
            op_id: to_op_id(o.req("op_id")?)?,
            result: o.opt("result").map(to_raw).transpose()?,
        },
        ServerTag::ACTION_ERR => ServerMessage::ActionErr {
            op_id: to_op_id(o.req("op_id")?)?,
            code: o.opt("code").map(to_string).transpose()?,
            message: to_string(o.req("message")?)?,
        },
        other => return Err(format!("no JSON form for {other:?}")),
    };
    o.finish()?;
    Ok((channel, m))
}

/// The client message a JSON form stands for, with its channel.
pub fn to_client(j: &Json) -> Result<(Channel, DynClient), String> {
    let (tag, channel, mut o) = opening(j, &|t| ClientTag(t).name())?;
    let m = match ClientTag(tag) {
        ClientTag::JOIN => ClientMessage::Join {
            resource: to_string(o.req("resource")?)?,
            last_seq: o.opt("last_seq").map(to_uint).transpose()?,
            epoch: o.opt("epoch").map(to_narrow).transpose()?,
        },
        ClientTag::LEAVE => ClientMessage::Leave,
        ClientTag::PING => ClientMessage::Ping {
            ts: to_uint(o.req("ts")?)?,
            presence: o.opt("presence").map(to_status).transpose()?,
        },
        ClientTag::RESYNC => ClientMessage::Resync {
            last_seq: o.opt("last_seq").map(to_uint).transpose()?,
            epoch: o.opt("epoch").map(to_narrow).transpose()?,
        },
        ClientTag::ACTION => ClientMessage::Action {
            op_id: to_op_id(o.req("op_id")?)?,
            action: to_value(o.req("action")?)?,
        },
        ClientTag::SUBSCRIBE => ClientMessage::Subscribe {
            domains: to_strings(o.req("domains")?)?,
        },
        ClientTag::UNSUBSCRIBE => ClientMessage::Unsubscribe {
            domains: to_strings(o.req("domains")?)?,
        },
        ClientTag::SIGNAL => ClientMessage::Signal {
            target_user_id: to_string(o.req("target_user_id")?)?,
            signal: to_signal(o.req("signal")?)?,
        },
        other => return Err(format!("no JSON form for {other:?}")),
    };
    o.finish()?;
    Ok((channel, m))
}
