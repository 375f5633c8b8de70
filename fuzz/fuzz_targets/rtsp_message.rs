#![no_main]
//! Arbitrary bytes on the RTSP control connection must never panic the framing.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vedette::rtsp::message::fuzz_parse_all(data);
});
