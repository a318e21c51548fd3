//! Arbitrary bytes through `ServerMessage::decode`, with typed payloads and
//! with `rmpv::Value`, checking the properties in `ui_flow_fuzz::check`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ui_flow_fuzz::check::server_frame(data));
