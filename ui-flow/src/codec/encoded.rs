//! State frames around payloads that are already MessagePack.
//!
//! A server that keeps a log stores each delta (and its snapshots) as the
//! payload's bytes, encoded once when it was committed. These functions wrap
//! such bytes in a `Snapshot`, `Delta` or `Deltas` frame without decoding and
//! re-encoding them. The frames are byte for byte what
//! [`ServerMessage::encode`](crate::ServerMessage::encode) writes for the same
//! values.
//!
//! They are not a general escape from the codec: each payload must be exactly
//! one valid MessagePack value (as [`RawValue::encode`](crate::RawValue::encode)
//! or [`encode_payload`] produce). Nothing here checks that; a peer rejects a
//! frame whose payload is not.
//!
//! ```
//! use ui_flow::{ServerMessage, codec::encoded};
//!
//! let delta = encoded::encode_payload(&("moved", 3))?;
//! let frame = encoded::delta_frame(&delta, 7, 1_700_000_000_000, None);
//! let same = ServerMessage::<(), _, ()>::Delta {
//!     delta: ("moved", 3), seq: 7, timestamp: 1_700_000_000_000, epoch: None,
//!     prev: None,
//! };
//! assert_eq!(frame, same.encode()?);
//! # Ok::<(), ui_flow::Error>(())
//! ```

use serde::Serialize;

use super::payload::head::{Cursor, Head};
use super::write::Out;
use crate::channel::Channel;
use crate::error::EncodeError;
use crate::tag::ServerTag;

/// Encodes one payload value the way frames carry it (structs as maps).
pub fn encode_payload<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let mut buf = Vec::new();
    super::write_payload(&mut buf, value, "payload")?;
    Ok(buf)
}

/// A `Snapshot` frame whose `state` is the encoded `state`.
pub fn snapshot_frame(state: &[u8], seq: u64, timestamp: u64, epoch: Option<u32>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(state.len() + 32);
    let mut out = Out { buf: &mut buf };
    out.envelope(ServerTag::SNAPSHOT.0, 3 + usize::from(epoch.is_some()));
    out.key("state");
    out.buf.extend_from_slice(state);
    tail(&mut out, seq, timestamp, epoch);
    buf
}

/// A `Delta` frame whose `delta` is the encoded `delta`.
pub fn delta_frame(delta: &[u8], seq: u64, timestamp: u64, epoch: Option<u32>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(delta.len() + 32);
    let mut out = Out { buf: &mut buf };
    out.envelope(ServerTag::DELTA.0, 3 + usize::from(epoch.is_some()));
    out.key("delta");
    out.buf.extend_from_slice(delta);
    tail(&mut out, seq, timestamp, epoch);
    buf
}

/// A `Deltas` frame of the encoded `deltas`, oldest first, the last at `seq`.
pub fn deltas_frame<'a, I>(deltas: I, seq: u64, timestamp: u64, epoch: Option<u32>) -> Vec<u8>
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: ExactSizeIterator,
{
    let deltas = deltas.into_iter();
    let mut buf = Vec::with_capacity(64);
    let mut out = Out { buf: &mut buf };
    out.envelope(ServerTag::DELTAS.0, 3 + usize::from(epoch.is_some()));
    out.key("deltas");
    out.array(deltas.len());
    for delta in deltas {
        out.buf.extend_from_slice(delta);
    }
    tail(&mut out, seq, timestamp, epoch);
    buf
}

/// A `Delta` frame with the additive `prev` field: the change takes the
/// state from `prev` to `seq` (see the spec, "Views and skipped seqs").
/// `prev: None` writes the same bytes as [`delta_frame`].
pub fn delta_frame_after(
    delta: &[u8],
    seq: u64,
    prev: Option<u64>,
    timestamp: u64,
    epoch: Option<u32>,
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(delta.len() + 40);
    let mut out = Out { buf: &mut buf };
    let fields = 3 + usize::from(epoch.is_some()) + usize::from(prev.is_some());
    out.envelope(ServerTag::DELTA.0, fields);
    out.key("delta");
    out.buf.extend_from_slice(delta);
    tail(&mut out, seq, timestamp, epoch);
    if let Some(prev) = prev {
        out.uint("prev", prev);
    }
    buf
}

/// A `Deltas` frame with the additive `prev` field: the entries together
/// take the state from `prev` to `seq`. `prev: None` writes the same bytes
/// as [`deltas_frame`].
pub fn deltas_frame_after<'a, I>(
    deltas: I,
    seq: u64,
    prev: Option<u64>,
    timestamp: u64,
    epoch: Option<u32>,
) -> Vec<u8>
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: ExactSizeIterator,
{
    let deltas = deltas.into_iter();
    let mut buf = Vec::with_capacity(64);
    let mut out = Out { buf: &mut buf };
    let fields = 3 + usize::from(epoch.is_some()) + usize::from(prev.is_some());
    out.envelope(ServerTag::DELTAS.0, fields);
    out.key("deltas");
    out.array(deltas.len());
    for delta in deltas {
        out.buf.extend_from_slice(delta);
    }
    tail(&mut out, seq, timestamp, epoch);
    if let Some(prev) = prev {
        out.uint("prev", prev);
    }
    buf
}

fn tail(out: &mut Out<'_>, seq: u64, timestamp: u64, epoch: Option<u32>) {
    out.uint("seq", seq);
    out.uint("timestamp", timestamp);
    if let Some(epoch) = epoch {
        out.uint("epoch", u64::from(epoch));
    }
}

/// `frame`, a server frame on channel 0 (as [`ServerMessage::encode`](crate::ServerMessage::encode)
/// or the functions above write it), put on `channel`: its `"c"` written
/// right after `"t"` and every other byte as it was. The result is byte for
/// byte what [`ServerMessage::encode_on`](crate::ServerMessage::encode_on)
/// writes for the same message, so a server that sends one frame to
/// connections holding its resource on different channels encodes the
/// message once and rewrites it once per distinct channel, not once per
/// connection. Channel 0 returns the frame as it is.
///
/// It reads only the map header, `"t"` and its tag; the rest is not checked.
/// It fails, writing nothing, when the frame does not start that way, when
/// its message belongs to the connection (`Connected`, `Pong`: no channel),
/// or when a `"c"` already follows `"t"`.
pub fn on_channel(frame: &[u8], channel: Channel) -> Result<Vec<u8>, EncodeError> {
    let fail = |reason: &str| EncodeError {
        field: "c",
        reason: reason.to_owned(),
    };
    if channel.is_url() {
        return Ok(frame.to_vec());
    }
    let mut rd = Cursor::new(frame);
    let Ok(Head::Map(fields)) = rd.head() else {
        return Err(fail("the frame is not a map"));
    };
    if rd.take(2).ok() != Some(b"\xa1t") {
        return Err(fail("the frame's first key is not \"t\""));
    }
    let tag = match rd.head() {
        Ok(Head::Uint(tag)) => u16::try_from(tag).ok(),
        Ok(Head::Int(tag)) => u16::try_from(tag).ok(),
        _ => None,
    }
    .ok_or_else(|| fail("the frame's \"t\" is not a u16"))?;
    let rd = &frame[frame.len() - rd.remaining()..];
    if tag == ServerTag::CONNECTED.0 || tag == ServerTag::PONG.0 {
        return Err(fail(
            "Connected and Pong belong to the connection, not to a channel",
        ));
    }
    if rd.starts_with(b"\xa1c") {
        return Err(fail("the frame is already on a channel"));
    }
    let fields = fields
        .checked_add(1)
        .ok_or_else(|| fail("the frame has too many fields"))?;
    let mut out = Vec::with_capacity(frame.len() + 6);
    let mut w = Out { buf: &mut out };
    w.envelope(tag, fields as usize - 1);
    w.uint("c", u64::from(channel.0));
    out.extend_from_slice(rd);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServerMessage;

    #[derive(Serialize)]
    struct Moved {
        x: i32,
        name: &'static str,
    }

    #[test]
    fn frames_match_the_codec_byte_for_byte() {
        let a = Moved { x: -3, name: "ann" };
        let b = Moved { x: 9, name: "bo" };
        let (pa, pb) = (
            encode_payload(&a).expect("encodes"),
            encode_payload(&b).expect("encodes"),
        );
        for epoch in [None, Some(0xdead_beef)] {
            let snapshot = ServerMessage::<&Moved, (), ()>::Snapshot {
                state: &a,
                seq: 300,
                timestamp: 1_700_000_000_123,
                epoch,
            };
            assert_eq!(
                snapshot_frame(&pa, 300, 1_700_000_000_123, epoch),
                snapshot.encode().expect("encodes")
            );
            let delta = ServerMessage::<(), &Moved, ()>::Delta {
                delta: &b,
                seq: 1,
                timestamp: 5,
                epoch,
                prev: None,
            };
            assert_eq!(
                delta_frame(&pb, 1, 5, epoch),
                delta.encode().expect("encodes")
            );
            for n in [0usize, 1, 2, 20] {
                let list: Vec<&Moved> = (0..n).map(|i| if i % 2 == 0 { &a } else { &b }).collect();
                let raw: Vec<&[u8]> = (0..n)
                    .map(|i| if i % 2 == 0 { &pa[..] } else { &pb[..] })
                    .collect();
                let deltas = ServerMessage::<(), &Moved, ()>::Deltas {
                    deltas: list,
                    seq: 70_000,
                    timestamp: 0,
                    epoch,
                    prev: None,
                };
                assert_eq!(
                    deltas_frame(raw, 70_000, 0, epoch),
                    deltas.encode().expect("encodes")
                );
            }
        }
    }

    #[test]
    fn a_frame_put_on_a_channel_is_what_encode_on_writes() {
        use crate::{ErrorCode, OpId, PresenceDiff, PresenceInfo, PresenceStatus};
        type Msg = ServerMessage<Moved, Moved, Moved>;
        let info = PresenceInfo {
            user_id: "ann".into(),
            name: Some("Ann".into()),
            status: PresenceStatus::default(),
            connected_at: 1_700_000_000_000,
        };
        let messages: Vec<Msg> = vec![
            ServerMessage::Delta {
                delta: Moved { x: 1, name: "a" },
                seq: 300,
                timestamp: 9,
                epoch: Some(2),
                prev: Some(299),
            },
            ServerMessage::Error {
                code: Some(ErrorCode::UNKNOWN_CHANNEL),
                message: "m".into(),
                fatal: false,
                op_id: Some(OpId::from_u128(3)),
            },
            ServerMessage::Presence {
                users: vec![info.clone()],
            },
            ServerMessage::PresenceDiff(PresenceDiff {
                joined: vec![info],
                ..PresenceDiff::default()
            }),
            ServerMessage::ActionOk {
                op_id: OpId::from_u128(4),
                result: None,
            },
        ];
        for (i, m) in messages.iter().enumerate() {
            let frame = m.encode_on(Channel::URL).expect("encodes");
            for c in [0u16, 1, 127, 128, 255, 256, 65535] {
                let expected = m.encode_on(Channel(c)).expect("encodes");
                let got = on_channel(&frame, Channel(c)).expect("rewrites");
                assert_eq!(got, expected, "message {i} on channel {c}");
            }
        }
    }

    #[test]
    fn a_fifteen_field_map_grows_into_a_map16() {
        // fixmap holds at most 15 entries; the 16th needs a map16 header.
        let mut frame = vec![0x8f, 0xa1, b't', 0xcd, 0x0f, 0xa0];
        for i in 0..14u8 {
            frame.extend_from_slice(&[0xa1, b'a' + i, i]);
        }
        let got = on_channel(&frame, Channel(9)).expect("rewrites");
        let mut expected = vec![
            0xde, 0x00, 0x10, 0xa1, b't', 0xcd, 0x0f, 0xa0, 0xa1, b'c', 9,
        ];
        expected.extend_from_slice(&frame[6..]);
        assert_eq!(got, expected);
    }

    #[test]
    fn connection_messages_and_frames_already_on_a_channel_are_refused() {
        let pong = ServerMessage::<(), (), ()>::Pong {
            client_ts: 1,
            server_ts: 2,
        }
        .encode()
        .expect("encodes");
        assert!(on_channel(&pong, Channel(1)).is_err());
        assert_eq!(on_channel(&pong, Channel::URL).expect("as is"), pong);
        let on_3 = ServerMessage::<(), (), ()>::Joined
            .encode_on(Channel(3))
            .expect("encodes");
        assert!(on_channel(&on_3, Channel(4)).is_err());
        for bad in [
            &b""[..],
            &[0x91, 0x00],
            &[0x81, 0xa1, b'x', 0x00],
            &[0x81, 0xa1, b't'],
        ] {
            assert!(on_channel(bad, Channel(1)).is_err(), "{bad:?}");
        }
    }
}
