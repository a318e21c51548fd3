//! Messages built from the fuzzer's bytes must survive encode → decode
//! unchanged, with typed and dynamic payloads in both directions. The same
//! bytes are also decoded as frames, so anything that happens to decode is
//! re-encoded and decoded again.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use rmpv::Value;
use ui_flow_fuzz::build::{client_message, server_message};
use ui_flow_fuzz::check;
use ui_flow_fuzz::payload::{Action, Board, Change, Reward};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = server_message::<Value, Value, Value>(&mut Unstructured::new(data)) {
        check::server_roundtrip(&m);
    }
    if let Ok(m) = server_message::<Board, Change, Reward>(&mut Unstructured::new(data)) {
        check::server_roundtrip(&m);
    }
    if let Ok(m) = client_message::<Value>(&mut Unstructured::new(data)) {
        check::client_roundtrip(&m);
    }
    if let Ok(m) = client_message::<Action>(&mut Unstructured::new(data)) {
        check::client_roundtrip(&m);
    }
    check::client_frame(data);
    check::server_frame(data);
});
