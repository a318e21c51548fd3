//! Whole messages built from fuzzer bytes, for the round-trip target and the
//! generated part of the seed corpus.

use arbitrary::{Arbitrary, Result, Unstructured};
use rmpv::Value;
use ui_flow::{
    Channel, ClientMessage, ErrorCode, OpId, PresenceDiff, PresenceInfo, PresenceStatus, RawValue,
    ServerMessage, SignalPayload,
};

/// How deep [`value`] nests. Encoding does not enforce the decoder's depth
/// limit, so generated payloads stay well inside it.
const MAX_VALUE_DEPTH: u32 = 4;

/// A payload type the builder can produce.
pub trait Payload: Sized {
    /// Builds one value from the fuzzer's bytes.
    fn build(u: &mut Unstructured<'_>) -> Result<Self>;
}

impl Payload for Value {
    fn build(u: &mut Unstructured<'_>) -> Result<Self> {
        value(u, MAX_VALUE_DEPTH)
    }
}

macro_rules! arbitrary_payload {
    ($($t:ty),*) => {$(
        impl Payload for $t {
            fn build(u: &mut Unstructured<'_>) -> Result<Self> {
                u.arbitrary()
            }
        }
    )*};
}
arbitrary_payload!(
    crate::payload::Action,
    crate::payload::Board,
    crate::payload::Change,
    crate::payload::Reward
);

/// Any MessagePack value nested at most `depth` containers deep.
pub fn value(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    let kinds = if depth == 0 { 9 } else { 11 };
    Ok(match u.choose_index(kinds)? {
        0 => Value::Nil,
        1 => Value::Boolean(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<u64>()?),
        3 => Value::from(u.arbitrary::<i64>()?),
        4 => Value::F32(u.arbitrary()?),
        5 => Value::F64(u.arbitrary()?),
        6 => Value::from(String::arbitrary(u)?),
        7 => Value::Binary(u.arbitrary()?),
        8 => Value::Ext(u.arbitrary()?, u.arbitrary()?),
        9 => {
            let len = u.int_in_range(0..=4)?;
            Value::Array(
                (0..len)
                    .map(|_| value(u, depth - 1))
                    .collect::<Result<_>>()?,
            )
        }
        _ => {
            let len = u.int_in_range(0..=4)?;
            let mut entries = Vec::with_capacity(len);
            for _ in 0..len {
                let key = if u.arbitrary()? {
                    Value::from(String::arbitrary(u)?)
                } else {
                    value(u, 0)?
                };
                entries.push((key, value(u, depth - 1)?));
            }
            Value::Map(entries)
        }
    })
}

fn op_id(u: &mut Unstructured<'_>) -> Result<OpId> {
    Ok(OpId::from_bytes(u.arbitrary()?))
}

fn status(u: &mut Unstructured<'_>) -> Result<PresenceStatus> {
    Ok(*u.choose(&[
        PresenceStatus::Active,
        PresenceStatus::Idle,
        PresenceStatus::Away,
    ])?)
}

fn presence_info(u: &mut Unstructured<'_>) -> Result<PresenceInfo> {
    Ok(PresenceInfo {
        user_id: u.arbitrary()?,
        name: u.arbitrary()?,
        status: status(u)?,
        connected_at: u.arbitrary()?,
    })
}

fn list<T>(
    u: &mut Unstructured<'_>,
    mut item: impl FnMut(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let len = u.int_in_range(0..=4)?;
    (0..len).map(|_| item(u)).collect()
}

fn signal(u: &mut Unstructured<'_>) -> Result<SignalPayload> {
    Ok(match u.choose_index(3)? {
        0 => SignalPayload::Offer {
            sdp: u.arbitrary()?,
        },
        1 => SignalPayload::Answer {
            sdp: u.arbitrary()?,
        },
        _ => SignalPayload::IceCandidate {
            candidate: u.arbitrary()?,
            sdp_mid: u.arbitrary()?,
            sdp_m_line_index: u.arbitrary()?,
            username_fragment: u.arbitrary()?,
        },
    })
}

/// A result value. Never nil: `result: nil` on the wire means "no result"
/// (nil and absent are the same for optional fields), so `Some(nil)` comes
/// back as `None` by design.
fn raw_value(u: &mut Unstructured<'_>) -> Result<RawValue> {
    let v = match value(u, 2)? {
        Value::Nil => Value::Boolean(false),
        v => v,
    };
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &v).expect("writing to a Vec cannot fail");
    Ok(RawValue::from_bytes(bytes).expect("rmpv writes one valid value"))
}

/// Any server message, with payloads of the given types.
pub fn server_message<S: Payload, D: Payload, E: Payload>(
    u: &mut Unstructured<'_>,
) -> Result<ServerMessage<S, D, E>> {
    Ok(match u.choose_index(15)? {
        0 => ServerMessage::Connected {
            protocol_version: u.arbitrary()?,
            connection_id: u.arbitrary()?,
            user_id: u.arbitrary()?,
            channels: u.arbitrary()?,
        },
        13 => ServerMessage::Joined,
        14 => ServerMessage::Left {
            code: if u.arbitrary()? {
                Some(ErrorCode::new(String::arbitrary(u)?))
            } else {
                None
            },
            message: u.arbitrary()?,
        },
        1 => ServerMessage::Pong {
            client_ts: u.arbitrary()?,
            server_ts: u.arbitrary()?,
        },
        2 => ServerMessage::Error {
            code: if u.arbitrary()? {
                Some(match u.choose(ErrorCode::ALL) {
                    Ok(info) if u.arbitrary()? => ErrorCode::new(info.code),
                    _ => ErrorCode::new(String::arbitrary(u)?),
                })
            } else {
                None
            },
            message: u.arbitrary()?,
            fatal: u.arbitrary()?,
            op_id: u.arbitrary::<Option<u128>>()?.map(OpId::from_u128),
        },
        3 => ServerMessage::Snapshot {
            state: S::build(u)?,
            seq: u.arbitrary()?,
            timestamp: u.arbitrary()?,
            epoch: u.arbitrary()?,
        },
        4 => ServerMessage::Delta {
            delta: D::build(u)?,
            seq: u.arbitrary()?,
            timestamp: u.arbitrary()?,
            epoch: u.arbitrary()?,
            prev: u.arbitrary()?,
        },
        5 => ServerMessage::Deltas {
            deltas: list(u, D::build)?,
            seq: u.arbitrary()?,
            timestamp: u.arbitrary()?,
            epoch: u.arbitrary()?,
            prev: u.arbitrary()?,
        },
        6 => ServerMessage::Presence {
            users: list(u, presence_info)?,
        },
        7 => ServerMessage::PresenceDiff(PresenceDiff {
            joined: list(u, presence_info)?,
            updated: list(u, presence_info)?,
            left: list(u, |u| u.arbitrary())?,
        }),
        8 => ServerMessage::Signal {
            from_user_id: u.arbitrary()?,
            signal: signal(u)?,
        },
        9 => ServerMessage::Notify {
            domain: u.arbitrary()?,
            event: E::build(u)?,
            correlation_id: if u.arbitrary()? {
                Some(op_id(u)?)
            } else {
                None
            },
        },
        10 => ServerMessage::Progress {
            op_id: op_id(u)?,
            percent: u.arbitrary()?,
            message: u.arbitrary()?,
        },
        11 => ServerMessage::ActionOk {
            op_id: op_id(u)?,
            result: if u.arbitrary()? {
                Some(raw_value(u)?)
            } else {
                None
            },
        },
        _ => ServerMessage::ActionErr {
            op_id: op_id(u)?,
            code: u.arbitrary()?,
            message: u.arbitrary()?,
        },
    })
}

/// Any client message, with actions of the given type.
pub fn client_message<A: Payload>(u: &mut Unstructured<'_>) -> Result<ClientMessage<A>> {
    Ok(match u.choose_index(8)? {
        6 => ClientMessage::Join {
            resource: u.arbitrary()?,
            last_seq: u.arbitrary()?,
            epoch: u.arbitrary()?,
        },
        7 => ClientMessage::Leave,
        0 => ClientMessage::Ping {
            ts: u.arbitrary()?,
            presence: if u.arbitrary()? {
                Some(status(u)?)
            } else {
                None
            },
        },
        1 => ClientMessage::Resync {
            last_seq: u.arbitrary()?,
            epoch: u.arbitrary()?,
        },
        2 => ClientMessage::Action {
            op_id: op_id(u)?,
            action: A::build(u)?,
        },
        3 => ClientMessage::Subscribe {
            domains: list(u, |u| u.arbitrary())?,
        },
        4 => ClientMessage::Unsubscribe {
            domains: list(u, |u| u.arbitrary())?,
        },
        _ => ClientMessage::Signal {
            target_user_id: u.arbitrary()?,
            signal: signal(u)?,
        },
    })
}

/// A channel `m` may be written on: 0 for a message of the connection,
/// 1 to 65535 for one that names its channel, any other channel otherwise.
fn channel_for(u: &mut Unstructured<'_>, scoped: bool, names_channel: bool) -> Result<Channel> {
    Ok(if !scoped {
        Channel::URL
    } else if names_channel {
        Channel(u.int_in_range(1..=u16::MAX)?)
    } else {
        Channel(u.arbitrary()?)
    })
}

/// A channel a server message may be written on.
pub fn server_channel<S, D, E>(
    u: &mut Unstructured<'_>,
    m: &ServerMessage<S, D, E>,
) -> Result<Channel> {
    let names = matches!(m, ServerMessage::Joined | ServerMessage::Left { .. });
    channel_for(u, m.is_resource_scoped(), names)
}

/// A channel a client message may be written on.
pub fn client_channel<A>(u: &mut Unstructured<'_>, m: &ClientMessage<A>) -> Result<Channel> {
    let names = matches!(m, ClientMessage::Join { .. } | ClientMessage::Leave);
    channel_for(u, m.is_resource_scoped(), names)
}
