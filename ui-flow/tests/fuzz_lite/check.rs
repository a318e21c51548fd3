//! The properties every frame must have, whatever its bytes.

use std::fmt::Debug;

use rmpv::Value;
use serde::Serialize;
use serde::de::DeserializeOwned;
use ui_flow::codec::{Decoded, Limits, validate};
use ui_flow::{Channel, ClientMessage, DecodeError, ServerMessage};

use super::payload::{Act, Board, Change, Reward};

/// Limits far tighter than the defaults, to exercise the limit checks.
const TIGHT: Limits = Limits {
    max_frame_len: 256,
    max_depth: 3,
};

/// Which decodes of one frame succeeded.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    pub client: bool,
    pub client_typed: bool,
    pub server: bool,
    pub server_typed: bool,
    pub unknown_tag: bool,
}

/// Equality that also holds for NaN floats on both sides.
fn same<T: PartialEq + Debug>(a: &T, b: &T) -> bool {
    a == b || format!("{a:?}") == format!("{b:?}")
}

/// The single-pass decoder must agree with decoding after a full
/// [`validate`]: a frame `validate` rejects gives exactly `validate`'s error,
/// and a frame that decodes passes `validate`.
fn agrees_with_validate<M: Debug>(
    frame: &[u8],
    limits: &Limits,
    decoded: &Result<Decoded<M>, DecodeError>,
    who: &str,
) {
    if let Err(first) = validate(frame, limits) {
        assert_eq!(
            decoded.as_ref().err(),
            Some(&first),
            "{who}: validate says {first:?} for {frame:02x?}, decode says {decoded:?}"
        );
    }
}

/// Decodes `frame` both ways with typed and dynamic payloads and checks:
/// every result agrees with validate-first decoding;
/// typed success implies dynamic success with the same tag; success within
/// tight limits implies the same result within the defaults; every decoded
/// message re-encodes to bytes that decode to an equal message and encode
/// to the same bytes again.
pub fn frame(frame: &[u8]) -> Outcome {
    let mut outcome = Outcome::default();

    let typed = ClientMessage::<Act>::decode(frame);
    let dynamic = ClientMessage::<Value>::decode(frame);
    let tight = ClientMessage::<Value>::decode_with(frame, &TIGHT);
    agrees_with_validate(frame, &Limits::default(), &typed, "client typed");
    agrees_with_validate(frame, &Limits::default(), &dynamic, "client");
    agrees_with_validate(frame, &TIGHT, &tight, "client tight");
    if let Ok(t) = &typed {
        let Ok(d) = &dynamic else {
            panic!("client: typed accepted what dynamic rejected: {dynamic:?}");
        };
        assert_eq!(client_tag(t), client_tag(d));
    }
    if let Ok(tight) = tight {
        assert!(
            dynamic.as_ref().is_ok_and(|d| same(&tight, d)),
            "client: tight limits gave {tight:?}, defaults {dynamic:?}"
        );
    }
    if let Ok(Decoded::Message(m)) = typed {
        outcome.client_typed = true;
        client_roundtrip(client_channel(frame), &m);
    }
    match dynamic {
        Ok(Decoded::Message(m)) => {
            outcome.client = true;
            client_roundtrip(client_channel(frame), &m);
        }
        Ok(Decoded::Unknown { .. }) => outcome.unknown_tag = true,
        Err(_) => {}
    }

    let typed = ServerMessage::<Board, Change, Reward>::decode(frame);
    let dynamic = ServerMessage::<Value, Value, Value>::decode(frame);
    let tight = ServerMessage::<Value, Value, Value>::decode_with(frame, &TIGHT);
    agrees_with_validate(frame, &Limits::default(), &typed, "server typed");
    agrees_with_validate(frame, &Limits::default(), &dynamic, "server");
    agrees_with_validate(frame, &TIGHT, &tight, "server tight");
    if let Ok(t) = &typed {
        let Ok(d) = &dynamic else {
            panic!("server: typed accepted what dynamic rejected: {dynamic:?}");
        };
        assert_eq!(server_tag(t), server_tag(d));
    }
    if let Ok(tight) = tight {
        assert!(
            dynamic.as_ref().is_ok_and(|d| same(&tight, d)),
            "server: tight limits gave {tight:?}, defaults {dynamic:?}"
        );
    }
    if let Ok(Decoded::Message(m)) = typed {
        outcome.server_typed = true;
        server_roundtrip(server_channel(frame), &m);
    }
    if let Ok(Decoded::Message(m)) = dynamic {
        outcome.server = true;
        server_roundtrip(server_channel(frame), &m);
    }
    outcome
}

pub fn client_roundtrip<A>(channel: Channel, m: &ClientMessage<A>)
where
    A: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = m.encode_on(channel).expect("a decoded message encodes");
    let back = match ClientMessage::<A>::decode_routed(&bytes) {
        Ok((c, Decoded::Message(back))) if c == channel => back,
        other => panic!("{m:?} encoded as {bytes:02x?}, which decodes as {other:?}"),
    };
    assert!(same(m, &back), "{m:?} came back as {back:?}");
    assert_eq!(
        back.encode_on(channel).expect("encodes"),
        bytes,
        "encoding is deterministic"
    );
}

pub fn server_roundtrip<S, D, E>(channel: Channel, m: &ServerMessage<S, D, E>)
where
    S: Serialize + DeserializeOwned + PartialEq + Debug,
    D: Serialize + DeserializeOwned + PartialEq + Debug,
    E: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = m.encode_on(channel).expect("a decoded message encodes");
    let back = match ServerMessage::<S, D, E>::decode_routed(&bytes) {
        Ok((c, Decoded::Message(back))) if c == channel => back,
        other => panic!("{m:?} encoded as {bytes:02x?}, which decodes as {other:?}"),
    };
    assert!(same(m, &back), "{m:?} came back as {back:?}");
    assert_eq!(
        back.encode_on(channel).expect("encodes"),
        bytes,
        "encoding is deterministic"
    );
}

fn client_tag<A>(d: &Decoded<ClientMessage<A>>) -> u16 {
    match d {
        Decoded::Message(m) => m.tag().0,
        Decoded::Unknown { tag } => *tag,
    }
}

fn server_tag<S, D, E>(d: &Decoded<ServerMessage<S, D, E>>) -> u16 {
    match d {
        Decoded::Message(m) => m.tag().0,
        Decoded::Unknown { tag } => *tag,
    }
}

/// The channel a client frame is on, as routed decoding reads it.
fn client_channel(frame: &[u8]) -> Channel {
    ClientMessage::<Value>::decode_routed(frame).map_or(Channel::URL, |(c, _)| c)
}

/// The channel a server frame is on, as routed decoding reads it.
fn server_channel(frame: &[u8]) -> Channel {
    ServerMessage::<Value, Value, Value>::decode_routed(frame).map_or(Channel::URL, |(c, _)| c)
}
