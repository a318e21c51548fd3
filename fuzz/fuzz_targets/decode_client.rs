//! Arbitrary bytes through `ClientMessage::decode`, with a typed `Action` and
//! with `rmpv::Value`, checking the properties in `ui_flow_fuzz::check`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ui_flow_fuzz::check::client_frame(data));
