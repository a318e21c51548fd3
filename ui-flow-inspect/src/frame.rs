//! Decoding one frame as a client or server message, and what to report.
//!
//! A frame is decoded with `rmpv::Value` for every payload, so any frame
//! decodes without the application's types. The report shows the frame's
//! map as it is on the wire; the decode decides the name, or the exact
//! error. For an `--auto` frame both directions are tried.

use rmpv::Value;
use serde::Serialize;
use ui_flow::codec::Decoded;
use ui_flow::{ClientMessage, ClientTag, DecodeError, ServerMessage, ServerTag, range_name};

use crate::render::Fields;

/// Who sent the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A client → server frame (`ClientMessage`).
    Client,
    /// A server → client frame (`ServerMessage`).
    Server,
}

impl Direction {
    /// `"client"` or `"server"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Client => "client",
            Direction::Server => "server",
        }
    }

    fn tag_name(self, tag: u16) -> Option<&'static str> {
        match self {
            Direction::Client => ClientTag(tag).name(),
            Direction::Server => ServerTag(tag).name(),
        }
    }

    /// Decodes `bytes` and re-encodes the message, giving its canonical
    /// bytes (used to compare two decodes without comparing floats).
    fn decode(self, bytes: &[u8]) -> Result<Decoded<Vec<u8>>, DecodeError> {
        let canonical = match self {
            Direction::Client => match ClientMessage::<Value>::decode(bytes)? {
                Decoded::Message(m) => m.encode(),
                Decoded::Unknown { tag } => return Ok(Decoded::Unknown { tag }),
            },
            Direction::Server => match ServerMessage::<Value, Value, Value>::decode(bytes)? {
                Decoded::Message(m) => m.encode(),
                Decoded::Unknown { tag } => return Ok(Decoded::Unknown { tag }),
            },
        };
        // A decoded Value always encodes; an empty canonical form would only
        // make the unused-field check report nothing.
        Ok(Decoded::Message(canonical.unwrap_or_default()))
    }
}

/// Which directions to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only this direction.
    Only(Direction),
    /// The server direction, then the client one.
    Auto,
}

/// A frame that decoded.
#[derive(Debug)]
pub struct Inspection {
    /// The direction it decoded in; `None` when `--auto` met a tag neither
    /// direction knows.
    pub direction: Option<Direction>,
    /// `"t"`.
    pub tag: u16,
    /// The message's name; `None` for an unknown tag.
    pub name: Option<&'static str>,
    /// The frame's map, in wire order.
    pub entries: Vec<(Value, Value)>,
    /// Non-nil fields that did not change the decoded message: unknown to
    /// this build (or an empty list where absent means empty).
    pub unused: Vec<String>,
}

/// A frame that did not decode in a direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The direction tried.
    pub direction: Direction,
    /// Why it failed.
    pub error: DecodeError,
}

/// The JSON printed for an [`Inspection`].
#[derive(Serialize)]
pub struct Report<'a> {
    direction: Option<&'static str>,
    t: u16,
    name: Option<&'static str>,
    range: &'static str,
    fields: Fields<'a>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    unused: &'a [String],
}

impl Inspection {
    /// What to print.
    pub fn report(&self) -> Report<'_> {
        Report {
            direction: self.direction.map(Direction::as_str),
            t: self.tag,
            name: self.name,
            range: range_name(self.tag),
            fields: Fields(&self.entries),
            unused: &self.unused,
        }
    }
}

/// A known message in one direction, with its unused fields.
struct Known {
    direction: Direction,
    tag: u16,
    name: &'static str,
    unused: Vec<String>,
}

/// Decodes `bytes` in the directions `mode` allows.
pub fn inspect(bytes: &[u8], mode: Mode) -> Result<Inspection, Vec<Failure>> {
    let directions: &[Direction] = match mode {
        Mode::Only(Direction::Client) => &[Direction::Client],
        Mode::Only(Direction::Server) => &[Direction::Server],
        Mode::Auto => &[Direction::Server, Direction::Client],
    };
    let mut known = Vec::new();
    let mut unknown_tag = None;
    let mut failures = Vec::new();
    for &direction in directions {
        match direction.decode(bytes) {
            Ok(Decoded::Message(canonical)) => {
                let entries = entries(bytes);
                let tag = tag_of(&entries).unwrap_or_default();
                known.push(Known {
                    direction,
                    tag,
                    name: direction.tag_name(tag).unwrap_or("?"),
                    unused: unused_fields(bytes, &entries, direction, &canonical),
                });
            }
            Ok(Decoded::Unknown { tag }) => unknown_tag = Some((direction, tag)),
            Err(error) => failures.push(Failure { direction, error }),
        }
    }
    // Prefer a decode that used every field: an Unsubscribe frame is also a
    // (useless) PresenceDiff, since all of PresenceDiff's fields are optional.
    // For each tag the two directions require different fields, so at most
    // one of them uses every field of a frame.
    let pick = known
        .iter()
        .position(|k| k.unused.is_empty())
        .or(if known.is_empty() { None } else { Some(0) });
    if let Some(i) = pick {
        let chosen = known.swap_remove(i);
        return Ok(Inspection {
            direction: Some(chosen.direction),
            tag: chosen.tag,
            name: Some(chosen.name),
            entries: entries(bytes),
            unused: chosen.unused,
        });
    }
    if let Some((direction, tag)) = unknown_tag {
        return Ok(Inspection {
            direction: (mode != Mode::Auto).then_some(direction),
            tag,
            name: None,
            entries: entries(bytes),
            unused: Vec::new(),
        });
    }
    Err(failures)
}

/// The frame's map entries (the frame has been validated by a decode).
fn entries(bytes: &[u8]) -> Vec<(Value, Value)> {
    match rmpv::decode::read_value(&mut &bytes[..]) {
        Ok(Value::Map(entries)) => entries,
        _ => Vec::new(),
    }
}

fn tag_of(entries: &[(Value, Value)]) -> Option<u16> {
    let (_, tag) = entries.first()?;
    tag.as_u64().and_then(|t| u16::try_from(t).ok())
}

/// The non-nil fields whose removal leaves the decoded message unchanged.
fn unused_fields(
    bytes: &[u8],
    entries: &[(Value, Value)],
    direction: Direction,
    canonical: &[u8],
) -> Vec<String> {
    let mut unused = Vec::new();
    for (i, (key, value)) in entries.iter().enumerate().skip(1) {
        if value.is_nil() {
            continue;
        }
        let mut without = entries.to_vec();
        without.remove(i);
        let mut frame = Vec::with_capacity(bytes.len());
        if rmpv::encode::write_value(&mut frame, &Value::Map(without)).is_err() {
            continue;
        }
        if matches!(direction.decode(&frame), Ok(Decoded::Message(c)) if c == canonical) {
            unused.push(match key.as_str() {
                Some(k) => k.to_owned(),
                None => format!("{key}"),
            });
        }
    }
    unused
}

/// The byte offset a decode error points at, where it has one.
pub fn error_offset(error: &DecodeError) -> Option<usize> {
    match error {
        DecodeError::Truncated { offset }
        | DecodeError::TooDeep { offset, .. }
        | DecodeError::LengthExceedsInput { offset, .. }
        | DecodeError::ReservedByte { offset }
        | DecodeError::InvalidKey { offset } => Some(*offset),
        _ => None,
    }
}

/// Up to 8 bytes either side of `offset` as hex, the byte at `offset` in
/// brackets (`[end]` when the offset is the end of the input).
pub fn context(bytes: &[u8], offset: usize) -> String {
    let start = offset.saturating_sub(8);
    let end = (offset + 9).min(bytes.len());
    let mut parts: Vec<String> = Vec::new();
    if start > 0 {
        parts.push("…".into());
    }
    for (i, b) in bytes.iter().enumerate().take(end).skip(start) {
        parts.push(if i == offset {
            format!("[{b:02x}]")
        } else {
            format!("{b:02x}")
        });
    }
    if offset >= bytes.len() {
        parts.push("[end]".into());
    } else if end < bytes.len() {
        parts.push("…".into());
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(entries: Vec<(&str, Value)>) -> Vec<u8> {
        let map = Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect());
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &map).expect("vec write");
        out
    }

    #[test]
    fn auto_prefers_the_direction_that_uses_every_field() {
        let unsubscribe = frame(vec![
            ("t", 2001.into()),
            ("domains", Value::Array(vec!["world".into()])),
        ]);
        let seen = inspect(&unsubscribe, Mode::Auto).expect("decodes");
        assert_eq!(seen.direction, Some(Direction::Client));
        assert_eq!(seen.name, Some("Unsubscribe"));
        assert!(seen.unused.is_empty());
        // Forced to the server direction it is an empty PresenceDiff whose
        // only field went unused.
        let forced = inspect(&unsubscribe, Mode::Only(Direction::Server)).expect("decodes");
        assert_eq!(forced.name, Some("PresenceDiff"));
        assert_eq!(forced.unused, ["domains"]);
    }

    #[test]
    fn auto_tries_server_first() {
        let pong = frame(vec![
            ("t", 1.into()),
            ("client_ts", 5.into()),
            ("server_ts", 6.into()),
        ]);
        let seen = inspect(&pong, Mode::Auto).expect("decodes");
        assert_eq!(
            (seen.direction, seen.name),
            (Some(Direction::Server), Some("Pong"))
        );
        let resync = frame(vec![("t", 1.into()), ("last_seq", 5.into())]);
        let seen = inspect(&resync, Mode::Auto).expect("decodes");
        assert_eq!(
            (seen.direction, seen.name),
            (Some(Direction::Client), Some("Resync"))
        );
    }

    #[test]
    fn unknown_tags_and_failures() {
        let future = frame(vec![("t", 6123.into()), ("x", 1.into())]);
        let seen = inspect(&future, Mode::Auto).expect("an unknown tag is not an error");
        assert_eq!((seen.direction, seen.tag, seen.name), (None, 6123, None));
        let seen = inspect(&future, Mode::Only(Direction::Client)).expect("decodes");
        assert_eq!(seen.direction, Some(Direction::Client));

        let failures = inspect(&[0x81, 0xa1, b't', 0xcd, 0x03], Mode::Auto).expect_err("truncated");
        assert_eq!(failures.len(), 2);
        assert_eq!(failures[0].direction, Direction::Server);
        assert_eq!(error_offset(&failures[0].error), Some(5));
    }

    #[test]
    fn unused_fields_are_the_ones_the_decoder_skipped() {
        let ping = frame(vec![
            ("t", 0.into()),
            ("ts", 9.into()),
            ("future", "x".into()),
            ("presence", Value::Nil),
        ]);
        let seen = inspect(&ping, Mode::Only(Direction::Client)).expect("decodes");
        assert_eq!(seen.unused, ["future"]);
    }

    #[test]
    fn context_brackets_the_offending_byte() {
        let bytes: Vec<u8> = (0..20).collect();
        assert_eq!(
            context(&bytes, 10),
            "… 02 03 04 05 06 07 08 09 [0a] 0b 0c 0d 0e 0f 10 11 12 …"
        );
        assert_eq!(context(&[0x81, 0xa1], 2), "81 a1 [end]");
        assert_eq!(context(&[0xc1], 0), "[c1]");
    }
}
