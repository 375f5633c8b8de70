//! A camera that repeats SPS/PPS between the two slices of each IDR picture (x264 with two
//! slices + `rtph264pay config-interval=-1`): every picture must still be one access unit and
//! every frame must decode.

mod common;

use std::time::Duration;

use vedette::rtp::h264::nal_type;

#[test]
fn parameter_sets_between_idr_slices_stay_in_one_picture() {
    let _serial = common::serial();
    let server = common::GstServer::start(&["--width", "1280", "--height", "720", "--sliced"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let units = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(60),
            common::collect_access_units(&server.url(), 60),
        )
        .await
        .expect("60 access units within 60 s")
    });
    let types = |au: &vedette::rtp::h264::AccessUnit| -> Vec<u8> {
        au.nal_units().iter().map(|n| n[0] & 0x1f).collect()
    };
    let idrs: Vec<_> = units.iter().filter(|au| au.is_idr).collect();
    assert!(!idrs.is_empty(), "an IDR within 60 pictures");
    for idr in &idrs {
        let t = types(idr);
        let slices = t.iter().filter(|&&x| x == nal_type::IDR).count();
        assert_eq!(slices, 2, "two IDR slices in one access unit: {t:?}");
        let first_slice = t.iter().position(|&x| x == nal_type::IDR).unwrap();
        assert!(
            t[first_slice..].contains(&nal_type::SPS),
            "SPS repeated between the slices: {t:?}"
        );
    }
    for au in &units {
        assert!(!au.loss);
    }
}

#[test]
fn every_frame_of_the_sliced_stream_decodes() {
    let _serial = common::serial();
    let server = common::GstServer::start(&["--width", "1280", "--height", "720", "--sliced"]);
    let run = common::probe(&[&server.url(), "--json", "--frames", "100"], &[]);
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let json = run.json();
    assert!(json["frames_decoded"].as_u64().unwrap() >= 100, "{json}");
    assert_eq!(json["decode_errors"], 0, "{json}");
    assert_eq!(json["frames_held_back"], 0, "{json}");
    assert_eq!(json["packets_lost"], 0, "{json}");
    // Every access unit handed to the decoder came out as a frame.
    assert_eq!(json["frames_decoded"], json["access_units"], "{json}");
}
