//! `vedette probe` against a real GstRtspServer: decoding, Digest auth, TEARDOWN on the wire.

mod common;

use std::time::Duration;

use common::{probe, serial, GstServer};

#[test]
fn decodes_100_frames_of_720p_and_tears_down() {
    let _serial = serial();
    let server = GstServer::start(&["--width", "1280", "--height", "720"]);
    let run = probe(&[&server.url(), "--json", "--frames", "100"], &[]);
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let json = run.json();
    assert_eq!(json["codec"], "h264");
    assert_eq!(json["width"], 1280);
    assert_eq!(json["height"], 720);
    assert_eq!(json["display_width"], 1280, "square pixels");
    assert!(json["frames_decoded"].as_u64().unwrap() >= 100, "{json}");
    assert_eq!(json["decode_errors"], 0);
    assert_eq!(json["transport"], "tcp");
    assert!(json["error"].is_null());
    assert!(json["first_frame_ms"].as_f64().unwrap() > 0.0);
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
    assert!(server.saw_request("TEARDOWN", Duration::from_secs(5)));
}

#[test]
fn decodes_1080p() {
    let _serial = serial();
    let server = GstServer::start(&["--width", "1920", "--height", "1080"]);
    let run = probe(&[&server.url(), "--json", "--frames", "100"], &[]);
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let json = run.json();
    assert_eq!(
        (json["width"].as_u64(), json["height"].as_u64()),
        (Some(1920), Some(1080))
    );
    assert!(json["frames_decoded"].as_u64().unwrap() >= 100, "{json}");
}

/// An anamorphic camera (4:3 pixels in its SPS) is shown at the picture's real shape: the
/// 480x360 it sends is a 640x360 picture.
#[test]
fn an_anamorphic_stream_has_its_display_size() {
    let _serial = serial();
    let server = GstServer::start(&["--width", "480", "--height", "360", "--pixel-aspect", "4/3"]);
    let run = probe(&[&server.url(), "--json", "--frames", "10"], &[]);
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let json = run.json();
    assert_eq!(
        (json["width"].as_u64(), json["height"].as_u64()),
        (Some(480), Some(360))
    );
    assert_eq!(
        (
            json["display_width"].as_u64(),
            json["display_height"].as_u64()
        ),
        (Some(640), Some(360))
    );
}

const USER: &str = "admin";
const PASSWORD: &str = "secret-test-pw";

fn digest_server() -> GstServer {
    GstServer::start(&[
        "--width",
        "1280",
        "--height",
        "720",
        "--auth",
        "digest",
        "--user",
        USER,
        "--password",
        PASSWORD,
    ])
}

#[test]
fn digest_auth_right_password_plays() {
    let _serial = serial();
    let server = digest_server();
    let run = probe(
        &[&server.url(), "--json", "--user", USER, "--frames", "100"],
        &[("VEDETTE_PASSWORD", PASSWORD)],
    );
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let json = run.json();
    assert!(json["frames_decoded"].as_u64().unwrap() >= 100);
    // GstRtspServer challenges DESCRIBE; we answer once and every later request carries the
    // Digest answer.
    assert_eq!(
        run.methods(),
        [
            "OPTIONS 200",
            "DESCRIBE 401",
            "DESCRIBE 200",
            "SETUP 200",
            "PLAY 200",
            "TEARDOWN 200"
        ]
    );
    assert!(server.saw_request("TEARDOWN", Duration::from_secs(5)));
    assert!(!run.stdout().contains(PASSWORD) && !run.stderr().contains(PASSWORD));
}

#[test]
fn digest_auth_credentials_in_url_play_and_are_not_shown() {
    let _serial = serial();
    let server = digest_server();
    let url = format!("rtsp://{USER}:{PASSWORD}@127.0.0.1:{}/test", server.port);
    let run = probe(&[&url, "--json", "--frames", "10"], &[]);
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    assert_eq!(run.json()["url"], server.url());
    assert!(!run.stdout().contains(PASSWORD) && !run.stderr().contains(PASSWORD));
}

#[test]
fn digest_auth_wrong_or_missing_password_fails_naming_401() {
    let _serial = serial();
    let server = digest_server();
    for (args, env) in [
        (
            vec!["--user", USER],
            vec![("VEDETTE_PASSWORD", "wrong-password")],
        ),
        (vec![], vec![]),
    ] {
        let mut all = vec![server.url()];
        all.extend(args.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let run = probe(&all, &env);
        assert_eq!(run.code(), Some(1));
        let out = format!("{}{}", run.stdout(), run.stderr());
        assert_eq!(out.trim().lines().count(), 1, "one line: {out}");
        assert!(out.starts_with("DESCRIBE failed (401)"), "{out}");
        assert!(!out.contains("wrong-password"));

        let mut json_args = all.clone();
        json_args.push("--json");
        let run = probe(&json_args, &env);
        assert_eq!(run.code(), Some(1));
        let json = run.json();
        assert_eq!(json["error"]["status"], 401, "{json}");
        assert_eq!(json["error"]["step"], "DESCRIBE");
    }
}
