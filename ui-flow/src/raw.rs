//! Already-encoded MessagePack values carried inside a frame.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::{self, Limits};
use crate::error::{DecodeError, EncodeError};

/// Exactly one MessagePack value, kept as its bytes.
///
/// `ActionOk.result` is a `RawValue`: a handler's result can be any
/// MessagePack value (binary, integers above 2^53, maps with non-string keys),
/// which a JSON value could not hold. On the wire the bytes are embedded as
/// they are, not wrapped in `bin`, so any MessagePack reader sees the value
/// itself. A nil value is the same as no result: `ActionOk` omits it.
///
/// ```
/// use ui_flow::RawValue;
///
/// let raw = RawValue::encode(&(7u64, "seven"))?;
/// let back: (u64, String) = raw.decode()?;
/// assert_eq!(back, (7, "seven".to_string()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawValue(Vec<u8>);

impl RawValue {
    /// Encodes any serde value (structs as maps, as everywhere in ui-flow).
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Self, EncodeError> {
        let mut buf = Vec::new();
        codec::write_payload(&mut buf, value, "RawValue")?;
        Ok(RawValue(buf))
    }

    /// Wraps bytes that must hold exactly one valid MessagePack value.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, DecodeError> {
        codec::validate(&bytes, &Limits::default())?;
        Ok(RawValue(bytes))
    }

    /// Decodes the value into a serde type.
    pub fn decode<'a, T: Deserialize<'a>>(&'a self) -> Result<T, DecodeError> {
        codec::read_payload(&self.0, "RawValue", "value")
    }

    /// True when the value is MessagePack nil (what `()` and `None` encode to).
    pub fn is_nil(&self) -> bool {
        self.0 == [0xc0]
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The encoded bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Wraps bytes already known to be one valid value (sliced from a
    /// validated frame).
    pub(crate) fn from_validated(bytes: Vec<u8>) -> Self {
        RawValue(bytes)
    }
}

impl fmt::Debug for RawValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawValue(0x")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}
