//! Frames to bytes and back.
//!
//! A frame is one MessagePack map. Its first key is `"t"`, whose value is the
//! message's `u16` tag; the message's fields follow by name. The envelope is
//! written and read by hand, because serde cannot put an integer tag beside a
//! variant's fields: every MessagePack head in the codec is read by one
//! function (`payload::head::Cursor::head`) and written by `write::Head`. The
//! application's payload types (`State`, `Delta`, `Event`, `Action`) are
//! serialized as rmp-serde's `to_vec_named` writes them (by rmp-serde
//! natively, by the codec's own writer `payload::write` in the browser,
//! tested to write the same bytes) and deserialized by its own reader
//! (`payload`) on every target.
//!
//! Decoding is built for hostile input. A frame must be exactly one value, no
//! longer than [`Limits::max_frame_len`], nested no deeper than
//! [`Limits::max_depth`], and no declared length may exceed the bytes left;
//! each reader checks this where it reads (payloads included, in place), and
//! a frame that fails anywhere is walked whole without recursion
//! ([`validate`]) so that the error reported is its first.
//! The tag picks the variant and exactly that variant's fields are read.
//! Unknown fields are skipped, optional fields may be absent or nil, and a tag
//! this build does not know gives [`Decoded::Unknown`], which callers ignore.
//!
//! Encoding is deterministic: fields in the spec's order, absent optionals
//! omitted, every integer in its shortest form.
//!
//! ```
//! use ui_flow::{ClientMessage, codec::Decoded};
//!
//! let frame = ClientMessage::<()>::Subscribe { domains: vec!["world".into()] }.encode()?;
//! match ClientMessage::<()>::decode(&frame)? {
//!     Decoded::Message(ClientMessage::Subscribe { domains }) => assert_eq!(domains, ["world"]),
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok::<(), ui_flow::Error>(())
//! ```

mod client;
pub mod encoded;
mod envelope;
mod payload;
mod peek;
mod read;
mod scan;
mod server;
mod write;

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::error::{DecodeError, EncodeError};
pub use peek::{FrameHead, field_bytes, peek_head};
use read::Fields;
pub(crate) use server::frame_channel;
pub use server::{encode_relayed_signal, encode_relayed_signal_on};

/// Bounds the decoder enforces before it reads any field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest frame accepted, in bytes. Default 16 MiB; the server uses a
    /// much smaller limit for frames from clients.
    pub max_frame_len: usize,
    /// The deepest nesting of arrays and maps accepted, counting the frame's
    /// own map as 1. Default 64, which keeps a debug-build decode far below
    /// what would overflow a 1 MiB (wasm) or 2 MiB (tokio worker) stack.
    pub max_depth: usize,
}

impl Limits {
    /// The default frame limit: 16 MiB.
    pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;
    /// The default depth limit: 64.
    pub const DEFAULT_MAX_DEPTH: usize = 64;

    /// Sets the frame limit.
    pub const fn max_frame_len(mut self, bytes: usize) -> Self {
        self.max_frame_len = bytes;
        self
    }

    /// Sets the depth limit.
    pub const fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_len: Self::DEFAULT_MAX_FRAME_LEN,
            max_depth: Self::DEFAULT_MAX_DEPTH,
        }
    }
}

/// The result of decoding a well-formed frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded<M> {
    /// A message this build knows.
    Message(M),
    /// A well-formed frame whose tag this build does not know, probably from a
    /// newer peer. Ignore it; it is not an error.
    Unknown {
        /// The frame's `"t"`.
        tag: u16,
    },
}

impl<M> Decoded<M> {
    /// The message, or `None` for an unknown tag.
    pub fn message(self) -> Option<M> {
        match self {
            Decoded::Message(m) => Some(m),
            Decoded::Unknown { .. } => None,
        }
    }
}

/// Checks that `bytes` hold exactly one MessagePack value within `limits`.
pub fn validate(bytes: &[u8], limits: &Limits) -> Result<(), DecodeError> {
    if bytes.len() > limits.max_frame_len {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: limits.max_frame_len,
        });
    }
    let end = scan::walk(bytes, 0, limits.max_depth)?;
    if end != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            extra: bytes.len() - end,
        });
    }
    Ok(())
}

/// Reads a frame's tag without decoding its fields (the frame is validated).
pub fn peek_tag(bytes: &[u8], limits: &Limits) -> Result<u16, DecodeError> {
    validate(bytes, limits)?;
    open_frame(bytes, limits).map(|(tag, _)| tag)
}

/// Decodes one frame in a single pass: `read` gets the tag and a cursor on
/// the first field, and must consume the whole map (`Fields::finish_frame`).
///
/// Structure is checked where it is read (see [`read`]), so a valid frame is
/// walked once. When anything fails, the whole frame is walked by
/// [`validate`] and its error, if any, wins: the error reported is then
/// exactly the one a validate-first decoder would report, whichever field
/// the single pass stumbled on first.
fn decode_frame<'a, R>(
    bytes: &'a [u8],
    limits: &Limits,
    read: impl FnOnce(u16, Fields<'a>) -> Result<R, DecodeError>,
) -> Result<R, DecodeError> {
    if bytes.len() > limits.max_frame_len {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: limits.max_frame_len,
        });
    }
    open_frame(bytes, limits)
        .and_then(|(tag, fields)| read(tag, fields))
        .map_err(|error| validate(bytes, limits).err().unwrap_or(error))
}

/// Reads a frame's tag, leaving the cursor on the first field.
fn open_frame<'a>(bytes: &'a [u8], limits: &Limits) -> Result<(u16, Fields<'a>), DecodeError> {
    let mut fields = Fields::open(bytes, "frame", limits.max_depth)?;
    match fields.next_key() {
        Ok(Some(b"t")) => {}
        _ => return Err(DecodeError::MissingTag),
    }
    let tag = fields
        .uint::<u16>("t")
        .map_err(|_| DecodeError::InvalidTag)?;
    fields.tag_read = true;
    Ok((tag, fields))
}

/// Serializes one application value, byte for byte as rmp-serde's
/// `to_vec_named` (structs as maps). The browser build writes with the
/// codec's own writer ([`payload::write`]), which is several KB smaller than
/// rmp-serde's serializer; native builds keep rmp-serde's, which encodes
/// 4-15% fewer instructions (BENCHMARKS "Client wasm size", seventh pass).
/// The writer's tests check that both write the same bytes.
pub(crate) fn write_payload<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    value: &T,
    field: &'static str,
) -> Result<(), EncodeError> {
    #[cfg(target_arch = "wasm32")]
    let written = payload::write::write(buf, value).map_err(|e| e.to_string());
    #[cfg(not(target_arch = "wasm32"))]
    let written = {
        let mut ser = rmp_serde::Serializer::new(&mut *buf).with_struct_map();
        value.serialize(&mut ser).map_err(|e| e.to_string())
    };
    written.map_err(|reason| EncodeError { field, reason })
}

/// Deserializes one application value from exactly its bytes, with ui-flow's
/// own payload reader ([`payload`]) on every target.
pub(crate) fn read_payload<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    message: &'static str,
    field: &'static str,
) -> Result<T, DecodeError> {
    payload::from_slice::<T>(bytes).map_err(|e| payload_error(e, message, field))
}

#[cold]
fn payload_error(
    e: payload::PayloadError,
    message: &'static str,
    field: &'static str,
) -> DecodeError {
    DecodeError::InvalidField {
        message,
        field,
        reason: e.to_string(),
    }
}

/// A frame about to be written on a channel, in either direction: what
/// decides whether its message may go there. Client and server messages
/// both encode through it (`encode_on_into`), so the channel rule and the
/// undoing of a failed write exist once.
struct FrameOn {
    channel: Channel,
    /// A resource's message (else the connection's: channel 0 only).
    scoped: bool,
    /// Opens, closes or answers for a channel: channels 1 to 65535 only.
    names_channel: bool,
    /// The message's name, for the error.
    name: &'static str,
}

impl FrameOn {
    /// Checks the channel, then runs `write` on `buf`, undoing a partial
    /// write when it fails.
    fn write(
        &self,
        buf: &mut Vec<u8>,
        write: impl FnOnce(&mut write::Out<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.check()?;
        let start = buf.len();
        let result = write(&mut write::Out { buf: &mut *buf });
        if result.is_err() {
            buf.truncate(start);
        }
        result
    }

    /// A message of the connection only on channel 0, one that names its
    /// channel only on channels 1 to 65535.
    fn check(&self) -> Result<(), EncodeError> {
        let reason = if !self.scoped && !self.channel.is_url() {
            "belongs to the connection, not to a channel"
        } else if self.names_channel && self.channel.is_url() {
            "needs a channel other than 0"
        } else {
            return Ok(());
        };
        Err(EncodeError {
            field: "c",
            reason: format!("{} {reason}", self.name),
        })
    }
}

/// A frame in a buffer of its own, written by `encode_into`.
fn new_frame(
    encode_into: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<Vec<u8>, EncodeError> {
    let mut buf = Vec::new();
    encode_into(&mut buf)?;
    Ok(buf)
}
