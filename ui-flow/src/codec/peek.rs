//! Reading the front of a frame that may be refused.
//!
//! A server that refuses a frame (rate limit, decode error) still owes an
//! `Action` its outcome, and a relayed `Signal` must carry the sender's own
//! bytes. These readers go through the frame's map front to back and stop at
//! the first fault, so what they return is exactly what precedes it. They
//! are not decoders: a value they return does not mean the frame is valid.

use super::Limits;
use super::read::Fields;
use crate::op::OpId;

/// What the front of a frame says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameHead {
    /// The frame's `"t"`.
    pub tag: u16,
    /// The first top-level `op_id` field, when one is there and reads as an
    /// [`OpId`] before any fault in the frame.
    pub op_id: Option<OpId>,
}

/// Reads a frame's tag and top-level `op_id`, as far as the frame can be read.
///
/// `None` when the frame is over `limits.max_frame_len` or does not start
/// with a map whose first entry is a valid `"t"`. Never panics, whatever the
/// bytes.
pub fn peek_head(bytes: &[u8], limits: &Limits) -> Option<FrameHead> {
    let (tag, mut fields) = open(bytes, limits)?;
    let op_id = seek(&mut fields, b"op_id").and_then(|f| f.op_id("op_id").ok());
    Some(FrameHead { tag, op_id })
}

/// The encoded bytes of a frame's first top-level field called `name`,
/// exactly as the sender wrote them, when the frame can be read that far.
///
/// The bytes are one complete MessagePack value within the depth limit.
pub fn field_bytes<'a>(bytes: &'a [u8], limits: &Limits, name: &str) -> Option<&'a [u8]> {
    let (_, mut fields) = open(bytes, limits)?;
    seek(&mut fields, name.as_bytes())?.value_bytes_for_peek()
}

fn open<'a>(bytes: &'a [u8], limits: &Limits) -> Option<(u16, Fields<'a>)> {
    if bytes.len() > limits.max_frame_len {
        return None;
    }
    super::open_frame(bytes, limits).ok()
}

/// Moves the cursor onto the value of the first key equal to `name`.
fn seek<'f, 'a>(fields: &'f mut Fields<'a>, name: &[u8]) -> Option<&'f mut Fields<'a>> {
    loop {
        let key = fields.next_key().ok()??;
        if key == name {
            return Some(fields);
        }
        fields.skip_value().ok()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientMessage;

    #[test]
    fn reads_the_op_id_of_an_action_whatever_follows() {
        let op = OpId::from_u128(7);
        let mut frame = ClientMessage::Action {
            op_id: op,
            action: 1u8,
        }
        .encode()
        .expect("an Action encodes");
        let limits = Limits::default();
        assert_eq!(
            peek_head(&frame, &limits),
            Some(FrameHead {
                tag: 1000,
                op_id: Some(op)
            })
        );
        // A fault after the op_id leaves it readable; cut the frame short.
        frame.pop();
        assert_eq!(peek_head(&frame, &limits).and_then(|h| h.op_id), Some(op));
        assert_eq!(peek_head(&frame[..6], &limits).map(|h| h.tag), Some(1000));
        assert_eq!(peek_head(&[0x81, 0xa1], &limits), None);
        assert_eq!(peek_head(&[], &limits), None);
    }

    #[test]
    fn field_bytes_are_the_senders_bytes() {
        // {t: 3000, x: 1, signal: {b: 1, a: 2}}: keys out of order survive.
        let frame = [
            0x83, 0xa1, b't', 0xcd, 0x0b, 0xb8, 0xa1, b'x', 0x01, 0xa6, b's', b'i', b'g', b'n',
            b'a', b'l', 0x82, 0xa1, b'b', 0x01, 0xa1, b'a', 0x02,
        ];
        let limits = Limits::default();
        assert_eq!(field_bytes(&frame, &limits, "signal"), Some(&frame[16..]));
        assert_eq!(field_bytes(&frame, &limits, "other"), None);
        assert_eq!(
            field_bytes(&frame, &Limits::default().max_depth(1), "signal"),
            None
        );
    }
}
