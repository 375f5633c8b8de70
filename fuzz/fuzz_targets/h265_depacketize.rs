#![no_main]
//! Arbitrary RTP packets must never panic the H.265 depacketizer.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vedette::rtp::h265::fuzz_depacketize(data);
});
