//! The plain JavaScript objects the shim hands out and accepts for
//! ui-flow's own types (status, action state, presence, signals, errors,
//! configuration), as `index.d.ts` declares them.

use std::time::Duration;

use js_sys::{Array, Object, Reflect};
use ui_flow::client::{ClientConfig, Instant, OpState};
use ui_flow::{
    ApiMisuse, ChannelError, CloseReason, ConnectionStatus, Error, OpId, PresenceDiff,
    PresenceInfo, SignalPayload,
};
use wasm_bindgen::{JsCast, JsValue};

use crate::payload::{JsPayload, int_to_js};

/// A fresh object with these properties (`undefined` ones left out).
pub(crate) fn object(props: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in props {
        if !value.is_undefined() {
            // Setting a property on a fresh plain object cannot fail.
            let _ = Reflect::set(&object, &JsValue::from_str(key), value);
        }
    }
    object.into()
}

fn opt_str(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::UNDEFINED, JsValue::from_str)
}

/// Milliseconds as a number.
pub(crate) fn millis(duration: Duration) -> JsValue {
    JsValue::from_f64(duration.as_secs_f64() * 1000.0)
}

/// `FlowStatus` in `index.d.ts`.
pub(crate) fn status(status: &ConnectionStatus) -> JsValue {
    match status {
        ConnectionStatus::Connecting => object(&[("kind", "connecting".into())]),
        ConnectionStatus::Open => object(&[("kind", "open".into())]),
        ConnectionStatus::Reconnecting { attempt, next_try } => {
            let wait = next_try.saturating_duration_since(Instant::now());
            object(&[
                ("kind", "reconnecting".into()),
                ("attempt", (*attempt).into()),
                (
                    "retryAt",
                    JsValue::from_f64(js_sys::Date::now() + wait.as_secs_f64() * 1000.0),
                ),
            ])
        }
        ConnectionStatus::Closed { reason } => {
            object(&[("kind", "closed".into()), ("reason", close_reason(reason))])
        }
    }
}

fn close_reason(reason: &CloseReason) -> JsValue {
    match reason {
        CloseReason::Requested => object(&[("kind", "requested".into())]),
        CloseReason::Fatal { code, message } => object(&[
            ("kind", "fatal".into()),
            ("code", opt_str(code.as_ref().map(|c| c.as_str()))),
            ("message", message.as_str().into()),
        ]),
        CloseReason::Final { code, reason } => object(&[
            ("kind", "final".into()),
            ("code", code.0.into()),
            ("reason", reason.as_str().into()),
        ]),
        CloseReason::Refused { status } => {
            object(&[("kind", "refused".into()), ("status", (*status).into())])
        }
        CloseReason::Misconfigured { message } => object(&[
            ("kind", "misconfigured".into()),
            ("message", message.as_str().into()),
        ]),
        CloseReason::Incompatible { server_version } => object(&[
            ("kind", "incompatible".into()),
            ("serverVersion", (*server_version).into()),
        ]),
        other => object(&[
            ("kind", "other".into()),
            ("message", other.to_string().into()),
        ]),
    }
}

/// `OpState` in `index.d.ts`.
pub(crate) fn op_state(state: &OpState) -> JsValue {
    match state {
        OpState::Pending => object(&[("kind", "pending".into())]),
        OpState::Progress { percent, message } => object(&[
            ("kind", "progress".into()),
            ("percent", percent.map_or(JsValue::UNDEFINED, JsValue::from)),
            ("message", opt_str(message.as_deref())),
        ]),
        OpState::Ok { .. } => object(&[("kind", "ok".into()), ("result", op_result(state))]),
        OpState::Err { code, message } => object(&[
            ("kind", "err".into()),
            ("code", opt_str(code.as_deref())),
            ("message", message.as_str().into()),
        ]),
    }
}

/// An `ActionOk`'s result as a JavaScript value (`undefined` without one,
/// or when it does not decode).
pub(crate) fn op_result(state: &OpState) -> JsValue {
    match state {
        OpState::Ok {
            result: Some(result),
        } => result
            .decode::<JsPayload>()
            .map_or(JsValue::UNDEFINED, |p| p.0),
        _ => JsValue::UNDEFINED,
    }
}

/// `PresenceInfo` in `index.d.ts`.
pub(crate) fn presence_info(info: &PresenceInfo) -> JsValue {
    object(&[
        ("userId", info.user_id.as_str().into()),
        ("name", opt_str(info.name.as_deref())),
        ("status", info.status.as_str().into()),
        ("connectedAt", int_to_js(info.connected_at.into())),
    ])
}

/// A list of `PresenceInfo`.
pub(crate) fn members(members: &[PresenceInfo]) -> JsValue {
    members.iter().map(presence_info).collect::<Array>().into()
}

/// `PresenceDiff` in `index.d.ts`.
pub(crate) fn presence_diff(diff: &PresenceDiff) -> JsValue {
    let left: Array = diff.left.iter().map(|id| JsValue::from_str(id)).collect();
    object(&[
        ("joined", members(&diff.joined)),
        ("updated", members(&diff.updated)),
        ("left", left.into()),
    ])
}

/// `SignalPayload` in `index.d.ts`: the shapes `RTCPeerConnection` takes.
pub(crate) fn signal(signal: &SignalPayload) -> JsValue {
    match signal {
        SignalPayload::Offer { sdp } | SignalPayload::Answer { sdp } => {
            object(&[("type", signal.kind().into()), ("sdp", sdp.as_str().into())])
        }
        SignalPayload::IceCandidate {
            candidate,
            sdp_mid,
            sdp_m_line_index,
            username_fragment,
        } => object(&[
            ("type", "candidate".into()),
            ("candidate", candidate.as_str().into()),
            ("sdpMid", opt_str(sdp_mid.as_deref())),
            (
                "sdpMLineIndex",
                sdp_m_line_index.map_or(JsValue::UNDEFINED, JsValue::from),
            ),
            ("usernameFragment", opt_str(username_fragment.as_deref())),
        ]),
    }
}

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn get_string(object: &JsValue, key: &str) -> Option<String> {
    get(object, key).as_string()
}

/// Reads a `SignalPayload` object (an `RTCSessionDescriptionInit` or an
/// `RTCIceCandidateInit` with `type: "candidate"`).
pub(crate) fn parse_signal(value: &JsValue) -> Result<SignalPayload, JsValue> {
    let sdp = || get_string(value, "sdp").ok_or_else(|| type_error("the signal needs an sdp"));
    match get_string(value, "type").as_deref() {
        Some("offer") => Ok(SignalPayload::Offer { sdp: sdp()? }),
        Some("answer") => Ok(SignalPayload::Answer { sdp: sdp()? }),
        Some("candidate") => Ok(SignalPayload::IceCandidate {
            candidate: get_string(value, "candidate")
                .ok_or_else(|| type_error("the candidate signal needs a candidate"))?,
            sdp_mid: get_string(value, "sdpMid"),
            sdp_m_line_index: get(value, "sdpMLineIndex")
                .as_f64()
                .filter(|n| n.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(n))
                .map(|n| n as u16),
            username_fragment: get_string(value, "usernameFragment"),
        }),
        _ => Err(type_error(
            "a signal's type must be \"offer\", \"answer\" or \"candidate\"",
        )),
    }
}

/// `FlowConfig`'s millisecond fields, in the order [`parse_config`] sets
/// them, each with the text of its `TypeError` (static: no formatting
/// code for it).
const DURATIONS: [(&str, &str); 4] = [
    ("backoffMinMs", "config.backoffMinMs must be a number >= 0"),
    ("backoffMaxMs", "config.backoffMaxMs must be a number >= 0"),
    (
        "pingIntervalMs",
        "config.pingIntervalMs must be a number >= 0",
    ),
    (
        "livenessGraceMs",
        "config.livenessGraceMs must be a number >= 0",
    ),
];

/// `FlowConfig`'s count fields, as [`DURATIONS`].
const COUNTS: [(&str, &str); 2] = [
    ("queueBound", "config.queueBound must be a whole number"),
    (
        "settledOpsKept",
        "config.settledOpsKept must be a whole number",
    ),
];

/// Reads `FlowOptions.config` (every field optional) into a configuration,
/// checked by `ui_flow::client::FlowOptions::config` afterwards. A field
/// that is not a number is left at its default; a negative, infinite or
/// too large one is a `TypeError`.
pub(crate) fn parse_config(value: &JsValue) -> Result<ClientConfig, JsValue> {
    let mut config = ClientConfig::default();
    if value.is_undefined() || value.is_null() {
        return Ok(config);
    }
    let durations = [
        &mut config.backoff_min,
        &mut config.backoff_max,
        &mut config.ping_interval,
        &mut config.liveness_grace,
    ];
    for ((key, error), slot) in DURATIONS.into_iter().zip(durations) {
        if let Some(n) = get(value, key).as_f64() {
            // `try_from` refuses what is negative, NaN or too large, where
            // `from_secs_f64` would panic.
            *slot = Duration::try_from_secs_f64(n / 1000.0).map_err(|_| type_error(error))?;
        }
    }
    for ((key, error), slot) in COUNTS
        .into_iter()
        .zip([&mut config.queue_bound, &mut config.settled_ops_kept])
    {
        if let Some(n) = get(value, key).as_f64() {
            if !(n.fract() == 0.0 && n >= 0.0 && n <= f64::from(u32::MAX)) {
                return Err(type_error(error));
            }
            *slot = n as usize;
        }
    }
    Ok(config)
}

/// Parses an op id string as `sendAction` resolves it.
pub(crate) fn parse_op_id(value: &str) -> Result<OpId, JsValue> {
    value
        .parse()
        .map_err(|_| type_error("an op id is a UUID string"))
}

/// A `TypeError` with this message.
pub(crate) fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

/// An `Error` with `name`, `code` and extra properties, as the shim rejects
/// promises with.
pub(crate) fn named_error(
    name: &str,
    code: Option<&str>,
    message: &str,
    extra: &[(&str, JsValue)],
) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name(name);
    let _ = Reflect::set(&error, &"code".into(), &opt_str(code));
    for (key, value) in extra {
        let _ = Reflect::set(&error, &JsValue::from_str(key), value);
    }
    error.into()
}

/// A `FlowError` for a command the client refused.
pub(crate) fn flow_error(error: &Error) -> JsValue {
    let code = match error {
        Error::Misuse(ApiMisuse::Closed) => "closed",
        Error::Misuse(ApiMisuse::QueueFull { .. }) => "queue_full",
        Error::Misuse(_) => "misuse",
        Error::Encode(_) | Error::Channel(ChannelError::Encode(_)) => "encode",
        // A resource that is being left or was: as closed as a client.
        Error::Channel(_) => "closed",
        _ => "error",
    };
    named_error("FlowError", Some(code), &error.to_string(), &[])
}

/// Whether `value` is a function, as the callbacks in the options must be.
pub(crate) fn function(options: &JsValue, key: &str) -> Result<Option<js_sys::Function>, JsValue> {
    let value = get(options, key);
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .dyn_into::<js_sys::Function>()
        .map(Some)
        .map_err(|_| type_error(&format!("options.{key} must be a function")))
}

/// Any property of the options object.
pub(crate) fn option(options: &JsValue, key: &str) -> JsValue {
    if options.is_undefined() || options.is_null() {
        JsValue::UNDEFINED
    } else {
        get(options, key)
    }
}
