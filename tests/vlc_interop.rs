//! Interop with VLC's RTSP server, a second real server beside GstRtspServer. Debian's VLC
//! serves RTP over UDP only and answers 461 to TCP, which is exactly what `transport = auto`
//! is for. VLC refuses to run as root, so the test runs it as `nobody` when it is root.

mod common;

use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, probe, serial};

struct Vlc {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Vlc {
    /// Serves a 10 s H.264 clip (made with FFmpeg, looped) at rtsp://127.0.0.1:PORT/test.
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("vedette-vlc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let clip = dir.join("clip.mp4");
        let made = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-f", "lavfi"])
            .args(["-i", "testsrc=size=320x240:rate=25", "-t", "10"])
            .args(["-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p"])
            .arg(&clip)
            .status()
            .expect("run ffmpeg");
        assert!(made.success());
        // `nobody` must be able to read the clip.
        Command::new("chmod").arg("755").arg(&dir).status().unwrap();
        Command::new("chmod")
            .arg("644")
            .arg(&clip)
            .status()
            .unwrap();
        let port = free_port();
        let sout = format!("#rtp{{sdp=rtsp://127.0.0.1:{port}/test}}");
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let mut cmd = if is_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--", "cvlc"]);
            c
        } else {
            Command::new("cvlc")
        };
        // A process group of its own: as root the child is `runuser`, whose own child VLC
        // would outlive a kill of `runuser` alone.
        let child = cmd
            .process_group(0)
            .args(["-q", "--loop", "--sout-keep", "--sout", &sout])
            .arg(&clip)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cvlc (Debian packages vlc-bin and vlc-plugin-base)");
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "VLC did not open its RTSP port");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, port, dir }
    }

    fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/test", self.port)
    }
}

impl Drop for Vlc {
    fn drop(&mut self) {
        // The whole group: `runuser` and the VLC it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn vlc_plays_over_udp_and_auto_and_refuses_tcp_with_461() {
    let _serial = serial();
    let vlc = Vlc::start();

    let run = probe(
        &[&vlc.url(), "--json", "--transport", "udp", "--frames", "50"],
        &[],
    );
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    let json = run.json();
    assert_eq!(json["codec"], "h264");
    assert!(json["frames_decoded"].as_u64().unwrap() >= 50, "{json}");
    assert_eq!(json["stats"]["packets_lost"], 0, "{json}");

    let run = probe(
        &[
            &vlc.url(),
            "--json",
            "--transport",
            "auto",
            "--frames",
            "50",
        ],
        &[],
    );
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout(), run.stderr());
    assert_eq!(run.json()["transport"], "udp");

    // TCP: one clear line naming the step and VLC's status code.
    let run = probe(&[&vlc.url(), "--transport", "tcp"], &[]);
    assert_eq!(run.code(), Some(1));
    assert!(
        run.stderr()
            .starts_with("SETUP failed (461): server answered 461"),
        "{}",
        run.stderr()
    );
}
