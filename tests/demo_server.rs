//! `vedette demo-server` serves live H.264 cameras that Vedette's probe decodes, with the
//! capture time readable from each picture.

mod common;

use common::{probe, serial, DemoServerProcess};

#[test]
fn probe_decodes_100_frames_from_the_demo_server() {
    let _serial = serial();
    let server = DemoServerProcess::start(&["--cameras", "2"]);
    let run = probe(&[&server.url(2), "--json", "--frames", "100"], &[]);
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let json = run.json();
    assert_eq!(json["codec"], "h264");
    assert_eq!(
        (json["width"].as_u64(), json["height"].as_u64()),
        (Some(640), Some(360))
    );
    assert!(json["frames_decoded"].as_u64().unwrap() >= 100, "{json}");
    assert_eq!(json["decode_errors"], 0);
    // The capture time stamped in the picture was read back: latency is known and sane.
    let latency = json["latency_ms"]
        .as_f64()
        .expect("latency from the timecode");
    assert!((0.0..5000.0).contains(&latency), "{latency}");
    assert_eq!(
        run.methods(),
        [
            "OPTIONS 200",
            "DESCRIBE 200",
            "SETUP 200",
            "PLAY 200",
            "TEARDOWN 200"
        ]
    );
}

#[test]
fn unknown_camera_is_404() {
    let _serial = serial();
    let server = DemoServerProcess::start(&["--cameras", "1"]);
    let run = probe(&[&server.url(7), "--json"], &[]);
    assert_eq!(run.code(), Some(1));
    assert_eq!(run.json()["error"]["status"], 404);
    assert_eq!(run.json()["error"]["step"], "DESCRIBE");
}
