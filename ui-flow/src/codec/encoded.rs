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

use super::write::Out;
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
}
