//! RTSPS against a real GstRtspServer with a self-signed certificate: refused while untrusted
//! (and the error shows the fingerprint), plays with the pinned fingerprint, refused with a
//! warning once the server's certificate changes.

mod common;

use std::path::Path;
use std::process::Command;

use common::{probe, serial, GstServer};

/// A self-signed certificate and key made by openssl; returns its SHA-256 fingerprint.
fn self_signed(dir: &Path, name: &str) -> String {
    let key = dir.join(format!("{name}.key"));
    let crt = dir.join(format!("{name}.crt"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", &format!("/CN=camera-{name}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success());
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&crt)
        .output()
        .expect("run openssl x509");
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().split_once('=').unwrap().1.to_owned()
}

fn tls_server(dir: &Path, name: &str, port: u16) -> GstServer {
    let crt = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    GstServer::start_on_port(
        port,
        &[
            "--width",
            "320",
            "--height",
            "240",
            "--tls-cert",
            crt.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
}

#[test]
fn self_signed_camera_is_refused_then_pinned_then_refused_when_it_changes() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("vedette-rtsps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let first = self_signed(&dir, "first");
    let second = self_signed(&dir, "second");
    assert_ne!(first, second);

    let server = tls_server(&dir, "first", 0);
    let port = server.port;
    let url = format!("rtsps://127.0.0.1:{port}/test");

    // Untrusted: refused at the TLS step, and the error shows the fingerprint to compare.
    let run = probe(&[&url, "--json"], &[]);
    assert_eq!(run.code(), Some(1), "{}", run.stdout());
    let json = run.json();
    assert_eq!(json["error"]["step"], "TLS", "{json}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("not trusted"), "{message}");
    assert!(message.contains("self-signed"), "{message}");
    assert!(message.contains(&first), "{message}");
    assert_eq!(
        server.request_count("OPTIONS"),
        0,
        "nothing was sent in the clear"
    );

    // Pinned: plays, over TLS, with every step answered.
    let run = probe(
        &[
            &url,
            "--json",
            "--trust-fingerprint",
            &first,
            "--frames",
            "50",
        ],
        &[],
    );
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let json = run.json();
    assert!(json["frames_decoded"].as_u64().unwrap() >= 50, "{json}");
    assert_eq!(
        json["methods"].as_array().unwrap().last().unwrap()["method"],
        "TEARDOWN"
    );
    assert!(server.request_count("PLAY") >= 1);

    // The camera now presents another certificate on the same address: refused, loudly.
    drop(server);
    let server = tls_server(&dir, "second", port);
    let run = probe(&[&url, "--json", "--trust-fingerprint", &first], &[]);
    assert_eq!(run.code(), Some(1), "{}", run.stdout());
    let json = run.json();
    assert_eq!(json["error"]["step"], "TLS", "{json}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("CHANGED"), "{message}");
    assert!(
        message.contains(&first) && message.contains(&second),
        "{message}"
    );
    assert_eq!(server.request_count("OPTIONS"), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_malformed_fingerprint_is_a_clear_error() {
    let run = probe(
        &["rtsps://127.0.0.1:1/x", "--trust-fingerprint", "AB:CD"],
        &[],
    );
    assert_eq!(run.code(), Some(1));
    assert!(
        run.stderr().contains("not a SHA-256 fingerprint"),
        "{}",
        run.stderr()
    );
}
