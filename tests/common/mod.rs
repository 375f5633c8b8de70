//! Shared helpers for the end-to-end tests: real servers started per test, and the `vedette`
//! binary run as a user would run it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Encoders on a 2-core machine: run the heavy tests of one binary one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads a child's stdout lines on a thread, so tests can wait for a line.
struct LineLog {
    lines: Arc<Mutex<Vec<String>>>,
}

impl LineLog {
    fn spawn(stdout: std::process::ChildStdout) -> Self {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { lines }
    }

    fn wait_for(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// A real GstRtspServer (tests/support/gst_rtsp_server.py) on a free loopback port.
pub struct GstServer {
    child: Child,
    pub port: u16,
    log: LineLog,
}

impl GstServer {
    /// Starts the server with extra arguments (e.g. `["--width", "1280", "--height", "720"]`).
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new("/usr/bin/python3")
            .arg(repo_root().join("tests/support/gst_rtsp_server.py"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start gst_rtsp_server.py (needs python3-gi and gir1.2-gst-rtsp-server-1.0)");
        let log = LineLog::spawn(child.stdout.take().unwrap());
        let ready = log.wait_for(|l| l.starts_with("READY port="), Duration::from_secs(30));
        let port = ready
            .and_then(|l| l.trim_start_matches("READY port=").trim().parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("gst_rtsp_server.py did not become ready")
            });
        Self { child, port, log }
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/test", self.port)
    }

    /// Waits until the server reports having handled `method` (e.g. "TEARDOWN").
    pub fn saw_request(&self, method: &str, timeout: Duration) -> bool {
        let want = format!("REQUEST {method}");
        self.log.wait_for(|l| l == want, timeout).is_some()
    }
}

impl Drop for GstServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `vedette demo-server` as a separate process.
pub struct DemoServerProcess {
    child: Child,
    pub port: u16,
}

impl DemoServerProcess {
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vedette"))
            .args(["demo-server", "--port", "0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vedette demo-server");
        let log = LineLog::spawn(child.stdout.take().unwrap());
        let line = log.wait_for(
            |l| l.contains("listening on rtsp://"),
            Duration::from_secs(30),
        );
        let port = line
            .as_deref()
            .and_then(|l| l.split("rtsp://127.0.0.1:").nth(1))
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("demo server did not start: {line:?}")
            });
        Self { child, port }
    }

    pub fn url(&self, camera: usize) -> String {
        format!("rtsp://127.0.0.1:{}/cam{camera}", self.port)
    }
}

impl Drop for DemoServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The result of one `vedette probe` run.
pub struct ProbeRun {
    pub output: Output,
    pub elapsed: Duration,
}

impl ProbeRun {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout().trim()).unwrap_or_else(|e| {
            panic!(
                "probe printed no JSON ({e}): {}\n{}",
                self.stdout(),
                self.stderr()
            )
        })
    }
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }
    /// "METHOD status" pairs from the JSON `methods` list.
    pub fn methods(&self) -> Vec<String> {
        self.json()["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| format!("{} {}", m["method"].as_str().unwrap(), m["status"]))
            .collect()
    }
}

/// Runs `vedette probe` with arguments and extra environment, as a user would.
pub fn probe(args: &[&str], env: &[(&str, &str)]) -> ProbeRun {
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vedette"));
    cmd.arg("probe").args(args).env_remove("VEDETTE_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("run vedette probe");
    ProbeRun {
        output,
        elapsed: started.elapsed(),
    }
}

/// Plays `url` with Vedette's own client and returns the first `count` access units.
pub async fn collect_access_units(url: &str, count: usize) -> Vec<vedette::rtp::h264::AccessUnit> {
    use vedette::rtp::{h264::H264Depacketizer, parse_rtp};
    use vedette::rtsp::{CameraUrl, ClientOptions, Packet, RtspSession};

    let url = CameraUrl::parse(url).unwrap();
    let mut session = RtspSession::connect(&url, ClientOptions::default())
        .await
        .unwrap();
    session.options().await.unwrap();
    let index = session
        .describe()
        .await
        .unwrap()
        .streams
        .iter()
        .position(|s| s.encoding == "h264")
        .unwrap();
    session.setup(index).await.unwrap();
    session.play().await.unwrap();
    let mut depacketizer = H264Depacketizer::new();
    let mut units = Vec::new();
    while units.len() < count {
        if let Packet::Rtp { data, .. } = session.next_packet().await.unwrap() {
            let (info, payload) = parse_rtp(&data).unwrap();
            depacketizer.push(&info, payload).unwrap();
            while let Some(au) = depacketizer.pull() {
                units.push(au);
            }
        }
    }
    session.teardown().await.unwrap();
    units.truncate(count);
    units
}
