//! Writing a frame's envelope: the map header, `"t"` first, then named fields.
//!
//! The heads (map, array, str and bin lengths, unsigned integers, booleans)
//! are written by the few lines of [`Head`] and [`uint`]: the smallest
//! encoding, as `rmp::encode` writes them (tested below), without its
//! `Result` plumbing for writers that can fail: a `Vec<u8>` cannot.
//! In the browser build, payloads are serialized by our own writer
//! (`super::payload::write`), which writes its heads with these.

use serde::Serialize;

use crate::error::EncodeError;
use crate::op::OpId;
use crate::presence::{PresenceDiff, PresenceInfo};
use crate::raw::RawValue;
use crate::signal::SignalPayload;

/// A MessagePack value that starts with its length.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Head {
    Map,
    Array,
    Str,
    Bin,
}

impl Head {
    /// Writes the head of a value of `len` entries, elements or bytes in
    /// its smallest form.
    pub(crate) fn write(self, buf: &mut Vec<u8>, len: u32) {
        // (fix marker and the longest it holds, 8-bit marker, 16-bit marker;
        // the 32-bit marker follows the 16-bit one)
        let (fix, fix_max, m8, m16) = match self {
            Head::Map => (Some(0x80), 15, None, 0xde),
            Head::Array => (Some(0x90), 15, None, 0xdc),
            Head::Str => (Some(0xa0), 31, Some(0xd9), 0xda),
            Head::Bin => (None, 0, Some(0xc4), 0xc5),
        };
        match (fix, m8) {
            (Some(fix), _) if len <= fix_max => buf.push(fix | len as u8),
            (_, Some(m8)) if len <= 0xff => buf.extend_from_slice(&[m8, len as u8]),
            _ if len <= 0xffff => {
                buf.push(m16);
                buf.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                buf.push(m16 + 1);
                buf.extend_from_slice(&len.to_be_bytes());
            }
        }
    }
}

/// Writes an unsigned integer in its smallest form.
pub(crate) fn uint(buf: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        buf.push(v as u8);
    } else if v <= 0xff {
        buf.extend_from_slice(&[0xcc, v as u8]);
    } else if v <= 0xffff {
        buf.push(0xcd);
        buf.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= 0xffff_ffff {
        buf.push(0xce);
        buf.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        buf.push(0xcf);
        buf.extend_from_slice(&v.to_be_bytes());
    }
}

/// Writes a str.
fn str(buf: &mut Vec<u8>, text: &str) {
    Head::Str.write(buf, text.len() as u32);
    buf.extend_from_slice(text.as_bytes());
}

/// A frame or nested map being written.
pub(crate) struct Out<'b> {
    pub(crate) buf: &'b mut Vec<u8>,
}

impl Out<'_> {
    /// Starts a map of `len` entries.
    pub(crate) fn map(&mut self, len: usize) {
        Head::Map.write(self.buf, len as u32);
    }

    /// Starts a frame: the map header and `"t"`. `fields` excludes `"t"`.
    pub(crate) fn envelope(&mut self, tag: u16, fields: usize) {
        self.map(fields + 1);
        self.key("t");
        self.uint_value(u64::from(tag));
    }

    /// Starts a frame on `channel`: the map header, `"t"`, then `"c"` unless
    /// the channel is 0 (the URL's resource, whose frames carry no `"c"`).
    /// `fields` excludes both.
    pub(crate) fn envelope_on(&mut self, tag: u16, channel: u16, fields: usize) {
        self.envelope(tag, fields + usize::from(channel != 0));
        if channel != 0 {
            self.uint("c", u64::from(channel));
        }
    }

    /// Starts an array of `len` items.
    pub(crate) fn array(&mut self, len: usize) {
        Head::Array.write(self.buf, len as u32);
    }

    pub(crate) fn key(&mut self, key: &str) {
        str(self.buf, key);
    }

    fn uint_value(&mut self, v: u64) {
        uint(self.buf, v);
    }

    pub(crate) fn uint(&mut self, key: &str, v: u64) {
        self.key(key);
        self.uint_value(v);
    }

    pub(crate) fn bool(&mut self, key: &str, v: bool) {
        self.key(key);
        self.buf.push(if v { 0xc3 } else { 0xc2 });
    }

    pub(crate) fn str(&mut self, key: &str, v: &str) {
        self.key(key);
        str(self.buf, v);
    }

    pub(crate) fn strings(&mut self, key: &str, items: &[String]) {
        self.key(key);
        Head::Array.write(self.buf, items.len() as u32);
        for item in items {
            str(self.buf, item);
        }
    }

    pub(crate) fn op_id(&mut self, key: &str, id: &OpId) {
        self.key(key);
        Head::Bin.write(self.buf, 16);
        self.buf.extend_from_slice(id.as_bytes());
    }

    pub(crate) fn raw(&mut self, key: &str, value: &RawValue) {
        self.key(key);
        self.buf.extend_from_slice(value.as_bytes());
    }

    pub(crate) fn payload<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        self.key(key);
        super::write_payload(self.buf, value, key)
    }

    pub(crate) fn payloads<T: Serialize>(
        &mut self,
        key: &'static str,
        values: &[T],
    ) -> Result<(), EncodeError> {
        self.key(key);
        Head::Array.write(self.buf, values.len() as u32);
        for value in values {
            super::write_payload(self.buf, value, key)?;
        }
        Ok(())
    }

    pub(crate) fn presence_list(&mut self, key: &str, users: &[PresenceInfo]) {
        self.key(key);
        Head::Array.write(self.buf, users.len() as u32);
        for user in users {
            self.presence_info(user);
        }
    }

    fn presence_info(&mut self, p: &PresenceInfo) {
        self.map(3 + usize::from(p.name.is_some()));
        self.str("user_id", &p.user_id);
        if let Some(name) = &p.name {
            self.str("name", name);
        }
        self.str("status", p.status.as_str());
        self.uint("connected_at", p.connected_at);
    }

    /// The fields of a `PresenceDiff` (empty lists omitted); returns nothing,
    /// the caller counted them with [`presence_diff_len`].
    pub(crate) fn presence_diff(&mut self, diff: &PresenceDiff) {
        if !diff.joined.is_empty() {
            self.presence_list("joined", &diff.joined);
        }
        if !diff.updated.is_empty() {
            self.presence_list("updated", &diff.updated);
        }
        if !diff.left.is_empty() {
            self.strings("left", &diff.left);
        }
    }

    pub(crate) fn signal(&mut self, key: &str, signal: &SignalPayload) {
        self.key(key);
        match signal {
            SignalPayload::Offer { sdp } | SignalPayload::Answer { sdp } => {
                self.map(2);
                self.str("type", signal.kind());
                self.str("sdp", sdp);
            }
            SignalPayload::IceCandidate {
                candidate,
                sdp_mid,
                sdp_m_line_index,
                username_fragment,
            } => {
                self.map(
                    2 + usize::from(sdp_mid.is_some())
                        + usize::from(sdp_m_line_index.is_some())
                        + usize::from(username_fragment.is_some()),
                );
                self.str("type", signal.kind());
                self.str("candidate", candidate);
                if let Some(mid) = sdp_mid {
                    self.str("sdpMid", mid);
                }
                if let Some(index) = sdp_m_line_index {
                    self.uint("sdpMLineIndex", u64::from(*index));
                }
                if let Some(ufrag) = username_fragment {
                    self.str("usernameFragment", ufrag);
                }
            }
        }
    }
}

/// How many fields [`Out::presence_diff`] writes.
pub(crate) fn presence_diff_len(diff: &PresenceDiff) -> usize {
    usize::from(!diff.joined.is_empty())
        + usize::from(!diff.updated.is_empty())
        + usize::from(!diff.left.is_empty())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Head, str, uint};

    /// Lengths around every boundary between encodings, and any other.
    fn len() -> impl Strategy<Value = u32> {
        prop_oneof![
            0u32..300,
            65_500u32..65_600,
            prop::sample::select(vec![15, 16, 31, 32, 255, 256, 65_535, 65_536, u32::MAX]),
            any::<u32>(),
        ]
    }

    fn ours(head: Head, len: u32) -> Vec<u8> {
        let mut buf = Vec::new();
        head.write(&mut buf, len);
        buf
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Every head is byte for byte what `rmp::encode` writes.
        #[test]
        fn heads_are_what_rmp_writes(
            len in len(),
            v in prop_oneof![0u64..70_000, any::<u64>()],
        ) {
            let mut rmp = Vec::new();
            rmp::encode::write_map_len(&mut rmp, len).expect("a Vec takes any write");
            prop_assert_eq!(ours(Head::Map, len), rmp);
            let mut rmp = Vec::new();
            rmp::encode::write_array_len(&mut rmp, len).expect("a Vec takes any write");
            prop_assert_eq!(ours(Head::Array, len), rmp);
            let mut rmp = Vec::new();
            rmp::encode::write_str_len(&mut rmp, len).expect("a Vec takes any write");
            prop_assert_eq!(ours(Head::Str, len), rmp);
            let mut rmp = Vec::new();
            rmp::encode::write_bin_len(&mut rmp, len).expect("a Vec takes any write");
            prop_assert_eq!(ours(Head::Bin, len), rmp);

            let (mut buf, mut rmp) = (Vec::new(), Vec::new());
            uint(&mut buf, v);
            rmp::encode::write_uint(&mut rmp, v).expect("a Vec takes any write");
            prop_assert_eq!(buf, rmp);
        }

        /// So is every str.
        #[test]
        fn strs_are_what_rmp_writes(text in ".{0,40}") {
            let (mut buf, mut rmp) = (Vec::new(), Vec::new());
            str(&mut buf, &text);
            rmp::encode::write_str(&mut rmp, &text).expect("a Vec takes any write");
            prop_assert_eq!(buf, rmp);
        }
    }
}
