//! Transport on the wire against a real GstRtspServer: PAUSE / PLAY / TEARDOWN on one session,
//! UDP and TCP, RTCP receiver reports, and every codec the viewer supports.

mod common;

use std::time::Duration;

use common::{probe, serial, GstServer};

/// The session id of each `REQUEST <METHOD> session=<id>` line, in order.
fn requests_with_session(server: &GstServer) -> Vec<(String, String)> {
    server
        .lines("REQUEST ")
        .iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("REQUEST ")?;
            let (method, session) = rest.split_once(" session=")?;
            Some((method.to_owned(), session.trim().to_owned()))
        })
        .collect()
}

fn pause_and_resume(transport: &str) {
    let _serial = serial();
    let server = GstServer::start(&["--width", "640", "--height", "360", "--fps", "25"]);
    let run = probe(
        &[
            &server.url(),
            "--json",
            "--transport",
            transport,
            "--frames",
            "75",
            "--pause-after",
            "1",
            "--resume-after",
            "2",
        ],
        &[],
    );
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let json = run.json();
    assert_eq!(json["transport"], transport);
    assert_eq!(
        run.methods(),
        [
            "OPTIONS 200",
            "DESCRIBE 200",
            "SETUP 200",
            "PLAY 200",
            "PAUSE 200",
            "PLAY 200",
            "TEARDOWN 200"
        ]
    );
    // Nothing arrives while paused beyond what was in flight; pictures resume after PLAY.
    assert_eq!(json["rtp_packets_during_pause"], 0, "{json}");
    assert_eq!(json["frames_during_pause"], 0, "{json}");
    assert!(json["frames_decoded"].as_u64().unwrap() >= 75, "{json}");
    assert!(server.saw_request("TEARDOWN", Duration::from_secs(5)));
    // PAUSE, the PLAY after it and the TEARDOWN carry the one session id.
    let requests = requests_with_session(&server);
    let pause = requests
        .iter()
        .position(|(m, _)| m == "PAUSE")
        .expect("server saw PAUSE");
    let session = &requests[pause].1;
    let after: Vec<&str> = requests[pause + 1..]
        .iter()
        .map(|(m, _)| m.as_str())
        .collect();
    assert_eq!(after, ["PLAY", "TEARDOWN"], "{requests:?}");
    assert!(
        requests[pause..].iter().all(|(_, s)| s == session),
        "{requests:?}"
    );
}

#[test]
fn pause_keeps_the_session_and_play_resumes_it_over_tcp() {
    pause_and_resume("tcp");
}

#[test]
fn pause_keeps_the_session_and_play_resumes_it_over_udp() {
    pause_and_resume("udp");
}

/// Plays one codec combination over one transport and checks what was decoded.
fn plays(codec: &str, audio: &str, transport: &str) {
    let _serial = serial();
    let server = GstServer::start(&[
        "--width", "320", "--height", "240", "--fps", "30", "--codec", codec, "--audio", audio,
    ]);
    let run = probe(
        &[
            &server.url(),
            "--json",
            "--transport",
            transport,
            "--frames",
            "100",
        ],
        &[],
    );
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let json = run.json();
    assert_eq!(json["codec"], codec, "{json}");
    assert_eq!(json["transport"], transport, "{json}");
    assert!(json["frames_decoded"].as_u64().unwrap() >= 100, "{json}");
    assert_eq!(json["decode_errors"], 0, "{json}");
    assert_eq!(
        (json["width"].as_u64(), json["height"].as_u64()),
        (Some(320), Some(240))
    );
    if audio == "none" {
        assert!(json["audio"].is_null(), "{json}");
    } else {
        assert_eq!(json["audio"]["codec"], audio, "{json}");
        // 100 frames at 30 fps is 3.3 s of sound: 20 ms AAC/Opus frames or G.711 packets.
        let frames = json["audio"]["frames_decoded"].as_u64().unwrap();
        assert!(frames >= 50, "{json}");
    }
}

/// One test per codec pair, playing over each transport listed.
macro_rules! plays_over {
    ($($name:ident: $codec:literal + $audio:literal over $($transport:literal)+;)+) => {$(
        #[test]
        fn $name() {
            $(plays($codec, $audio, $transport);)+
        }
    )+};
}

plays_over! {
    h264_over_udp_and_tcp: "h264" + "none" over "udp" "tcp";
    h265_over_udp_and_tcp: "h265" + "none" over "udp" "tcp";
    mjpeg_over_udp_and_tcp: "mjpeg" + "none" over "udp" "tcp";
    h264_with_aac_over_udp_and_tcp: "h264" + "aac" over "udp" "tcp";
    h264_with_opus_over_udp_and_tcp: "h264" + "opus" over "udp" "tcp";
    h264_with_pcmu_over_udp: "h264" + "pcmu" over "udp";
    h264_with_pcma_over_udp: "h264" + "pcma" over "udp";
}

/// A camera sending H.265 Main 4:4:4 12-bit: FFmpeg decodes it, and the pictures are converted
/// to 8-bit 4:2:0 for the renderer rather than refused.
#[test]
fn h265_in_a_format_the_renderer_lacks_is_converted() {
    let _serial = serial();
    let server = GstServer::start(&[
        "--width",
        "320",
        "--height",
        "240",
        "--codec",
        "h265",
        "--pixel-format",
        "Y444_12LE",
    ]);
    let run = probe(&[&server.url(), "--json", "--frames", "30"], &[]);
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let json = run.json();
    assert!(json["frames_decoded"].as_u64().unwrap() >= 30, "{json}");
    assert_eq!(json["decode_errors"], 0, "{json}");
}
