//! Session behaviour over time: keepalive at half the session timeout (GET_PARAMETER when the
//! server lists it, else OPTIONS), TEARDOWN when a session is dropped, a stale Digest nonce,
//! and decoding that holds pictures back after packet loss until the next keyframe.

mod common;

use std::time::Duration;

use common::{probe, serial, DemoServerProcess, GstServer};

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
