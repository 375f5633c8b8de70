#![no_main]
//! Arbitrary RTP packets must never panic the Motion JPEG depacketizer.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vedette::rtp::jpeg::fuzz_depacketize(data);
});
