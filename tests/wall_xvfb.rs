//! The real camera wall in a real window (Xvfb), on a real GstRtspServer: tiles show moving
//! video, sessions are torn down on close, tiles reconnect after a server restart, and a broken
//! config is shown and left untouched.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{region_difference, region_stats, serial, App, GstServer, Xvfb};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
/// The toolbar is one row; the wall starts below this.
const WALL_TOP: u32 = 60;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vedette-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a config with `count` cameras on `url`, and a window size that fills the screen.
fn write_config(dir: &Path, url: &str, count: usize) -> PathBuf {
    let mut text = String::new();
    for i in 1..=count {
        text.push_str(&format!(
            "[[cameras]]\nname = \"Camera {i}\"\nurl = \"{url}\"\ntransport = \"tcp\"\n\n"
        ));
    }
    let config = dir.join("config.toml");
    std::fs::write(&config, text).unwrap();
    std::fs::write(
        dir.join("config.ui-state.toml"),
        format!("window_size = [{WIDTH}.0, {HEIGHT}.0]\n"),
    )
    .unwrap();
    config
}

/// The middle of each cell of a 2×2 wall: inside the letterboxed video, clear of the labels.
fn tile_centres() -> Vec<(u32, u32, u32, u32)> {
    let cell_w = WIDTH / 2;
    let cell_h = (HEIGHT - WALL_TOP) / 2;
    (0..4)
        .map(|i| {
            let (col, row) = (i % 2, i / 2);
            let (x0, y0) = (col * cell_w, WALL_TOP + row * cell_h);
            (
                x0 + cell_w * 3 / 10,
                y0 + cell_h * 3 / 10,
                cell_w * 2 / 5,
                cell_h * 2 / 5,
            )
        })
        .collect()
}

/// Waits until the app reports video in all `count` tiles.
fn wait_for_video_in_all_tiles(app: &App, count: usize) {
    let line = format!("all {count} cameras showing video");
    let seen = app.wait_for_log(&line, Duration::from_secs(30));
    assert!(seen.is_some(), "{}", app.all_log());
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gst_args() -> Vec<&'static str> {
    // A scrolling SMPTE pattern: never flat, always moving. Shared, so four tiles cost one
    // encoder.
    vec![
        "--width",
        "640",
        "--height",
        "360",
        "--shared",
        "--pattern",
        "smpte",
        "--scroll",
        "4",
    ]
}

#[test]
fn four_tiles_show_moving_video_and_close_tears_down() {
    let _serial = serial();
    let server = GstServer::start(&gst_args());
    let xvfb = Xvfb::start(WIDTH, HEIGHT);
    let dir = temp_dir("wall");
    let config = write_config(&dir, &server.url(), 4);
    let app = App::start(&xvfb.display, &config, &[]);
    wait_for_video_in_all_tiles(&app, 4);
    std::thread::sleep(Duration::from_secs(1));
    let first = xvfb.screenshot_rgb();
    xvfb.screenshot_png(&screenshot_dir().join("wall-4-tiles.png"));
    std::thread::sleep(Duration::from_secs(1));
    let second = xvfb.screenshot_rgb();
    for (i, region) in tile_centres().into_iter().enumerate() {
        let (mean, spread) = region_stats(&first, WIDTH, region);
        let change = region_difference(&first, &second, WIDTH, region);
        eprintln!("tile {i}: mean {mean:.0}, spread {spread:.1}, change {change:.1}");
        assert!(
            spread > 20.0,
            "tile {i} shows video, not a flat colour: spread {spread:.1}"
        );
        assert!(
            change > 2.0,
            "tile {i} changes within a second: {change:.1}"
        );
    }

    let status = app
        .close(Duration::from_secs(10))
        .expect("app closes on SIGTERM");
    assert!(status.success(), "{status:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.request_count("TEARDOWN") < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        server.request_count("TEARDOWN"),
        4,
        "every session torn down on close"
    );
    let state = std::fs::read_to_string(dir.join("config.ui-state.toml")).unwrap();
    assert!(state.contains("window_size"), "{state}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tiles_reconnect_within_two_seconds_of_a_server_restart() {
    let _serial = serial();
    let port = common::free_port();
    let server = GstServer::start_on_port(port, &gst_args());
    let url = server.url();
    let xvfb = Xvfb::start(WIDTH, HEIGHT);
    let dir = temp_dir("reconnect");
    let config = write_config(&dir, &url, 4);
    let app = App::start(&xvfb.display, &config, &[]);
    wait_for_video_in_all_tiles(&app, 4);
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.log_lines("first picture").len() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(app.log_lines("first picture").len(), 4, "{}", app.all_log());

    server.kill();
    // Every tile says it is reconnecting.
    let deadline = Instant::now() + Duration::from_secs(10);
    let reconnecting = |app: &App| {
        (1..=4)
            .filter(|i| {
                app.log_lines("reconnecting in")
                    .iter()
                    .any(|l| l.contains(&format!("Camera {i}")))
            })
            .count()
    };
    while reconnecting(&app) < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(reconnecting(&app), 4, "{}", app.all_log());
    std::thread::sleep(Duration::from_secs(3));

    let server = GstServer::start_on_port(port, &gst_args());
    let restarted = Instant::now();
    while app.log_lines("first picture").len() < 8 && restarted.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let back_after = restarted.elapsed();
    assert_eq!(app.log_lines("first picture").len(), 8, "{}", app.all_log());
    eprintln!("all 4 tiles showed pictures again {back_after:?} after the restart");
    assert!(back_after <= Duration::from_secs(2), "took {back_after:?}");
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn broken_config_is_shown_and_left_byte_for_byte_unchanged() {
    let _serial = serial();
    let xvfb = Xvfb::start(WIDTH, HEIGHT);
    let dir = temp_dir("broken-config");
    let config = dir.join("config.toml");
    let text = b"# my cameras\n[[cameras]]\nname = \"Door\"\nurl = rtsp://10.0.0.9/live\n";
    std::fs::write(&config, text).unwrap();
    let app = App::start(&xvfb.display, &config, &[]);
    let line = app
        .wait_for_log("config.toml:4:7", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("parse error with line and column: {}", app.all_log()));
    assert!(line.contains("ERROR"), "{line}");
    std::thread::sleep(Duration::from_secs(2));
    let shot = xvfb.screenshot_rgb();
    xvfb.screenshot_png(&screenshot_dir().join("broken-config.png"));
    // The error is shown in the window: red text in the toolbar area.
    let red = (0..WALL_TOP * WIDTH)
        .filter(|p| {
            let i = (*p * 3) as usize;
            shot[i] > 200 && shot[i + 1] < 150 && shot[i + 2] < 150
        })
        .count();
    assert!(red > 50, "error text in the window: {red} red pixels");
    let status = app.close(Duration::from_secs(10)).expect("closes");
    assert!(status.success());
    assert_eq!(std::fs::read(&config).unwrap(), text, "config untouched");
    std::fs::remove_dir_all(&dir).unwrap();
}
