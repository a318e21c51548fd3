//! Decoding application payloads (state, deltas, actions, events, results):
//! a MessagePack deserializer for serde of our own.
//!
//! What it is: a `serde::Deserializer` over the payload's bytes that reads
//! what rmp-serde writes and decodes it as rmp-serde 1.x does (the module
//! `visit` lists the encodings), with typed errors ([`PayloadError`]) for a
//! payload that ends inside a value, a str that is not UTF-8 where a string
//! belongs, the reserved byte 0xc1, nesting deeper than 1,024 levels, bytes
//! after the value and a value of the wrong type. It never panics on any
//! input.
//!
//! Why not rmp-serde's own deserializer: its reader is compiled once for
//! every visitor (every payload type, its field names, every field type
//! and skipped values), about 2 KB of wasm each. Here the reading is done
//! by one non-generic function ([`head::Cursor::head`]) that returns the
//! next value's head, and the code compiled per visitor only hands that
//! head to it: one `visit_*` call per kind of value.
//!
//! What it is not: an encoder (payloads are written by `write`, ours too,
//! byte for byte as rmp-serde writes them, structs as maps), a validator of whole frames (in a frame it checks the
//! payload as it reads it, within the frame's depth limit; the frame's walk,
//! [`super::validate`], names the first error of a frame that fails), or more lenient than rmp-serde:
//! what rmp-serde refuses, it refuses (`tests`, by proptest). Two
//! deliberate differences: integers are visited as `u64` or `i64` whatever
//! their width on the wire (serde's visitors widen anyway), and bytes after
//! the value are an error.
//!
//! It is the same reader on every target. Natively, `head` is inlined and
//! the commonest values (field names, small integers) are read before it,
//! for speed; in the browser it is one function, for size. The results do
//! not differ.
//!
//! serde describes a type mismatch as "invalid type: floating point `1.5`,
//! expected i64" by formatting a `de::Unexpected` through the deserializer's
//! error type; doing that with serde's `Display` would bring the whole float
//! printer of `core` (about 18 KB of wasm) into every browser client.
//! [`PayloadError`] says "invalid type: a floating-point number, expected
//! i64" instead and otherwise keeps serde's texts word for word.

pub(super) mod head;
mod visit;
// Used by the wasm32 build; native builds test it against rmp-serde.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(super) mod write;

use std::fmt::{self, Write as _};

use serde::de::{self, Unexpected};

use crate::quoted::Quoted;
use head::Cursor;

/// Why a payload did not deserialize: the text of the first failure.
///
/// One pointer, so that the result of deserializing a small value (a field
/// name, a number) fits in two registers: about 2% fewer instructions per
/// decode than with the `String` itself (cachegrind, `benches/codec.rs`).
#[derive(Debug)]
#[allow(clippy::box_collection)]
pub(crate) struct PayloadError(Box<String>);

impl PayloadError {
    /// An error with this text.
    #[cold]
    pub(super) fn new(text: String) -> Self {
        PayloadError(Box::new(text))
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PayloadError {}

impl de::Error for PayloadError {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PayloadError::new(msg.to_string())
    }

    #[cold]
    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        PayloadError::new(format!("invalid type: {}, expected {exp}", Found(unexp)))
    }

    #[cold]
    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        PayloadError::new(format!("invalid value: {}, expected {exp}", Found(unexp)))
    }
}

/// serde's description of what was found, except that a float is named
/// rather than printed.
struct Found<'a>(Unexpected<'a>);

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // serde's own `Display` for `Unexpected` cannot be called even for
        // the other variants: its float arm would link the float printer.
        // Booleans, signed integers and characters are written without
        // their own `Display` (the same text): in the browser each of those
        // is a function that nothing else needs, where `u64`'s is needed
        // anyway.
        match self.0 {
            Unexpected::Bool(b) => write!(f, "boolean `{}`", if b { "true" } else { "false" }),
            Unexpected::Unsigned(i) => write!(f, "integer `{i}`"),
            Unexpected::Signed(i) => {
                let sign = if i < 0 { "-" } else { "" };
                write!(f, "integer `{sign}{}`", i.unsigned_abs())
            }
            Unexpected::Float(_) => f.write_str("a floating-point number"),
            Unexpected::Char(c) => {
                f.write_str("character `")?;
                f.write_char(c)?;
                f.write_str("`")
            }
            Unexpected::Str(s) => write!(f, "string {}", Quoted(s)),
            Unexpected::Bytes(_) => f.write_str("byte array"),
            Unexpected::Unit => f.write_str("unit value"),
            Unexpected::Option => f.write_str("Option value"),
            Unexpected::NewtypeStruct => f.write_str("newtype struct"),
            Unexpected::Seq => f.write_str("sequence"),
            Unexpected::Map => f.write_str("map"),
            Unexpected::Enum => f.write_str("enum"),
            Unexpected::UnitVariant => f.write_str("unit variant"),
            Unexpected::NewtypeVariant => f.write_str("newtype variant"),
            Unexpected::TupleVariant => f.write_str("tuple variant"),
            Unexpected::StructVariant => f.write_str("struct variant"),
            Unexpected::Other(other) => f.write_str(other),
        }
    }
}

/// Deserializes `T` from `bytes`, which must hold exactly one MessagePack
/// value.
pub(crate) fn from_slice<'de, T: de::Deserialize<'de>>(
    bytes: &'de [u8],
) -> Result<T, PayloadError> {
    let mut cursor = Cursor::new(bytes);
    let value = T::deserialize(&mut cursor)?;
    match cursor.remaining() {
        0 => Ok(value),
        extra => Err(trailing(extra)),
    }
}

/// Bytes after the payload's one value.
#[cold]
fn trailing(extra: usize) -> PayloadError {
    PayloadError::new(format!("{extra} bytes after the value"))
}

#[cfg(test)]
mod tests;
