//! The app in an `egui_kittest` harness (no window, no GPU), driven through its accessibility
//! tree: a temporary config directory, an in-memory keychain, and frames stepped until the
//! background work shows.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use vedette::camera::{CameraSpec, SharedSecrets};
use vedette::config::{Config, UiState};
use vedette::credentials::SecretStore;
use vedette::ui::{AppSetup, VedetteApp};

pub const SIZE: egui::Vec2 = egui::vec2(1280.0, 720.0);

/// The app under test; it is built on the harness's own egui context at the first frame.
pub type AppHarness = Harness<'static, Option<VedetteApp>>;

/// An empty directory of its own for the test `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vedette-ui-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the window would start with for the cameras of `config`.
pub fn setup(
    config: &Path,
    secrets: Arc<dyn SecretStore + Send + Sync>,
    ui_state: UiState,
) -> AppSetup {
    let secrets = SharedSecrets(secrets);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cameras = Config::load(config)
        .unwrap()
        .cameras
        .iter()
        .map(|c| CameraSpec::from_config(c, Some(secrets.clone())))
        .collect();
    AppSetup {
        runtime,
        cameras,
        demo: None,
        config_error: None,
        config_path: Some(config.to_owned()),
        ui_state_path: Some(UiState::path_for(config)),
        ui_state,
        secrets,
    }
}

/// The app in a harness.
pub fn harness(setup: AppSetup) -> AppHarness {
    let mut setup = Some(setup);
    Harness::builder().with_size(SIZE).build_ui_state(
        move |ui, app: &mut Option<VedetteApp>| {
            let app = app.get_or_insert_with(|| {
                let setup = setup.take().expect("built once");
                VedetteApp::with_context(ui.ctx(), None, setup)
            });
            app.frame_ui(ui);
        },
        None,
    )
}

/// Steps frames (letting background jobs run) until `done` holds, at most 20 s.
pub fn step_until(harness: &mut AppHarness, what: &str, done: impl Fn(&AppHarness) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(harness) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Steps frames for `duration` (the app keeps running meanwhile).
pub fn step_for(harness: &mut AppHarness, duration: Duration) {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Closes the app the way the window does: every session torn down, the window state saved.
pub fn shut_down(mut harness: AppHarness) {
    if let Some(app) = harness.state_mut() {
        app.shutdown();
    }
}
