//! Writing a frame's envelope: the map header, `"t"` first, then named fields.
//!
//! Writes go to a `Vec<u8>`, which cannot fail, so the `rmp` results are only
//! checked in debug builds.

use serde::Serialize;

use crate::error::EncodeError;
use crate::op::OpId;
use crate::presence::{PresenceDiff, PresenceInfo};
use crate::raw::RawValue;
use crate::signal::SignalPayload;

#[inline]
fn infallible<T, E: std::fmt::Debug>(result: Result<T, E>) {
    debug_assert!(
        result.is_ok(),
        "writing to a Vec failed: {:?}",
        result.err()
    );
}

/// A frame or nested map being written.
pub(crate) struct Out<'b> {
    pub(crate) buf: &'b mut Vec<u8>,
}

impl Out<'_> {
    /// Starts a map of `len` entries.
    pub(crate) fn map(&mut self, len: usize) {
        infallible(rmp::encode::write_map_len(&mut self.buf, len as u32));
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
        infallible(rmp::encode::write_array_len(&mut self.buf, len as u32));
    }

    pub(crate) fn key(&mut self, key: &str) {
        infallible(rmp::encode::write_str(&mut self.buf, key));
    }

    fn uint_value(&mut self, v: u64) {
        infallible(rmp::encode::write_uint(&mut self.buf, v));
    }

    pub(crate) fn uint(&mut self, key: &str, v: u64) {
        self.key(key);
        self.uint_value(v);
    }

    pub(crate) fn bool(&mut self, key: &str, v: bool) {
        self.key(key);
        infallible(rmp::encode::write_bool(&mut self.buf, v));
    }

    pub(crate) fn str(&mut self, key: &str, v: &str) {
        self.key(key);
        infallible(rmp::encode::write_str(&mut self.buf, v));
    }

    pub(crate) fn strings(&mut self, key: &str, items: &[String]) {
        self.key(key);
        infallible(rmp::encode::write_array_len(
            &mut self.buf,
            items.len() as u32,
        ));
        for item in items {
            infallible(rmp::encode::write_str(&mut self.buf, item));
        }
    }

    pub(crate) fn op_id(&mut self, key: &str, id: &OpId) {
        self.key(key);
        infallible(rmp::encode::write_bin(&mut self.buf, id.as_bytes()));
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
        infallible(rmp::encode::write_array_len(
            &mut self.buf,
            values.len() as u32,
        ));
        for value in values {
            super::write_payload(self.buf, value, key)?;
        }
        Ok(())
    }

    pub(crate) fn presence_list(&mut self, key: &str, users: &[PresenceInfo]) {
        self.key(key);
        infallible(rmp::encode::write_array_len(
            &mut self.buf,
            users.len() as u32,
        ));
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
