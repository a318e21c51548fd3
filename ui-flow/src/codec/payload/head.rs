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

/// One value's head: 16 bytes, so that it comes back from [`Cursor::head`]
/// in registers. A str, bin or extension value's bytes follow it unread;
/// [`Cursor::take`] reads them.
#[derive(Debug, Clone, Copy)]
pub(in crate::codec) enum Head {
    Nil,
    Bool(bool),
    /// Any unsigned marker (positive fixint, uint 8 to 64).
    Uint(u64),
    /// Any signed marker (negative fixint, int 8 to 64), whatever its sign.
    Int(i64),
    F32(f32),
    F64(f64),
    /// A str of this many bytes.
    Str(u32),
    /// A bin of this many bytes.
    Bin(u32),
    /// An array of this many values, which follow.
    Array(u32),
    /// A map of this many key-value pairs, which follow.
    Map(u32),
    /// An extension value: its type and the length of its data.
    Ext(i8, u32),
}

impl Head {
    /// What serde calls the value, for error texts.
    pub(super) fn unexpected(self) -> Unexpected<'static> {
        match self {
            Head::Nil => Unexpected::Unit,
            Head::Bool(b) => Unexpected::Bool(b),
            Head::Uint(u) => Unexpected::Unsigned(u),
            Head::Int(i) => Unexpected::Signed(i),
            Head::F32(_) | Head::F64(_) => Unexpected::Float(0.0),
            Head::Str(_) => Unexpected::Other("string"),
            Head::Bin(_) => Unexpected::Other("byte array"),
            Head::Array(_) => Unexpected::Seq,
            Head::Map(_) => Unexpected::Map,
            Head::Ext(..) => Unexpected::Other("extension value"),
        }
    }
}

/// Why the cursor stopped: one byte, so that a `Result<Head, Fault>` stays
/// 16 bytes. It becomes a [`PayloadError`] with `?`.
#[derive(Debug, Clone, Copy)]
pub(in crate::codec) enum Fault {
    /// The payload ends inside a value.
    Truncated,
    /// The byte 0xc1 where a value belongs.
    Reserved,
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl From<Fault> for PayloadError {
    #[cold]
    fn from(fault: Fault) -> Self {
        PayloadError::new(match fault {
            Fault::Truncated => "the payload ends in the middle of a value".into(),
            Fault::Reserved => "the reserved byte 0xc1 where a value belongs".into(),
            Fault::TooDeep => format!(
                "arrays and maps nested deeper than {} levels",
                u32::from(MAX_DEPTH)
            ),
        })
    }
}

/// What the cursor reads its values from.
#[derive(Debug, Clone, Copy)]
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
pub(in crate::codec) struct Cursor<'de> {
    rest: &'de [u8],
    source: Source,
    /// Levels of nesting still allowed.
    depth: u16,
    /// Set when the payload is read inside a frame, whose depth limit
    /// counts arrays and maps only: then an extension value takes no level
    /// (see [`enter_ext`](Self::enter_ext)).
    framed: bool,
}

impl<'de> Cursor<'de> {
    /// A cursor on a payload's first byte.
    pub(in crate::codec) fn new(bytes: &'de [u8]) -> Self {
        Cursor {
            rest: bytes,
            source: Source::Values,
            depth: MAX_DEPTH,
            framed: false,
        }
    }

    /// A cursor on a payload inside a frame: `bytes` run from the payload's
    /// first byte to the frame's end, and arrays and maps may nest `levels`
    /// deep (what the frame's depth limit leaves), and never deeper than
    /// [`MAX_DEPTH`] allows.
    pub(in crate::codec) fn framed(bytes: &'de [u8], levels: usize) -> Self {
        let depth = levels.saturating_add(1).min(usize::from(MAX_DEPTH));
        Cursor {
            rest: bytes,
            source: Source::Values,
            // At most MAX_DEPTH, so it fits.
            depth: u16::try_from(depth).unwrap_or(MAX_DEPTH),
            framed: true,
        }
    }

    /// A cursor on a bin's bytes, read as integers.
    pub(super) fn bytes(bytes: &'de [u8]) -> Self {
        Cursor {
            rest: bytes,
            source: Source::Bytes,
            depth: 0,
            framed: false,
        }
    }

    /// A cursor on an extension value's contents, nested in this one.
    pub(super) fn ext(&self, kind: i8, data: &'de [u8]) -> Self {
        Cursor {
            rest: data,
            source: Source::ExtArray(kind),
            depth: self.depth,
            framed: self.framed,
        }
    }

    /// Bytes not read yet.
    #[inline]
    pub(in crate::codec) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// True when the cursor reads MessagePack values (not a bin's bytes or
    /// an extension's contents).
    #[inline]
    pub(super) fn reads_values(&self) -> bool {
        matches!(self.source, Source::Values)
    }

    /// The next marker byte without reading it; `None` at the end or when
    /// the cursor does not read MessagePack values.
    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        match self.source {
            Source::Values => self.rest.first().copied(),
            _ => None,
        }
    }

    /// Steps over one byte that [`peek`](Self::peek) returned.
    #[inline]
    pub(super) fn bump(&mut self) {
        self.rest = self.rest.get(1..).unwrap_or_default();
    }

    /// Goes one level deeper, or fails at the depth limit.
    #[inline]
    pub(super) fn enter(&mut self) -> Result<(), Fault> {
        self.depth = self.depth.saturating_sub(1);
        if self.depth == 0 {
            return Err(Fault::TooDeep);
        }
        Ok(())
    }

    /// Comes back up one level.
    #[inline]
    pub(super) fn leave(&mut self) {
        self.depth += 1;
    }

    /// Goes into an extension value. On its own, a payload counts it as a
    /// level and so does the array of type and data it is presented as
    /// (as rmp-serde does); in a frame, whose limit counts only arrays and
    /// maps (`scan::walk`), neither does: this level is given back here so
    /// that the array's is given back too.
    #[inline]
    pub(super) fn enter_ext(&mut self) -> Result<(), Fault> {
        if self.framed {
            self.depth = self.depth.saturating_add(1);
            return Ok(());
        }
        self.enter()
    }

    /// Comes out of an extension value entered with
    /// [`enter_ext`](Self::enter_ext).
    #[inline]
    pub(super) fn leave_ext(&mut self) {
        if self.framed {
            self.depth -= 1;
        } else {
            self.leave();
        }
    }

    /// Reads the next value's head. Natively inlined into each dispatcher,
    /// for speed (about 10% fewer instructions per decode); one function in
    /// the browser, for size.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    pub(in crate::codec) fn head(&mut self) -> Result<Head, Fault> {
        if !matches!(self.source, Source::Values) {
            return self.head_inside();
        }
        let (&marker, rest) = self.rest.split_first().ok_or(Fault::Truncated)?;
        self.rest = rest;
        Ok(match marker {
            0x00..=0x7f => Head::Uint(u64::from(marker)),
            0x80..=0x8f => Head::Map(u32::from(marker & 0x0f)),
            0x90..=0x9f => Head::Array(u32::from(marker & 0x0f)),
            0xa0..=0xbf => Head::Str(u32::from(marker & 0x1f)),
            0xc0 => Head::Nil,
            0xc1 => return Err(Fault::Reserved),
            0xc2 => Head::Bool(false),
            0xc3 => Head::Bool(true),
            0xc4 => Head::Bin(self.u8()?),
            0xc5 => Head::Bin(self.u16()?),
            0xc6 => Head::Bin(self.u32()?),
            0xc7 => {
                let len = self.u8()?;
                Head::Ext(self.be::<1>()?[0] as i8, len)
            }
            0xc8 => {
                let len = self.u16()?;
                Head::Ext(self.be::<1>()?[0] as i8, len)
            }
            0xc9 => {
                let len = self.u32()?;
                Head::Ext(self.be::<1>()?[0] as i8, len)
            }
            0xca => Head::F32(f32::from_be_bytes(self.be()?)),
            0xcb => Head::F64(f64::from_be_bytes(self.be()?)),
            0xcc => Head::Uint(u64::from(self.u8()?)),
            0xcd => Head::Uint(u64::from(self.u16()?)),
            0xce => Head::Uint(u64::from(self.u32()?)),
            0xcf => Head::Uint(u64::from_be_bytes(self.be()?)),
            0xd0 => Head::Int(i64::from(i8::from_be_bytes(self.be()?))),
            0xd1 => Head::Int(i64::from(i16::from_be_bytes(self.be()?))),
            0xd2 => Head::Int(i64::from(i32::from_be_bytes(self.be()?))),
            0xd3 => Head::Int(i64::from_be_bytes(self.be()?)),
            0xd4..=0xd8 => Head::Ext(self.be::<1>()?[0] as i8, 1 << (marker - 0xd4)),
            0xd9 => Head::Str(self.u8()?),
            0xda => Head::Str(self.u16()?),
            0xdb => Head::Str(self.u32()?),
            0xdc => Head::Array(self.u16()?),
            0xdd => Head::Array(self.u32()?),
            0xde => Head::Map(self.u16()?),
            0xdf => Head::Map(self.u32()?),
            0xe0..=0xff => Head::Int(i64::from(marker as i8)),
        })
    }

    /// The next head of a bin's bytes or of an extension's contents.
    #[cold]
    fn head_inside(&mut self) -> Result<Head, Fault> {
        Ok(match self.source {
            Source::Bytes => {
                let [byte] = self.be()?;
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
                // The cursor is on exactly the data, which an extension
                // value of up to 2^32 - 1 bytes holds.
                Head::Bin(u32::try_from(self.rest.len()).unwrap_or(u32::MAX))
            }
            // `head` reads values itself; after an extension's data there
            // is nothing.
            Source::Values | Source::ExtDone => return Err(Fault::Truncated),
        })
    }

    /// A str's bytes, as text when they are UTF-8.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    pub(in crate::codec) fn text(
        &mut self,
        len: u32,
    ) -> Result<Result<&'de str, &'de [u8]>, Fault> {
        let bytes = self.take(len)?;
        Ok(std::str::from_utf8(bytes).map_err(|_| bytes))
    }

    /// A 128-bit integer as rmp-serde reads one: any integer, or the 16
    /// big-endian bytes of a bin (what rmp-serde writes for `i128` and
    /// `u128`) or of a fixarray of 16.
    pub(super) fn wide(&mut self) -> Result<i128, PayloadError> {
        Ok(match self.head()? {
            Head::Uint(u) => i128::from(u),
            Head::Int(i) => i128::from(i),
            Head::Bin(16) => i128::from_be_bytes(self.be()?),
            Head::Array(16) if self.reads_values() => i128::from_be_bytes(self.be()?),
            head => return Err(mismatch(head, "a 128-bit integer")),
        })
    }

    /// Steps over one whole value without handing it to anyone.
    pub(super) fn skip(&mut self) -> Result<(), Fault> {
        match self.head()? {
            Head::Str(len) | Head::Bin(len) => {
                self.take(len)?;
            }
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
            Head::Ext(_, len) => {
                self.enter_ext()?;
                self.take(len)?;
                self.leave_ext();
            }
            _ => {}
        }
        Ok(())
    }

    /// The next `len` bytes: a str's, bin's or extension value's.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    pub(in crate::codec) fn take(&mut self, len: u32) -> Result<&'de [u8], Fault> {
        let len = usize::try_from(len).map_err(|_| Fault::Truncated)?;
        if len > self.rest.len() {
            return Err(Fault::Truncated);
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    /// The next `N` bytes, for a big-endian number.
    #[inline(always)]
    fn be<const N: usize>(&mut self) -> Result<[u8; N], Fault> {
        let (bytes, rest) = self.rest.split_first_chunk::<N>().ok_or(Fault::Truncated)?;
        self.rest = rest;
        Ok(*bytes)
    }

    #[inline(always)]
    fn u8(&mut self) -> Result<u32, Fault> {
        self.be::<1>().map(|[b]| u32::from(b))
    }

    #[inline(always)]
    fn u16(&mut self) -> Result<u32, Fault> {
        self.be().map(|b| u32::from(u16::from_be_bytes(b)))
    }

    #[inline(always)]
    fn u32(&mut self) -> Result<u32, Fault> {
        self.be().map(u32::from_be_bytes)
    }
}

/// A value that cannot be what the caller asked for, named by its head.
#[cold]
pub(super) fn mismatch(head: Head, expected: &'static str) -> PayloadError {
    PayloadError::invalid_type(head.unexpected(), &expected)
}
