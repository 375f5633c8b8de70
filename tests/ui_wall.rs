//! The wall driven through its accessibility tree with egui_kittest (no window, no GPU): add a
//! camera through the dialog, swap two tiles by dragging, maximize one, turn pages, and type a
//! password when the keychain is locked. The config lives in a temporary directory and the
//! keychain is an in-memory store.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use egui_kittest::kittest::{NodeT as _, Queryable};
use egui_kittest::Harness;

use common::ui::{harness, setup, shut_down, step_until, temp_dir};
use eframe::egui;
use vedette::config::{legacy_camera_id, Config, UiState};
use vedette::credentials::{KeychainError, MemorySecrets, Password, SecretStore};
use vedette::demo::{DemoOptions, DemoServer};
use vedette::ui::VedetteApp;

/// A config with `count` cameras named "Camera N" (with `user` as their username, if any) on
/// a loopback port where nothing listens: their tiles say "reconnecting", which is all these
/// tests need.
fn write_config(dir: &Path, count: usize, user: Option<&str>) -> PathBuf {
    let mut text = String::new();
    for i in 1..=count {
        text.push_str(&format!(
            "[[cameras]]\nname = \"Camera {i}\"\nurl = \"rtsp://127.0.0.1:9/cam{i}\"\n"
        ));
        if let Some(user) = user {
            text.push_str(&format!("username = \"{user}\"\n"));
        }
        text.push('\n');
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A one-camera demo server (320x240) on a runtime of its own, which must outlive it.
fn demo_server() -> (tokio::runtime::Runtime, DemoServer) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime
        .block_on(DemoServer::start(DemoOptions {
            port: 0,
            cameras: 1,
            width: 320,
            height: 240,
            ..DemoOptions::default()
        }))
        .unwrap();
    (runtime, server)
}

/// Drags with the primary button from `from` to `to`, in steps, and lets go.
fn drag(harness: &mut Harness<'_, Option<VedetteApp>>, from: egui::Pos2, to: egui::Pos2) {
    harness.hover_at(from);
    harness.drag_at(from);
    harness.step();
    for i in 1..=8 {
        harness.hover_at(from.lerp(to, i as f32 / 8.0));
        harness.step();
    }
    harness.drop_at(to);
    harness.run_steps(3);
}

/// Types into the text field labelled `label`.
fn type_into(harness: &mut Harness<'_, Option<VedetteApp>>, label: &str, text: &str) {
    harness.get_by_label(label).click();
    harness.run_steps(2);
    harness.get_by_label(label).type_text(text);
    harness.run_steps(2);
}

#[test]
fn a_camera_added_through_the_dialog_gets_a_tile_and_is_saved_without_its_password() {
    let dir = temp_dir("add");
    let config = write_config(&dir, 1, None);
    let secrets = Arc::new(MemorySecrets::default());
    let mut harness = harness(setup(&config, secrets.clone(), UiState::default()));
    harness.run_steps(2);
    assert!(
        harness.query_by_label("Camera 1").is_some(),
        "the configured tile"
    );

    harness.get_by_label("Add camera…").click();
    harness.run_steps(2);
    type_into(&mut harness, "Name", "Door");
    // A URL without its scheme is refused as it is typed, with the reason under the field.
    type_into(&mut harness, "URL", "127.0.0.1:9/door");
    assert!(
        harness.query_by_label_contains("missing scheme").is_some(),
        "the URL message is shown"
    );
    assert!(harness.get_by_label("Save").accesskit_node().is_disabled());
    // Fixed by typing the scheme in front, with credentials inside: they move to their fields.
    harness.key_press(egui::Key::Home);
    harness.run_steps(2);
    harness
        .get_by_label("URL")
        .type_text("rtsp://admin:s3cret-pw@");
    harness.run_steps(2);
    assert!(harness.query_by_label_contains("missing scheme").is_none());
    assert_eq!(
        harness.get_by_label("URL").value().as_deref(),
        Some("rtsp://127.0.0.1:9/door")
    );
    assert_eq!(
        harness.get_by_label("Username").value().as_deref(),
        Some("admin")
    );

    harness.get_by_label("Save").click();
    step_until(&mut harness, "the new tile", |h| {
        h.query_by_label("Door").is_some()
    });
    assert!(
        harness.query_by_label("Name").is_none(),
        "the dialog closed"
    );

    let saved = Config::load(&config).unwrap();
    let door = saved.camera("Door").expect("saved in the config file");
    assert_eq!(door.url, "rtsp://127.0.0.1:9/door");
    assert_eq!(door.username.as_deref(), Some("admin"));
    assert_eq!(
        secrets.load(&door.id).unwrap().unwrap().expose(),
        "s3cret-pw"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(!text.contains("s3cret-pw"), "{text}");
    shut_down(harness);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dragging_a_tile_onto_another_swaps_them_and_the_order_is_kept() {
    let dir = temp_dir("swap");
    let config = write_config(&dir, 2, None);
    let mut harness = harness(setup(
        &config,
        Arc::new(MemorySecrets::default()),
        UiState::default(),
    ));
    harness.run_steps(2);
    let first = harness.get_by_label("Camera 1").rect();
    let second = harness.get_by_label("Camera 2").rect();
    assert!(first.center().x < second.center().x);

    drag(&mut harness, first.center(), second.center());

    let one = harness.get_by_label("Camera 1").rect();
    let two = harness.get_by_label("Camera 2").rect();
    assert!(
        (one.center() - second.center()).length() < 1.0,
        "camera 1 now where camera 2 was: {one:?}"
    );
    assert!((two.center() - first.center()).length() < 1.0, "{two:?}");

    shut_down(harness);
    let state = UiState::load(&UiState::path_for(&config));
    assert_eq!(
        state.camera_order,
        [legacy_camera_id("Camera 2"), legacy_camera_id("Camera 1")]
    );
    // The next start puts them in that order.
    let mut harness = self::harness(setup(&config, Arc::new(MemorySecrets::default()), state));
    harness.run_steps(2);
    let one = harness.get_by_label("Camera 1").rect();
    assert!((one.center() - second.center()).length() < 1.0, "{one:?}");
    shut_down(harness);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn enter_maximizes_the_selected_tile_and_escape_returns() {
    let dir = temp_dir("maximize");
    let config = write_config(&dir, 4, None);
    let mut harness = harness(setup(
        &config,
        Arc::new(MemorySecrets::default()),
        UiState::default(),
    ));
    harness.run_steps(2);
    let grid = harness.get_by_label("Camera 3").rect();
    harness.get_by_label("Camera 3").click();
    harness.run_steps(2);
    harness.key_press(egui::Key::Enter);
    harness.run_steps(2);
    let maximized = harness.get_by_label("Camera 3").rect();
    assert!(
        maximized.width() > grid.width() * 1.9 && maximized.height() > grid.height() * 1.9,
        "{grid:?} → {maximized:?}"
    );
    assert!(
        harness.query_by_label("Camera 1").is_none(),
        "only the one tile"
    );
    assert!(harness.query_by_label("Back to the wall (Esc)").is_some());
    harness.key_press(egui::Key::Escape);
    harness.run_steps(2);
    assert!(harness.query_by_label("Camera 1").is_some());
    assert_eq!(harness.get_by_label("Camera 3").rect(), grid);
    shut_down(harness);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn more_cameras_than_the_grid_holds_make_pages() {
    let dir = temp_dir("pages");
    let config = write_config(&dir, 5, None);
    let state = UiState {
        columns: Some(2),
        ..UiState::default()
    };
    let mut harness = harness(setup(&config, Arc::new(MemorySecrets::default()), state));
    harness.run_steps(2);
    assert!(harness.query_by_label("page 1/2").is_some());
    assert!(harness.query_by_label("Camera 4").is_some());
    assert!(harness.query_by_label("Camera 5").is_none());
    harness.key_press(egui::Key::PageDown);
    harness.run_steps(2);
    assert!(harness.query_by_label("page 2/2").is_some());
    assert!(harness.query_by_label("Camera 5").is_some());
    assert!(harness.query_by_label("Camera 1").is_none());
    harness.get_by_label("▶").click();
    harness.run_steps(2);
    assert!(harness.query_by_label("page 1/2").is_some(), "wraps around");
    shut_down(harness);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_locked_keychain_lets_the_user_type_the_password_for_this_session() {
    let dir = temp_dir("locked");
    let config = write_config(&dir, 1, Some("admin"));
    let before = std::fs::read(&config).unwrap();
    let mut harness = harness(setup(
        &config,
        Arc::new(MemorySecrets::locked()),
        UiState::default(),
    ));
    step_until(&mut harness, "Enter password…", |h| {
        h.query_by_label("Enter password…").is_some()
    });
    harness.get_by_label("Enter password…").click();
    harness.run_steps(2);
    type_into(&mut harness, "Password", "typed-pw");
    harness.get_by_label("Connect").click();
    harness.run_steps(3);
    assert!(
        harness.query_by_label("Connect").is_none(),
        "the prompt closed"
    );
    // The tile restarted with the typed password: no more keychain problem.
    harness.run_steps(3);
    assert!(harness.query_by_label("Enter password…").is_none());
    shut_down(harness);
    assert_eq!(std::fs::read(&config).unwrap(), before, "nothing written");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn test_connection_lists_each_request_and_its_status() {
    let (_server_runtime, server) = demo_server();
    let dir = temp_dir("test-connection");
    let config = write_config(&dir, 0, None);
    let mut harness = harness(setup(
        &config,
        Arc::new(MemorySecrets::default()),
        UiState::default(),
    ));
    harness.run_steps(2);
    harness.get_by_label("Add camera…").click();
    harness.run_steps(2);
    type_into(&mut harness, "URL", &server.camera_url(0));
    harness.get_by_label("Test connection").click();
    step_until(&mut harness, "the test result", |h| {
        h.query_by_label_contains("Connected:").is_some()
    });
    for step in ["OPTIONS: 200", "DESCRIBE: 200", "PLAY: 200"] {
        assert!(harness.query_by_label(step).is_some(), "{step}");
    }
    // Nothing was saved by a test.
    assert!(Config::load(&config).unwrap().cameras.is_empty());

    // A camera that is not there: the step that failed.
    harness.get_by_label("Cancel").click();
    harness.run_steps(2);
    harness.get_by_label("Add camera…").click();
    harness.run_steps(2);
    type_into(&mut harness, "URL", "rtsp://127.0.0.1:9/none");
    harness.get_by_label("Test connection").click();
    step_until(&mut harness, "the failure", |h| {
        h.query_by_label_contains("connect failed").is_some()
    });
    shut_down(harness);
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_stats_panel_names_the_codec_and_the_transport_in_use() {
    let (_server_runtime, server) = demo_server();
    let dir = temp_dir("panel-transport");
    let config = dir.join("config.toml");
    // `auto`: the demo server refuses UDP (461), so the session ends up on TCP.
    std::fs::write(
        &config,
        format!(
            "[[cameras]]\nname = \"Lobby\"\nurl = \"{}\"\ntransport = \"auto\"\n",
            server.camera_url(0)
        ),
    )
    .unwrap();
    let state = UiState {
        stats_panel: true,
        ..UiState::default()
    };
    let mut harness = harness(setup(&config, Arc::new(MemorySecrets::default()), state));
    step_until(&mut harness, "the codec and transport", |h| {
        h.query_by_label("H.264 over TCP").is_some()
    });
    shut_down(harness);
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A keychain whose every call waits a minute, as the Secret Service does while its unlock
/// prompt stays unanswered: a fake, because the real gnome-keyring only shows that prompt to a
/// person. `asked` is set once a call has begun.
struct FakeKeychainThatNeverAnswers {
    asked: std::sync::atomic::AtomicBool,
}

impl FakeKeychainThatNeverAnswers {
    fn wait(&self) {
        self.asked.store(true, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

impl SecretStore for FakeKeychainThatNeverAnswers {
    fn store(&self, _: &str, _: &Password) -> Result<(), KeychainError> {
        self.wait();
        Ok(())
    }
    fn load(&self, _: &str) -> Result<Option<Password>, KeychainError> {
        self.wait();
        Ok(None)
    }
    fn delete(&self, _: &str) -> Result<bool, KeychainError> {
        self.wait();
        Ok(false)
    }
}

/// Closing the window while a camera's password is still being read from a keychain that
/// does not answer: the app is gone within seconds. Before, dropping the runtime waited for
/// the keychain call, so the process outlived its window until someone answered the prompt.
#[test]
fn closing_the_window_does_not_wait_for_a_keychain_that_never_answers() {
    let dir = temp_dir("keychain-never-answers");
    let config = write_config(&dir, 1, Some("admin"));
    let keychain = Arc::new(FakeKeychainThatNeverAnswers {
        asked: std::sync::atomic::AtomicBool::new(false),
    });
    let mut harness = harness(setup(&config, keychain.clone(), UiState::default()));
    step_until(&mut harness, "the camera asking the keychain", |_| {
        keychain.asked.load(std::sync::atomic::Ordering::SeqCst)
    });
    let closing = std::time::Instant::now();
    shut_down(harness);
    let took = closing.elapsed();
    assert!(
        took < std::time::Duration::from_secs(10),
        "closing took {took:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The value a tile reads out ("playing", "playing, zoomed 2.0×").
fn tile_value(harness: &Harness<'_, Option<VedetteApp>>, name: &str) -> String {
    harness.get_by_label(name).value().unwrap_or_default()
}

/// Digital zoom: the mouse wheel over a playing tile zooms into its picture (the tile says so),
/// a drag then pans that picture instead of swapping tiles, and 0
/// shows the whole picture again.
#[test]
fn the_wheel_zooms_a_tile_a_drag_pans_it_and_zero_shows_all_of_it() {
    let (_server_runtime, server) = demo_server();
    let dir = temp_dir("zoom");
    let config = dir.join("config.toml");
    let url = server.camera_url(0);
    std::fs::write(
        &config,
        format!(
            "[[cameras]]\nname = \"Left\"\nurl = \"{url}\"\n\n\
             [[cameras]]\nname = \"Right\"\nurl = \"{url}\"\n"
        ),
    )
    .unwrap();
    let mut harness = harness(setup(
        &config,
        Arc::new(MemorySecrets::default()),
        UiState::default(),
    ));
    step_until(&mut harness, "both tiles playing", |h| {
        tile_value(h, "Left").starts_with("playing")
            && tile_value(h, "Right").starts_with("playing")
    });
    // A picture drawn (the wheel zooms the video, not an empty tile).
    common::ui::step_for(&mut harness, std::time::Duration::from_millis(500));
    let left = harness.get_by_label("Left").rect();
    let right = harness.get_by_label("Right").rect();

    harness.hover_at(left.center());
    harness.step();
    harness.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, 200.0),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
        modifiers: egui::Modifiers::NONE,
    });
    harness.run_steps(30);
    let zoomed = tile_value(&harness, "Left");
    assert!(zoomed.contains("zoomed 2.0×"), "{zoomed}");
    assert!(
        !tile_value(&harness, "Right").contains("zoomed"),
        "only the tile under the pointer"
    );

    // Dragging the zoomed tile onto the other pans it: the tiles stay where they are.
    drag(&mut harness, left.center(), right.center());
    assert_eq!(harness.get_by_label("Left").rect(), left, "no swap");
    assert!(tile_value(&harness, "Left").contains("zoomed 2.0×"));

    harness.get_by_label("Left").click();
    harness.run_steps(2);
    harness.key_press(egui::Key::Num0);
    harness.run_steps(2);
    assert!(!tile_value(&harness, "Left").contains("zoomed"));
    harness.key_press(egui::Key::Plus);
    harness.run_steps(2);
    assert!(
        tile_value(&harness, "Left").contains("zoomed 1.2×"),
        "{}",
        tile_value(&harness, "Left")
    );

    shut_down(harness);
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}
