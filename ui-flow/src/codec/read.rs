//! Reading the fields of one map, checking structure as it goes.
//!
//! The envelope's own values are read directly, heads through the payload
//! reader's head reader. Payloads are deserialized in place by the payload
//! reader, which holds them to what is left of the depth limit; skipped and
//! raw values are walked by [`scan::walk`] within the same limit. So no
//! truncated, too deep or length-bomb input gets through. Every reader fails
//! rather than panics on malformed bytes; the
//! caller then re-examines the whole frame (see `decode_frame` in the parent
//! module) so that the error reported is the first one in the frame.

use std::collections::HashSet;

use serde::Deserialize;

use super::payload::PayloadError;
use super::payload::head::{Cursor, Head};
use super::scan;
use crate::error::DecodeError;
use crate::op::OpId;
use crate::presence::PresenceStatus;
use crate::quoted::Quoted;
use crate::raw::RawValue;
use crate::signal::SignalPayload;

/// A [`DecodeError`] on its way out of the field reader, boxed: every `?`
/// in the per-message readers then moves one pointer instead of the whole
/// error, which took a large share of their size in wasm (BENCHMARKS.md,
/// "Client wasm size"). The box is only allocated on the error path, which
/// ends the frame's reading.
#[derive(Debug)]
pub(crate) struct Fault(Box<DecodeError>);

impl From<DecodeError> for Fault {
    #[cold]
    fn from(error: DecodeError) -> Self {
        Fault(Box::new(error))
    }
}

impl From<Fault> for DecodeError {
    fn from(fault: Fault) -> Self {
        *fault.0
    }
}

const NIL: u8 = 0xc0;

/// A cursor over the entries of one map.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    left: u32,
    /// The message (or nested type) name, for error messages.
    pub(crate) message: &'static str,
    /// Set on a frame's own map once `"t"` has been read, so that a second
    /// `"t"` is rejected instead of skipped as an unknown field (a reader that
    /// kept the last `"t"` would otherwise see a different message).
    pub(crate) tag_read: bool,
    /// The frame's channel (its `"c"`), 0 until one is read.
    pub(crate) channel: u16,
    /// Whether `"c"` was read, so that a second one is a duplicate.
    channel_read: bool,
    /// The nesting level of this map (the frame's own map is 1).
    depth: usize,
    /// The deepest level allowed ([`Limits::max_depth`](super::Limits::max_depth)).
    max_depth: usize,
    /// Where the last key read starts.
    key_offset: usize,
    /// The unknown keys seen so far, so that a repeated one is rejected like
    /// a repeated field (known fields are caught by their [`Slot`]). Only
    /// allocated once an unknown key turns up.
    unknown_keys: Option<HashSet<&'a [u8]>>,
}

/// A field slot that must be filled at most once.
pub(crate) struct Slot<T>(Option<T>);

impl<T> Slot<T> {
    pub(crate) fn new() -> Self {
        Slot(None)
    }

    pub(crate) fn set(
        &mut self,
        value: T,
        message: &'static str,
        field: &'static str,
    ) -> Result<(), Fault> {
        if self.0.is_some() {
            return Err(DecodeError::DuplicateField { message, field }.into());
        }
        self.0 = Some(value);
        Ok(())
    }

    pub(crate) fn required(self, message: &'static str, field: &'static str) -> Result<T, Fault> {
        self.0
            .ok_or_else(|| DecodeError::MissingField { message, field }.into())
    }
}

impl<T> Slot<Option<T>> {
    /// An optional field: absent and nil both mean `None`.
    pub(crate) fn optional(self) -> Option<T> {
        self.0.flatten()
    }
}

#[cold]
#[inline(never)]
fn over_max(message: &'static str, field: &'static str, value: u64, max: u64) -> Fault {
    invalid(message, field, format!("{value} is over the maximum {max}"))
}

fn invalid(message: &'static str, field: &'static str, reason: impl Into<String>) -> Fault {
    DecodeError::InvalidField {
        message,
        field,
        reason: reason.into(),
    }
    .into()
}

impl<'a> Fields<'a> {
    /// Opens the frame's own map at the start of `buf`.
    pub(crate) fn open(
        buf: &'a [u8],
        message: &'static str,
        max_depth: usize,
    ) -> Result<Self, Fault> {
        Fields::open_at(buf, 0, message, 1, max_depth)
    }

    /// Opens the map at `pos`, nested at level `depth`.
    fn open_at(
        buf: &'a [u8],
        pos: usize,
        message: &'static str,
        depth: usize,
        max_depth: usize,
    ) -> Result<Self, Fault> {
        let Some((Head::Map(left), next)) = head_at(buf, pos) else {
            return Err(DecodeError::NotAMap.into());
        };
        if depth > max_depth {
            return Err(DecodeError::TooDeep {
                max: max_depth,
                offset: pos,
            }
            .into());
        }
        Ok(Fields {
            buf,
            pos: next,
            left,
            message,
            tag_read: false,
            channel: 0,
            channel_read: false,
            depth,
            max_depth,
            key_offset: pos,
            unknown_keys: None,
        })
    }

    /// Opens the map at the cursor as the value of `field`, for nested types.
    fn open_nested(&self, field: &'static str, nested: &'static str) -> Result<Self, Fault> {
        Fields::open_at(self.buf, self.pos, nested, self.depth + 1, self.max_depth).map_err(
            |error| match *error.0 {
                DecodeError::NotAMap => invalid(self.message, field, "expected a map"),
                _ => error,
            },
        )
    }

    /// Checks that the frame ends where its map ended.
    pub(crate) fn finish_frame(&self) -> Result<(), Fault> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { extra }.into()),
        }
    }

    /// The head of the value at the cursor and the offset after it; `None`
    /// when there is no well-formed head there.
    fn head(&self) -> Option<(Head, usize)> {
        head_at(self.buf, self.pos)
    }

    /// The next key's bytes, or `None` when the map is exhausted.
    ///
    /// Keys are matched as bytes against the protocol's field names, which
    /// are ASCII, so a key that matches one is valid UTF-8; a key that
    /// matches none is checked by [`skip`](Self::skip).
    pub(crate) fn next_key(&mut self) -> Result<Option<&'a [u8]>, Fault> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let offset = self.pos;
        let (key, next) = key_at(self.buf, offset).ok_or(DecodeError::InvalidKey { offset })?;
        if self.tag_read && key == b"t" {
            return Err(DecodeError::DuplicateField {
                message: self.message,
                field: "t",
            }
            .into());
        }
        self.key_offset = offset;
        self.pos = next;
        Ok(Some(key))
    }

    /// Checks the rest of a frame whose tag this build does not know: every
    /// key a string and no second `"t"`. The values are not examined.
    pub(crate) fn finish_unknown(&mut self) -> Result<(), Fault> {
        while self.next_key()?.is_some() {
            self.skip()?;
        }
        Ok(())
    }

    /// Skips the value of an unknown field (checking it like any other),
    /// after checking that its key is UTF-8 and that it did not occur before
    /// in this map.
    pub(crate) fn skip(&mut self) -> Result<(), Fault> {
        let offset = self.key_offset;
        let (key, _) = str_at(self.buf, offset).ok_or(DecodeError::InvalidKey { offset })?;
        self.value_bytes()?;
        if !self
            .unknown_keys
            .get_or_insert_with(HashSet::new)
            .insert(key.as_bytes())
        {
            return Err(DecodeError::DuplicateKey {
                message: self.message,
                key: key.to_owned(),
            }
            .into());
        }
        Ok(())
    }

    /// Skips the next value without any check on its key (for readers that
    /// only look at part of a frame).
    pub(crate) fn skip_value(&mut self) -> Result<(), Fault> {
        self.value_bytes().map(drop)
    }

    /// The bytes of the next value, for readers that only look at part of a
    /// frame.
    pub(crate) fn value_bytes_for_peek(&mut self) -> Option<&'a [u8]> {
        self.value_bytes().ok()
    }

    /// The bytes of the next value, walked within what is left of the depth
    /// limit.
    fn value_bytes(&mut self) -> Result<&'a [u8], Fault> {
        let start = self.pos;
        self.pos = scan::walk(self.buf, start, self.max_depth.saturating_sub(self.depth))?;
        Ok(&self.buf[start..self.pos])
    }

    /// Consumes a nil if one is next.
    pub(crate) fn take_nil(&mut self) -> bool {
        if self.buf.get(self.pos) == Some(&NIL) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The optional `"c"` of a resource's message: a `uint16`, nil or 0
    /// meaning channel 0.
    pub(crate) fn channel_field(&mut self) -> Result<(), Fault> {
        let channel = self.opt("c", Fields::uint::<u16>)?.unwrap_or(0);
        self.set_channel(channel)
    }

    /// The required `"c"` of `Join`, `Leave`, `Joined` and `Left`: 1 to
    /// 65535, since channel 0 is the URL's resource, never joined or left.
    pub(crate) fn named_channel_field(&mut self) -> Result<(), Fault> {
        let channel = self.uint::<u16>("c")?;
        if channel == 0 {
            return Err(invalid(
                self.message,
                "c",
                "channel 0 is the URL's resource; expected 1 to 65535",
            ));
        }
        self.set_channel(channel)
    }

    fn set_channel(&mut self, channel: u16) -> Result<(), Fault> {
        if self.channel_read {
            return Err(DecodeError::DuplicateField {
                message: self.message,
                field: "c",
            }
            .into());
        }
        self.channel_read = true;
        self.channel = channel;
        Ok(())
    }

    /// Fails unless a `"c"` was read (see [`named_channel_field`](Self::named_channel_field)).
    pub(crate) fn channel_required(&self) -> Result<(), Fault> {
        if self.channel_read {
            Ok(())
        } else {
            Err(DecodeError::MissingField {
                message: self.message,
                field: "c",
            }
            .into())
        }
    }

    /// An optional field's value: nil is `None`.
    pub(crate) fn opt<T>(
        &mut self,
        field: &'static str,
        read: impl FnOnce(&mut Self, &'static str) -> Result<T, Fault>,
    ) -> Result<Option<T>, Fault> {
        if self.take_nil() {
            Ok(None)
        } else {
            read(self, field).map(Some)
        }
    }

    /// An unsigned integer that fits `T`.
    #[inline]
    pub(crate) fn uint<T: num_cast::FromU64>(&mut self, field: &'static str) -> Result<T, Fault> {
        let value = self.uint_up_to(field, T::MAX)?;
        // Checked against `T::MAX` already, so this cannot fail.
        T::from_u64(value).ok_or_else(|| over_max(self.message, field, value, T::MAX))
    }

    /// An unsigned integer up to `max`.
    #[inline]
    pub(crate) fn uint_up_to(&mut self, field: &'static str, max: u64) -> Result<u64, Fault> {
        // Unsigned markers directly; anything else (a signed marker holding
        // a non-negative value is allowed) through the head reader.
        if let Some((value, next)) = uint_at(self.buf, self.pos)
            && value <= max
        {
            self.pos = next;
            return Ok(value);
        }
        self.uint_slow(field, max)
    }

    /// [`uint_up_to`](Self::uint_up_to) for signed markers, and its errors.
    #[cold]
    #[inline(never)]
    fn uint_slow(&mut self, field: &'static str, max: u64) -> Result<u64, Fault> {
        let (value, next) = match self.head() {
            Some((Head::Uint(value), next)) => (value, next),
            Some((Head::Int(value), next)) if value >= 0 => (value.unsigned_abs(), next),
            _ => {
                return Err(invalid(
                    self.message,
                    field,
                    format!("expected an unsigned integer up to {max}"),
                ));
            }
        };
        if value > max {
            return Err(over_max(self.message, field, value, max));
        }
        self.pos = next;
        Ok(value)
    }

    /// A boolean.
    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool, Fault> {
        let Some((Head::Bool(value), next)) = self.head() else {
            return Err(invalid(self.message, field, "expected a boolean"));
        };
        self.pos = next;
        Ok(value)
    }

    /// A UTF-8 string, borrowed from the frame.
    pub(crate) fn str(&mut self, field: &'static str) -> Result<&'a str, Fault> {
        let (value, next) = str_at(self.buf, self.pos)
            .ok_or_else(|| invalid(self.message, field, "expected a UTF-8 string"))?;
        self.pos = next;
        Ok(value)
    }

    /// A UTF-8 string, owned.
    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, Fault> {
        self.str(field).map(str::to_owned)
    }

    /// An array, each element read by `read`.
    pub(crate) fn array<T>(
        &mut self,
        field: &'static str,
        mut read: impl FnMut(&mut Self, &'static str) -> Result<T, Fault>,
    ) -> Result<Vec<T>, Fault> {
        let offset = self.pos;
        let Some((Head::Array(len), next)) = self.head() else {
            return Err(invalid(self.message, field, "expected an array"));
        };
        if self.depth + 1 > self.max_depth {
            return Err(DecodeError::TooDeep {
                max: self.max_depth,
                offset,
            }
            .into());
        }
        self.pos = next;
        // `len` is not trusted: reading stops at the first element that is
        // not there, and the memory reserved up front is capped.
        let mut out = Vec::with_capacity((len as usize).min(1024));
        self.depth += 1;
        let read_all = (0..len).try_for_each(|_| {
            out.push(read(self, field)?);
            Ok(())
        });
        self.depth -= 1;
        read_all.map(|()| out)
    }

    /// A list of strings.
    pub(crate) fn strings(&mut self, field: &'static str) -> Result<Vec<String>, Fault> {
        self.array(field, |f, field| f.string(field))
    }

    /// An application payload, deserialized where it lies by the payload
    /// reader, which enforces what is left of the depth limit as it reads:
    /// the payload is not walked first to find its end. The reader checks
    /// truncation, the reserved byte and the depth as it reads, and a frame
    /// whose payload fails is walked whole by [`super::decode_frame`], so
    /// the error reported stays the frame's first.
    ///
    /// Compiled once per payload type, so all but `T::deserialize` is in
    /// the two functions below.
    pub(crate) fn payload<T: Deserialize<'a>>(&mut self, field: &'static str) -> Result<T, Fault> {
        let mut cursor = self.payload_cursor();
        let start = cursor.remaining();
        match T::deserialize(&mut cursor) {
            Ok(value) => {
                self.pos += start - cursor.remaining();
                Ok(value)
            }
            Err(error) => Err(self.payload_error(error, field)),
        }
    }

    /// A cursor on the payload at the current position, allowed what is
    /// left of the frame's depth limit.
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    fn payload_cursor(&self) -> Cursor<'a> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        Cursor::framed(rest, self.max_depth.saturating_sub(self.depth))
    }

    /// A payload that did not deserialize, as the field's error.
    #[cold]
    #[inline(never)]
    fn payload_error(&self, error: PayloadError, field: &'static str) -> Fault {
        super::payload_error(error, self.message, field).into()
    }

    /// A value kept as its encoded bytes.
    pub(crate) fn raw(&mut self, _field: &'static str) -> Result<RawValue, Fault> {
        Ok(RawValue::from_validated(self.value_bytes()?.to_vec()))
    }

    /// An operation id: 16-byte bin, or the hyphenated UUID text.
    pub(crate) fn op_id(&mut self, field: &'static str) -> Result<OpId, Fault> {
        // The canonical form, bin8 of 16 bytes, without the head reader.
        if let Some(&[0xc4, 16, ref id @ ..]) = self.buf.get(self.pos..self.pos + 18)
            && let Ok(bytes) = <[u8; 16]>::try_from(id)
        {
            self.pos += 18;
            return Ok(OpId::from_bytes(bytes));
        }
        if let Some((Head::Bin(len), body)) = self.head() {
            let bytes: [u8; 16] = self
                .buf
                .get(body..)
                .and_then(|rest| rest.get(..len as usize))
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    invalid(self.message, field, format!("expected 16 bytes, got {len}"))
                })?;
            self.pos = body + 16;
            return Ok(OpId::from_bytes(bytes));
        }
        let text = self.str(field).map_err(|_| {
            invalid(
                self.message,
                field,
                "expected a 16-byte bin or a UUID string",
            )
        })?;
        // Only the hyphenated form is on the wire; the UUID parser alone would
        // also take the simple, braced and URN forms that other readers reject.
        if text.len() != 36 {
            return Err(invalid(
                self.message,
                field,
                "not a hyphenated UUID (36 characters)",
            ));
        }
        OpId::from_hyphenated(text).ok_or_else(|| invalid(self.message, field, "not a UUID"))
    }

    /// A presence status string.
    pub(crate) fn presence_status(&mut self, field: &'static str) -> Result<PresenceStatus, Fault> {
        let text = self.str(field)?;
        PresenceStatus::from_wire(text).ok_or_else(|| {
            invalid(
                self.message,
                field,
                format!(
                    "unknown status {} (expected active, idle or away)",
                    Quoted(text)
                ),
            )
        })
    }

    /// The map at the cursor, the value of `field`, read by `read` as the
    /// nested type `name` (one level deeper).
    pub(crate) fn nested<T>(
        &mut self,
        field: &'static str,
        name: &'static str,
        read: impl FnOnce(&mut Self) -> Result<T, Fault>,
    ) -> Result<T, Fault> {
        let mut map = self.open_nested(field, name)?;
        let value = read(&mut map)?;
        self.pos = map.pos;
        Ok(value)
    }

    /// A `SignalPayload` map, dispatched on its `type` key.
    pub(crate) fn signal(&mut self, field: &'static str) -> Result<SignalPayload, Fault> {
        super::envelope::signal(self, field)
    }

    /// A `SignalType` string.
    pub(crate) fn signal_type(&mut self, field: &'static str) -> Result<&'static str, Fault> {
        let text = self.str(field)?;
        ["offer", "answer", "candidate"]
            .into_iter()
            .find(|known| *known == text)
            .ok_or_else(|| {
                invalid(
                    self.message,
                    field,
                    format!(
                        "unknown signal type {} (expected offer, answer or candidate)",
                        Quoted(text)
                    ),
                )
            })
    }
}

/// The head of the value at `pos`, read by the payload reader's head reader
/// (one function for every MessagePack head in the codec), and the offset
/// after the head; `None` when the bytes there are not a well-formed head.
/// A str, bin or extension value's bytes follow the head, unread.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn head_at(buf: &[u8], pos: usize) -> Option<(Head, usize)> {
    let rest = buf.get(pos..)?;
    let mut cursor = Cursor::new(rest);
    let head = cursor.head().ok()?;
    Some((head, buf.len() - cursor.remaining()))
}

/// The UTF-8 string at `pos` and the offset after it; `None` when the value
/// there is not a string (or not UTF-8).
fn str_at(buf: &[u8], pos: usize) -> Option<(&str, usize)> {
    let (bytes, end) = key_at(buf, pos)?;
    Some((std::str::from_utf8(bytes).ok()?, end))
}

/// The bytes of the string at `pos` (not checked for UTF-8) and the offset
/// after it; `None` when the value there is not a string or is cut short.
#[inline]
fn key_at(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let mut cursor = Cursor::new(buf.get(pos..)?);
    let Ok(Head::Str(len)) = cursor.head() else {
        return None;
    };
    let bytes = cursor.take(len).ok()?;
    Some((bytes, buf.len() - cursor.remaining()))
}

/// The integer under an unsigned marker at `pos` and the offset after it.
#[inline]
fn uint_at(buf: &[u8], pos: usize) -> Option<(u64, usize)> {
    match head_at(buf, pos)? {
        (Head::Uint(value), next) => Some((value, next)),
        _ => None,
    }
}

/// Narrowing from `u64` for the integer field types the protocol uses.
pub(crate) mod num_cast {
    /// An unsigned integer type a `u64` may narrow into.
    pub(crate) trait FromU64: Sized {
        const MAX: u64;
        fn from_u64(v: u64) -> Option<Self>;
    }

    macro_rules! from_u64 {
        ($($t:ty),*) => {$(
            impl FromU64 for $t {
                const MAX: u64 = <$t>::MAX as u64;
                fn from_u64(v: u64) -> Option<Self> {
                    <$t>::try_from(v).ok()
                }
            }
        )*};
    }
    from_u64!(u8, u16, u32, u64);
}
