//! The payload reader's serde side: a `Deserializer` whose generic code only
//! hands each [`Head`] to the visitor.
//!
//! It reads what rmp-serde writes, in the way rmp-serde 1.x reads it: structs
//! from maps or arrays, enums as a variant name (or index) alone or as a map
//! of one entry from the variant to its contents, `Option` as nil or the
//! value, unit structs as nil or an empty array, a bin as bytes or, for a
//! type that asks for a sequence, as a sequence of integers, and an
//! extension value as a newtype around `(type, data)`.
//!
//! Which `visit_*` methods it calls depends on what the type asked for, not
//! only on the value: a struct is offered `visit_seq` and `visit_map`, a
//! sequence, tuple or tuple struct `visit_seq`, a map `visit_map`, a string
//! or identifier `visit_borrowed_str`, `visit_borrowed_bytes` and
//! `visit_u64`, an integer `visit_u64` and `visit_i64` (a float also
//! `visit_f32` and `visit_f64`), a boolean `visit_bool`, a unit or unit
//! struct `visit_unit`; any other value is refused
//! by one function for all visitors ([`Cursor::refused`]) with the text the
//! visitor's default method would have given. So serde's default methods
//! are not compiled per payload type (in the browser, each a few dozen bytes
//! per visitor). Only `deserialize_any`, `char`, `bytes` and `byte_buf`
//! hand every value to the visitor. For serde's own and derived
//! types this reads exactly what rmp-serde reads, which hands every value
//! to every visitor; a hand-written `Deserialize` whose visitor takes, say,
//! a string from `deserialize_struct` is refused here, not by rmp-serde.

use serde::de::{self, DeserializeSeed, Error as _, Unexpected, Visitor};

use super::PayloadError;
#[cfg(not(target_arch = "wasm32"))]
use super::head::Fault;
use super::head::{Cursor, Head, mismatch};

/// The newtype name under which rmp-serde and rmpv pass extension values.
const EXT_STRUCT: &str = "_ExtStruct";

impl<'de> Cursor<'de> {
    /// Reads the next value and hands it to `visitor`. A bin goes to
    /// `visit_borrowed_bytes` when `bin_as_bytes`, otherwise to `visit_seq`
    /// as its bytes, each an integer.
    fn any<V: Visitor<'de>>(
        &mut self,
        visitor: V,
        bin_as_bytes: bool,
    ) -> Result<V::Value, PayloadError> {
        // Natively, field names and small integers are read without going
        // through `head`'s full match: fewer instructions per value. Not in
        // the browser, where each copy costs bytes. The result is the same.
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(marker) = self.peek() {
            if marker < 0x80 {
                self.bump();
                return visitor.visit_u64(u64::from(marker));
            }
            if marker & 0xe0 == 0xa0 {
                self.bump();
                return match self.text(u32::from(marker & 0x1f))? {
                    Ok(s) => visitor.visit_borrowed_str(s),
                    Err(b) => visitor
                        .visit_borrowed_bytes::<PayloadError>(b)
                        .map_err(|_| bad_utf8()),
                };
            }
        }
        match self.next_head()? {
            Head::Nil => visitor.visit_unit(),
            Head::Bool(b) => visitor.visit_bool(b),
            Head::Uint(u) => visitor.visit_u64(u),
            Head::Int(i) => visitor.visit_i64(i),
            Head::F32(f) => visitor.visit_f32(f),
            Head::F64(f) => visitor.visit_f64(f),
            Head::Str(len) => self.str_value(len, visitor),
            Head::Bin(len) => {
                let b = self.bin_bytes(len)?;
                if bin_as_bytes {
                    return visitor.visit_borrowed_bytes(b);
                }
                bytes_as_seq(b, visitor)
            }
            Head::Array(len) => self.array(len, visitor),
            Head::Map(len) => self.map(len, visitor),
            Head::Ext(kind, len) => self.ext_value(kind, len, visitor),
        }
    }

    /// Reads the next value for a type that takes a sequence, or also a
    /// map when `MAPS` (a struct): an array's elements, or a bin's bytes as
    /// integers, go to `visit_seq`, a map's entries to `visit_map`. Any
    /// other value is refused without calling the visitor, with the text
    /// its default `visit_*` method would give ([`Cursor::refused`]).
    fn compound<const MAPS: bool, V: Visitor<'de>>(
        &mut self,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        match self.next_head()? {
            Head::Array(len) => self.array(len, visitor),
            Head::Map(len) if MAPS => self.map(len, visitor),
            Head::Bin(len) => {
                let b = self.bin_bytes(len)?;
                bytes_as_seq(b, visitor)
            }
            head => Err(self.refused(head, &visitor, false)),
        }
    }

    /// Reads the next value for a type that takes a map only.
    fn entries<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, PayloadError> {
        match self.next_head()? {
            Head::Map(len) => self.map(len, visitor),
            head => Err(self.refused(head, &visitor, true)),
        }
    }

    /// Reads the next value for a string or an identifier (a field or
    /// variant name, or its index): a str goes to `visit_borrowed_str` (to
    /// `visit_borrowed_bytes` when it is not UTF-8, as in `any`), a bin to
    /// `visit_borrowed_bytes`, an unsigned integer to `visit_u64`; anything
    /// else is refused as in [`compound`](Self::compound).
    fn name<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, PayloadError> {
        // Natively, field names are read without going through `head`'s
        // full match, as in `any`.
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(marker) = self.peek() {
            if marker & 0xe0 == 0xa0 {
                self.bump();
                return self.str_value(u32::from(marker & 0x1f), visitor);
            }
        }
        match self.next_head()? {
            Head::Str(len) => self.str_value(len, visitor),
            Head::Bin(len) => {
                let b = self.bin_bytes(len)?;
                visitor.visit_borrowed_bytes(b)
            }
            Head::Uint(u) => visitor.visit_u64(u),
            head => Err(self.refused(head, &visitor, true)),
        }
    }

    /// Reads the next value for a number: an integer goes to `visit_u64`
    /// or `visit_i64`, and when `FLOATS` a float to `visit_f32` or
    /// `visit_f64`; anything else is refused as in
    /// [`compound`](Self::compound).
    fn number<const FLOATS: bool, V: Visitor<'de>>(
        &mut self,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        // Natively, small integers are read without going through `head`'s
        // full match, as in `any`.
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(marker) = self.peek() {
            if marker < 0x80 {
                self.bump();
                return visitor.visit_u64(u64::from(marker));
            }
        }
        match self.next_head()? {
            Head::Uint(u) => visitor.visit_u64(u),
            Head::Int(i) => visitor.visit_i64(i),
            Head::F32(f) if FLOATS => visitor.visit_f32(f),
            Head::F64(f) if FLOATS => visitor.visit_f64(f),
            head => Err(self.refused(head, &visitor, true)),
        }
    }

    /// Reads the next value for a boolean (`visit_bool`) or, when `UNIT`,
    /// for `()` (`visit_unit`); anything else is refused as in
    /// [`compound`](Self::compound).
    fn flag<const UNIT: bool, V: Visitor<'de>>(
        &mut self,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        match self.next_head()? {
            Head::Bool(b) if !UNIT => visitor.visit_bool(b),
            Head::Nil if UNIT => visitor.visit_unit(),
            head => Err(self.refused(head, &visitor, true)),
        }
    }

    /// Hands a str of `len` bytes to `visitor`.
    // Natively always inlined (so are `array` and `map`): out of line,
    // a snapshot decode took 3% more instructions. Only a hint in the
    // browser, where that is smaller.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline)]
    fn str_value<V: Visitor<'de>>(
        &mut self,
        len: u32,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        match self.str_bytes(len)? {
            Ok(s) => visitor.visit_borrowed_str(s),
            // As rmp-serde: a type that takes bytes may have them.
            Err(b) => visitor
                .visit_borrowed_bytes::<PayloadError>(b)
                .map_err(|_| bad_utf8()),
        }
    }

    /// Hands an array of `len` elements to `visitor`.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline)]
    fn array<V: Visitor<'de>>(&mut self, len: u32, visitor: V) -> Result<V::Value, PayloadError> {
        self.open()?;
        let mut elements = Elements {
            cursor: self,
            left: len as usize,
        };
        let value = visitor.visit_seq(&mut elements)?;
        let left = elements.left;
        self.close(len, left, "elements")?;
        Ok(value)
    }

    /// Hands a map of `len` entries to `visitor`.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline)]
    fn map<V: Visitor<'de>>(&mut self, len: u32, visitor: V) -> Result<V::Value, PayloadError> {
        self.open()?;
        let mut entries = Entries {
            cursor: &mut *self,
            left: len as usize,
        };
        let value = visitor.visit_map(&mut entries)?;
        let left = entries.left;
        self.close(len, left, "entries")?;
        Ok(value)
    }

    /// The error for a value whose `head` was read and that the visitor
    /// (`expected`) cannot take: what `any` would have returned, word for
    /// word, had it called the visitor's default `visit_*` method. So it
    /// first reads what `any` reads before calling the visitor (a str's or
    /// bin's bytes, the level of an array, map or extension value), whose
    /// faults come first, as there. A bin is `Bytes` when `bin_as_bytes`,
    /// otherwise the sequence `any` makes of it. One function for every
    /// visitor: the visitors' own defaults are not compiled at all.
    #[cold]
    #[inline(never)]
    fn refused(
        &mut self,
        head: Head,
        expected: &dyn de::Expected,
        bin_as_bytes: bool,
    ) -> PayloadError {
        match self.found(head, bin_as_bytes) {
            Ok(unexpected) => PayloadError::invalid_type(unexpected, expected),
            Err(error) => error,
        }
    }

    /// What serde's default `visit_*` method for `head` calls the value,
    /// after reading what `any` reads before calling it.
    fn found(&mut self, head: Head, bin_as_bytes: bool) -> Result<Unexpected<'de>, PayloadError> {
        Ok(match head {
            Head::Str(len) => match self.str_bytes(len)? {
                Ok(s) => Unexpected::Str(s),
                Err(_) => return Err(bad_utf8()),
            },
            Head::Bin(len) => {
                let b = self.bin_bytes(len)?;
                if bin_as_bytes {
                    Unexpected::Bytes(b)
                } else {
                    Unexpected::Seq
                }
            }
            Head::Array(_) | Head::Map(_) => {
                self.open()?;
                head.unexpected()
            }
            Head::Ext(_, len) => {
                self.open_ext(len)?;
                Unexpected::NewtypeStruct
            }
            head => head.unexpected(),
        })
    }

    /// Hands an extension value to `visitor` as a newtype around
    /// `(type, data)`. Natively out of line: rare, and it keeps `any`
    /// small. In the browser inlined into `any`, whose copies are smaller
    /// for it (`open_ext` does the rest, once).
    #[cfg_attr(not(target_arch = "wasm32"), cold, inline(never))]
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn ext_value<V: Visitor<'de>>(
        &mut self,
        kind: i8,
        len: u32,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        let data = self.open_ext(len)?;
        let value = visitor.visit_newtype_struct(&mut self.ext(kind, data))?;
        self.leave_ext();
        Ok(value)
    }

    /// Leaves a container the visitor has finished with: it must have read
    /// every element.
    #[inline]
    fn close(&mut self, len: u32, left: usize, what: &str) -> Result<(), PayloadError> {
        self.leave();
        if left == 0 {
            return Ok(());
        }
        Err(unread(len, left, what))
    }

    /// Opens an enum: true when it is a map of one entry (variant to
    /// contents), false when the next value is the variant alone.
    fn open_enum(&mut self) -> Result<bool, PayloadError> {
        if !self.reads_values() {
            return Err(self.refuse("enum"));
        }
        match self.peek() {
            Some(0x80..=0x8f | 0xde | 0xdf) => match self.head()? {
                Head::Map(1) => {
                    self.enter()?;
                    Ok(true)
                }
                head => Err(enum_map(head)),
            },
            _ => Ok(false),
        }
    }

    /// The error for a type this cursor cannot hand out here (inside a
    /// bin's bytes or an extension value), naming what it found.
    #[cold]
    fn refuse(&mut self, expected: &'static str) -> PayloadError {
        match self.head() {
            Ok(head) => mismatch(head, expected),
            Err(fault) => fault.into(),
        }
    }
}

// What `any` does around its visitor, in functions that are the same for
// every visitor. In the browser each is compiled once and called, and
// returns a `PayloadError` (a `Fault` is converted there, once), so each
// visitor's copy of `any` is the dispatch alone. Natively they are the
// cursor's own steps, inlined, and `any` converts the `Fault`: the native
// code is what it was before (with `PayloadError` returned natively too,
// about 1% more instructions per decode).
#[cfg(target_arch = "wasm32")]
impl<'de> Cursor<'de> {
    /// The next value's head.
    #[inline(never)]
    fn next_head(&mut self) -> Result<Head, PayloadError> {
        Ok(self.head()?)
    }

    /// A str's bytes, as text when they are UTF-8.
    #[inline(never)]
    fn str_bytes(&mut self, len: u32) -> Result<Result<&'de str, &'de [u8]>, PayloadError> {
        Ok(self.text(len)?)
    }

    /// A bin's bytes.
    #[inline(never)]
    fn bin_bytes(&mut self, len: u32) -> Result<&'de [u8], PayloadError> {
        Ok(self.take(len)?)
    }

    /// Goes into an array or a map.
    #[inline(never)]
    fn open(&mut self) -> Result<(), PayloadError> {
        Ok(self.enter()?)
    }

    /// Goes into an extension value and takes its data.
    #[cold]
    #[inline(never)]
    fn open_ext(&mut self, len: u32) -> Result<&'de [u8], PayloadError> {
        self.enter_ext()?;
        Ok(self.take(len)?)
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl<'de> Cursor<'de> {
    /// The next value's head.
    #[inline(always)]
    fn next_head(&mut self) -> Result<Head, Fault> {
        self.head()
    }

    /// A str's bytes, as text when they are UTF-8.
    #[inline(always)]
    fn str_bytes(&mut self, len: u32) -> Result<Result<&'de str, &'de [u8]>, Fault> {
        self.text(len)
    }

    /// A bin's bytes.
    #[inline(always)]
    fn bin_bytes(&mut self, len: u32) -> Result<&'de [u8], Fault> {
        self.take(len)
    }

    /// Goes into an array or a map.
    #[inline(always)]
    fn open(&mut self) -> Result<(), Fault> {
        self.enter()
    }

    /// Goes into an extension value and takes its data.
    #[inline(always)]
    fn open_ext(&mut self, len: u32) -> Result<&'de [u8], Fault> {
        self.enter_ext()?;
        self.take(len)
    }
}

impl<'de> de::Deserializer<'de> for &mut Cursor<'de> {
    type Error = PayloadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.any(visitor, true)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        match self.peek() {
            Some(0xc0) => {
                self.bump();
                visitor.visit_none()
            }
            _ if self.reads_values() => visitor.visit_some(self),
            _ => Err(self.refuse("option")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        if name == EXT_STRUCT {
            return match self.head()? {
                Head::Ext(kind, len) => {
                    let data = self.take(len)?;
                    visitor.visit_newtype_struct(&mut self.ext(kind, data))
                }
                head => Err(mismatch(head, "an extension value")),
            };
        }
        if !self.reads_values() {
            return Err(self.refuse("newtype struct"));
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        // rmp-serde writes a unit struct as an empty array; nil is read too.
        match self.peek() {
            Some(0xc0 | 0x90) => {
                self.bump();
                visitor.visit_unit()
            }
            _ => {
                let head = self.next_head()?;
                Err(self.refused(head, &visitor, true))
            }
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        let in_map = self.open_enum()?;
        let value = visitor.visit_enum(Variant {
            cursor: &mut *self,
            in_map,
        })?;
        if in_map {
            self.leave();
        }
        Ok(value)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        self.skip()?;
        visitor.visit_unit()
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        visitor.visit_i128(self.wide()?)
    }

    /// As rmp-serde: the 128 bits read as `i128`, taken as unsigned.
    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        visitor.visit_u128(self.wide()? as u128)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.compound::<false, V>(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        self.compound::<false, V>(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        self.compound::<false, V>(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        self.compound::<true, V>(visitor)
    }

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.entries(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.name(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.name(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.name(visitor)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.number::<false, V>(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.number::<false, V>(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.number::<false, V>(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.number::<false, V>(visitor)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.number::<false, V>(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.number::<false, V>(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.number::<false, V>(visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.number::<false, V>(visitor)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.number::<true, V>(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.number::<true, V>(visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.flag::<false, V>(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        self.flag::<true, V>(visitor)
    }

    serde::forward_to_deserialize_any! {
        char bytes byte_buf
    }
}

/// The elements of an array (or of a bin's bytes), for the visitor to read.
struct Elements<'a, 'de> {
    cursor: &'a mut Cursor<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = PayloadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, PayloadError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.cursor).map(Some)
    }

    /// The declared length, but never more than the bytes left could hold,
    /// so a hostile length does not make the visitor reserve memory.
    fn size_hint(&self) -> Option<usize> {
        Some(self.left.min(self.cursor.remaining()))
    }
}

/// The entries of a map, for the visitor to read.
struct Entries<'a, 'de> {
    cursor: &'a mut Cursor<'de>,
    left: usize,
}

impl<'de> de::MapAccess<'de> for Entries<'_, 'de> {
    type Error = PayloadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, PayloadError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.cursor).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, PayloadError> {
        seed.deserialize(&mut *self.cursor)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left.min(self.cursor.remaining() / 2))
    }
}

/// An enum's variant: the key of a one-entry map with the contents as its
/// value (`in_map`), or the value alone for a variant without contents.
struct Variant<'a, 'de> {
    cursor: &'a mut Cursor<'de>,
    in_map: bool,
}

impl<'de> de::EnumAccess<'de> for Variant<'_, 'de> {
    type Error = PayloadError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), PayloadError> {
        let variant = seed.deserialize(&mut *self.cursor)?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = PayloadError;

    /// A unit variant in a map has nil as its contents.
    fn unit_variant(self) -> Result<(), PayloadError> {
        if !self.in_map {
            return Ok(());
        }
        match self.cursor.head()? {
            Head::Nil => Ok(()),
            head => Err(mismatch(head, "nil")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, PayloadError> {
        if !self.in_map {
            return Err(without_contents("newtype variant"));
        }
        seed.deserialize(self.cursor)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        if !self.in_map {
            return Err(without_contents("tuple variant"));
        }
        self.cursor.compound::<false, V>(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        if !self.in_map {
            return Err(without_contents("struct variant"));
        }
        self.cursor.compound::<true, V>(visitor)
    }
}

/// Hands a bin's bytes to `visitor` as a sequence of integers. Out of
/// line: rare, and it keeps `any` small.
#[cold]
#[inline(never)]
fn bytes_as_seq<'de, V: Visitor<'de>>(
    bytes: &'de [u8],
    visitor: V,
) -> Result<V::Value, PayloadError> {
    // `&mut Elements`, as for an array: the visitor's `visit_seq` is
    // compiled once for both.
    visitor.visit_seq(&mut Elements {
        cursor: &mut Cursor::bytes(bytes),
        left: bytes.len(),
    })
}

/// A str whose bytes are not UTF-8, where only a string will do.
#[cold]
fn bad_utf8() -> PayloadError {
    PayloadError::new("a string that is not valid UTF-8".into())
}

/// The visitor stopped before the container's end.
#[cold]
fn unread(len: u32, left: usize, what: &str) -> PayloadError {
    PayloadError::new(format!(
        "invalid length {len}, expected {} {what}",
        len as usize - left
    ))
}

/// An enum written as a map of other than one entry, or as something else
/// that starts like a map.
#[cold]
fn enum_map(head: Head) -> PayloadError {
    match head {
        Head::Map(len) => PayloadError::new(format!(
            "an enum as a map of {len} entries, expected a map of 1 entry (variant to contents)"
        )),
        head => mismatch(head, "enum"),
    }
}

/// A variant that needs contents, written without them.
#[cold]
fn without_contents(expected: &'static str) -> PayloadError {
    PayloadError::invalid_type(Unexpected::UnitVariant, &expected)
}
