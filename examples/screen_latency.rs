//! Capture → on-screen latency for `make bench`: grabs a screen region with FFmpeg's x11grab
//! and reads the capture-time code that the Vedette demo server stamps into every picture.
//! Each capture time is counted once, when it first appears on screen.
//!
//! Usage: screen_latency DISPLAY X Y WIDTH HEIGHT SECONDS   (prints one JSON object)

use std::collections::HashSet;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 7 {
        eprintln!("usage: screen_latency DISPLAY X Y WIDTH HEIGHT SECONDS");
        std::process::exit(2);
    }
    let num = |i: usize| -> usize { args[i].parse().expect("a number") };
    let (x, y, width, height) = (num(2), num(3), num(4) & !1, num(5) & !1);
    let seconds: f64 = args[6].parse().expect("seconds");
    // Only the band the code lives in is grabbed: a whole 720p window 120 times a second
    // costs the X server and FFmpeg about a core's worth of copying, which the player being
    // measured would then have to share (and a software-rendered player needs it most).
    let band = vedette::timecode::timecode_band_height(height).min(height) & !1;
    let mut ffmpeg = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-f",
            "x11grab",
            "-framerate",
            "240",
            "-video_size",
        ])
        .arg(format!("{width}x{band}"))
        .args(["-i", &format!("{}+{x},{y}", args[1])])
        .args([
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ffmpeg");
    let mut stdout = ffmpeg.stdout.take().expect("pipe");
    let mut frame = vec![0u8; width * band];
    let mut seen = HashSet::new();
    let mut latencies = Vec::new();
    let (mut grabs, mut unreadable) = (0u64, 0u64);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        if stdout.read_exact(&mut frame).is_err() {
            break;
        }
        let now = vedette::decode::unix_millis();
        grabs += 1;
        match vedette::timecode::read_timecode(&frame, width, width, height) {
            Some(capture) if seen.insert(capture) => {
                if let Some(l) = now.checked_sub(capture) {
                    latencies.push(l);
                }
            }
            Some(_) => {}
            None => unreadable += 1,
        }
    }
    let _ = ffmpeg.kill();
    let _ = ffmpeg.wait();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    println!(
        "{}",
        serde_json::json!({
            "frames_seen": latencies.len(),
            "grabs": grabs,
            "grabs_without_code": unreadable,
            "latency_p50_ms": pct(0.5),
            "latency_p95_ms": pct(0.95),
        })
    );
}
