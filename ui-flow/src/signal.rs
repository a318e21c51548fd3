//! WebRTC signalling payloads relayed between users of one resource.

/// A WebRTC signalling message.
///
/// The wire shapes are the ones a browser hands straight to
/// `RTCPeerConnection`: an offer or answer is `{type: "offer" | "answer", sdp}`
/// (an `RTCSessionDescriptionInit`), and a candidate is
/// `{type: "candidate", candidate, sdpMid, sdpMLineIndex, usernameFragment}`
/// (an `RTCIceCandidateInit`, whose extra `type` key browsers ignore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalPayload {
    /// An SDP offer.
    Offer {
        /// The session description.
        sdp: String,
    },
    /// An SDP answer.
    Answer {
        /// The session description.
        sdp: String,
    },
    /// A trickled ICE candidate. An empty `candidate` marks the end of candidates.
    IceCandidate {
        /// The candidate line (`candidate:...`).
        candidate: String,
        /// The media stream identification tag, `sdpMid` on the wire.
        sdp_mid: Option<String>,
        /// The m-line index, `sdpMLineIndex` on the wire.
        sdp_m_line_index: Option<u16>,
        /// The ICE username fragment, `usernameFragment` on the wire.
        username_fragment: Option<String>,
    },
}

impl SignalPayload {
    /// The wire value of the `type` key.
    pub const fn kind(&self) -> &'static str {
        match self {
            SignalPayload::Offer { .. } => "offer",
            SignalPayload::Answer { .. } => "answer",
            SignalPayload::IceCandidate { .. } => "candidate",
        }
    }

    /// An approximate size in bytes, for the server's signal size cap.
    pub fn approx_len(&self) -> usize {
        match self {
            SignalPayload::Offer { sdp } | SignalPayload::Answer { sdp } => sdp.len(),
            SignalPayload::IceCandidate {
                candidate,
                sdp_mid,
                username_fragment,
                ..
            } => {
                candidate.len()
                    + sdp_mid.as_ref().map_or(0, String::len)
                    + username_fragment.as_ref().map_or(0, String::len)
            }
        }
    }
}
