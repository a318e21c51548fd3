//! Encoding and decoding [`ServerMessage`].

use serde::{Deserialize, Serialize};

use super::read::{Fault, Fields, Slot};
use super::write::{Out, presence_diff_len};
use super::{
    Decoded, Limits, check_channel, decode_frame, read_payload, validate, write_atomically,
};
use crate::channel::Channel;
use crate::error::{DecodeError, EncodeError};
use crate::message::ServerMessage;
use crate::presence::PresenceDiff;
use crate::tag::ServerTag;

impl<S: Serialize, D: Serialize, E: Serialize> ServerMessage<S, D, E> {
    /// Encodes the message as one frame on channel 0 (the URL's resource).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode_on(Channel::URL)
    }

    /// Appends the frame to `buf`; on error `buf` is left as it was.
    pub fn encode_into(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.encode_on_into(Channel::URL, buf)
    }

    /// Encodes the message as one frame on `channel`. Channel 0 writes no
    /// `"c"`, so its bytes are those of [`encode`](Self::encode). Fails for
    /// `Connected` and `Pong` on a channel other than 0, and for `Joined`
    /// and `Left` on channel 0.
    pub fn encode_on(&self, channel: Channel) -> Result<Vec<u8>, EncodeError> {
        let mut buf = Vec::new();
        self.encode_on_into(channel, &mut buf)?;
        Ok(buf)
    }

    /// Appends the frame on `channel` to `buf`; on error `buf` is left as it
    /// was.
    pub fn encode_on_into(&self, channel: Channel, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        let tag = self.tag();
        let names_channel = matches!(self, ServerMessage::Joined | ServerMessage::Left { .. });
        check_channel(
            self.is_resource_scoped(),
            names_channel,
            channel,
            tag.name().unwrap_or("message"),
        )?;
        write_atomically(buf, |out| self.write(out, tag.0, channel.0))
    }

    fn write(&self, out: &mut Out<'_>, tag: u16, channel: u16) -> Result<(), EncodeError> {
        match self {
            ServerMessage::Connected {
                protocol_version,
                connection_id,
                user_id,
                channels,
            } => {
                out.envelope_on(
                    tag,
                    channel,
                    2 + usize::from(user_id.is_some()) + usize::from(channels.is_some()),
                );
                out.uint("protocol_version", u64::from(*protocol_version));
                out.str("connection_id", connection_id);
                if let Some(user) = user_id {
                    out.str("user_id", user);
                }
                if let Some(limit) = channels {
                    out.uint("channels", u64::from(*limit));
                }
            }
            ServerMessage::Joined => out.envelope_on(tag, channel, 0),
            ServerMessage::Left { code, message } => {
                out.envelope_on(
                    tag,
                    channel,
                    usize::from(code.is_some()) + usize::from(message.is_some()),
                );
                if let Some(code) = code {
                    out.str("code", code.as_str());
                }
                if let Some(message) = message {
                    out.str("message", message);
                }
            }
            ServerMessage::Pong {
                client_ts,
                server_ts,
            } => {
                out.envelope_on(tag, channel, 2);
                out.uint("client_ts", *client_ts);
                out.uint("server_ts", *server_ts);
            }
            ServerMessage::Error {
                code,
                message,
                fatal,
                op_id,
            } => {
                out.envelope_on(
                    tag,
                    channel,
                    2 + usize::from(code.is_some()) + usize::from(op_id.is_some()),
                );
                if let Some(code) = code {
                    out.str("code", code.as_str());
                }
                out.str("message", message);
                out.bool("fatal", *fatal);
                if let Some(id) = op_id {
                    out.op_id("op_id", id);
                }
            }
            ServerMessage::Snapshot {
                state,
                seq,
                timestamp,
                epoch,
            } => {
                out.envelope_on(tag, channel, 3 + usize::from(epoch.is_some()));
                out.payload("state", state)?;
                out.uint("seq", *seq);
                out.uint("timestamp", *timestamp);
                if let Some(epoch) = epoch {
                    out.uint("epoch", u64::from(*epoch));
                }
            }
            ServerMessage::Delta {
                delta,
                seq,
                timestamp,
                epoch,
                prev,
            } => {
                out.envelope_on(
                    tag,
                    channel,
                    3 + usize::from(epoch.is_some()) + usize::from(prev.is_some()),
                );
                out.payload("delta", delta)?;
                out.uint("seq", *seq);
                out.uint("timestamp", *timestamp);
                if let Some(epoch) = epoch {
                    out.uint("epoch", u64::from(*epoch));
                }
                if let Some(prev) = prev {
                    out.uint("prev", *prev);
                }
            }
            ServerMessage::Deltas {
                deltas,
                seq,
                timestamp,
                epoch,
                prev,
            } => {
                out.envelope_on(
                    tag,
                    channel,
                    3 + usize::from(epoch.is_some()) + usize::from(prev.is_some()),
                );
                out.payloads("deltas", deltas)?;
                out.uint("seq", *seq);
                out.uint("timestamp", *timestamp);
                if let Some(epoch) = epoch {
                    out.uint("epoch", u64::from(*epoch));
                }
                if let Some(prev) = prev {
                    out.uint("prev", *prev);
                }
            }
            ServerMessage::Presence { users } => {
                out.envelope_on(tag, channel, 1);
                out.presence_list("users", users);
            }
            ServerMessage::PresenceDiff(diff) => {
                out.envelope_on(tag, channel, presence_diff_len(diff));
                out.presence_diff(diff);
            }
            ServerMessage::Signal {
                from_user_id,
                signal,
            } => {
                out.envelope_on(tag, channel, 2);
                out.str("from_user_id", from_user_id);
                out.signal("signal", signal);
            }
            ServerMessage::Notify {
                domain,
                event,
                correlation_id,
            } => {
                out.envelope_on(tag, channel, 2 + usize::from(correlation_id.is_some()));
                out.str("domain", domain);
                out.payload("event", event)?;
                if let Some(id) = correlation_id {
                    out.op_id("correlation_id", id);
                }
            }
            ServerMessage::Progress {
                op_id,
                percent,
                message,
            } => {
                out.envelope_on(
                    tag,
                    channel,
                    1 + usize::from(percent.is_some()) + usize::from(message.is_some()),
                );
                out.op_id("op_id", op_id);
                if let Some(percent) = percent {
                    out.uint("percent", u64::from(*percent));
                }
                if let Some(message) = message {
                    out.str("message", message);
                }
            }
            ServerMessage::ActionOk { op_id, result } => {
                // A nil result is no result: omitting it keeps decode(encode(m)) == m.
                let result = result.as_ref().filter(|r| !r.is_nil());
                out.envelope_on(tag, channel, 1 + usize::from(result.is_some()));
                out.op_id("op_id", op_id);
                if let Some(result) = result {
                    out.raw("result", result);
                }
            }
            ServerMessage::ActionErr {
                op_id,
                code,
                message,
            } => {
                out.envelope_on(tag, channel, 2 + usize::from(code.is_some()));
                out.op_id("op_id", op_id);
                if let Some(code) = code {
                    out.str("code", code);
                }
                out.str("message", message);
            }
        }
        Ok(())
    }
}

impl<'a, S, D, E> ServerMessage<S, D, E>
where
    S: Deserialize<'a>,
    D: Deserialize<'a>,
    E: Deserialize<'a>,
{
    /// Decodes one frame with the default [`Limits`], dropping its channel.
    /// Only for a client that never joins a channel, which receives frames
    /// on channel 0 alone; otherwise use [`decode_routed`](Self::decode_routed).
    pub fn decode(bytes: &'a [u8]) -> Result<Decoded<Self>, DecodeError> {
        Self::decode_with(bytes, &Limits::default())
    }

    /// Decodes one frame within `limits`, dropping its channel (see
    /// [`decode`](Self::decode)).
    pub fn decode_with(bytes: &'a [u8], limits: &Limits) -> Result<Decoded<Self>, DecodeError> {
        Self::decode_routed_with(bytes, limits).map(|(_, message)| message)
    }

    /// Decodes one frame with the default [`Limits`], with the channel it
    /// is on (its `"c"`, [`Channel::URL`] when absent). A frame with an
    /// unknown tag is reported on channel 0: its fields are not read.
    pub fn decode_routed(bytes: &'a [u8]) -> Result<(Channel, Decoded<Self>), DecodeError> {
        Self::decode_routed_with(bytes, &Limits::default())
    }

    /// Decodes one frame within `limits`, with the channel it is on.
    pub fn decode_routed_with(
        bytes: &'a [u8],
        limits: &Limits,
    ) -> Result<(Channel, Decoded<Self>), DecodeError> {
        let mut payloads = Typed::<S, D, E>::default();
        let (channel, shape) = read_frame(bytes, limits, &mut payloads)?;
        let message = match shape {
            Decoded::Message(shape) => Decoded::Message(payloads.fill(shape)?),
            Decoded::Unknown { tag } => Decoded::Unknown { tag },
        };
        Ok((channel, message))
    }
}

/// The channel a server frame is on, read without deserializing its
/// payloads: `Err` exactly when the frame does not decode apart from them
/// (a payload is only checked to be one valid MessagePack value).
pub(crate) fn frame_channel(bytes: &[u8], limits: &Limits) -> Result<Channel, DecodeError> {
    read_frame(bytes, limits, &mut Skipped).map(|(channel, _)| channel)
}

/// A server message without its application payloads: what the frame
/// reader produces. The payloads went to a [`Payloads`] as they were found.
type Shape = ServerMessage<(), (), ()>;

/// Which of a server message's application types a payload has.
#[derive(Clone, Copy)]
enum PayloadKind {
    /// `Snapshot.state`.
    State,
    /// `Delta.delta`, or one entry of `Deltas.deltas`.
    Delta,
    /// `Notify.event`.
    Event,
}

/// Receives each application payload of a frame as the reader finds it, in
/// frame order, so that one that does not deserialize fails the frame at
/// the same point as any other bad field.
///
/// The frame reader takes this as a trait object: it is compiled once for
/// every message kind, and only the deserialization of the payloads
/// themselves is generic over the application's types.
trait Payloads<'a> {
    fn take(
        &mut self,
        kind: PayloadKind,
        bytes: &'a [u8],
        message: &'static str,
        field: &'static str,
    ) -> Result<(), Fault>;
}

/// Payloads deserialized into the application's types, to be put into
/// the message by [`fill`](Typed::fill).
struct Typed<S, D, E> {
    state: Option<S>,
    deltas: Vec<D>,
    event: Option<E>,
}

impl<S, D, E> Default for Typed<S, D, E> {
    fn default() -> Self {
        Typed {
            state: None,
            deltas: Vec::new(),
            event: None,
        }
    }
}

impl<'a, S, D, E> Payloads<'a> for Typed<S, D, E>
where
    S: Deserialize<'a>,
    D: Deserialize<'a>,
    E: Deserialize<'a>,
{
    fn take(
        &mut self,
        kind: PayloadKind,
        bytes: &'a [u8],
        message: &'static str,
        field: &'static str,
    ) -> Result<(), Fault> {
        match kind {
            PayloadKind::State => self.state = Some(read_payload(bytes, message, field)?),
            PayloadKind::Delta => self.deltas.push(read_payload(bytes, message, field)?),
            PayloadKind::Event => self.event = Some(read_payload(bytes, message, field)?),
        }
        Ok(())
    }
}

impl<S, D, E> Typed<S, D, E> {
    /// The message with its payloads. The reader only returns a shape whose
    /// payloads it handed over, so the errors here cannot occur; they keep
    /// a broken invariant from turning into a panic.
    fn fill(mut self, shape: Shape) -> Result<ServerMessage<S, D, E>, DecodeError> {
        let lost = |message: &'static str, field: &'static str| DecodeError::MissingField {
            message,
            field,
        };
        Ok(match shape {
            ServerMessage::Connected {
                protocol_version,
                connection_id,
                user_id,
                channels,
            } => ServerMessage::Connected {
                protocol_version,
                connection_id,
                user_id,
                channels,
            },
            ServerMessage::Pong {
                client_ts,
                server_ts,
            } => ServerMessage::Pong {
                client_ts,
                server_ts,
            },
            ServerMessage::Error {
                code,
                message,
                fatal,
                op_id,
            } => ServerMessage::Error {
                code,
                message,
                fatal,
                op_id,
            },
            ServerMessage::Joined => ServerMessage::Joined,
            ServerMessage::Left { code, message } => ServerMessage::Left { code, message },
            ServerMessage::Snapshot {
                state: (),
                seq,
                timestamp,
                epoch,
            } => ServerMessage::Snapshot {
                state: self.state.ok_or_else(|| lost("Snapshot", "state"))?,
                seq,
                timestamp,
                epoch,
            },
            ServerMessage::Delta {
                delta: (),
                seq,
                timestamp,
                epoch,
                prev,
            } => ServerMessage::Delta {
                delta: self.deltas.pop().ok_or_else(|| lost("Delta", "delta"))?,
                seq,
                timestamp,
                epoch,
                prev,
            },
            ServerMessage::Deltas {
                deltas: _,
                seq,
                timestamp,
                epoch,
                prev,
            } => ServerMessage::Deltas {
                deltas: self.deltas,
                seq,
                timestamp,
                epoch,
                prev,
            },
            ServerMessage::Presence { users } => ServerMessage::Presence { users },
            ServerMessage::PresenceDiff(diff) => ServerMessage::PresenceDiff(diff),
            ServerMessage::Signal {
                from_user_id,
                signal,
            } => ServerMessage::Signal {
                from_user_id,
                signal,
            },
            ServerMessage::Notify {
                domain,
                event: (),
                correlation_id,
            } => ServerMessage::Notify {
                domain,
                event: self.event.ok_or_else(|| lost("Notify", "event"))?,
                correlation_id,
            },
            ServerMessage::Progress {
                op_id,
                percent,
                message,
            } => ServerMessage::Progress {
                op_id,
                percent,
                message,
            },
            ServerMessage::ActionOk { op_id, result } => ServerMessage::ActionOk { op_id, result },
            ServerMessage::ActionErr {
                op_id,
                code,
                message,
            } => ServerMessage::ActionErr {
                op_id,
                code,
                message,
            },
        })
    }
}

/// Payloads that are not deserialized at all (their bytes were walked).
struct Skipped;

impl<'a> Payloads<'a> for Skipped {
    fn take(
        &mut self,
        _: PayloadKind,
        _: &'a [u8],
        _: &'static str,
        _: &'static str,
    ) -> Result<(), Fault> {
        Ok(())
    }
}

/// Reads one frame, handing its payloads to `payloads`. Not generic, so
/// one copy serves every application type.
#[inline(never)]
fn read_frame<'a>(
    bytes: &'a [u8],
    limits: &Limits,
    payloads: &mut dyn Payloads<'a>,
) -> Result<(Channel, Decoded<Shape>), DecodeError> {
    decode_frame(bytes, limits, |tag, f| {
        read(bytes, limits, ServerTag(tag), f, payloads).map_err(DecodeError::from)
    })
}

fn read<'a>(
    bytes: &'a [u8],
    limits: &Limits,
    tag: ServerTag,
    mut f: Fields<'a>,
    payloads: &mut dyn Payloads<'a>,
) -> Result<(Channel, Decoded<Shape>), Fault> {
    let Some(name) = tag.name() else {
        // Nothing of an unknown message is read, but it must still be a
        // valid frame.
        validate(bytes, limits)?;
        f.message = "unknown message";
        f.finish_unknown()?;
        return Ok((Channel::URL, Decoded::Unknown { tag: tag.0 }));
    };
    f.message = name;
    let message = match tag {
        ServerTag::CONNECTED => connected(&mut f)?,
        ServerTag::PONG => pong(&mut f)?,
        ServerTag::ERROR => error(&mut f)?,
        ServerTag::JOINED => joined(&mut f)?,
        ServerTag::LEFT => left(&mut f)?,
        ServerTag::SNAPSHOT => snapshot(&mut f, payloads)?,
        ServerTag::DELTA | ServerTag::DELTAS => delta_or_deltas(&mut f, tag, payloads)?,
        ServerTag::PRESENCE => presence(&mut f)?,
        ServerTag::PRESENCE_DIFF => presence_diff(&mut f)?,
        ServerTag::SIGNAL => signal(&mut f)?,
        ServerTag::NOTIFY => notify(&mut f, payloads)?,
        ServerTag::PROGRESS => progress(&mut f)?,
        ServerTag::ACTION_OK => action_ok(&mut f)?,
        _ => action_err(&mut f)?,
    };
    f.finish_frame()?;
    Ok((Channel(f.channel), Decoded::Message(message)))
}

/// Encodes a server `Signal` that relays `signal`, the encoded SignalPayload
/// exactly as its sender wrote it (see [`field_bytes`](super::field_bytes)),
/// so keys this build does not know reach the target too. The bytes must be
/// one MessagePack value within the default [`Limits`]; the caller has
/// already decoded them as a SignalPayload.
pub fn encode_relayed_signal(from_user_id: &str, signal: &[u8]) -> Result<Vec<u8>, DecodeError> {
    encode_relayed_signal_on(Channel::URL, from_user_id, signal)
}

/// [`encode_relayed_signal`] on `channel`: the frame carries `"c"` unless
/// the channel is 0.
pub fn encode_relayed_signal_on(
    channel: Channel,
    from_user_id: &str,
    signal: &[u8],
) -> Result<Vec<u8>, DecodeError> {
    let end = super::scan::walk(signal, 0, Limits::DEFAULT_MAX_DEPTH - 1)?;
    if end != signal.len() {
        return Err(DecodeError::TrailingBytes {
            extra: signal.len() - end,
        });
    }
    let mut buf = Vec::with_capacity(signal.len() + from_user_id.len() + 32);
    let mut out = Out { buf: &mut buf };
    out.envelope_on(ServerTag::SIGNAL.0, channel.0, 2);
    out.str("from_user_id", from_user_id);
    out.key("signal");
    out.buf.extend_from_slice(signal);
    Ok(buf)
}

type Msg = Result<Shape, Fault>;

fn connected(f: &mut Fields<'_>) -> Msg {
    let m = f.message;
    let (mut version, mut id, mut user, mut channels) =
        (Slot::new(), Slot::new(), Slot::new(), Slot::new());
    while let Some(key) = f.next_key()? {
        match key {
            b"protocol_version" => {
                version.set(f.uint("protocol_version")?, m, "protocol_version")?
            }
            b"connection_id" => id.set(f.string("connection_id")?, m, "connection_id")?,
            b"user_id" => user.set(f.opt("user_id", Fields::string)?, m, "user_id")?,
            b"channels" => channels.set(f.opt("channels", Fields::uint)?, m, "channels")?,
            _ => f.skip()?,
        }
    }
    Ok(ServerMessage::Connected {
        protocol_version: version.required(m, "protocol_version")?,
        connection_id: id.required(m, "connection_id")?,
        user_id: user.optional(),
        channels: channels.optional(),
    })
}

fn pong(f: &mut Fields<'_>) -> Msg {
    let m = f.message;
    let (mut client_ts, mut server_ts) = (Slot::new(), Slot::new());
    while let Some(key) = f.next_key()? {
        match key {
            b"client_ts" => client_ts.set(f.uint("client_ts")?, m, "client_ts")?,
            b"server_ts" => server_ts.set(f.uint("server_ts")?, m, "server_ts")?,
            _ => f.skip()?,
        }
    }
    Ok(ServerMessage::Pong {
        client_ts: client_ts.required(m, "client_ts")?,
        server_ts: server_ts.required(m, "server_ts")?,
    })
}

fn error(f: &mut Fields<'_>) -> Msg {
    let m = f.message;
    let (mut code, mut message, mut fatal, mut op_id) =
        (Slot::new(), Slot::new(), Slot::new(), Slot::new());
    while let Some(key) = f.next_key()? {
        match key {
            b"code" => code.set(f.opt("code", Fields::string)?, m, "code")?,
            b"message" => message.set(f.string("message")?, m, "message")?,
            b"fatal" => fatal.set(f.bool("fatal")?, m, "fatal")?,
            b"op_id" => op_id.set(f.opt("op_id", Fields::op_id)?, m, "op_id")?,
            b"c" => f.channel_field()?,
            _ => f.skip()?,
        }
    }
    Ok(ServerMessage::Error {
        code: code.optional().map(Into::into),
        message: message.required(m, "message")?,
        fatal: fatal.required(m, "fatal")?,
        op_id: op_id.optional(),
    })
}

fn joined(f: &mut Fields<'_>) -> Msg {
    while let Some(key) = f.next_key()? {
        match key {
            b"c" => f.named_channel_field()?,
            _ => f.skip()?,
        }
    }
    f.channel_required()?;
    Ok(ServerMessage::Joined)
}

fn left(f: &mut Fields<'_>) -> Msg {
    let m = f.message;
    let (mut code, mut message) = (Slot::new(), Slot::new());
    while let Some(key) = f.next_key()? {
        match key {
            b"c" => f.named_channel_field()?,
            b"code" => code.set(f.opt("code", Fields::string)?, m, "code")?,
            b"message" => message.set(f.opt("message", Fields::string)?, m, "message")?,
            _ => f.skip()?,
        }
    }
    f.channel_required()?;
    Ok(ServerMessage::Left {
        code: code.optional().map(Into::into),
        message: message.optional(),
    })
}

fn snapshot<'a>(f: &mut Fields<'a>, payloads: &mut dyn Payloads<'a>) -> Msg {
    let m = f.message;
    let (mut state, mut seq, mut timestamp, mut epoch) =
        (Slot::new(), Slot::new(), Slot::new(), Slot::new());
    while let Some(key) = f.next_key()? {
        match key {
            b"state" => {
                payloads.take(PayloadKind::State, f.payload_bytes()?, m, "state")?;
                state.set((), m, "state")?
            }
            b"seq" => seq.set(f.uint("seq")?, m, "seq")?,
            b"timestamp" => timestamp.set(f.uint("timestamp")?, m, "timestamp")?,
            b"epoch" => epoch.set(f.opt("epoch", Fields::uint)?, m, "epoch")?,
            b"c" => f.channel_field()?,
            _ => f.skip()?,
        }
    }
    Ok(ServerMessage::Snapshot {
        state: state.required(m, "state")?,
        seq: seq.required(m, "seq")?,
        timestamp: timestamp.required(m, "timestamp")?,
        epoch: epoch.optional(),
    })
}

fn delta_or_deltas<'a>(f: &mut Fields<'a>, tag: ServerTag, payloads: &mut dyn Payloads<'a>) -> Msg {
    let m = f.message;
    let single = tag == ServerTag::DELTA;
    let body = if single { "delta" } else { "deltas" };
    let (mut one, mut many, mut seq, mut timestamp, mut epoch, mut prev) = (
        Slot::new(),
        Slot::new(),
        Slot::new(),
        Slot::new(),
        Slot::new(),
        Slot::new(),
    );
    while let Some(key) = f.next_key()? {
        match key {
            b"delta" if single => {
                payloads.take(PayloadKind::Delta, f.payload_bytes()?, m, "delta")?;
                one.set((), m, "delta")?
            }
            b"deltas" if !single => many.set(
                f.array("deltas", |f, field| {
                    payloads.take(PayloadKind::Delta, f.payload_bytes()?, m, field)
                })?,
                m,
                "deltas",
            )?,
            b"seq" => seq.set(f.uint("seq")?, m, "seq")?,
            b"timestamp" => timestamp.set(f.uint("timestamp")?, m, "timestamp")?,
            b"epoch" => epoch.set(f.opt("epoch", Fields::uint)?, m, "epoch")?,
            b"prev" => prev.set(f.opt("prev", Fields::uint)?, m, "prev")?,
            b"c" => f.channel_field()?,
            _ => f.skip()?,
        }
    }
    // Required fields are checked in the field table's order, so the first
    // missing one in that order is the one named.
    let (one, many) = if single {
        (Some(one.required(m, body)?), None)
    } else {
        (None, Some(many.required(m, body)?))
    };
    let (seq, timestamp, epoch, prev) = (
        seq.required(m, "seq")?,
        timestamp.required(m, "timestamp")?,
        epoch.optional(),
        prev.optional(),
    );
    Ok(match (one, many) {
        (Some(delta), _) => ServerMessage::Delta {
            delta,
            seq,
            timestamp,
            epoch,
            prev,
        },
        (None, deltas) => ServerMessage::Deltas {
            deltas: deltas.unwrap_or_default(),
            seq,
            timestamp,
            epoch,
            prev,
        },
    })
}

fn presence(f: &mut Fields<'_>) -> Msg {
    let m = f.message;
    let mut users = Slot::new();
    while let Some(key) = f.next_key()? {
        match key {
            b"users" => users.set(f.array("users", Fields::presence_info)?, m, "users")?,
            b"c" => f.channel_field()?,
            _ => f.skip()?,
        }
    }
    Ok(ServerMessage::Presence {
        users: users.required(m, "users")?,
    })
}

fn presence_diff(f: &mut Fields<'_>) -> Msg {
    let m = f.message;
    let (mut joined, mut updated, mut left) = (Slot::new(), Slot::new(), Slot::new());
    while let Some(key) = f.next_key()? {
        match key {
            b"joined" => joined.set(
                f.opt("joined", |f, n| f.array(n, Fields::presence_info))?,
                m,
                "joined",
            )?,
            b"updated" => updated.set(
                f.opt("updated", |f, n| f.array(n, Fields::presence_info))?,
                m,
                "updated",
            )?,
            b"left" => left.set(f.opt("left", Fields::strings)?, m, "left")?,
            b"c" => f.channel_field()?,
            _ => f.skip()?,
        }
    }
    Ok(ServerMessage::PresenceDiff(PresenceDiff {
        joined: joined.or_empty(),
        updated: updated.or_empty(),
        left: left.or_empty(),
    }))
}

fn signal(f: &mut Fields<'_>) -> Msg {
    let m = f.message;
    let (mut from, mut payload) = (Slot::new(), Slot::new());
    while let Some(key) = f.next_key()? {
        match key {
            b"from_user_id" => from.set(f.string("from_user_id")?, m, "from_user_id")?,
            b"signal" => payload.set(f.signal("signal")?, m, "signal")?,
            b"c" => f.channel_field()?,
            _ => f.skip()?,
        }
    }
    Ok(ServerMessage::Signal {
        from_user_id: from.required(m, "from_user_id")?,
        signal: payload.required(m, "signal")?,
    })
}

fn notify<'a>(f: &mut Fields<'a>, payloads: &mut dyn Payloads<'a>) -> Msg {
    let m = f.message;
    let (mut domain, mut event, mut correlation) = (Slot::new(), Slot::new(), Slot::new());
    while let Some(key) = f.next_key()? {
        match key {
            b"domain" => domain.set(f.string("domain")?, m, "domain")?,
            b"event" => {
                payloads.take(PayloadKind::Event, f.payload_bytes()?, m, "event")?;
                event.set((), m, "event")?
            }
            b"correlation_id" => {
                correlation.set(f.opt("correlation_id", Fields::op_id)?, m, "correlation_id")?
            }
            b"c" => f.channel_field()?,
            _ => f.skip()?,
        }
    }
    Ok(ServerMessage::Notify {
        domain: domain.required(m, "domain")?,
        event: event.required(m, "event")?,
        correlation_id: correlation.optional(),
    })
}

fn progress(f: &mut Fields<'_>) -> Msg {
    let m = f.message;
    let (mut op_id, mut percent, mut message) = (Slot::new(), Slot::new(), Slot::new());
    while let Some(key) = f.next_key()? {
        match key {
            b"op_id" => op_id.set(f.op_id("op_id")?, m, "op_id")?,
            b"percent" => percent.set(f.opt("percent", Fields::uint)?, m, "percent")?,
            b"message" => message.set(f.opt("message", Fields::string)?, m, "message")?,
            b"c" => f.channel_field()?,
            _ => f.skip()?,
        }
    }
    Ok(ServerMessage::Progress {
        op_id: op_id.required(m, "op_id")?,
        percent: percent.optional(),
        message: message.optional(),
    })
}

fn action_ok(f: &mut Fields<'_>) -> Msg {
    let m = f.message;
    let (mut op_id, mut result) = (Slot::new(), Slot::new());
    while let Some(key) = f.next_key()? {
        match key {
            b"op_id" => op_id.set(f.op_id("op_id")?, m, "op_id")?,
            b"result" => result.set(f.opt("result", Fields::raw)?, m, "result")?,
            b"c" => f.channel_field()?,
            _ => f.skip()?,
        }
    }
    Ok(ServerMessage::ActionOk {
        op_id: op_id.required(m, "op_id")?,
        result: result.optional(),
    })
}

fn action_err(f: &mut Fields<'_>) -> Msg {
    let m = f.message;
    let (mut op_id, mut code, mut message) = (Slot::new(), Slot::new(), Slot::new());
    while let Some(key) = f.next_key()? {
        match key {
            b"op_id" => op_id.set(f.op_id("op_id")?, m, "op_id")?,
            b"code" => code.set(f.opt("code", Fields::string)?, m, "code")?,
            b"message" => message.set(f.string("message")?, m, "message")?,
            b"c" => f.channel_field()?,
            _ => f.skip()?,
        }
    }
    Ok(ServerMessage::ActionErr {
        op_id: op_id.required(m, "op_id")?,
        code: code.optional(),
        message: message.required(m, "message")?,
    })
}
