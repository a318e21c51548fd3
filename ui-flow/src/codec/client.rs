//! Encoding and decoding [`ClientMessage`].

use serde::{Deserialize, Serialize};

use super::read::{Fields, Slot};
use super::write::Out;
use super::{Decoded, FrameOn, Limits, decode_frame, new_frame, validate};
use crate::channel::Channel;
use crate::error::{DecodeError, EncodeError};
use crate::message::ClientMessage;
use crate::tag::ClientTag;

impl<A: Serialize> ClientMessage<A> {
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
    /// `Ping` on a channel other than 0, and for `Join` and `Leave` on
    /// channel 0.
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
            names_channel: matches!(self, ClientMessage::Join { .. } | ClientMessage::Leave),
            name: tag.name().unwrap_or("message"),
        };
        frame.write(buf, |out| self.write(out, tag.0, channel.0))
    }

    fn write(&self, out: &mut Out<'_>, tag: u16, channel: u16) -> Result<(), EncodeError> {
        match self {
            ClientMessage::Ping { ts, presence } => {
                out.envelope_on(tag, channel, 1 + usize::from(presence.is_some()));
                out.uint("ts", *ts);
                if let Some(status) = presence {
                    out.str("presence", status.as_str());
                }
            }
            ClientMessage::Resync { last_seq, epoch } => {
                out.envelope_on(
                    tag,
                    channel,
                    usize::from(last_seq.is_some()) + usize::from(epoch.is_some()),
                );
                if let Some(seq) = last_seq {
                    out.uint("last_seq", *seq);
                }
                if let Some(epoch) = epoch {
                    out.uint("epoch", u64::from(*epoch));
                }
            }
            ClientMessage::Join {
                resource,
                last_seq,
                epoch,
            } => {
                out.envelope_on(
                    tag,
                    channel,
                    1 + usize::from(last_seq.is_some()) + usize::from(epoch.is_some()),
                );
                out.str("resource", resource);
                if let Some(seq) = last_seq {
                    out.uint("last_seq", *seq);
                }
                if let Some(epoch) = epoch {
                    out.uint("epoch", u64::from(*epoch));
                }
            }
            ClientMessage::Leave => out.envelope_on(tag, channel, 0),
            ClientMessage::Action { op_id, action } => {
                out.envelope_on(tag, channel, 2);
                out.op_id("op_id", op_id);
                out.payload("action", action)?;
            }
            ClientMessage::Subscribe { domains } | ClientMessage::Unsubscribe { domains } => {
                out.envelope_on(tag, channel, 1);
                out.strings("domains", domains);
            }
            ClientMessage::Signal {
                target_user_id,
                signal,
            } => {
                out.envelope_on(tag, channel, 2);
                out.str("target_user_id", target_user_id);
                out.signal("signal", signal);
            }
        }
        Ok(())
    }
}

impl<'a, A: Deserialize<'a>> ClientMessage<A> {
    /// Decodes one frame with the default [`Limits`], dropping its channel.
    /// Only for a server that does not announce channels, whose clients
    /// send frames on channel 0 alone; otherwise use
    /// [`decode_routed`](Self::decode_routed).
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
        decode_frame(bytes, limits, |tag, f| {
            Self::read(bytes, limits, ClientTag(tag), f)
        })
    }

    fn read(
        bytes: &'a [u8],
        limits: &Limits,
        tag: ClientTag,
        mut f: Fields<'a>,
    ) -> Result<(Channel, Decoded<Self>), DecodeError> {
        let Some(name) = tag.name() else {
            // Nothing of an unknown message is read, but it must still be a
            // valid frame.
            validate(bytes, limits)?;
            f.message = "unknown message";
            f.finish_unknown()?;
            return Ok((Channel::URL, Decoded::Unknown { tag: tag.0 }));
        };
        f.message = name;
        let m = name;
        let message = match tag {
            ClientTag::PING => {
                let (mut ts, mut presence) = (Slot::new(), Slot::new());
                while let Some(key) = f.next_key()? {
                    match key {
                        b"ts" => ts.set(f.uint("ts")?, m, "ts")?,
                        b"presence" => presence.set(
                            f.opt("presence", Fields::presence_status)?,
                            m,
                            "presence",
                        )?,
                        _ => f.skip()?,
                    }
                }
                ClientMessage::Ping {
                    ts: ts.required(m, "ts")?,
                    presence: presence.optional(),
                }
            }
            ClientTag::RESYNC => {
                let (mut last_seq, mut epoch) = (Slot::new(), Slot::new());
                while let Some(key) = f.next_key()? {
                    match key {
                        b"last_seq" => {
                            last_seq.set(f.opt("last_seq", Fields::uint)?, m, "last_seq")?
                        }
                        b"epoch" => epoch.set(f.opt("epoch", Fields::uint)?, m, "epoch")?,
                        b"c" => f.channel_field()?,
                        _ => f.skip()?,
                    }
                }
                ClientMessage::Resync {
                    last_seq: last_seq.optional(),
                    epoch: epoch.optional(),
                }
            }
            ClientTag::JOIN => {
                let (mut resource, mut last_seq, mut epoch) =
                    (Slot::new(), Slot::new(), Slot::new());
                while let Some(key) = f.next_key()? {
                    match key {
                        b"c" => f.named_channel_field()?,
                        b"resource" => resource.set(f.string("resource")?, m, "resource")?,
                        b"last_seq" => {
                            last_seq.set(f.opt("last_seq", Fields::uint)?, m, "last_seq")?
                        }
                        b"epoch" => epoch.set(f.opt("epoch", Fields::uint)?, m, "epoch")?,
                        _ => f.skip()?,
                    }
                }
                f.channel_required()?;
                ClientMessage::Join {
                    resource: resource.required(m, "resource")?,
                    last_seq: last_seq.optional(),
                    epoch: epoch.optional(),
                }
            }
            ClientTag::LEAVE => {
                while let Some(key) = f.next_key()? {
                    match key {
                        b"c" => f.named_channel_field()?,
                        _ => f.skip()?,
                    }
                }
                f.channel_required()?;
                ClientMessage::Leave
            }
            ClientTag::ACTION => {
                let (mut op_id, mut action) = (Slot::new(), Slot::new());
                while let Some(key) = f.next_key()? {
                    match key {
                        b"op_id" => op_id.set(f.op_id("op_id")?, m, "op_id")?,
                        b"action" => action.set(f.payload("action")?, m, "action")?,
                        b"c" => f.channel_field()?,
                        _ => f.skip()?,
                    }
                }
                ClientMessage::Action {
                    op_id: op_id.required(m, "op_id")?,
                    action: action.required(m, "action")?,
                }
            }
            ClientTag::SUBSCRIBE | ClientTag::UNSUBSCRIBE => {
                let mut domains = Slot::new();
                while let Some(key) = f.next_key()? {
                    match key {
                        b"domains" => domains.set(f.strings("domains")?, m, "domains")?,
                        b"c" => f.channel_field()?,
                        _ => f.skip()?,
                    }
                }
                let domains = domains.required(m, "domains")?;
                if tag == ClientTag::SUBSCRIBE {
                    ClientMessage::Subscribe { domains }
                } else {
                    ClientMessage::Unsubscribe { domains }
                }
            }
            _ => {
                let (mut target, mut signal) = (Slot::new(), Slot::new());
                while let Some(key) = f.next_key()? {
                    match key {
                        b"target_user_id" => {
                            target.set(f.string("target_user_id")?, m, "target_user_id")?
                        }
                        b"signal" => signal.set(f.signal("signal")?, m, "signal")?,
                        b"c" => f.channel_field()?,
                        _ => f.skip()?,
                    }
                }
                ClientMessage::Signal {
                    target_user_id: target.required(m, "target_user_id")?,
                    signal: signal.required(m, "signal")?,
                }
            }
        };
        f.finish_frame()?;
        Ok((Channel(f.channel), Decoded::Message(message)))
    }
}
