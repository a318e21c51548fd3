//! The properties every input must satisfy. Each function panics (which
//! libFuzzer reports as a crash) when a property fails.

use std::fmt::Debug;

use rmpv::Value;
use serde::Serialize;
use serde::de::DeserializeOwned;
use ui_flow::codec::{Decoded, Limits};
use ui_flow::{Channel, ClientMessage, ServerMessage};

use crate::payload::{Action, Board, Change, Reward};

/// Limits much tighter than the defaults, to exercise the limit checks.
pub const TIGHT: Limits = Limits {
    max_frame_len: 4096,
    max_depth: 4,
};

/// Equality that also holds for floats that are NaN on both sides (a NaN
/// never equals itself, but a frame holding one still round-trips).
pub fn same<T: PartialEq + Debug>(a: &T, b: &T) -> bool {
    a == b || format!("{a:?}") == format!("{b:?}")
}

/// Decodes `data` as a client frame, typed and dynamic, and checks every
/// property on whatever decodes.
pub fn client_frame(data: &[u8]) {
    let typed = ClientMessage::<Action>::decode(data);
    let dynamic = ClientMessage::<Value>::decode(data);
    if let Ok(typed) = &typed {
        let Ok(dynamic) = &dynamic else {
            panic!("typed decode accepted what dynamic rejected: {dynamic:?}");
        };
        assert_eq!(client_tag(typed), client_tag(dynamic));
    }
    if let Ok(tight) = ClientMessage::<Value>::decode_with(data, &TIGHT) {
        let Ok(dynamic) = &dynamic else {
            panic!("tight limits accepted what the defaults rejected: {dynamic:?}");
        };
        assert!(same(&tight, dynamic));
    }
    if let Ok(Decoded::Message(m)) = typed {
        client_roundtrip(client_channel(data), &m);
    }
    if let Ok(Decoded::Message(m)) = dynamic {
        client_roundtrip(client_channel(data), &m);
    }
}

/// Decodes `data` as a server frame, typed and dynamic, and checks every
/// property on whatever decodes.
pub fn server_frame(data: &[u8]) {
    let typed = ServerMessage::<Board, Change, Reward>::decode(data);
    let dynamic = ServerMessage::<Value, Value, Value>::decode(data);
    if let Ok(typed) = &typed {
        let Ok(dynamic) = &dynamic else {
            panic!("typed decode accepted what dynamic rejected: {dynamic:?}");
        };
        assert_eq!(server_tag(typed), server_tag(dynamic));
    }
    if let Ok(tight) = ServerMessage::<Value, Value, Value>::decode_with(data, &TIGHT) {
        let Ok(dynamic) = &dynamic else {
            panic!("tight limits accepted what the defaults rejected: {dynamic:?}");
        };
        assert!(same(&tight, dynamic));
    }
    if let Ok(Decoded::Message(m)) = typed {
        server_roundtrip(server_channel(data), &m);
    }
    if let Ok(Decoded::Message(m)) = dynamic {
        server_roundtrip(server_channel(data), &m);
    }
}

/// Encodes `m`, decodes the bytes, and checks the result equals `m` and
/// encodes to the same bytes.
pub fn client_roundtrip<A>(channel: Channel, m: &ClientMessage<A>)
where
    A: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = m.encode_on(channel).expect("a message encodes");
    let back = match ClientMessage::<A>::decode_routed(&bytes) {
        Ok((c, Decoded::Message(back))) if c == channel => back,
        other => panic!("{m:?} encoded as {bytes:02x?}, which decodes as {other:?}"),
    };
    assert!(same(m, &back), "{m:?} came back as {back:?}");
    assert_eq!(back.encode_on(channel).expect("a message encodes"), bytes);
}

/// Encodes `m`, decodes the bytes, and checks the result equals `m` and
/// encodes to the same bytes.
pub fn server_roundtrip<S, D, E>(channel: Channel, m: &ServerMessage<S, D, E>)
where
    S: Serialize + DeserializeOwned + PartialEq + Debug,
    D: Serialize + DeserializeOwned + PartialEq + Debug,
    E: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = m.encode_on(channel).expect("a message encodes");
    let back = match ServerMessage::<S, D, E>::decode_routed(&bytes) {
        Ok((c, Decoded::Message(back))) if c == channel => back,
        other => panic!("{m:?} encoded as {bytes:02x?}, which decodes as {other:?}"),
    };
    assert!(same(m, &back), "{m:?} came back as {back:?}");
    assert_eq!(back.encode_on(channel).expect("a message encodes"), bytes);
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
