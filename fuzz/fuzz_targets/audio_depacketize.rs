#![no_main]
//! Arbitrary RTP packets must never panic the audio depacketizers.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vedette::rtp::audio::fuzz_depacketize(data);
});
