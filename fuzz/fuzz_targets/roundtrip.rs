//! Messages built from the fuzzer's bytes must survive encode → decode
//! unchanged, with typed and dynamic payloads in both directions. The same
//! bytes are also decoded as frames, so anything that happens to decode is
//! re-encoded and decoded again.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use rmpv::Value;
use ui_flow_fuzz::build::{client_channel, client_message, server_channel, server_message};
use ui_flow_fuzz::check;
use ui_flow_fuzz::payload::{Action, Board, Change, Reward};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    if let Ok(m) = server_message::<Value, Value, Value>(&mut u)
        && let Ok(channel) = server_channel(&mut u, &m)
    {
        check::server_roundtrip(channel, &m);
    }
    let mut u = Unstructured::new(data);
    if let Ok(m) = server_message::<Board, Change, Reward>(&mut u)
        && let Ok(channel) = server_channel(&mut u, &m)
    {
        check::server_roundtrip(channel, &m);
    }
    let mut u = Unstructured::new(data);
    if let Ok(m) = client_message::<Value>(&mut u)
        && let Ok(channel) = client_channel(&mut u, &m)
    {
        check::client_roundtrip(channel, &m);
    }
    let mut u = Unstructured::new(data);
    if let Ok(m) = client_message::<Action>(&mut u)
        && let Ok(channel) = client_channel(&mut u, &m)
    {
        check::client_roundtrip(channel, &m);
    }
    check::client_frame(data);
    check::server_frame(data);
});
