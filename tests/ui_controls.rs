//! The wall's transport controls reach the wire: the toolbar's "Play all" / "Pause all" /
//! "Stop all", Space and S on the selected tile, "Remove camera" and M, driven through the
//! accessibility tree with egui_kittest against real GstRtspServer instances. Each camera has a
//! server of its own, so every `REQUEST <METHOD> session=<id>` line a server prints belongs to
//! that camera. A tile's accessible value is its state in words ("playing", "paused, sound on").

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use egui_kittest::kittest::{NodeT as _, Queryable};

use common::ui::{harness, setup, shut_down, step_for, step_until, temp_dir, AppHarness};
use common::{serial, GstServer};
use eframe::egui;
use eframe::egui::accesskit::{Role, Toggled};
use vedette::config::{legacy_camera_id, Config, UiState};
use vedette::credentials::{MemorySecrets, Password, SecretStore};

const NAMES: [&str; 2] = ["Camera 1", "Camera 2"];

/// One 320x240 server per camera, with extra arguments (e.g. `--audio aac`).
fn servers(extra: &[&str]) -> [GstServer; 2] {
    let args = [&["--width", "320", "--height", "240"], extra].concat();
    [GstServer::start(&args), GstServer::start(&args)]
}

/// A config with "Camera 1" and "Camera 2" on these servers; `user` is Camera 1's username.
fn write_config(dir: &Path, servers: &[GstServer; 2], user: Option<&str>) -> PathBuf {
    let mut text = String::new();
    for (name, server) in NAMES.iter().zip(servers) {
        text.push_str(&format!(
            "[[cameras]]\nname = \"{name}\"\nurl = \"{}\"\n",
            server.url()
        ));
        if let (Some(user), "Camera 1") = (user, *name) {
            text.push_str(&format!("username = \"{user}\"\n"));
        }
        text.push('\n');
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The wall on `config` with the stats panel open (its counters show what was decoded).
fn start_wall(config: &Path, secrets: Arc<MemorySecrets>) -> AppHarness {
    let state = UiState {
        stats_panel: true,
        ..UiState::default()
    };
    let mut harness = harness(setup(config, secrets, state));
    harness.run_steps(2);
    harness
}

/// The tile of camera `name` (the stats panel's heading has the same name, as a label).
fn tile<'h>(harness: &'h AppHarness, name: &'h str) -> egui_kittest::Node<'h> {
    harness.get_by_role_and_label(Role::Button, name)
}

/// The tile's state in words, as the accessibility tree has it.
fn tile_state(harness: &AppHarness, name: &str) -> String {
    tile(harness, name).value().unwrap_or_default()
}

fn wait_for_state(harness: &mut AppHarness, names: &[&str], state: &str) {
    step_until(harness, &format!("{names:?} {state}"), |h| {
        names.iter().all(|name| tile_state(h, name) == state)
    });
}

/// The session ids of the server's `REQUEST <method> session=<id>` lines, in order.
fn sessions(server: &GstServer, method: &str) -> Vec<String> {
    let prefix = format!("REQUEST {method} session=");
    server
        .lines(&prefix)
        .iter()
        .map(|l| l.trim_start_matches(&prefix).to_owned())
        .collect()
}

/// Waits until the server has printed `count` session lines for `method`; returns them.
fn wait_for_sessions(
    harness: &mut AppHarness,
    server: &GstServer,
    method: &str,
    count: usize,
) -> Vec<String> {
    step_until(harness, &format!("{count} × {method}"), |_| {
        sessions(server, method).len() >= count
    });
    sessions(server, method)
}

/// The stats panel's "decoded" counter for the selected camera, once it has figures.
fn frames_decoded(harness: &AppHarness) -> Option<u64> {
    let labels: Vec<_> = harness.query_all_by_role(Role::Label).collect();
    let at = labels
        .iter()
        .position(|l| l.value().as_deref() == Some("decoded"))?;
    labels.get(at + 1)?.value()?.parse().ok()
}

/// The "decoded" counter after the camera's next stats refresh (one a second).
fn frames_decoded_now(harness: &mut AppHarness) -> u64 {
    step_for(harness, Duration::from_millis(1200));
    frames_decoded(harness).expect("the stats panel's counters")
}

/// Selects the tile of `name` by clicking it (its middle has no button).
fn select(harness: &mut AppHarness, name: &str) {
    tile(harness, name).click();
    harness.run_steps(2);
    assert_eq!(
        tile(harness, name).accesskit_node().toggled(),
        Some(Toggled::True),
        "{name} selected"
    );
}

fn shut_down_and_clean(harness: AppHarness, dir: &Path) {
    shut_down(harness);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn pause_all_and_play_all_send_pause_and_play_on_the_same_sessions() {
    let _serial = serial();
    let servers = servers(&[]);
    let dir = temp_dir("pause-all");
    let config = write_config(&dir, &servers, None);
    let mut harness = start_wall(&config, Arc::default());
    wait_for_state(&mut harness, &NAMES, "playing");
    step_until(&mut harness, "pictures on camera 1", |h| {
        frames_decoded(h).is_some_and(|n| n > 0)
    });
    let before = frames_decoded_now(&mut harness);
    assert!(
        frames_decoded_now(&mut harness) > before,
        "the counter moves while playing"
    );
    let setups: Vec<Vec<String>> = servers.iter().map(|s| sessions(s, "SETUP")).collect();

    harness.get_by_label("Pause all").click();
    wait_for_state(&mut harness, &NAMES, "paused");
    for (server, setup) in servers.iter().zip(&setups) {
        assert_eq!(
            &wait_for_sessions(&mut harness, server, "PAUSE", 1),
            setup,
            "PAUSE on the session that was set up"
        );
    }
    // Nothing arrives while paused (the first reading lets packets in flight land).
    for name in NAMES {
        select(&mut harness, name);
        let paused = frames_decoded_now(&mut harness);
        step_for(&mut harness, Duration::from_secs(1));
        assert_eq!(frames_decoded_now(&mut harness), paused, "{name} paused");
    }

    harness.get_by_label("Play all").click();
    wait_for_state(&mut harness, &NAMES, "playing");
    for (server, setup) in servers.iter().zip(&setups) {
        let plays = wait_for_sessions(&mut harness, server, "PLAY", 2);
        assert_eq!(
            plays,
            [setup[0].as_str(), setup[0].as_str()],
            "resumed, not new"
        );
        assert_eq!(server.request_count("SETUP"), 1, "no new session");
    }
    let resumed = frames_decoded_now(&mut harness);
    assert!(frames_decoded_now(&mut harness) > resumed, "pictures again");
    shut_down_and_clean(harness, &dir);
}

#[test]
fn stop_all_sends_teardown_and_play_all_starts_new_sessions() {
    let _serial = serial();
    let servers = servers(&[]);
    let dir = temp_dir("stop-all");
    let config = write_config(&dir, &servers, None);
    let mut harness = start_wall(&config, Arc::default());
    wait_for_state(&mut harness, &NAMES, "playing");
    let first: Vec<String> = servers
        .iter()
        .map(|s| sessions(s, "SETUP").concat())
        .collect();

    harness.get_by_label("Stop all").click();
    wait_for_state(&mut harness, &NAMES, "stopped");
    for (server, session) in servers.iter().zip(&first) {
        let teardowns = wait_for_sessions(&mut harness, server, "TEARDOWN", 1);
        assert_eq!(teardowns, [session.as_str()]);
    }

    harness.get_by_label("Play all").click();
    wait_for_state(&mut harness, &NAMES, "playing");
    for (server, old) in servers.iter().zip(&first) {
        let setups = wait_for_sessions(&mut harness, server, "SETUP", 2);
        let new = &setups[1];
        assert_ne!(new, old, "a new session");
        let plays = wait_for_sessions(&mut harness, server, "PLAY", 2);
        assert_eq!(plays, [old.as_str(), new.as_str()]);
        assert_eq!(server.request_count("TEARDOWN"), 1);
    }
    shut_down_and_clean(harness, &dir);
}

#[test]
fn space_and_s_act_on_the_selected_tile_only() {
    let _serial = serial();
    let servers = servers(&[]);
    let [one, two] = &servers;
    let dir = temp_dir("space-s");
    let config = write_config(&dir, &servers, None);
    let mut harness = start_wall(&config, Arc::default());
    wait_for_state(&mut harness, &NAMES, "playing");
    let session = sessions(two, "SETUP").concat();

    select(&mut harness, "Camera 2");
    harness.key_press(egui::Key::Space);
    step_until(&mut harness, "camera 2 paused", |h| {
        tile_state(h, "Camera 2") == "paused"
    });
    assert_eq!(
        wait_for_sessions(&mut harness, two, "PAUSE", 1),
        [session.as_str()]
    );

    harness.key_press(egui::Key::Space);
    step_until(&mut harness, "camera 2 playing", |h| {
        tile_state(h, "Camera 2") == "playing"
    });
    assert_eq!(
        wait_for_sessions(&mut harness, two, "PLAY", 2),
        [session.as_str(), session.as_str()],
        "resumed on the same session"
    );

    harness.key_press(egui::Key::S);
    step_until(&mut harness, "camera 2 stopped", |h| {
        tile_state(h, "Camera 2") == "stopped"
    });
    assert_eq!(
        wait_for_sessions(&mut harness, two, "TEARDOWN", 1),
        [session]
    );

    // Camera 1 was left alone all along.
    step_for(&mut harness, Duration::from_millis(500));
    assert_eq!(tile_state(&harness, "Camera 1"), "playing");
    for method in ["PAUSE", "TEARDOWN"] {
        assert_eq!(one.request_count(method), 0, "{method} on camera 1");
    }
    assert_eq!(one.request_count("PLAY"), 1);
    shut_down_and_clean(harness, &dir);
}

#[test]
fn removing_a_camera_tears_its_session_down_and_drops_it_from_the_config() {
    let _serial = serial();
    // Camera 1 needs its password (from the keychain) to play at all.
    let servers = [
        GstServer::start(&[
            "--width",
            "320",
            "--height",
            "240",
            "--auth",
            "basic",
            "--user",
            "admin",
            "--password",
            "s3cret-pw",
        ]),
        GstServer::start(&["--width", "320", "--height", "240"]),
    ];
    let [one, two] = &servers;
    let dir = temp_dir("remove");
    let config = write_config(&dir, &servers, Some("admin"));
    let id = legacy_camera_id("Camera 1");
    let secrets = Arc::new(MemorySecrets::default());
    secrets.store(&id, &Password::new("s3cret-pw")).unwrap();
    let mut harness = start_wall(&config, secrets.clone());
    wait_for_state(&mut harness, &NAMES, "playing");
    let session = sessions(one, "SETUP").concat();

    tile(&harness, "Camera 1").click_secondary();
    harness.run_steps(2);
    harness
        .get_by_role_and_label(Role::Button, "Remove camera")
        .click();
    harness.run_steps(2);
    harness.get_by_label("Remove").click();
    step_until(&mut harness, "the tile to go", |h| {
        h.query_by_role_and_label(Role::Button, "Camera 1")
            .is_none()
    });
    assert_eq!(
        wait_for_sessions(&mut harness, one, "TEARDOWN", 1),
        [session]
    );

    let saved = Config::load(&config).unwrap();
    assert!(saved.camera("Camera 1").is_none(), "gone from the config");
    assert!(saved.camera("Camera 2").is_some());
    assert!(
        secrets.load(&id).unwrap().is_none(),
        "gone from the keychain"
    );
    assert_eq!(tile_state(&harness, "Camera 2"), "playing");
    assert_eq!(two.request_count("TEARDOWN"), 0);
    shut_down_and_clean(harness, &dir);
}

#[test]
fn m_makes_one_camera_audible_and_mutes_the_other() {
    let _serial = serial();
    let servers = servers(&["--audio", "aac"]);
    let dir = temp_dir("sound");
    let config = write_config(&dir, &servers, None);
    let mut harness = start_wall(&config, Arc::default());
    wait_for_state(&mut harness, &NAMES, "playing");
    // Without an audio device the toolbar also says "No sound: …"; which camera is heard is
    // decided either way, and that is what is checked here.
    select(&mut harness, "Camera 1");
    harness.key_press(egui::Key::M);
    harness.run_steps(2);
    assert_eq!(tile_state(&harness, "Camera 1"), "playing, sound on");
    assert_eq!(tile_state(&harness, "Camera 2"), "playing");

    select(&mut harness, "Camera 2");
    harness.key_press(egui::Key::M);
    harness.run_steps(2);
    assert_eq!(tile_state(&harness, "Camera 1"), "playing");
    assert_eq!(tile_state(&harness, "Camera 2"), "playing, sound on");

    // M again on the camera heard mutes it.
    harness.key_press(egui::Key::M);
    harness.run_steps(2);
    assert_eq!(tile_state(&harness, "Camera 2"), "playing");
    shut_down_and_clean(harness, &dir);
}
