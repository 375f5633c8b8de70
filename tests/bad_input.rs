//! Bad input gives one line and exit 1 within the timeout: never a panic, never a hang.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::{probe, serial, DemoServerProcess, GstServer};

/// Runs a probe expected to fail and checks the one-line contract; returns that line.
fn expect_failure(url: &str, timeout_secs: u32) -> String {
    let timeout = timeout_secs.to_string();
    let run = probe(&[url, "--timeout", &timeout], &[]);
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert_eq!(run.code(), Some(1), "{url}: {out}");
    assert_eq!(
        out.trim().lines().count(),
        1,
        "{url}: exactly one line: {out}"
    );
    assert!(!out.contains("panicked"), "{out}");
    assert!(
        run.elapsed < Duration::from_secs(u64::from(timeout_secs) * 3 + 5),
        "{url}: took {:?}",
        run.elapsed
    );
    // The JSON form carries the same step.
    let run = probe(&[url, "--timeout", &timeout, "--json"], &[]);
    assert_eq!(run.code(), Some(1));
    assert!(run.json()["error"]["step"].is_string());
    out.trim().to_owned()
}

#[test]
fn malformed_url() {
    let line = expect_failure("rtsp:/bad", 2);
    assert!(line.starts_with("url failed"), "{line}");
    assert!(line.contains("no host"), "{line}");
}

#[test]
fn wrong_scheme() {
    let line = expect_failure("http://host/", 2);
    assert!(
        line.starts_with("url failed") && line.contains("http"),
        "{line}"
    );
}

#[test]
fn unresolvable_host() {
    let line = expect_failure("rtsp://camera.invalid/stream", 5);
    assert!(line.starts_with("resolve failed"), "{line}");
}

#[test]
fn unreachable_host_times_out_at_connect() {
    // A listener whose accept queue is full: the kernel drops further SYNs, so a connect
    // hangs exactly as it does for a host that does not answer.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let fillers: Vec<_> = (0..4)
        .filter_map(|_| {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
            s.set_nonblocking(true).ok()?;
            let _ = s.connect(&addr.into());
            Some(s)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let line = expect_failure(&format!("rtsp://{addr}/stream"), 2);
    assert!(line.starts_with("connect failed"), "{line}");
    assert!(line.contains("no answer"), "{line}");
    drop(fillers);
}

#[test]
fn connection_refused() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let line = expect_failure(&format!("rtsp://127.0.0.1:{port}/x"), 2);
    assert!(
        line.starts_with("connect failed") && line.contains("refused"),
        "{line}"
    );
}

#[test]
fn unknown_path_is_404() {
    let _serial = serial();
    let server = GstServer::start(&["--width", "320", "--height", "240"]);
    let line = expect_failure(&format!("rtsp://127.0.0.1:{}/nothing-here", server.port), 5);
    assert!(
        line.starts_with("DESCRIBE failed") && line.contains("404"),
        "{line}"
    );
}

#[test]
fn missing_credentials_is_401() {
    let _serial = serial();
    let server = GstServer::start(&[
        "--width",
        "320",
        "--height",
        "240",
        "--auth",
        "digest",
        "--user",
        "admin",
        "--password",
        "secret",
    ]);
    let line = expect_failure(&server.url(), 5);
    assert!(line.contains("401"), "{line}");
}

#[test]
fn server_closes_in_the_middle_of_describe() {
    let _serial = serial();
    let server = DemoServerProcess::start(&["--cameras", "1", "--fault", "close-in-describe"]);
    let line = expect_failure(&server.url(1), 5);
    assert!(
        line.starts_with("DESCRIBE failed") && line.contains("closed"),
        "{line}"
    );
}

#[test]
fn server_stalls_in_describe() {
    let _serial = serial();
    let server = DemoServerProcess::start(&["--cameras", "1", "--fault", "stall-describe"]);
    let line = expect_failure(&server.url(1), 2);
    assert!(
        line.starts_with("DESCRIBE failed") && line.contains("no response"),
        "{line}"
    );
}

#[test]
fn broken_config_file_is_reported_with_line_and_column() {
    let dir = std::env::temp_dir().join(format!("vedette-bad-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(&path, "[[cameras]]\nname = \"Door\"\nurl = rtsp://x\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vedette"))
        .args(["--config", path.to_str().unwrap(), "probe", "Door"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(err.contains(":3:7:"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "[[cameras]]\nname = \"Door\"\nurl = rtsp://x\n",
        "never overwritten"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
