//! Shared helpers for the end-to-end tests: real servers started per test, and the `vedette`
//! binary run as a user would run it.
#![allow(dead_code)]

pub mod relay;
pub mod ui;

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
    fn spawn(stdout: impl std::io::Read + Send + 'static) -> Self {
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
        Self::start_on_port(0, args)
    }

    /// Starts the server on a given port (0 = any free one).
    pub fn start_on_port(port: u16, args: &[&str]) -> Self {
        Self::start_with_prefix(&[], &[&["--port", &port.to_string()], args].concat())
    }

    /// Starts the server under a command prefix that execs it in place, e.g.
    /// `["ip", "netns", "exec", NAME]`, so the child is the server and `Drop` stops it. `args`
    /// must include `--port`.
    pub fn start_with_prefix(prefix: &[&str], args: &[&str]) -> Self {
        let mut command = match prefix.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg("/usr/bin/python3");
                command
            }
            None => Command::new("/usr/bin/python3"),
        };
        let mut child = command
            .arg(repo_root().join("tests/support/gst_rtsp_server.py"))
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

    /// How many times the server reported handling `method`.
    pub fn request_count(&self, method: &str) -> usize {
        let want = format!("REQUEST {method}");
        self.log
            .lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| **l == want)
            .count()
    }

    /// Every line the server printed that starts with `prefix`, so far.
    pub fn lines(&self, prefix: &str) -> Vec<String> {
        self.log
            .lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Waits until the server printed a line starting with `prefix`.
    pub fn wait_for_line(&self, prefix: &str, timeout: Duration) -> Option<String> {
        self.log.wait_for(|l| l.starts_with(prefix), timeout)
    }

    /// Stops the server at once (SIGKILL), like a crash or a power cut.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until the server reports having handled `method` (e.g. "TEARDOWN").
    pub fn saw_request(&self, method: &str, timeout: Duration) -> bool {
        let want = format!("REQUEST {method}");
        self.log.wait_for(|l| l == want, timeout).is_some()
    }
}

impl Drop for GstServer {
    fn drop(&mut self) {
        stop_gently(&mut self.child, Duration::from_secs(5));
    }
}

/// Sends `child` SIGTERM and waits up to `timeout` for it to exit; its status if it did.
fn terminate(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Stops `child` with SIGTERM, so it can clean up (GstRtspServer ends its sessions, Xvfb
/// removes its lock file and socket), then with SIGKILL if it is still there after `grace`.
fn stop_gently(child: &mut Child, grace: Duration) {
    if terminate(child, grace).is_none() {
        let _ = child.kill();
        let _ = child.wait();
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
    /// The probe's JSON report: its last line (`--every` lines come before it).
    pub fn json(&self) -> serde_json::Value {
        let stdout = self.stdout();
        let report = stdout.trim().lines().last().unwrap_or_default();
        serde_json::from_str(report).unwrap_or_else(|e| {
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

/// A free TCP port on loopback (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private X server (Xvfb) for running the real window.
pub struct Xvfb {
    child: Child,
    pub display: String,
    pub width: u32,
    pub height: u32,
}

impl Xvfb {
    pub fn start(width: u32, height: u32) -> Self {
        for n in 90..140 {
            if display_taken(n) {
                continue;
            }
            let display = format!(":{n}");
            let Ok(child) = Command::new("Xvfb")
                .args([
                    &display,
                    "-screen",
                    "0",
                    &format!("{width}x{height}x24"),
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            else {
                panic!("Xvfb is not installed (make test installs it)");
            };
            let mut xvfb = Self {
                child,
                display,
                width,
                height,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                    return xvfb;
                }
                if let Ok(Some(_)) = xvfb.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = xvfb.child.kill();
        }
        panic!("could not start Xvfb");
    }

    /// The whole screen as packed RGB bytes, grabbed with FFmpeg's x11grab.
    pub fn screenshot_rgb(&self) -> Vec<u8> {
        let out = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-f", "x11grab", "-video_size"])
            .arg(format!("{}x{}", self.width, self.height))
            .args([
                "-i",
                &self.display,
                "-frames:v",
                "1",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-",
            ])
            .output()
            .expect("ffmpeg");
        assert_eq!(
            out.stdout.len(),
            (self.width * self.height * 3) as usize,
            "screenshot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Saves a screenshot as PNG (for people to look at).
    pub fn screenshot_png(&self, path: &std::path::Path) {
        let status = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-f", "x11grab", "-video_size"])
            .arg(format!("{}x{}", self.width, self.height))
            .args(["-i", &self.display, "-frames:v", "1"])
            .arg(path)
            .status()
            .expect("ffmpeg");
        assert!(status.success());
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        stop_gently(&mut self.child, Duration::from_secs(3));
    }
}

/// Whether display `n` is taken: a lock file naming a live process. A lock left behind by a
/// killed server is removed (with its socket), so displays are not used up over many runs.
fn display_taken(n: u32) -> bool {
    let lock = format!("/tmp/.X{n}-lock");
    let socket = format!("/tmp/.X11-unix/X{n}");
    let Ok(text) = std::fs::read_to_string(&lock) else {
        return std::path::Path::new(&socket).exists();
    };
    let alive = text
        .trim()
        .parse::<u32>()
        .is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
    if !alive {
        let _ = std::fs::remove_file(&lock);
        let _ = std::fs::remove_file(&socket);
    }
    alive
}

/// The real `vedette` window, started on an X display with a config file.
pub struct App {
    child: Child,
    log: LineLog,
}

impl App {
    pub fn start(display: &str, config: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vedette"))
            .arg("--config")
            .arg(config)
            .env("DISPLAY", display)
            .env_remove("WAYLAND_DISPLAY")
            .env("VEDETTE_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vedette");
        let log = LineLog::spawn(child.stderr.take().unwrap());
        Self { child, log }
    }

    /// Waits for a log line containing `text`; returns it.
    pub fn wait_for_log(&self, text: &str, timeout: Duration) -> Option<String> {
        self.log.wait_for(|l| l.contains(text), timeout)
    }

    /// Log lines that contain `text`.
    pub fn log_lines(&self, text: &str) -> Vec<String> {
        self.log
            .lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(text))
            .cloned()
            .collect()
    }

    pub fn all_log(&self) -> String {
        self.log.lines.lock().unwrap().join("\n")
    }

    /// Asks the app to close (SIGTERM closes the window the normal way) and waits.
    pub fn close(mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        terminate(&mut self.child, timeout)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Mean luma and standard deviation of a region of an RGB screenshot.
pub fn region_stats(rgb: &[u8], width: u32, region: (u32, u32, u32, u32)) -> (f64, f64) {
    let (x0, y0, w, h) = region;
    let mut values = Vec::with_capacity((w * h) as usize);
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            let i = ((y * width + x) * 3) as usize;
            let (r, g, b) = (rgb[i] as f64, rgb[i + 1] as f64, rgb[i + 2] as f64);
            values.push(0.299 * r + 0.587 * g + 0.114 * b);
        }
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Mean absolute per-channel difference between two screenshots in a region.
pub fn region_difference(a: &[u8], b: &[u8], width: u32, region: (u32, u32, u32, u32)) -> f64 {
    let (x0, y0, w, h) = region;
    let mut sum = 0u64;
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            let i = ((y * width + x) * 3) as usize;
            for c in 0..3 {
                sum += u64::from(a[i + c].abs_diff(b[i + c]));
            }
        }
    }
    sum as f64 / f64::from(w * h * 3)
}
