#![no_main]
//! Arbitrary DESCRIBE bodies must never panic SDP handling.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vedette::rtsp::sdp::fuzz_parse(data);
});
