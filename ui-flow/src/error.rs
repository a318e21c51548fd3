//! Errors, split by who caused them.
//!
//! | type | cause | example |
//! |---|---|---|
//! | [`DecodeError`] | the bytes are malformed | truncated frame, wrong field type |
//! | [`EncodeError`] | a payload's `Serialize` failed | a custom impl returned an error |
//! | [`ProtocolViolation`] | well-formed, but illegal here | a delta that skips a seq |
//! | [`Incompatible`] | a peer we cannot talk to | another major protocol version |
//! | [`ApiMisuse`] | the caller's own mistake | sending on a closed connection |
//!
//! [`Error`] gathers them, and [`Error::wire_code`] maps each to the error code
//! a server sends in an `Error` message. A disconnect is not an error: it is an
//! event with a reason.

use crate::code::ErrorCode;
use crate::quoted::Quoted;

/// Anything that can go wrong in ui-flow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a valid frame.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A payload could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A valid frame that is not allowed at this point.
    #[error(transparent)]
    Protocol(#[from] ProtocolViolation),
    /// The peer speaks a protocol we cannot.
    #[error(transparent)]
    Incompatible(#[from] Incompatible),
    /// The caller used the API wrongly.
    #[error(transparent)]
    Misuse(#[from] ApiMisuse),
    /// A resource could not be joined, found or acted on.
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

impl Error {
    /// The code a server puts in the `Error` message it sends for this error.
    pub fn wire_code(&self) -> ErrorCode {
        match self {
            Error::Decode(DecodeError::TooLarge { .. }) => ErrorCode::FRAME_TOO_LARGE,
            Error::Decode(_) => ErrorCode::BAD_FRAME,
            Error::Encode(_) => ErrorCode::INTERNAL,
            Error::Protocol(_) => ErrorCode::UNEXPECTED_MESSAGE,
            Error::Incompatible(_) => ErrorCode::INCOMPATIBLE_VERSION,
            Error::Misuse(_) | Error::Channel(_) => ErrorCode::INTERNAL,
        }
    }
}

/// The bytes are not a valid frame. Every variant is a property of the input
/// alone: decoding the same bytes again gives the same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is longer than the configured maximum (checked before parsing).
    #[error("frame is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The input ends in the middle of a value.
    #[error("frame ends in the middle of a value at byte {offset}")]
    Truncated {
        /// Where the missing bytes should have started.
        offset: usize,
    },
    /// Bytes follow the frame's single top-level value.
    #[error("{extra} trailing byte(s) after the frame's value")]
    TrailingBytes {
        /// How many bytes are left over.
        extra: usize,
    },
    /// Arrays and maps are nested deeper than the limit.
    #[error("values nested deeper than {max} levels at byte {offset}")]
    TooDeep {
        /// The limit in force.
        max: usize,
        /// The container that went over it.
        offset: usize,
    },
    /// A declared length (string, binary, array or map) is more than the rest
    /// of the input could possibly hold.
    #[error("a length of {declared} at byte {offset} is more than the {remaining} byte(s) left")]
    LengthExceedsInput {
        /// The declared length, in bytes or elements.
        declared: u64,
        /// How many bytes were left after the header.
        remaining: usize,
        /// Where the header starts.
        offset: usize,
    },
    /// The byte 0xc1, which MessagePack reserves and never uses.
    #[error("reserved MessagePack byte 0xc1 at byte {offset}")]
    ReservedByte {
        /// Where it is.
        offset: usize,
    },
    /// A frame must be a map.
    #[error("a frame must be a MessagePack map")]
    NotAMap,
    /// A frame's first key must be `"t"`.
    #[error("the frame's first key must be \"t\"")]
    MissingTag,
    /// `"t"` must be an integer from 0 to 65535.
    #[error("\"t\" must be an integer from 0 to 65535")]
    InvalidTag,
    /// A map key of the envelope is not a string.
    #[error("map key at byte {offset} is not a string")]
    InvalidKey {
        /// Where the key starts.
        offset: usize,
    },
    /// A required field is absent.
    #[error("{message} is missing required field \"{field}\"")]
    MissingField {
        /// The message's name.
        message: &'static str,
        /// The field's name.
        field: &'static str,
    },
    /// A field appears twice.
    #[error("{message} has field \"{field}\" twice")]
    DuplicateField {
        /// The message's name.
        message: &'static str,
        /// The field's name.
        field: &'static str,
    },
    /// A key this build does not know appears twice in the frame's map (or
    /// in a nested PresenceInfo or SignalPayload). The wire kind is
    /// `duplicate_field`, like [`DuplicateField`](Self::DuplicateField); this
    /// variant carries the key's text because it is no field name of ours.
    #[error("{message} has key {} twice", Quoted(.key))]
    DuplicateKey {
        /// The message's name (or the nested type's, or `unknown message`).
        message: &'static str,
        /// The key, as it appears on the wire.
        key: String,
    },
    /// A field has the wrong type or an invalid value.
    #[error("{message}.{field}: {reason}")]
    InvalidField {
        /// The message's name (or the nested type's).
        message: &'static str,
        /// The field's name.
        field: &'static str,
        /// What was wrong with it.
        reason: String,
    },
}

/// A payload's `Serialize` implementation failed, or wrote something that is
/// not one MessagePack value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not encode {field}: {reason}")]
pub struct EncodeError {
    /// Which field or value.
    pub field: &'static str,
    /// What the serializer said.
    pub reason: String,
}

/// A frame that decoded fine but is not allowed where it arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// A delta's seq is not the next one.
    #[error("expected seq {expected}, got {got}")]
    SeqGap {
        /// The seq that would have been next.
        expected: u64,
        /// The seq that arrived.
        got: u64,
    },
    /// A message that cannot arrive in this direction or at this point.
    #[error("unexpected {message} {context}")]
    UnexpectedMessage {
        /// The message's name.
        message: &'static str,
        /// Where it arrived ("before Connected", "from a client", ...).
        context: &'static str,
    },
}

/// The peer speaks a protocol this build cannot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Incompatible {
    /// The server's protocol version differs from ours.
    // Printed as `u32`: the browser client links no other `u8` printer.
    #[error(
        "server speaks protocol version {}, this client speaks {}",
        u32::from(*.theirs),
        u32::from(*.ours)
    )]
    Version {
        /// [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION).
        ours: u8,
        /// What the server's `Connected` said.
        theirs: u8,
    },
}

/// The caller used the API in a way it does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// The connection was closed for good; nothing more can be sent on it.
    #[error("the connection is closed")]
    Closed,
    /// Too many actions are waiting for a connection.
    #[error("{bound} actions are already queued while disconnected")]
    QueueFull {
        /// The queue's bound.
        bound: usize,
    },
    /// A configuration value is out of its allowed range.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
}

/// Why a resource could not be joined or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The server's `Connected` announced no channels.
    #[error("the server does not serve channels")]
    Unsupported,
    /// The connection already holds as many resources as the server allows.
    // Printed as `u32`, as every `u16` in ui-flow's texts: the browser
    // client then links no `u16` printer.
    #[error("the server allows {} resources besides the URL's", u32::from(*.limit))]
    Limit {
        /// `Connected.channels`.
        limit: u16,
    },
    /// The resource is already held on a channel.
    #[error("{0} is already joined")]
    AlreadyJoined(String),
    /// No resource of that `Model` on that channel.
    #[error("no such resource on {0}")]
    Unknown(crate::Channel),
    /// The resource on that channel is being left or was left (by the
    /// client, or refused or ended by the server): nothing more is sent on
    /// it. A signal also needs the resource joined (signals are not queued
    /// for a channel).
    #[error("the resource on {0} is not joined")]
    NotJoined(crate::Channel),
    /// The action could not be encoded.
    #[error("the action does not encode: {0}")]
    Encode(#[from] crate::EncodeError),
}
