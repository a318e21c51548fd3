//! Operation ids: how an action and its feedback find each other.

use std::fmt;
use std::str::FromStr;

/// The id of one action, chosen by the client when it sends the action.
///
/// Every `Progress`, `ActionOk`, `ActionErr` and `Notify.correlation_id` for
/// that action carries the same id, and a server that sees an id again (a retry
/// after a reconnect) answers with the outcome it already has instead of
/// applying the action twice.
///
/// On the wire an `OpId` is a 16-byte MessagePack `bin` (the UUID's bytes);
/// decoders also accept the 36-character hyphenated text form, which is what
/// [`Display`](fmt::Display) prints.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(uuid::Uuid);

impl OpId {
    /// A fresh random (version 4) id.
    pub fn new() -> Self {
        OpId(uuid::Uuid::new_v4())
    }

    /// The id whose 16 bytes are `bytes`.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        OpId(uuid::Uuid::from_bytes(bytes))
    }

    /// The id's 16 bytes, as they travel on the wire.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The id built from a `u128` (big-endian), handy for deterministic tests.
    pub const fn from_u128(value: u128) -> Self {
        OpId(uuid::Uuid::from_u128(value))
    }
}

impl Default for OpId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpId({})", self.0)
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// The text was not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an operation id (expected a UUID such as 67e55044-10b1-426f-9247-bb680e5fe0c8)")]
pub struct ParseOpIdError;

impl FromStr for OpId {
    type Err = ParseOpIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // try_parse, not parse_str: the same parser without building a
        // detailed error, which this discards anyway (and which links a
        // kilobyte of string slicing into browser clients).
        uuid::Uuid::try_parse(s)
            .map(OpId)
            .map_err(|_| ParseOpIdError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        let id = OpId::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        let text = id.to_string();
        assert_eq!(text, "67e55044-10b1-426f-9247-bb680e5fe0c8");
        assert_eq!(text.parse::<OpId>(), Ok(id));
        assert_eq!("nope".parse::<OpId>(), Err(ParseOpIdError));
    }

    #[test]
    fn fresh_ids_differ() {
        assert_ne!(OpId::new(), OpId::new());
    }
}
