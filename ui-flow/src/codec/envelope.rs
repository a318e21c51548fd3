//! The envelope of every server message as data: for each tag, its fields
//! (name, kind of value, required or not) and what its `"c"` may be, read
//! by one loop into [`Values`]. The nested maps `PresenceInfo` and
//! `SignalPayload` are layouts too, read by the same loop one level deeper
//! (also for the client-message reader, through `Fields::signal`).
//!
//! This is the reader's structure only. It knows nothing of the
//! application's payload types: payload bytes go to a [`Payloads`] as they
//! are found, and the message is put together from the values afterwards
//! (`codec::server`). One copy of this code serves every application type,
//! and the per-message work is a table, not a function: in wasm the
//! function-per-message reader it replaces was 13.6 KB (BENCHMARKS.md,
//! "Client wasm size", fifth pass).
//!
//! The errors and their order are those of reading the fields one after
//! the other: a field's value is read (and fails) before it is checked for
//! a duplicate; unknown keys are skipped and checked as they come; after the
//! last key, a missing `"c"` of `Joined` / `Left`, then the first missing
//! required field in table order.

use super::read::{Fault, Fields};
use crate::error::DecodeError;
use crate::op::OpId;
use crate::presence::{PresenceInfo, PresenceStatus};
use crate::raw::RawValue;
use crate::signal::SignalPayload;
use crate::tag::ServerTag;

/// Which of a server message's application types a payload has.
#[derive(Clone, Copy)]
pub(super) enum PayloadKind {
    /// `Snapshot.state`.
    State,
    /// `Delta.delta`.
    Delta,
    /// One entry of `Deltas.deltas`.
    DeltasEntry,
    /// `Notify.event`.
    Event,
}

/// Receives each application payload of a frame as the reader finds it, in
/// frame order, so that one that does not deserialize fails the frame at
/// the same point as any other bad field.
///
/// The frame reader takes this as a trait object: only the deserialization
/// of the payloads themselves is generic over the application's types.
pub(super) trait Payloads<'a> {
    /// Reads the payload at `f`'s cursor, the value of `field`, and moves
    /// the cursor past it.
    fn take(
        &mut self,
        kind: PayloadKind,
        f: &mut Fields<'a>,
        field: &'static str,
    ) -> Result<(), Fault>;
}

/// How a field's value is read, and which slot of [`Values`] it fills.
#[derive(Clone, Copy)]
enum Kind {
    /// An unsigned integer up to the given maximum, into `uints`.
    Uint(u64),
    /// A UTF-8 string, into `strs`.
    Str,
    /// A boolean, into `bool`.
    Bool,
    /// An operation id, into `op_id`.
    OpId,
    /// One application payload, handed to [`Payloads`].
    Payload(PayloadKind),
    /// An array of `Delta` payloads, each handed to [`Payloads`].
    Deltas,
    /// An array of `PresenceInfo`, into `users`.
    Users,
    /// An array of strings, into `strings`.
    Strings,
    /// A `SignalPayload`, into `signal`.
    Signal,
    /// Any value kept as its bytes, into `raw`.
    Raw,
    /// A presence status, into `status`.
    Status,
    /// A `SignalPayload`'s type, into `signal_type`.
    SignalType,
}

/// One field of a message's table.
struct Field {
    name: &'static str,
    kind: Kind,
    /// Which of the kind's slots in [`Values`] (for `uints`, `strs`, `users`).
    slot: u8,
    /// Whether nil is read as absent (an optional field).
    nil_ok: bool,
    /// Whether the field must be present.
    required: bool,
}

/// A required field, never nil.
const fn req(name: &'static str, kind: Kind, slot: u8) -> Field {
    Field {
        name,
        kind,
        slot,
        nil_ok: false,
        required: true,
    }
}

/// An optional field: absent or nil.
const fn opt(name: &'static str, kind: Kind, slot: u8) -> Field {
    Field {
        name,
        kind,
        slot,
        nil_ok: true,
        required: false,
    }
}

/// A field that may be absent but not nil: required or not depending on
/// another field (`SignalPayload`'s `sdp` and `candidate`, by its `type`).
const fn may(name: &'static str, kind: Kind, slot: u8) -> Field {
    Field {
        name,
        kind,
        slot,
        nil_ok: false,
        required: false,
    }
}

/// What a message's `"c"` is.
#[derive(Clone, Copy, PartialEq)]
enum ChannelKey {
    /// Not a field: a message of the connection, where `"c"` is an unknown key.
    None,
    /// Optional, nil or 0 meaning channel 0.
    Optional,
    /// Required, 1 to 65535 (`Joined`, `Left`).
    Named,
}

/// The server messages this build knows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Message {
    Connected,
    Pong,
    Error,
    Joined,
    Left,
    Snapshot,
    Delta,
    Deltas,
    Presence,
    PresenceDiff,
    Signal,
    Notify,
    Progress,
    ActionOk,
    ActionErr,
}

/// A message's (or nested map's) fields and its `"c"`.
pub(super) struct Layout {
    /// The tag's name (as in the tag table) or the nested type's, for errors.
    pub(super) name: &'static str,
    fields: &'static [Field],
    channel: ChannelKey,
    /// Bit i: field i is required.
    required: u8,
}

impl Layout {
    const fn new(name: &'static str, fields: &'static [Field], channel: ChannelKey) -> Self {
        let mut required = 0;
        let mut i = 0;
        while i < fields.len() {
            if fields[i].required {
                required |= 1 << i;
            }
            i += 1;
        }
        Layout {
            name,
            fields,
            channel,
            required,
        }
    }
}

const U8: Kind = Kind::Uint(u8::MAX as u64);
const U16: Kind = Kind::Uint(u16::MAX as u64);
const U32: Kind = Kind::Uint(u32::MAX as u64);
const U64: Kind = Kind::Uint(u64::MAX);

/// `seq`, `timestamp`, `epoch` and `prev` of `Delta` and `Deltas`, after
/// their body.
macro_rules! delta_layout {
    ($name:literal, $body:expr) => {
        Layout::new(
            $name,
            &[
                $body,
                req("seq", U64, 0),
                req("timestamp", U64, 1),
                opt("epoch", U32, 2),
                opt("prev", U64, 3),
            ],
            ChannelKey::Optional,
        )
    };
}

/// The layout of a tag, `None` when this build does not know it. Fields are
/// in the spec's order, which is also the order in which missing required
/// fields are looked for.
pub(super) fn layout(tag: ServerTag) -> Option<(Message, &'static Layout)> {
    use ChannelKey::{Named, Optional};
    const CONNECTED: Layout = Layout::new(
        "Connected",
        &[
            req("protocol_version", U8, 0),
            req("connection_id", Kind::Str, 0),
            opt("user_id", Kind::Str, 1),
            opt("channels", U16, 1),
        ],
        ChannelKey::None,
    );
    const PONG: Layout = Layout::new(
        "Pong",
        &[req("client_ts", U64, 0), req("server_ts", U64, 1)],
        ChannelKey::None,
    );
    const ERROR: Layout = Layout::new(
        "Error",
        &[
            opt("code", Kind::Str, 0),
            req("message", Kind::Str, 1),
            req("fatal", Kind::Bool, 0),
            opt("op_id", Kind::OpId, 0),
        ],
        Optional,
    );
    const JOINED: Layout = Layout::new("Joined", &[], Named);
    const LEFT: Layout = Layout::new(
        "Left",
        &[opt("code", Kind::Str, 0), opt("message", Kind::Str, 1)],
        Named,
    );
    const SNAPSHOT: Layout = Layout::new(
        "Snapshot",
        &[
            req("state", Kind::Payload(PayloadKind::State), 0),
            req("seq", U64, 0),
            req("timestamp", U64, 1),
            opt("epoch", U32, 2),
        ],
        Optional,
    );
    const DELTA: Layout =
        delta_layout!("Delta", req("delta", Kind::Payload(PayloadKind::Delta), 0));
    const DELTAS: Layout = delta_layout!("Deltas", req("deltas", Kind::Deltas, 0));
    const PRESENCE: Layout = Layout::new("Presence", &[req("users", Kind::Users, 0)], Optional);
    const PRESENCE_DIFF: Layout = Layout::new(
        "PresenceDiff",
        &[
            opt("joined", Kind::Users, 0),
            opt("updated", Kind::Users, 1),
            opt("left", Kind::Strings, 0),
        ],
        Optional,
    );
    const SIGNAL: Layout = Layout::new(
        "Signal",
        &[
            req("from_user_id", Kind::Str, 0),
            req("signal", Kind::Signal, 0),
        ],
        Optional,
    );
    const NOTIFY: Layout = Layout::new(
        "Notify",
        &[
            req("domain", Kind::Str, 0),
            req("event", Kind::Payload(PayloadKind::Event), 0),
            opt("correlation_id", Kind::OpId, 0),
        ],
        Optional,
    );
    const PROGRESS: Layout = Layout::new(
        "Progress",
        &[
            req("op_id", Kind::OpId, 0),
            opt("percent", U8, 0),
            opt("message", Kind::Str, 0),
        ],
        Optional,
    );
    const ACTION_OK: Layout = Layout::new(
        "ActionOk",
        &[req("op_id", Kind::OpId, 0), opt("result", Kind::Raw, 0)],
        Optional,
    );
    const ACTION_ERR: Layout = Layout::new(
        "ActionErr",
        &[
            req("op_id", Kind::OpId, 0),
            opt("code", Kind::Str, 0),
            req("message", Kind::Str, 1),
        ],
        Optional,
    );
    Some(match tag {
        ServerTag::CONNECTED => (Message::Connected, &CONNECTED),
        ServerTag::PONG => (Message::Pong, &PONG),
        ServerTag::ERROR => (Message::Error, &ERROR),
        ServerTag::JOINED => (Message::Joined, &JOINED),
        ServerTag::LEFT => (Message::Left, &LEFT),
        ServerTag::SNAPSHOT => (Message::Snapshot, &SNAPSHOT),
        ServerTag::DELTA => (Message::Delta, &DELTA),
        ServerTag::DELTAS => (Message::Deltas, &DELTAS),
        ServerTag::PRESENCE => (Message::Presence, &PRESENCE),
        ServerTag::PRESENCE_DIFF => (Message::PresenceDiff, &PRESENCE_DIFF),
        ServerTag::SIGNAL => (Message::Signal, &SIGNAL),
        ServerTag::NOTIFY => (Message::Notify, &NOTIFY),
        ServerTag::PROGRESS => (Message::Progress, &PROGRESS),
        ServerTag::ACTION_OK => (Message::ActionOk, &ACTION_OK),
        ServerTag::ACTION_ERR => (Message::ActionErr, &ACTION_ERR),
        _ => return None,
    })
}

/// The values of one frame's fields, by kind and slot (see the layouts).
/// An optional field that was absent or nil leaves its slot `None`; a
/// required field that was read has its slot set. Payloads are not here:
/// they went to a [`Payloads`].
#[derive(Default)]
pub(super) struct Values<'a> {
    pub(super) uints: [Option<u64>; 4],
    /// Borrowed from the frame, so that reading allocates nothing that
    /// the message does not keep.
    pub(super) strs: [Option<&'a str>; 4],
    pub(super) bool: Option<bool>,
    pub(super) op_id: Option<OpId>,
    pub(super) users: [Option<Vec<PresenceInfo>>; 2],
    pub(super) strings: Option<Vec<String>>,
    pub(super) signal: Option<SignalPayload>,
    pub(super) raw: Option<RawValue>,
    pub(super) status: Option<PresenceStatus>,
    pub(super) signal_type: Option<&'static str>,
}

/// A string of the frame, owned.
pub(super) fn owned(text: Option<&str>) -> Option<String> {
    text.map(str::to_owned)
}

/// Payloads of a map that has none.
pub(super) struct NoPayloads;

impl<'a> Payloads<'a> for NoPayloads {
    fn take(&mut self, _: PayloadKind, f: &mut Fields<'a>, _: &'static str) -> Result<(), Fault> {
        f.skip_value()
    }
}

const PRESENCE_INFO: Layout = Layout::new(
    "PresenceInfo",
    &[
        req("user_id", Kind::Str, 0),
        opt("name", Kind::Str, 1),
        req("status", Kind::Status, 0),
        req("connected_at", U64, 0),
    ],
    ChannelKey::None,
);

const SIGNAL_PAYLOAD: Layout = Layout::new(
    "SignalPayload",
    &[
        req("type", Kind::SignalType, 0),
        may("sdp", Kind::Str, 0),
        may("candidate", Kind::Str, 1),
        opt("sdpMid", Kind::Str, 2),
        opt("sdpMLineIndex", U16, 0),
        opt("usernameFragment", Kind::Str, 3),
    ],
    ChannelKey::None,
);

/// A `PresenceInfo` map, the value of `field`.
pub(crate) fn presence_info(
    f: &mut Fields<'_>,
    field: &'static str,
) -> Result<PresenceInfo, Fault> {
    f.nested(field, PRESENCE_INFO.name, |map| {
        let mut v = Values::default();
        read_fields(map, &PRESENCE_INFO, &mut NoPayloads, &mut v)?;
        Ok(PresenceInfo {
            user_id: owned(v.strs[0]).unwrap_or_default(),
            name: owned(v.strs[1]),
            status: v.status.unwrap_or_default(),
            connected_at: v.uints[0].unwrap_or_default(),
        })
    })
}

/// A `SignalPayload` map, the value of `field`, dispatched on its `type`
/// (which is checked where it occurs, like every other key).
pub(crate) fn signal(f: &mut Fields<'_>, field: &'static str) -> Result<SignalPayload, Fault> {
    f.nested(field, SIGNAL_PAYLOAD.name, |map| {
        let mut v = Values::default();
        read_fields(map, &SIGNAL_PAYLOAD, &mut NoPayloads, &mut v)?;
        let needed = |text: Option<&str>, field| {
            owned(text).ok_or_else(|| missing(SIGNAL_PAYLOAD.name, field))
        };
        Ok(match v.signal_type.unwrap_or_default() {
            "offer" => SignalPayload::Offer {
                sdp: needed(v.strs[0], "sdp")?,
            },
            "answer" => SignalPayload::Answer {
                sdp: needed(v.strs[0], "sdp")?,
            },
            _ => SignalPayload::IceCandidate {
                candidate: needed(v.strs[1], "candidate")?,
                sdp_mid: owned(v.strs[2]),
                sdp_m_line_index: v.uints[0].and_then(|n| u16::try_from(n).ok()),
                username_fragment: owned(v.strs[3]),
            },
        })
    })
}

/// Reads the fields of a server message laid out as `layout` (`f` is on
/// its first field,
/// after `"t"`) into `values`, which start empty, handing payloads to
/// `payloads`. Stops at the first error.
pub(super) fn read_fields<'a>(
    f: &mut Fields<'a>,
    layout: &Layout,
    payloads: &mut dyn Payloads<'a>,
    values: &mut Values<'a>,
) -> Result<(), Fault> {
    // Bit i: field i of the layout was read.
    let mut seen = 0u8;
    while let Some(key) = f.next_key()? {
        if let Some(i) = layout.fields.iter().position(|d| d.name.as_bytes() == key) {
            read_value(f, &layout.fields[i], values, payloads)?;
            if seen & (1 << i) != 0 {
                return Err(duplicate(f.message, layout.fields[i].name));
            }
            seen |= 1 << i;
        } else if key == b"c" && layout.channel == ChannelKey::Optional {
            f.channel_field()?;
        } else if key == b"c" && layout.channel == ChannelKey::Named {
            f.named_channel_field()?;
        } else {
            f.skip()?;
        }
    }
    if layout.channel == ChannelKey::Named {
        f.channel_required()?;
    }
    if seen & layout.required != layout.required {
        return Err(first_missing(f.message, layout, seen));
    }
    Ok(())
}

/// Reads one field's value into its slot.
fn read_value<'a>(
    f: &mut Fields<'a>,
    d: &Field,
    values: &mut Values<'a>,
    payloads: &mut dyn Payloads<'a>,
) -> Result<(), Fault> {
    if d.nil_ok && f.take_nil() {
        return Ok(());
    }
    let (name, slot) = (d.name, usize::from(d.slot));
    match d.kind {
        Kind::Uint(max) => values.uints[slot] = Some(f.uint_up_to(name, max)?),
        Kind::Str => values.strs[slot] = Some(f.str(name)?),
        Kind::Bool => values.bool = Some(f.bool(name)?),
        Kind::OpId => values.op_id = Some(f.op_id(name)?),
        Kind::Payload(kind) => payloads.take(kind, f, name)?,
        Kind::Deltas => {
            f.array(name, |f, field| {
                payloads.take(PayloadKind::DeltasEntry, f, field)
            })?;
        }
        Kind::Users => values.users[slot] = Some(f.array(name, presence_info)?),
        Kind::Strings => values.strings = Some(f.strings(name)?),
        Kind::Signal => values.signal = Some(signal(f, name)?),
        Kind::Raw => values.raw = Some(f.raw(name)?),
        Kind::Status => values.status = Some(f.presence_status(name)?),
        Kind::SignalType => values.signal_type = Some(f.signal_type(name)?),
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn duplicate(message: &'static str, field: &'static str) -> Fault {
    DecodeError::DuplicateField { message, field }.into()
}

#[cold]
#[inline(never)]
fn missing(message: &'static str, field: &'static str) -> Fault {
    DecodeError::MissingField { message, field }.into()
}

/// The error for the first required field of `layout` not in `seen`.
#[cold]
#[inline(never)]
fn first_missing(message: &'static str, layout: &Layout, seen: u8) -> Fault {
    let field = (layout.fields.iter().enumerate())
        .find(|&(i, d)| d.required && seen & (1 << i) == 0)
        .map_or("", |(_, d)| d.name);
    missing(message, field)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which slots of [`Values`] a kind fills: a class (kinds of one class
    /// share slots) and how many slots it has.
    fn slots(kind: Kind) -> Option<(u8, usize)> {
        match kind {
            Kind::Uint(_) => Some((0, 4)),
            Kind::Str => Some((1, 4)),
            Kind::Users => Some((2, 2)),
            Kind::Bool => Some((3, 1)),
            Kind::OpId => Some((4, 1)),
            Kind::Strings => Some((5, 1)),
            Kind::Signal => Some((6, 1)),
            Kind::Raw => Some((7, 1)),
            Kind::Status => Some((8, 1)),
            Kind::SignalType => Some((9, 1)),
            Kind::Payload(_) | Kind::Deltas => None,
        }
    }

    /// Fields fit the reader's bit set and slots, with distinct names and
    /// slots, and none is `"c"` or `"t"`.
    fn check(name: &str, layout: &Layout) {
        assert_eq!(layout.name, name);
        assert!(layout.fields.len() <= 8, "{name}");
        for (i, d) in layout.fields.iter().enumerate() {
            assert!(!matches!(d.name, "c" | "t"), "{name}");
            assert!(!(d.required && d.nil_ok), "{name}.{}", d.name);
            if let Some((_, count)) = slots(d.kind) {
                assert!(usize::from(d.slot) < count, "{name}.{}", d.name);
            }
            for e in &layout.fields[..i] {
                assert_ne!(e.name, d.name, "{name}");
                let shared = slots(d.kind).is_some_and(|(class, _)| {
                    slots(e.kind).is_some_and(|(other, _)| other == class) && e.slot == d.slot
                });
                assert!(!shared, "{name}.{} and {} share a slot", d.name, e.name);
            }
        }
    }

    /// Every tag of the tag table has a layout of its own under the
    /// table's name, and a message kind of its own; other tags have none.
    #[test]
    fn layouts_fit_the_reader() {
        let mut messages = Vec::new();
        for row in ServerTag::ALL {
            let (message, layout) = layout(ServerTag(row.tag)).expect(row.name);
            assert_eq!(format!("{message:?}"), row.name);
            check(row.name, layout);
            messages.push(message);
        }
        messages.dedup();
        assert_eq!(messages.len(), ServerTag::ALL.len());
        for unknown in [7, 999, 1003, 65535] {
            assert!(layout(ServerTag(unknown)).is_none());
        }
        check("PresenceInfo", &PRESENCE_INFO);
        check("SignalPayload", &SIGNAL_PAYLOAD);
    }
}
