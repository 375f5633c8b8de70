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

/// The demo server frames its control connection like the client does: a stray line ending
/// before a request is skipped, and a client that sends only junk is hung up on once the junk
/// passes the framer's cap (before, it read and dropped junk for as long as it came).
#[test]
fn stray_bytes_are_skipped_and_endless_junk_is_hung_up_on() {
    use std::io::{ErrorKind, Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    let _serial = serial();
    let server = DemoServerProcess::start(&["--cameras", "1"]);

    let mut polite = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    polite
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = format!(
        "\r\n\0\r\nOPTIONS {} RTSP/1.0\r\nCSeq: 3\r\n\r\n",
        server.url(1)
    );
    polite.write_all(request.as_bytes()).unwrap();
    let mut answer = [0u8; 512];
    let n = polite.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("RTSP/1.0 200 OK\r\n"), "{answer}");
    assert!(answer.contains("CSeq: 3\r\n"), "{answer}");

    // Letters (a request line without end) and NULs (skipped junk): both end the connection.
    for junk_byte in [b'x', 0u8] {
        let mut rude = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        rude.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // The server may hang up before all of it is written.
        let _ = rude.write_all(&vec![junk_byte; 16 * 1024]);
        let mut byte = [0u8; 1];
        match rude.read(&mut byte) {
            Ok(0) => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {}
            other => {
                panic!("the server kept a connection that sent only {junk_byte:#x} open: {other:?}")
            }
        }
    }
}
