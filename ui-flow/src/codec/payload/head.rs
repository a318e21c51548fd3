//! The payload reader's cursor: one MessagePack value head at a time, in
//! code that is compiled once, whatever type is being deserialized.
//!
//! [`Cursor::head`] reads a marker and whatever follows it up to the next
//! value: a scalar whole, a string or binary as the bytes it borrows, an
//! array or map as its declared length. It never recurses and never
//! allocates; the serde side (`visit.rs`) only dispatches on the [`Head`].

use serde::de::{Error as _, Unexpected};

use super::PayloadError;

/// How deep arrays, maps, extension values and enum maps may nest inside one
/// payload: rmp-serde's own default, so no payload it decoded is refused.
/// A payload inside a frame never gets near it (the frame's depth limit,
/// 64 by default, counts the payload's containers too); it bounds the
/// decoder's recursion for payloads decoded on their own.
pub(super) const MAX_DEPTH: u16 = 1024;

/// One value's head.
#[derive(Debug, Clone, Copy)]
pub(super) enum Head<'de> {
    Nil,
    Bool(bool),
    /// Any unsigned marker (positive fixint, uint 8 to 64).
    Uint(u64),
    /// Any signed marker (negative fixint, int 8 to 64), whatever its sign.
    Int(i64),
    F32(f32),
    F64(f64),
    Str(&'de str),
    /// A str whose bytes are not UTF-8.
    BadStr(&'de [u8]),
    Bin(&'de [u8]),
    /// An array of this many values, which follow.
    Array(u32),
    /// A map of this many key-value pairs, which follow.
    Map(u32),
    /// An extension value: its type and its data.
    Ext(i8, &'de [u8]),
}

impl Head<'_> {
    /// What serde calls the value, for error texts.
    pub(super) fn unexpected(self) -> Unexpected<'static> {
        match self {
            Head::Nil => Unexpected::Unit,
            Head::Bool(b) => Unexpected::Bool(b),
            Head::Uint(u) => Unexpected::Unsigned(u),
            Head::Int(i) => Unexpected::Signed(i),
            Head::F32(_) | Head::F64(_) => Unexpected::Float(0.0),
            Head::Str(_) | Head::BadStr(_) => Unexpected::Other("string"),
            Head::Bin(_) => Unexpected::Other("byte array"),
            Head::Array(_) => Unexpected::Seq,
            Head::Map(_) => Unexpected::Map,
            Head::Ext(..) => Unexpected::Other("extension value"),
        }
    }
}

/// What the cursor reads its values from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// MessagePack values.
    Values,
    /// The bytes of a bin, each one an integer: how rmp-serde hands a bin to
    /// a type that asked for a sequence (`Vec<u8>` from bin).
    Bytes,
    /// An extension value's contents as rmp-serde presents them, an array of
    /// its type then its data: first that array's head, then the type, then
    /// the data, then nothing.
    ExtArray(i8),
    ExtType(i8),
    ExtData,
    ExtDone,
}

/// A position in a payload.
#[derive(Debug)]
pub(super) struct Cursor<'de> {
    rest: &'de [u8],
    source: Source,
    /// Levels of nesting still allowed.
    depth: u16,
}

impl<'de> Cursor<'de> {
    /// A cursor on a payload's first byte.
    pub(super) fn new(bytes: &'de [u8]) -> Self {
        Cursor {
            rest: bytes,
            source: Source::Values,
            depth: MAX_DEPTH,
        }
    }

    /// A cursor on a bin's bytes, read as integers.
    pub(super) fn bytes(bytes: &'de [u8]) -> Self {
        Cursor {
            rest: bytes,
            source: Source::Bytes,
            depth: 0,
        }
    }

    /// A cursor on an extension value's contents, nested in this one.
    pub(super) fn ext(&self, kind: i8, data: &'de [u8]) -> Self {
        Cursor {
            rest: data,
            source: Source::ExtArray(kind),
            depth: self.depth,
        }
    }

    /// Bytes not read yet.
    pub(super) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// True when the cursor reads MessagePack values (not a bin's bytes or
    /// an extension's contents).
    pub(super) fn reads_values(&self) -> bool {
        self.source == Source::Values
    }

    /// The next marker byte without reading it; `None` at the end or when
    /// the cursor does not read MessagePack values.
    pub(super) fn peek(&self) -> Option<u8> {
        match self.source {
            Source::Values => self.rest.first().copied(),
            _ => None,
        }
    }

    /// Steps over one byte that [`peek`](Self::peek) returned.
    pub(super) fn bump(&mut self) {
        self.rest = self.rest.get(1..).unwrap_or_default();
    }

    /// Goes one level deeper, or fails at the depth limit.
    pub(super) fn enter(&mut self) -> Result<(), PayloadError> {
        self.depth = self.depth.saturating_sub(1);
        if self.depth == 0 {
            return Err(too_deep());
        }
        Ok(())
    }

    /// Comes back up one level.
    pub(super) fn leave(&mut self) {
        self.depth += 1;
    }

    /// Reads the next value's head.
    pub(super) fn head(&mut self) -> Result<Head<'de>, PayloadError> {
        if self.source != Source::Values {
            return self.head_inside();
        }
        let (&marker, rest) = self.rest.split_first().ok_or_else(truncated)?;
        self.rest = rest;
        Ok(match marker {
            0x00..=0x7f => Head::Uint(u64::from(marker)),
            0x80..=0x8f => Head::Map(u32::from(marker & 0x0f)),
            0x90..=0x9f => Head::Array(u32::from(marker & 0x0f)),
            0xa0..=0xbf => self.str(u64::from(marker & 0x1f))?,
            0xc0 => Head::Nil,
            0xc1 => {
                return Err(PayloadError(
                    "the reserved byte 0xc1 where a value belongs".into(),
                ));
            }
            0xc2 => Head::Bool(false),
            0xc3 => Head::Bool(true),
            0xc4..=0xc6 => {
                let len = self.uint(1 << (marker - 0xc4))?;
                Head::Bin(self.take(len)?)
            }
            0xc7..=0xc9 => {
                let len = self.uint(1 << (marker - 0xc7))?;
                self.ext_value(len)?
            }
            0xca => Head::F32(f32::from_bits(self.uint(4)? as u32)),
            0xcb => Head::F64(f64::from_bits(self.uint(8)?)),
            0xcc..=0xcf => Head::Uint(self.uint(1 << (marker - 0xcc))?),
            0xd0..=0xd3 => {
                let width = 1u64 << (marker - 0xd0);
                let raw = self.uint(width)?;
                // Sign-extend from the value's own width.
                let shift = 64 - 8 * width;
                Head::Int(((raw << shift) as i64) >> shift)
            }
            0xd4..=0xd8 => self.ext_value(1 << (marker - 0xd4))?,
            0xd9..=0xdb => {
                let len = self.uint(1 << (marker - 0xd9))?;
                self.str(len)?
            }
            0xdc | 0xdd => Head::Array(self.uint(2 << (marker - 0xdc))? as u32),
            0xde | 0xdf => Head::Map(self.uint(2 << (marker - 0xde))? as u32),
            0xe0..=0xff => Head::Int(i64::from(marker as i8)),
        })
    }

    /// The next head of a bin's bytes or of an extension's contents.
    #[cold]
    fn head_inside(&mut self) -> Result<Head<'de>, PayloadError> {
        Ok(match self.source {
            Source::Bytes => {
                let (&byte, rest) = self.rest.split_first().ok_or_else(truncated)?;
                self.rest = rest;
                Head::Uint(u64::from(byte))
            }
            Source::ExtArray(kind) => {
                self.source = Source::ExtType(kind);
                Head::Array(2)
            }
            Source::ExtType(kind) => {
                self.source = Source::ExtData;
                Head::Int(i64::from(kind))
            }
            Source::ExtData => {
                self.source = Source::ExtDone;
                Head::Bin(std::mem::take(&mut self.rest))
            }
            // `head` reads values itself; after an extension's data there
            // is nothing.
            Source::Values | Source::ExtDone => return Err(truncated()),
        })
    }

    /// A 128-bit integer as rmp-serde reads one: any integer, or the 16
    /// big-endian bytes of a bin (what rmp-serde writes for `i128` and
    /// `u128`) or of a fixarray of 16.
    pub(super) fn wide(&mut self) -> Result<i128, PayloadError> {
        Ok(match self.head()? {
            Head::Uint(u) => i128::from(u),
            Head::Int(i) => i128::from(i),
            Head::Bin(b) if b.len() == 16 => i128::from_be_bytes(sixteen(b)),
            Head::Array(16) if self.reads_values() => i128::from_be_bytes(sixteen(self.take(16)?)),
            head => return Err(mismatch(head, "a 128-bit integer")),
        })
    }

    /// Steps over one whole value without handing it to anyone.
    pub(super) fn skip(&mut self) -> Result<(), PayloadError> {
        match self.head()? {
            Head::Array(len) => {
                self.enter()?;
                for _ in 0..len {
                    self.skip()?;
                }
                self.leave();
            }
            Head::Map(len) => {
                self.enter()?;
                for _ in 0..len {
                    self.skip()?;
                    self.skip()?;
                }
                self.leave();
            }
            Head::Ext(..) => {
                self.enter()?;
                self.leave();
            }
            _ => {}
        }
        Ok(())
    }

    /// The next `len` bytes.
    fn take(&mut self, len: u64) -> Result<&'de [u8], PayloadError> {
        let len = match usize::try_from(len) {
            Ok(len) if len <= self.rest.len() => len,
            _ => return Err(truncated()),
        };
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    /// A big-endian unsigned integer of `width` bytes (1, 2, 4 or 8).
    fn uint(&mut self, width: u64) -> Result<u64, PayloadError> {
        let bytes = self.take(width)?;
        Ok(bytes.iter().fold(0, |n, &b| (n << 8) | u64::from(b)))
    }

    /// A str of `len` bytes.
    fn str(&mut self, len: u64) -> Result<Head<'de>, PayloadError> {
        let bytes = self.take(len)?;
        Ok(match std::str::from_utf8(bytes) {
            Ok(s) => Head::Str(s),
            Err(_) => Head::BadStr(bytes),
        })
    }

    /// An extension value of `len` data bytes, after its type byte.
    fn ext_value(&mut self, len: u64) -> Result<Head<'de>, PayloadError> {
        let kind = self.take(1)?[0] as i8;
        Ok(Head::Ext(kind, self.take(len)?))
    }
}

/// Sixteen bytes as an array (`bytes` has exactly 16).
fn sixteen(bytes: &[u8]) -> [u8; 16] {
    let mut array = [0; 16];
    for (to, from) in array.iter_mut().zip(bytes) {
        *to = *from;
    }
    array
}

/// The payload ends inside a value.
#[cold]
pub(super) fn truncated() -> PayloadError {
    PayloadError("the payload ends in the middle of a value".into())
}

/// Arrays and maps nest deeper than [`MAX_DEPTH`].
#[cold]
fn too_deep() -> PayloadError {
    PayloadError(format!(
        "arrays and maps nested deeper than {MAX_DEPTH} levels"
    ))
}

/// A value that cannot be what the caller asked for, named by its head.
#[cold]
pub(super) fn mismatch(head: Head<'_>, expected: &'static str) -> PayloadError {
    PayloadError::invalid_type(head.unexpected(), &expected)
}
