#![no_main]
//! Arbitrary RTCP packets must never panic the parser, and receiver reports must round-trip.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vedette::rtp::rtcp::fuzz_parse(data);
});
