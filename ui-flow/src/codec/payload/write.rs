//! Encoding application payloads: a MessagePack serializer for serde of our
//! own, writing into the frame's `Vec<u8>`.
//!
//! What it is: a `serde::Serializer` whose bytes are exactly those of
//! rmp-serde 1.3 with `with_struct_map()` (`rmp_serde::to_vec_named`), value
//! for value (`tests`, by proptest): integers in their shortest form, floats
//! as written (`f32` stays `f32`), structs as maps of field names, enum
//! variants as their name (unit) or a one-entry map from the name to the
//! value, tuple or struct, unit structs as an empty array, `i128`/`u128` as
//! 16 big-endian bytes (bin), and the newtype `_ExtStruct(i8, bytes)` as
//! an extension value. Heads are written by the frame's head writer
//! (`codec::write`), so the browser carries one copy of it.
//!
//! Sequences and maps of unknown length (`collect_seq` over a filter, a
//! struct with flattened fields, JavaScript values) are written where they
//! belong and their head is put in front once at the end, in its shortest
//! form as rmp-serde's: no second buffer, no second serializer type.
//!
//! What it is not: lenient where rmp-serde writes malformed MessagePack.
//! A sequence or map that yields another count than it declared, a map key
//! without a value, a length over `u32::MAX` and an `_ExtStruct` that is not
//! exactly `(i8, bytes)` are a [`WriteError`]; rmp-serde would write the
//! declared head regardless (or, for `(i8, bytes, more…)`, ignore the rest).
//! It never panics. It has no depth limit, as rmp-serde has none when
//! writing: a payload is a Rust value, already finite.

use std::fmt;

use serde::ser::{self, Serialize};

use crate::codec::write::{Head, uint};

/// The newtype name under which serde types (rmpv's `Value::Ext`,
/// rmp-serde's `Ext`) ask for a MessagePack extension value.
const EXT_NAME: &str = "_ExtStruct";

/// Why a payload did not serialize: one pointer, so that every call's
/// `Result<(), WriteError>` is returned in a register.
#[derive(Debug)]
pub(crate) struct WriteError(Box<Kind>);

/// What [`WriteError`] says.
#[derive(Debug)]
pub(crate) enum Kind {
    /// The value's `Serialize` failed, with its text.
    Custom(String),
    /// A sequence or map gave another number of items than it declared.
    Count { declared: u32, written: u32 },
    /// A map ended after a key, or a value came without a key.
    Unpaired,
    /// A string, byte string, sequence or map longer than `u32::MAX`.
    TooLong,
    /// `_ExtStruct` was not a tuple of an `i8` and bytes.
    Ext,
}

impl WriteError {
    /// What went wrong.
    #[cfg(test)]
    pub(crate) fn kind(&self) -> &Kind {
        &self.0
    }
}

impl From<Kind> for WriteError {
    #[cold]
    fn from(kind: Kind) -> Self {
        WriteError(Box::new(kind))
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Kind::Custom(text) => f.write_str(text),
            Kind::Count { declared, written } => {
                write!(f, "declared {declared} items, wrote {written}")
            }
            Kind::Unpaired => f.write_str("map key without a value"),
            Kind::TooLong => f.write_str("length over u32::MAX"),
            Kind::Ext => f.write_str("extension value must be (i8, bytes)"),
        }
    }
}

impl std::error::Error for WriteError {}

impl ser::Error for WriteError {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Kind::Custom(msg.to_string()).into()
    }
}

/// Appends `value` to `buf` as rmp-serde's `to_vec_named` would write it.
/// On error `buf` is left as it was.
pub(crate) fn write<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> Result<(), WriteError> {
    let start = buf.len();
    let result = value.serialize(&mut Writer { buf: &mut *buf });
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

/// A length as MessagePack holds it.
fn len(n: usize) -> Result<u32, WriteError> {
    u32::try_from(n).map_err(|_| Kind::TooLong.into())
}

/// Writes a signed integer in its smallest form, as `rmp::encode::write_sint`:
/// non-negative values as unsigned ones.
fn sint(buf: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        uint(buf, v as u64);
    } else if v >= -32 {
        buf.push(v as u8);
    } else if v >= -128 {
        buf.extend_from_slice(&[0xd0, v as u8]);
    } else if v >= -32768 {
        buf.push(0xd1);
        buf.extend_from_slice(&(v as i16).to_be_bytes());
    } else if v >= i64::from(i32::MIN) {
        buf.push(0xd2);
        buf.extend_from_slice(&(v as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&v.to_be_bytes());
    }
}

/// Writes a str: head, then the bytes; a fixstr (field names, most short
/// strings) without the general head writer, natively.
#[cfg_attr(not(target_arch = "wasm32"), inline)]
fn str(buf: &mut Vec<u8>, text: &str) -> Result<(), WriteError> {
    #[cfg(not(target_arch = "wasm32"))]
    if text.len() < 32 {
        buf.reserve(1 + text.len());
        buf.push(0xa0 | text.len() as u8);
        // byte by byte: no call to `memcpy` for a few bytes
        buf.extend(text.bytes());
        return Ok(());
    }
    sized(buf, Head::Str, text.as_bytes())
}

/// Writes the head of a map or array of `n` entries or elements; a fixmap
/// or fixarray without the general head writer, natively.
#[cfg_attr(not(target_arch = "wasm32"), inline)]
fn head(buf: &mut Vec<u8>, head: Head, n: u32) {
    #[cfg(not(target_arch = "wasm32"))]
    if n < 16 {
        buf.push(
            if matches!(head, Head::Map) {
                0x80
            } else {
                0x90
            } | n as u8,
        );
        return;
    }
    head.write(buf, n);
}

/// Writes a str or bin: head, then the bytes.
fn sized(buf: &mut Vec<u8>, head: Head, bytes: &[u8]) -> Result<(), WriteError> {
    head.write(buf, len(bytes.len())?);
    buf.extend_from_slice(bytes);
    Ok(())
}

/// The serializer: a place to append to.
pub(crate) struct Writer<'b> {
    buf: &'b mut Vec<u8>,
}

impl<'b> Writer<'b> {
    /// Starts the one-entry map `{variant: …}` of a non-unit enum variant.
    fn variant(&mut self, variant: &str) -> Result<(), WriteError> {
        Head::Map.write(self.buf, 1);
        str(self.buf, variant)
    }

    /// Starts a sequence or map; its head now if its length is known.
    fn counted<'a>(
        &'a mut self,
        head: Head,
        declared: Option<usize>,
    ) -> Result<Counted<'a, 'b>, WriteError> {
        let declared = declared.map(len).transpose()?;
        if let Some(n) = declared {
            self::head(self.buf, head, n);
        }
        Ok(Counted {
            start: self.buf.len(),
            w: self,
            head,
            declared,
            count: 0,
            key: false,
        })
    }
}

impl<'a, 'b> ser::Serializer for &'a mut Writer<'b> {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = Counted<'a, 'b>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Counted<'a, 'b>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<(), WriteError> {
        self.buf.push(0xc2 | u8::from(v));
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), WriteError> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<(), WriteError> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<(), WriteError> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<(), WriteError> {
        sint(self.buf, v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), WriteError> {
        self.serialize_bytes(&v.to_be_bytes())
    }

    fn serialize_u8(self, v: u8) -> Result<(), WriteError> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<(), WriteError> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<(), WriteError> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<(), WriteError> {
        #[cfg(not(target_arch = "wasm32"))]
        if v < 0x80 {
            self.buf.push(v as u8);
            return Ok(());
        }
        uint(self.buf, v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), WriteError> {
        self.serialize_bytes(&v.to_be_bytes())
    }

    fn serialize_f32(self, v: f32) -> Result<(), WriteError> {
        let [a, b, c, d] = v.to_be_bytes();
        self.buf.extend_from_slice(&[0xca, a, b, c, d]);
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), WriteError> {
        let [a, b, c, d, e, f, g, h] = v.to_be_bytes();
        self.buf.extend_from_slice(&[0xcb, a, b, c, d, e, f, g, h]);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), WriteError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), WriteError> {
        str(self.buf, v)
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), WriteError> {
        sized(self.buf, Head::Bin, v)
    }

    fn serialize_none(self) -> Result<(), WriteError> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), WriteError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), WriteError> {
        self.buf.push(0xc0);
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), WriteError> {
        Head::Array.write(self.buf, 0);
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), WriteError> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        if name == EXT_NAME {
            let mut ext = Ext {
                buf: &mut *self.buf,
                stage: Stage::Tuple,
            };
            value.serialize(&mut ext)?;
            return match ext.stage {
                Stage::Done => Ok(()),
                _ => Err(Kind::Ext.into()),
            };
        }
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        self.variant(variant)?;
        value.serialize(self)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Counted<'a, 'b>, WriteError> {
        self.counted(Head::Array, len)
    }

    fn serialize_tuple(self, n: usize) -> Result<Self, WriteError> {
        head(self.buf, Head::Array, len(n)?);
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, n: usize) -> Result<Self, WriteError> {
        self.serialize_tuple(n)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        n: usize,
    ) -> Result<Self, WriteError> {
        self.variant(variant)?;
        self.serialize_tuple(n)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Counted<'a, 'b>, WriteError> {
        self.counted(Head::Map, len)
    }

    fn serialize_struct(self, _name: &'static str, n: usize) -> Result<Self, WriteError> {
        head(self.buf, Head::Map, len(n)?);
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        n: usize,
    ) -> Result<Self, WriteError> {
        self.variant(variant)?;
        self.serialize_struct(name, n)
    }
}

/// Tuples, tuple structs and tuple variants: elements one after the other.
macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for &mut Writer<'_> {
            type Ok = ();
            type Error = WriteError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
                value.serialize(&mut **self)
            }

            fn end(self) -> Result<(), WriteError> {
                Ok(())
            }
        }
    )*};
}

elements!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// Structs and struct variants: field name, then value.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for &mut Writer<'_> {
            type Ok = ();
            type Error = WriteError;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), WriteError> {
                str(self.buf, key)?;
                value.serialize(&mut **self)
            }

            fn end(self) -> Result<(), WriteError> {
                Ok(())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

/// A sequence or map being written, its items counted: checked against the
/// declared length, or, when none was declared, written as the head in
/// front of the items at the end.
pub(crate) struct Counted<'a, 'b> {
    w: &'a mut Writer<'b>,
    head: Head,
    /// Where the items start.
    start: usize,
    declared: Option<u32>,
    /// Items (entries, for a map) written so far.
    count: u32,
    /// A map key was written and its value not yet.
    key: bool,
}

impl Counted<'_, '_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        value.serialize(&mut *self.w)?;
        self.count = self.count.checked_add(1).ok_or(Kind::TooLong)?;
        Ok(())
    }

    fn finish(self) -> Result<(), WriteError> {
        if self.key {
            return Err(Kind::Unpaired.into());
        }
        match self.declared {
            Some(declared) if declared != self.count => Err(Kind::Count {
                declared,
                written: self.count,
            }
            .into()),
            Some(_) => Ok(()),
            None => {
                put_head_before(self.w.buf, self.start, self.head, self.count);
                Ok(())
            }
        }
    }
}

/// Puts the head of `count` items in front of the items that start at
/// `start`: written at the end, then moved once with the items shifted.
fn put_head_before(buf: &mut Vec<u8>, start: usize, head: Head, count: u32) {
    let end = buf.len();
    head.write(buf, count);
    let n = buf.len() - end;
    let mut bytes = [0; 5];
    bytes[..n].copy_from_slice(&buf[end..]);
    buf.copy_within(start..end, start + n);
    buf[start..start + n].copy_from_slice(&bytes[..n]);
}

impl ser::SerializeSeq for Counted<'_, '_> {
    type Ok = ();
    type Error = WriteError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        self.item(value)
    }

    fn end(self) -> Result<(), WriteError> {
        self.finish()
    }
}

impl ser::SerializeMap for Counted<'_, '_> {
    type Ok = ();
    type Error = WriteError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), WriteError> {
        if self.key {
            return Err(Kind::Unpaired.into());
        }
        self.key = true;
        key.serialize(&mut *self.w)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        if !self.key {
            return Err(Kind::Unpaired.into());
        }
        self.key = false;
        self.item(value)
    }

    fn end(self) -> Result<(), WriteError> {
        self.finish()
    }
}

/// Where an extension value (`_ExtStruct((i8, bytes))`) is in its writing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Tuple,
    Tag,
    Data(i8),
    Done,
}

/// The serializer inside `_ExtStruct`: takes a tuple of an `i8` (the type)
/// and bytes (the data), and writes them as one extension value, in its
/// smallest form as `rmp::encode::write_ext_meta`. Anything else is
/// [`Kind::Ext`].
struct Ext<'b> {
    buf: &'b mut Vec<u8>,
    stage: Stage,
}

impl Ext<'_> {
    fn data(&mut self, data: &[u8]) -> Result<(), WriteError> {
        let Stage::Data(tag) = self.stage else {
            return Err(Kind::Ext.into());
        };
        let n = len(data.len())?;
        match n {
            1 => self.buf.push(0xd4),
            2 => self.buf.push(0xd5),
            4 => self.buf.push(0xd6),
            8 => self.buf.push(0xd7),
            16 => self.buf.push(0xd8),
            0..=0xff => self.buf.extend_from_slice(&[0xc7, n as u8]),
            0x100..=0xffff => {
                self.buf.push(0xc8);
                self.buf.extend_from_slice(&(n as u16).to_be_bytes());
            }
            _ => {
                self.buf.push(0xc9);
                self.buf.extend_from_slice(&n.to_be_bytes());
            }
        }
        self.buf.push(tag as u8);
        self.buf.extend_from_slice(data);
        self.stage = Stage::Done;
        Ok(())
    }
}

macro_rules! not_ext {
    ($($method:ident($($arg:ty),*) -> $ret:ty;)*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<$ret, WriteError> {
            Err(Kind::Ext.into())
        }
    )*};
}

impl<'a, 'b> ser::Serializer for &'a mut Ext<'b> {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = ser::Impossible<(), WriteError>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = ser::Impossible<(), WriteError>;
    type SerializeTupleVariant = ser::Impossible<(), WriteError>;
    type SerializeMap = ser::Impossible<(), WriteError>;
    type SerializeStruct = ser::Impossible<(), WriteError>;
    type SerializeStructVariant = ser::Impossible<(), WriteError>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_i8(self, v: i8) -> Result<(), WriteError> {
        if self.stage != Stage::Tag {
            return Err(Kind::Ext.into());
        }
        self.stage = Stage::Data(v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), WriteError> {
        self.data(v)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self, WriteError> {
        if self.stage != Stage::Tuple {
            return Err(Kind::Ext.into());
        }
        self.stage = Stage::Tag;
        Ok(self)
    }

    not_ext! {
        serialize_bool(bool) -> ();
        serialize_i16(i16) -> ();
        serialize_i32(i32) -> ();
        serialize_i64(i64) -> ();
        serialize_u8(u8) -> ();
        serialize_u16(u16) -> ();
        serialize_u32(u32) -> ();
        serialize_u64(u64) -> ();
        serialize_f32(f32) -> ();
        serialize_f64(f64) -> ();
        serialize_char(char) -> ();
        serialize_str(&str) -> ();
        serialize_none() -> ();
        serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), WriteError> {
        Err(Kind::Ext.into())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), WriteError> {
        Err(Kind::Ext.into())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), WriteError> {
        Err(Kind::Ext.into())
    }
}

impl ser::SerializeTuple for &mut Ext<'_> {
    type Ok = ();
    type Error = WriteError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), WriteError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
