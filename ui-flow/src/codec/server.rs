//! Encoding and decoding [`ServerMessage`].

use serde::{Deserialize, Serialize};

use super::envelope::{Message, PayloadKind, Payloads, Values, layout, owned, read_fields};
use super::read::{Fault, Fields};
use super::write::{Out, presence_diff_len};
use super::{Decoded, FrameOn, Limits, decode_frame, new_frame, validate};
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
        new_frame(|buf| self.encode_on_into(channel, buf))
    }

    /// Appends the frame on `channel` to `buf`; on error `buf` is left as it
    /// was.
    pub fn encode_on_into(&self, channel: Channel, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        let tag = self.tag();
        let frame = FrameOn {
            channel,
            scoped: self.is_resource_scoped(),
            names_channel: matches!(self, ServerMessage::Joined | ServerMessage::Left { .. }),
            name: tag.name().unwrap_or("message"),
        };
        frame.write(buf, |out| self.write(out, tag.0, channel.0))
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
        let mut values = Values::default();
        let (channel, read) = read_frame(bytes, limits, &mut payloads, &mut values)?;
        let message = match read {
            Decoded::Message(message) => Decoded::Message(payloads.build(message, &mut values)?),
            Decoded::Unknown { tag } => Decoded::Unknown { tag },
        };
        Ok((channel, message))
    }
}

/// The channel a server frame is on, read without deserializing its
/// payloads: `Err` exactly when the frame does not decode apart from them
/// (a payload is only checked to be one valid MessagePack value).
pub(crate) fn frame_channel(bytes: &[u8], limits: &Limits) -> Result<Channel, DecodeError> {
    read_frame(bytes, limits, &mut Skipped, &mut Values::default()).map(|(channel, _)| channel)
}

/// Payloads deserialized into the application's types, to be put into
/// the message by [`build`](Typed::build).
struct Typed<S, D, E> {
    state: Option<S>,
    delta: Option<D>,
    deltas: Vec<D>,
    event: Option<E>,
}

impl<S, D, E> Default for Typed<S, D, E> {
    fn default() -> Self {
        Typed {
            state: None,
            delta: None,
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
        f: &mut Fields<'a>,
        field: &'static str,
    ) -> Result<(), Fault> {
        match kind {
            PayloadKind::State => self.state = Some(f.payload(field)?),
            PayloadKind::Delta => self.delta = Some(f.payload(field)?),
            PayloadKind::DeltasEntry => self.deltas.push(f.payload(field)?),
            PayloadKind::Event => self.event = Some(f.payload(field)?),
        }
        Ok(())
    }
}

impl<S, D, E> Typed<S, D, E> {
    /// The message from its values and payloads.
    ///
    /// The reader only returns values whose required fields it read (and
    /// whose payloads it handed over), so a required slot is never empty
    /// here: the defaults and the errors below cannot occur; they keep a
    /// broken invariant from turning into a panic.
    fn build(
        self,
        message: Message,
        v: &mut Values<'_>,
    ) -> Result<ServerMessage<S, D, E>, DecodeError> {
        let lost = |message: &'static str, field: &'static str| DecodeError::MissingField {
            message,
            field,
        };
        let [u0, u1, u2, u3] = v.uints;
        let op_id = v.op_id.unwrap_or_default();
        let seq = u0.unwrap_or_default();
        let timestamp = u1.unwrap_or_default();
        let epoch = u2.and_then(|e| u32::try_from(e).ok());
        Ok(match message {
            Message::Connected => ServerMessage::Connected {
                protocol_version: u0.and_then(|n| u8::try_from(n).ok()).unwrap_or_default(),
                connection_id: owned(v.strs[0]).unwrap_or_default(),
                user_id: owned(v.strs[1]),
                channels: u1.and_then(|n| u16::try_from(n).ok()),
            },
            Message::Pong => ServerMessage::Pong {
                client_ts: seq,
                server_ts: timestamp,
            },
            Message::Error => ServerMessage::Error {
                code: owned(v.strs[0]).map(Into::into),
                message: owned(v.strs[1]).unwrap_or_default(),
                fatal: v.bool.unwrap_or_default(),
                op_id: v.op_id,
            },
            Message::Joined => ServerMessage::Joined,
            Message::Left => ServerMessage::Left {
                code: owned(v.strs[0]).map(Into::into),
                message: owned(v.strs[1]),
            },
            Message::Snapshot => ServerMessage::Snapshot {
                state: self.state.ok_or_else(|| lost("Snapshot", "state"))?,
                seq,
                timestamp,
                epoch,
            },
            Message::Delta => ServerMessage::Delta {
                delta: self.delta.ok_or_else(|| lost("Delta", "delta"))?,
                seq,
                timestamp,
                epoch,
                prev: u3,
            },
            Message::Deltas => ServerMessage::Deltas {
                deltas: self.deltas,
                seq,
                timestamp,
                epoch,
                prev: u3,
            },
            Message::Presence => ServerMessage::Presence {
                users: v.users[0].take().unwrap_or_default(),
            },
            Message::PresenceDiff => ServerMessage::PresenceDiff(PresenceDiff {
                joined: v.users[0].take().unwrap_or_default(),
                updated: v.users[1].take().unwrap_or_default(),
                left: v.strings.take().unwrap_or_default(),
            }),
            Message::Signal => ServerMessage::Signal {
                from_user_id: owned(v.strs[0]).unwrap_or_default(),
                signal: v.signal.take().ok_or_else(|| lost("Signal", "signal"))?,
            },
            Message::Notify => ServerMessage::Notify {
                domain: owned(v.strs[0]).unwrap_or_default(),
                event: self.event.ok_or_else(|| lost("Notify", "event"))?,
                correlation_id: v.op_id,
            },
            Message::Progress => ServerMessage::Progress {
                op_id,
                percent: u0.and_then(|n| u8::try_from(n).ok()),
                message: owned(v.strs[0]),
            },
            Message::ActionOk => ServerMessage::ActionOk {
                op_id,
                result: v.raw.take(),
            },
            Message::ActionErr => ServerMessage::ActionErr {
                op_id,
                code: owned(v.strs[0]),
                message: owned(v.strs[1]).unwrap_or_default(),
            },
        })
    }
}

/// Payloads that are not deserialized at all, only walked.
struct Skipped;

impl<'a> Payloads<'a> for Skipped {
    fn take(&mut self, _: PayloadKind, f: &mut Fields<'a>, _: &'static str) -> Result<(), Fault> {
        f.skip_value()
    }
}

/// Reads one frame, handing its payloads to `payloads` and its other
/// fields to `values`: the channel and the tag. Not generic, so one copy
/// serves every application type.
#[inline(never)]
fn read_frame<'a>(
    bytes: &'a [u8],
    limits: &Limits,
    payloads: &mut dyn Payloads<'a>,
    values: &mut Values<'a>,
) -> Result<(Channel, Decoded<Message>), DecodeError> {
    decode_frame(bytes, limits, |tag, f| {
        read(bytes, limits, ServerTag(tag), f, payloads, values).map_err(DecodeError::from)
    })
}

fn read<'a>(
    bytes: &'a [u8],
    limits: &Limits,
    tag: ServerTag,
    mut f: Fields<'a>,
    payloads: &mut dyn Payloads<'a>,
    values: &mut Values<'a>,
) -> Result<(Channel, Decoded<Message>), Fault> {
    let Some((message, layout)) = layout(tag) else {
        // Nothing of an unknown message is read, but it must still be a
        // valid frame.
        validate(bytes, limits)?;
        f.message = "unknown message";
        f.finish_unknown()?;
        return Ok((Channel::URL, Decoded::Unknown { tag: tag.0 }));
    };
    f.message = layout.name;
    read_fields(&mut f, layout, payloads, values)?;
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
