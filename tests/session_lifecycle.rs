//! Session behaviour over time: keepalive at half the session timeout (GET_PARAMETER when the
//! server lists it, else OPTIONS), TEARDOWN when a session is dropped, a stale Digest nonce,
//! decoding that holds pictures back after packet loss until the next keyframe, and a camera
//! joined between distant keyframes that waits for one instead of reconnecting.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{probe, serial, DemoServerProcess, GstServer};
use vedette::camera::state::ConnectionState;
use vedette::camera::{CameraHandle, CameraSpec};

fn count(methods: &[String], wanted: &str) -> usize {
    methods.iter().filter(|m| *m == wanted).count()
}

#[test]
fn keepalive_uses_get_parameter_at_half_the_session_timeout() {
    let _serial = serial();
    // Timeout 2 s → a keepalive every second; 150 frames at 25 fps take about 6 s.
    let server = DemoServerProcess::start(&["--cameras", "1", "--session-timeout", "2"]);
    let run = probe(&[&server.url(1), "--json", "--frames", "150"], &[]);
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let methods = run.methods();
    let keepalives = count(&methods, "GET_PARAMETER 200");
    assert!((3..=8).contains(&keepalives), "{methods:?}");
    assert_eq!(count(&methods, "OPTIONS 200"), 1, "{methods:?}");
}

#[test]
fn keepalive_falls_back_to_options_without_get_parameter() {
    let _serial = serial();
    let server = DemoServerProcess::start(&[
        "--cameras",
        "1",
        "--session-timeout",
        "2",
        "--fault",
        "no-get-parameter",
    ]);
    let run = probe(&[&server.url(1), "--json", "--frames", "150"], &[]);
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let methods = run.methods();
    assert_eq!(count(&methods, "GET_PARAMETER 501"), 0, "{methods:?}");
    assert!(count(&methods, "OPTIONS 200") >= 4, "{methods:?}");
}

#[test]
fn stale_nonce_is_retried_once() {
    let _serial = serial();
    let server = DemoServerProcess::start_with_env(
        &[
            "--cameras",
            "1",
            "--auth-user",
            "viewer",
            "--fault",
            "stale-nonce",
        ],
        &[("VEDETTE_DEMO_PASSWORD", "demo-test-pw")],
    );
    let run = probe(
        &[
            &server.url(1),
            "--json",
            "--frames",
            "20",
            "--user",
            "viewer",
        ],
        &[("VEDETTE_PASSWORD", "demo-test-pw")],
    );
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    assert_eq!(
        run.methods(),
        [
            "OPTIONS 200",
            "DESCRIBE 401",
            "DESCRIBE 200",
            "SETUP 200",
            "PLAY 401",
            "PLAY 200",
            "TEARDOWN 200"
        ]
    );
    // A wrong password is not retried past the first answer.
    let run = probe(
        &[&server.url(1), "--json", "--user", "viewer"],
        &[("VEDETTE_PASSWORD", "not-it")],
    );
    assert_eq!(run.code(), Some(1));
    assert_eq!(
        run.methods(),
        ["OPTIONS 200", "DESCRIBE 401", "DESCRIBE 401"]
    );
}

#[test]
fn packet_loss_holds_pictures_back_until_the_next_keyframe() {
    let _serial = serial();
    let server = DemoServerProcess::start(&["--cameras", "1", "--fault", "drop-packets"]);
    let run = probe(&[&server.url(1), "--json", "--frames", "100"], &[]);
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let json = run.json();
    assert!(json["packets_lost"].as_u64().unwrap() > 0, "{json}");
    assert!(json["frames_held_back"].as_u64().unwrap() > 0, "{json}");
    // Nothing damaged reached the decoder, so it never had to conceal an error.
    assert_eq!(json["decode_errors"], 0, "{json}");
}

#[test]
fn dropping_a_playing_session_sends_teardown() {
    let _serial = serial();
    let server = GstServer::start(&["--width", "320", "--height", "240"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use vedette::rtsp::{CameraUrl, ClientOptions, RtspSession};
        let url = CameraUrl::parse(&server.url()).unwrap();
        let mut session = RtspSession::connect(&url, ClientOptions::default())
            .await
            .unwrap();
        session.options().await.unwrap();
        session.describe().await.unwrap();
        session.setup(0).await.unwrap();
        session.play().await.unwrap();
        session.next_packet().await.unwrap();
        drop(session);
    });
    assert!(server.saw_request("TEARDOWN", Duration::from_secs(5)));
}

/// A camera whose keyframes come 8 s apart, joined between two (a stream shared by several
/// viewers, as an NVR or a busy camera serves it): nothing decodes until the next keyframe,
/// some 5 s, but pictures keep arriving. The tile says it waits for a keyframe and then plays,
/// on its first session. Before, 3 s without a decoded picture counted as a stall: the tile
/// reconnected every 3 s, joined between keyframes again, and never showed a picture.
#[test]
fn a_camera_joined_between_distant_keyframes_waits_for_one_without_reconnecting() {
    let _serial = serial();
    let server = GstServer::start(&[
        "--width",
        "320",
        "--height",
        "240",
        "--shared",
        "--keyframe-every",
        "8",
    ]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let spawn = |id: u64| {
        let spec = CameraSpec {
            name: format!("Camera {id}"),
            url: server.url(),
            ..CameraSpec::default()
        };
        CameraHandle::spawn(
            runtime.handle(),
            id,
            spec,
            Duration::ZERO,
            Arc::new(|| {}),
            Arc::default(),
        )
    };
    // The first viewer starts the shared stream, with a keyframe.
    let first = spawn(1);
    let deadline = Instant::now() + Duration::from_secs(15);
    while first.slot().generation() == 0 {
        assert!(Instant::now() < deadline, "{:?}", first.status());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(2));

    let late = spawn(2);
    let joined = Instant::now();
    let (mut saw_waiting, mut states) = (false, Vec::new());
    while late.slot().generation() == 0 {
        assert!(
            joined.elapsed() < Duration::from_secs(15),
            "no picture 15 s after joining; states {states:?}"
        );
        let status = late.status();
        saw_waiting |= status.waiting_for_keyframe;
        if states.last() != Some(&status.state) {
            states.push(status.state.clone());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let waited = joined.elapsed();
    eprintln!(
        "the late camera's first picture came {waited:?} after it started; states {states:?}"
    );
    assert!(
        waited > Duration::from_secs(3),
        "a keyframe came after {waited:?}: the join was not between keyframes"
    );
    assert!(
        !states
            .iter()
            .any(|s| matches!(s, ConnectionState::Reconnecting { .. })),
        "{states:?}"
    );
    assert!(saw_waiting, "the tile never said it waits for a keyframe");
    assert!(!late.status().waiting_for_keyframe || late.slot().generation() > 0);
    assert_eq!(
        server.request_count("PLAY"),
        2,
        "one PLAY per camera, no reconnect"
    );
}
