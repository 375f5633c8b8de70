//! The camera wall: a thin egui layer over the camera workers. It reads status snapshots and
//! the newest frame of each camera, and sends commands; it never waits on network, decode or
//! keychain (those run as [`jobs::Job`]s). Frames are drawn by `render` as YUV textures.

mod camera_dialog;
mod jobs;
mod layout;
mod pacer;
mod snapshot;
mod stats_panel;
mod tile;
mod zoom;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use eframe::egui;

use crate::audio_out::AudioRouter;
use crate::camera::control::Intent;
use crate::camera::{CameraHandle, CameraSpec, SharedSecrets, STATS_EVERY, STATS_HISTORY};
use crate::cameras;
use crate::config::{CameraConfig, Config, UiState};
use crate::demo::DemoServer;
use crate::stats::{LatencyKind, StatsSnapshot};
use camera_dialog::{
    CameraDialog, ConfirmRemove, DialogEnv, DialogMode, DialogOutcome, PasswordPrompt,
    PromptOutcome,
};
use jobs::{Job, Poll};
use pacer::RepaintPacer;

/// Everything the window starts with, prepared before it opens.
pub struct AppSetup {
    pub runtime: tokio::runtime::Runtime,
    pub cameras: Vec<CameraSpec>,
    /// The built-in demo server, when no camera is configured.
    pub demo: Option<DemoServer>,
    /// Why the config could not be used (shown in the window), e.g. a parse error.
    pub config_error: Option<String>,
    pub config_path: Option<PathBuf>,
    pub ui_state_path: Option<PathBuf>,
    pub ui_state: UiState,
    /// Where camera passwords are kept: the OS keychain (an in-memory store in tests).
    pub secrets: SharedSecrets,
}

/// Delay between the starts of consecutive cameras, and its cap.
const STAGGER: Duration = Duration::from_millis(100);
const MAX_STAGGER: Duration = Duration::from_secs(1);

/// SIGINT/SIGTERM close the window the normal way, so every session is torn down.
fn close_on_signal(runtime: &tokio::runtime::Handle, ctx: egui::Context) {
    runtime.spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("closing on signal");
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        ctx.request_repaint();
    });
}

/// Largest grid offered by the layout picker.
pub const MAX_COLUMNS: usize = 8;

pub struct VedetteApp {
    runtime: tokio::runtime::Runtime,
    cameras: Vec<CameraHandle>,
    _demo: Option<DemoServer>,
    config_error: Option<String>,
    config_path: Option<PathBuf>,
    ui_state_path: Option<PathBuf>,
    ui_state: UiState,
    /// Index of the maximized camera.
    maximized: Option<usize>,
    selected: usize,
    /// Each zoomed tile's digital zoom, by camera id (a tile not here shows the whole picture).
    zoom: std::collections::HashMap<u64, zoom::Zoom>,
    render_state: Option<egui_wgpu::RenderState>,
    demo_mode: bool,
    started: Instant,
    first_frame_logged: bool,
    shown: ShownFrames,
    /// Which camera is heard; all start muted.
    audio: Arc<AudioRouter>,
    repaint: Arc<dyn Fn() + Send + Sync>,
    pacer: Arc<RepaintPacer>,
    /// The outcome of the last action that reports one ("Trust this certificate", import,
    /// export, snapshot, remove), shown in the toolbar.
    notice: Option<String>,
    secrets: SharedSecrets,
    /// The id the next tile gets (tile ids key textures and the audio router).
    next_tile: u64,
    /// The page of the grid shown when there are more cameras than the grid holds.
    page: usize,
    tour: layout::Tour,
    dialog: Option<CameraDialog>,
    password_prompt: Option<PasswordPrompt>,
    confirm_remove: Option<ConfirmRemove>,
    /// Background work that reports back: remove, import, export, snapshots.
    chores: Vec<Job<ChoreDone>>,
}

/// What a background chore reports back to the wall.
enum ChoreDone {
    /// Nothing to say (a file dialog was cancelled).
    Nothing,
    /// A line for the toolbar.
    Said(String),
    /// The camera of this tile was removed from the config and the keychain.
    Removed { tile: u64, camera: String },
    /// Cameras were imported; the config as it is now.
    Imported { message: String, config: Config },
    /// The certificate of this tile's camera was pinned in the config: restart the tile
    /// with `spec`.
    Pinned { tile: u64, spec: CameraSpec },
}

/// The payload of a tile being dragged: its index on the wall.
struct DraggedTile(usize);

/// What each tile actually showed, measured where the picture is shown: pictures per second on
/// screen and the time from a picture's last packet arriving to the UI drawing it. The counts
/// are logged every few seconds (the bench reads them).
struct ShownFrames {
    since: Instant,
    last_sample: Instant,
    tiles: Vec<ShownTile>,
    /// Frames the UI drew since `since`, with or without a new picture.
    passes: u64,
}

#[derive(Default)]
struct ShownTile {
    last_generation: u64,
    /// Pictures shown since the last log line.
    shown: u64,
    /// Where the video was last drawn, logged when it moves (the bench reads it to find the
    /// picture on screen).
    video_rect: Option<egui::Rect>,
    rate: ShowRate,
    /// Arrival → screen, in milliseconds.
    latency_ms: RollingMedian,
    /// Capture → screen, in milliseconds, when the camera's sender-report clock is trusted.
    capture_latency_ms: RollingMedian,
    /// One sample per [`STATS_EVERY`] over [`STATS_HISTORY`], oldest first, for the stats panel.
    history: VecDeque<ShownSample>,
}

/// What one tile showed, sampled once a second.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ShownSample {
    at: Instant,
    fps: f64,
    latency_ms: Option<f64>,
}

impl ShownFrames {
    const EVERY: Duration = Duration::from_secs(5);

    fn new(tiles: usize) -> Self {
        let now = Instant::now();
        Self {
            since: now,
            last_sample: now,
            tiles: (0..tiles).map(|_| ShownTile::default()).collect(),
            passes: 0,
        }
    }

    /// A tile was added at the end of the wall.
    fn push(&mut self) {
        self.tiles.push(ShownTile::default());
    }

    /// Tile `index` was removed.
    fn remove(&mut self, index: usize) {
        if index < self.tiles.len() {
            self.tiles.remove(index);
        }
    }

    /// Tiles `a` and `b` traded places.
    fn swap(&mut self, a: usize, b: usize) {
        if a < self.tiles.len() && b < self.tiles.len() {
            self.tiles.swap(a, b);
        }
    }

    /// Tile `tile` drew the picture `generation` (which arrived at `received_at`) into `video`
    /// at `now`.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        tile: usize,
        generation: u64,
        received_at: Option<Instant>,
        capture_unix_ms: Option<f64>,
        video: Option<egui::Rect>,
        now: Instant,
    ) {
        let Some(t) = self.tiles.get_mut(tile) else {
            return;
        };
        if let Some(rect) = video {
            if t.video_rect != Some(rect) {
                t.video_rect = Some(rect);
                tracing::info!(
                    "tile {tile} video at x={:.0} y={:.0} w={:.0} h={:.0}",
                    rect.min.x,
                    rect.min.y,
                    rect.width(),
                    rect.height()
                );
            }
        }
        if generation != t.last_generation {
            t.last_generation = generation;
            t.shown += 1;
            if let Some(received_at) = received_at {
                t.rate.on_shown(now);
                let latency = now.saturating_duration_since(received_at);
                t.latency_ms.push(latency.as_secs_f64() * 1000.0);
            }
            // A clock off by more than a minute is not one to trust.
            if let Some(latency) = capture_unix_ms
                .map(|c| crate::stats::unix_now_ms() - c)
                .filter(|l| (0.0..60_000.0).contains(l))
            {
                t.capture_latency_ms.push(latency);
            }
        }
    }

    /// The camera's figures with what tile `tile` measured on screen merged in.
    fn merged(&self, tile: usize, stats: StatsSnapshot, now: Instant) -> StatsSnapshot {
        let Some(t) = self.tiles.get(tile) else {
            return stats;
        };
        let mut stats = stats;
        stats.fps_shown = Some(t.rate.per_second(now));
        if let Some(latency) = t.capture_latency_ms.median() {
            stats.latency_ms = Some(latency);
            stats.latency_kind = Some(LatencyKind::CaptureToScreen);
        } else if let Some(latency) = t.latency_ms.median() {
            stats.latency_ms = Some(latency);
            stats.latency_kind = Some(LatencyKind::ArrivalToScreen);
        }
        stats
    }

    /// What tile `tile` showed over the last five minutes, oldest first.
    fn history(&self, tile: usize) -> Option<&VecDeque<ShownSample>> {
        self.tiles.get(tile).map(|t| &t.history)
    }

    /// Adds a history sample per tile once every [`STATS_EVERY`].
    fn sample(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_sample) < STATS_EVERY {
            return;
        }
        self.last_sample = now;
        for t in &mut self.tiles {
            t.history.push_back(ShownSample {
                at: now,
                fps: t.rate.per_second(now),
                latency_ms: t.capture_latency_ms.median().or(t.latency_ms.median()),
            });
            while t
                .history
                .front()
                .is_some_and(|s| now.saturating_duration_since(s.at) > STATS_HISTORY)
            {
                t.history.pop_front();
            }
        }
    }

    fn maybe_log(&mut self) {
        self.passes += 1;
        let elapsed = self.since.elapsed();
        if elapsed < Self::EVERY || self.tiles.is_empty() {
            return;
        }
        let fps: Vec<f64> = self
            .tiles
            .iter()
            .map(|t| t.shown as f64 / elapsed.as_secs_f64())
            .collect();
        let min = fps.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = fps.iter().sum::<f64>() / fps.len() as f64;
        tracing::info!(
            "wall: {} tiles, shown fps mean {mean:.1} min {min:.1}, {:.1} UI frames/s",
            fps.len(),
            self.passes as f64 / elapsed.as_secs_f64()
        );
        self.since = Instant::now();
        self.passes = 0;
        self.tiles.iter_mut().for_each(|t| t.shown = 0);
    }
}

/// Pictures shown per second, from the times they were shown over the last two seconds.
#[derive(Debug, Default)]
struct ShowRate {
    shown_at: VecDeque<Instant>,
}

impl ShowRate {
    const WINDOW: Duration = Duration::from_secs(2);

    fn on_shown(&mut self, at: Instant) {
        self.shown_at.push_back(at);
        while self
            .shown_at
            .front()
            .is_some_and(|&first| at.saturating_duration_since(first) > Self::WINDOW)
        {
            self.shown_at.pop_front();
        }
    }

    /// Intervals over their span, so that 25 fps reads 25.0 and not 24 or 26; 0 once nothing
    /// was shown for the whole window.
    fn per_second(&self, now: Instant) -> f64 {
        let mut recent = self
            .shown_at
            .iter()
            .filter(|&&at| now.saturating_duration_since(at) <= Self::WINDOW);
        let (Some(first), Some(last)) = (recent.next(), recent.next_back()) else {
            return 0.0;
        };
        let intervals = recent.count() + 1;
        let span = last.saturating_duration_since(*first).as_secs_f64();
        if span > 0.0 {
            intervals as f64 / span
        } else {
            0.0
        }
    }
}

/// The median of the last [`RollingMedian::LEN`] values: one slow picture does not move it.
#[derive(Debug, Default)]
struct RollingMedian {
    values: VecDeque<f64>,
}

impl RollingMedian {
    const LEN: usize = 50;

    fn push(&mut self, value: f64) {
        if self.values.len() == Self::LEN {
            self.values.pop_front();
        }
        self.values.push_back(value);
    }

    fn median(&self) -> Option<f64> {
        let mut sorted: Vec<f64> = self.values.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        match sorted.len() {
            0 => None,
            n if n % 2 == 1 => sorted.get(mid).copied(),
            _ => Some((sorted.get(mid - 1)? + sorted.get(mid)?) / 2.0),
        }
    }
}

impl VedetteApp {
    pub fn new(cc: &eframe::CreationContext<'_>, setup: AppSetup) -> Self {
        let render_state = cc.wgpu_render_state.clone();
        if let Some(rs) = &render_state {
            crate::render::install(rs);
        }
        let app = Self::with_context(&cc.egui_ctx, render_state, setup);
        close_on_signal(app.runtime.handle(), cc.egui_ctx.clone());
        app
    }

    /// The app on an egui context of its own making, e.g. a test harness's; without a wgpu
    /// render state, tiles draw no video (everything else works).
    pub fn with_context(
        ctx: &egui::Context,
        render_state: Option<egui_wgpu::RenderState>,
        setup: AppSetup,
    ) -> Self {
        add_arrow_fallback(ctx);
        let ctx = ctx.clone();
        // One pass per new picture or state, at most one per display interval (see pacer.rs).
        // (egui answers `request_repaint()` with two passes; under a software rasterizer the
        // second one was a third of the app's CPU and a frame of latency for the next picture.)
        let pacer = Arc::new(RepaintPacer::new(pacer::INTERVAL));
        let repaint: Arc<dyn Fn() + Send + Sync> = {
            let pacer = pacer.clone();
            Arc::new(move || ctx.request_repaint_after(pacer.delay(Instant::now())))
        };
        let mut app = Self {
            runtime: setup.runtime,
            cameras: Vec::new(),
            demo_mode: setup.demo.is_some(),
            _demo: setup.demo,
            config_error: setup.config_error,
            config_path: setup.config_path,
            ui_state_path: setup.ui_state_path,
            ui_state: setup.ui_state,
            maximized: None,
            selected: 0,
            zoom: Default::default(),
            render_state,
            started: Instant::now(),
            first_frame_logged: false,
            shown: ShownFrames::new(0),
            audio: Arc::new(AudioRouter::default()),
            repaint,
            pacer,
            notice: None,
            secrets: setup.secrets,
            next_tile: 0,
            page: 0,
            tour: layout::Tour::new(Instant::now()),
            dialog: None,
            password_prompt: None,
            confirm_remove: None,
            chores: Vec::new(),
        };
        let ids: Vec<Option<&str>> = setup
            .cameras
            .iter()
            .map(|s| s.camera_id.as_deref())
            .collect();
        let order = layout::ordered(&ids, &app.ui_state.camera_order);
        let mut specs: Vec<Option<CameraSpec>> = setup.cameras.into_iter().map(Some).collect();
        for (i, index) in order.into_iter().enumerate() {
            if let Some(spec) = specs.get_mut(index).and_then(Option::take) {
                let delay = (STAGGER * i as u32).min(MAX_STAGGER);
                app.add_tile(spec, delay);
            }
        }
        app
    }

    /// Starts a camera and puts its tile at the end of the wall.
    fn add_tile(&mut self, spec: CameraSpec, delay: Duration) {
        let handle = self.spawn_camera(spec, delay);
        self.cameras.push(handle);
        self.shown.push();
    }

    fn spawn_camera(&mut self, spec: CameraSpec, delay: Duration) -> CameraHandle {
        let id = self.next_tile;
        self.next_tile += 1;
        CameraHandle::spawn(
            self.runtime.handle(),
            id,
            spec,
            delay,
            self.repaint.clone(),
            self.audio.clone(),
        )
    }

    /// Restarts tile `index` with `spec` (edited, a pinned certificate, a typed password):
    /// the old session is torn down in the background.
    fn replace_tile(&mut self, index: usize, spec: CameraSpec) {
        if index >= self.cameras.len() {
            return;
        }
        let handle = self.spawn_camera(spec, Duration::ZERO);
        let old = std::mem::replace(&mut self.cameras[index], handle);
        if self.audio.is_audible(old.id) {
            self.audio.set_audible(Some(self.cameras[index].id));
        }
        self.forget_textures(old.id);
    }

    /// Drops the tile with this id; dropping its handle sends TEARDOWN.
    fn remove_tile(&mut self, tile: u64) {
        let Some(index) = self.cameras.iter().position(|c| c.id == tile) else {
            return;
        };
        let old = self.cameras.remove(index);
        self.shown.remove(index);
        self.zoom.remove(&old.id);
        if self.audio.is_audible(old.id) {
            self.audio.set_audible(None);
        }
        self.forget_textures(old.id);
        self.maximized = None;
        self.selected = self.selected.min(self.cameras.len().saturating_sub(1));
        self.remember_order();
    }

    fn forget_textures(&self, tile: u64) {
        if let Some(rs) = &self.render_state {
            crate::render::forget_tile(rs, tile);
        }
    }

    /// The tile order, as camera ids, into the window state (saved on exit).
    fn remember_order(&mut self) {
        self.ui_state.camera_order = self
            .cameras
            .iter()
            .filter_map(|c| c.spec().camera_id.clone())
            .collect();
    }

    /// Tiles `a` and `b` trade places (a tile dragged onto another).
    fn swap_tiles(&mut self, a: usize, b: usize) {
        if a == b || a >= self.cameras.len() || b >= self.cameras.len() {
            return;
        }
        self.cameras.swap(a, b);
        self.shown.swap(a, b);
        self.selected = b;
        self.remember_order();
    }

    /// The configured cameras after a save or an import: the demo wall gives way to them, and
    /// each camera not on the wall yet gets a tile.
    fn adopt_config(&mut self, config: &Config) {
        for camera in &config.cameras {
            self.adopt_camera(camera);
        }
    }

    fn adopt_camera(&mut self, camera: &CameraConfig) {
        if self.demo_mode {
            // The demo cameras were only there until a real one was added.
            let demo: Vec<u64> = self.cameras.iter().map(|c| c.id).collect();
            demo.into_iter().for_each(|tile| self.remove_tile(tile));
            self._demo = None;
            self.demo_mode = false;
        }
        let on_wall = self
            .cameras
            .iter()
            .any(|c| c.spec().camera_id.as_deref() == Some(camera.id.as_str()));
        if !on_wall {
            self.add_tile(
                CameraSpec::from_config(camera, Some(self.secrets.clone())),
                Duration::ZERO,
            );
            self.remember_order();
        }
    }

    /// What the config says about tile `index`, from its spec (no disk read).
    fn tile_config(&self, index: usize) -> Option<CameraConfig> {
        let spec = self.cameras.get(index)?.spec();
        Some(CameraConfig {
            name: spec.name.clone(),
            id: spec.camera_id.clone()?,
            url: spec.url.clone(),
            transport: spec.transport,
            username: spec.username.clone(),
            sub_url: spec.sub_url.clone(),
            tls_fingerprint: spec.tls_fingerprint.clone(),
        })
    }

    /// Pins the certificate camera `index` presented, in the config file, and reconnects it.
    fn trust_certificate(&mut self, index: usize) {
        let Some(camera) = self.cameras.get(index) else {
            return;
        };
        let Some(fingerprint) = camera.status().untrusted_certificate else {
            return;
        };
        let Some(path) = self.config_path.clone() else {
            return;
        };
        let fingerprint = fingerprint.to_string();
        let mut spec = camera.spec().clone();
        let tile = camera.id;
        // File I/O (and fsync) off the UI thread.
        let job = Job::blocking(self.runtime.handle(), &self.repaint, move || {
            match crate::config::pin_fingerprint(&path, &spec.name, &fingerprint) {
                Ok(()) => {
                    tracing::info!(camera = %spec.name, %fingerprint, "certificate pinned");
                    spec.tls_fingerprint = Some(fingerprint);
                    ChoreDone::Pinned { tile, spec }
                }
                Err(e) => ChoreDone::Said(format!("Could not pin the certificate: {e}")),
            }
        });
        self.chores.push(job);
    }

    /// Runs a tile's context-menu action.
    fn tile_action(&mut self, index: usize, action: tile::TileAction) {
        self.selected = index;
        match action {
            tile::TileAction::Edit => {
                if let Some(camera) = self.tile_config(index) {
                    self.dialog = Some(CameraDialog::edit(&camera));
                }
            }
            tile::TileAction::Remove => {
                if let Some(camera) = self.cameras.get(index) {
                    self.confirm_remove = Some(ConfirmRemove {
                        tile: camera.id,
                        camera: camera.name.clone(),
                    });
                }
            }
            tile::TileAction::Snapshot => self.snapshot(index),
        }
    }

    /// Saves tile `index`'s newest picture as PNG where the user says (a save dialog), on a
    /// worker thread: full decoded size, converted to RGB with the shader's maths.
    fn snapshot(&mut self, index: usize) {
        let Some(camera) = self.cameras.get(index) else {
            return;
        };
        let name = camera.name.clone();
        let Some(frame) = camera.slot().latest().0 else {
            self.notice = Some(format!("{name}: no picture to save yet"));
            return;
        };
        let file_name = snapshot::default_file_name(&name, SystemTime::now());
        let job = Job::blocking(self.runtime.handle(), &self.repaint, move || {
            let Some(path) = rfd::FileDialog::new()
                .set_title(format!("Save a snapshot of {name}"))
                .set_file_name(&file_name)
                .add_filter("PNG image", &["png"])
                .save_file()
            else {
                return ChoreDone::Nothing;
            };
            match snapshot::save_png(&frame, &path) {
                Ok((w, h)) => ChoreDone::Said(format!(
                    "Snapshot of {name} saved to {} ({w}×{h})",
                    path.display()
                )),
                Err(e) => ChoreDone::Said(format!("Snapshot of {name} not saved: {e}")),
            }
        });
        self.chores.push(job);
    }

    /// "Import…": a file chosen in a dialog, its cameras added (`cameras::import_file`).
    fn import_cameras(&mut self) {
        let Some(path) = self.config_path.clone() else {
            return;
        };
        let secrets = self.secrets.clone();
        let job = Job::blocking(self.runtime.handle(), &self.repaint, move || {
            let Some(file) = rfd::FileDialog::new()
                .set_title("Import cameras")
                .add_filter("Cameras (TOML)", &["toml"])
                .pick_file()
            else {
                return ChoreDone::Nothing;
            };
            let imported = cameras::import_file(&path, &file, &*secrets.0)
                .and_then(|report| Ok((report, Config::load(&path)?)));
            match imported {
                Ok((report, config)) => ChoreDone::Imported {
                    message: format!(
                        "Imported {} camera(s) from {} ({} already there, {} password(s) moved \
                         to the keychain)",
                        report.added.len() + report.renamed.len(),
                        file.display(),
                        report.skipped.len(),
                        report.passwords_stored
                    ),
                    config,
                },
                Err(e) => ChoreDone::Said(format!("Import failed, nothing was changed: {e}")),
            }
        });
        self.chores.push(job);
    }

    /// "Export…": the cameras, without passwords, to a file chosen in a dialog.
    fn export_cameras(&mut self) {
        let Some(path) = self.config_path.clone() else {
            return;
        };
        let job = Job::blocking(self.runtime.handle(), &self.repaint, move || {
            let Some(file) = rfd::FileDialog::new()
                .set_title("Export cameras (no passwords)")
                .set_file_name("vedette-cameras.toml")
                .add_filter("Cameras (TOML)", &["toml"])
                .save_file()
            else {
                return ChoreDone::Nothing;
            };
            match cameras::export_file(&path, &file) {
                Ok(n) => ChoreDone::Said(format!(
                    "Exported {n} camera(s) to {} (no passwords)",
                    file.display()
                )),
                Err(e) => ChoreDone::Said(format!("Export failed: {e}")),
            }
        });
        self.chores.push(job);
    }

    /// Removes a camera from the config and the keychain in the background; its tile goes
    /// once that succeeded.
    fn remove_camera(&mut self, tile: u64, name: String) {
        let Some(path) = self.config_path.clone() else {
            return;
        };
        let secrets = self.secrets.clone();
        let job =
            Job::blocking(
                self.runtime.handle(),
                &self.repaint,
                move || match cameras::remove_camera(&path, &name, &*secrets.0) {
                    Ok(_) => ChoreDone::Removed { tile, camera: name },
                    Err(e) => ChoreDone::Said(format!("Not removed, nothing was changed: {e}")),
                },
            );
        self.chores.push(job);
    }

    /// Takes in what background chores finished.
    fn poll_chores(&mut self) {
        let mut done = Vec::new();
        self.chores.retain(|job| match job.poll() {
            Poll::Pending => true,
            Poll::Done(outcome) => {
                done.push(outcome);
                false
            }
            Poll::Lost => {
                done.push(ChoreDone::Said("A background task failed.".to_owned()));
                false
            }
        });
        for outcome in done {
            match outcome {
                ChoreDone::Nothing => {}
                ChoreDone::Said(message) => self.notice = Some(message),
                ChoreDone::Removed { tile, camera } => {
                    self.remove_tile(tile);
                    self.notice = Some(format!("Removed {camera:?} and its password."));
                }
                ChoreDone::Imported { message, config } => {
                    self.adopt_config(&config);
                    self.notice = Some(message);
                }
                ChoreDone::Pinned { tile, spec } => {
                    if let Some(fingerprint) = &spec.tls_fingerprint {
                        self.notice = Some(format!(
                            "{}: trusted the certificate {fingerprint}",
                            spec.name
                        ));
                    }
                    if let Some(index) = self.cameras.iter().position(|c| c.id == tile) {
                        self.replace_tile(index, spec);
                    }
                }
            }
        }
    }

    /// The dialogs that are open, and what they decided.
    fn dialogs_ui(&mut self, ctx: &egui::Context) {
        if let Some(dialog) = &mut self.dialog {
            let env = DialogEnv {
                runtime: self.runtime.handle(),
                repaint: &self.repaint,
                secrets: &self.secrets,
                config_path: self.config_path.as_ref(),
            };
            match dialog.show(ctx, &env) {
                DialogOutcome::Open => {}
                DialogOutcome::Cancelled => self.dialog = None,
                DialogOutcome::Saved(camera) => {
                    let mode = dialog.mode().clone();
                    self.dialog = None;
                    self.camera_saved(&camera, &mode);
                }
            }
        }
        if let Some(prompt) = &mut self.password_prompt {
            match prompt.show(ctx) {
                PromptOutcome::Open => {}
                PromptOutcome::Cancelled => self.password_prompt = None,
                PromptOutcome::Use(credentials) => {
                    let tile = prompt.tile;
                    self.password_prompt = None;
                    if let Some(index) = self.cameras.iter().position(|c| c.id == tile) {
                        let mut spec = self.cameras[index].spec().clone();
                        spec.credentials = Some(credentials);
                        self.replace_tile(index, spec);
                    }
                }
            }
        }
        if let Some(confirm) = &self.confirm_remove {
            match confirm.show(ctx) {
                None => {}
                Some(false) => self.confirm_remove = None,
                Some(true) => {
                    let (tile, name) = (confirm.tile, confirm.camera.clone());
                    self.confirm_remove = None;
                    self.remove_camera(tile, name);
                }
            }
        }
    }

    /// A camera was saved by the dialog: a new one gets a tile (selected, its page shown), an
    /// edited one restarts with its new settings.
    fn camera_saved(&mut self, camera: &CameraConfig, mode: &DialogMode) {
        let spec = CameraSpec::from_config(camera, Some(self.secrets.clone()));
        let index = self
            .cameras
            .iter()
            .position(|c| c.spec().camera_id.as_deref() == Some(camera.id.as_str()));
        match (mode, index) {
            (DialogMode::Edit { .. }, Some(index)) => {
                self.replace_tile(index, spec);
                self.notice = Some(format!("Saved {:?}.", camera.name));
            }
            _ => {
                self.adopt_camera(camera);
                self.selected = self.cameras.len().saturating_sub(1);
                let per_page = self.columns() * self.columns();
                self.page = self.selected / per_page;
                self.notice = Some(format!("Added {:?}.", camera.name));
            }
        }
    }

    /// What every drawn tile does afterwards, maximized or in the grid: count the picture it
    /// showed, and act on its buttons (which also select it) and its menu.
    fn after_tile(&mut self, index: usize, response: &egui::Response, out: &tile::TileOutput) {
        let capture = self.capture_unix_ms(index, out.rtp_ts);
        self.shown.record(
            index,
            out.generation,
            out.received_at,
            capture,
            out.video,
            Instant::now(),
        );
        if let Some(intent) = out.intent {
            self.selected = index;
            self.cameras[index].set_intent(intent);
        }
        if out.toggle_sound {
            self.selected = index;
            self.toggle_sound(index);
        }
        if out.trust_certificate {
            self.trust_certificate(index);
        }
        if let Some(zoom) = out.zoom {
            self.selected = index;
            self.set_zoom(index, zoom);
        }
        self.tile_extras(index, response, out);
    }

    /// Tile `index` shows `zoom` of its picture from now on.
    fn set_zoom(&mut self, index: usize, zoom: zoom::Zoom) {
        let Some(camera) = self.cameras.get(index) else {
            return;
        };
        if zoom.is_zoomed() {
            self.zoom.insert(camera.id, zoom);
        } else {
            self.zoom.remove(&camera.id);
        }
    }

    fn zoom_of(&self, index: usize) -> zoom::Zoom {
        self.cameras
            .get(index)
            .and_then(|c| self.zoom.get(&c.id))
            .copied()
            .unwrap_or_default()
    }

    /// When camera `index`'s sender-report clock is trusted, the capture time of the picture
    /// with RTP time `rtp_ts`.
    fn capture_unix_ms(&self, index: usize, rtp_ts: Option<u32>) -> Option<f64> {
        let clock = self.cameras.get(index)?.status().sender_clock?;
        clock.capture_unix_ms(rtp_ts?)
    }

    /// Unmutes `index` (muting every other camera), or mutes it if it was the one heard. The
    /// output device is opened off the UI thread.
    fn toggle_sound(&mut self, index: usize) {
        let Some(camera) = self.cameras.get(index) else {
            return;
        };
        if self.audio.is_audible(camera.id) {
            self.audio.set_audible(None);
            return;
        }
        self.audio.set_audible(Some(camera.id));
        let router = self.audio.clone();
        // Opens the device, or tries again after it was missing or went away.
        self.runtime.spawn_blocking(move || {
            let _ = router.open();
        });
    }

    fn columns(&self) -> usize {
        self.ui_state
            .columns
            .unwrap_or_else(|| auto_columns(self.cameras.len()))
            .clamp(1, MAX_COLUMNS)
    }

    fn per_page(&self) -> usize {
        self.columns() * self.columns()
    }

    fn page_count(&self) -> usize {
        layout::page_count(self.cameras.len(), self.per_page())
    }

    /// Shows the page `delta` pages away (wrapping); the selection moves onto it.
    fn turn_page(&mut self, delta: isize) {
        self.page = layout::turn_page(self.page, delta, self.page_count());
        let on_page = layout::page_range(self.page, self.cameras.len(), self.per_page());
        if !on_page.contains(&self.selected) {
            self.selected = on_page.start;
        }
        self.tour.restart(Instant::now());
    }

    /// Tour mode: the next page when its time is up.
    fn tour_tick(&mut self, ctx: &egui::Context) {
        if !self.ui_state.tour || self.page_count() < 2 || self.maximized.is_some() {
            self.tour.restart(Instant::now());
            return;
        }
        let every = Duration::from_secs(u64::from(self.tour_seconds()));
        let (turn, next) = self.tour.tick(Instant::now(), every);
        if turn {
            self.page = layout::turn_page(self.page, 1, self.page_count());
            let on_page = layout::page_range(self.page, self.cameras.len(), self.per_page());
            self.selected = on_page.start;
        }
        ctx.request_repaint_after(next);
    }

    fn tour_seconds(&self) -> u32 {
        self.ui_state
            .tour_seconds
            .unwrap_or(layout::DEFAULT_TOUR_SECONDS)
            .clamp(2, 3600)
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        /// One press of + zooms by this much.
        const ZOOM_STEP: f32 = 1.25;
        let count = self.cameras.len();
        let columns = self.columns();
        let on_page = layout::page_range(self.page, count, self.per_page());
        let mut page_delta = 0;
        // Ctrl+S (Cmd+S on macOS) first: S alone stops the camera.
        let snapshot = ctx.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::S));
        ctx.input(|i| {
            if i.key_pressed(egui::Key::PageDown) {
                page_delta += 1;
            }
            if i.key_pressed(egui::Key::PageUp) {
                page_delta -= 1;
            }
            if i.key_pressed(egui::Key::Enter) && count > 0 {
                self.maximized = match self.maximized {
                    Some(_) => None,
                    None => Some(self.selected.min(count - 1)),
                };
            }
            if i.key_pressed(egui::Key::Escape) {
                self.maximized = None;
            }
            if count > 0 && self.maximized.is_none() {
                let moves = [
                    (egui::Key::ArrowRight, 1isize),
                    (egui::Key::ArrowLeft, -1),
                    (egui::Key::ArrowDown, columns as isize),
                    (egui::Key::ArrowUp, -(columns as isize)),
                ];
                for (key, delta) in moves {
                    if i.key_pressed(key) {
                        let next = self.selected as isize + delta;
                        if next >= 0 && on_page.contains(&(next as usize)) {
                            self.selected = next as usize;
                        }
                    }
                }
            }
        });
        if page_delta != 0 && self.maximized.is_none() {
            self.turn_page(page_delta);
        }
        if snapshot {
            self.snapshot(self.maximized.unwrap_or(self.selected));
        }
        // Space and S act on the maximized or selected tile.
        let target = self.maximized.unwrap_or(self.selected);
        if let Some(camera) = self.cameras.get(target) {
            if ctx.input(|i| i.key_pressed(egui::Key::Space)) {
                camera.set_intent(camera.intent().toggled());
            }
            if ctx.input(|i| i.key_pressed(egui::Key::S)) {
                camera.set_intent(Intent::Stop);
            }
        }
        if ctx.input(|i| i.key_pressed(egui::Key::M)) {
            self.toggle_sound(target);
        }
        // + and - zoom the tile's picture about its centre, 0 shows all of it (with Ctrl they
        // are egui's own zoom of the whole window).
        let current = self.zoom_of(target);
        let about_centre = |factor: f32| {
            let mut zoom = current;
            zoom.zoom_about(current.uv_rect().center(), factor);
            zoom
        };
        let zoom = ctx.input(|i| {
            if i.modifiers.command {
                None
            } else if i.key_pressed(egui::Key::Plus) || i.key_pressed(egui::Key::Equals) {
                Some(about_centre(ZOOM_STEP))
            } else if i.key_pressed(egui::Key::Minus) {
                Some(about_centre(1.0 / ZOOM_STEP))
            } else if i.key_pressed(egui::Key::Num0) {
                Some(zoom::Zoom::default())
            } else {
                None
            }
        });
        if let Some(zoom) = zoom {
            self.set_zoom(target, zoom);
        }
        if ctx.input(|i| i.key_pressed(egui::Key::I)) {
            self.ui_state.stats_overlay = !self.ui_state.stats_overlay;
        }
        if ctx.input(|i| i.key_pressed(egui::Key::P)) {
            self.ui_state.stats_panel = !self.ui_state.stats_panel;
        }
        if ctx.input(|i| i.key_pressed(egui::Key::F)) {
            let fullscreen = ctx.input(|i| i.viewport().fullscreen.unwrap_or(false));
            ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(!fullscreen));
        }
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.strong("Vedette");
            ui.separator();
            let no_config = "No config directory on this system: start with --config PATH";
            let can_write = self.config_path.is_some();
            if ui
                .add_enabled(can_write, egui::Button::new("Add camera…"))
                .on_disabled_hover_text(no_config)
                .clicked()
            {
                self.dialog = Some(CameraDialog::add());
            }
            if ui
                .add_enabled(can_write, egui::Button::new("Import…"))
                .on_hover_text("Add the cameras of a file (credentials go to the keychain)")
                .on_disabled_hover_text(no_config)
                .clicked()
            {
                self.import_cameras();
            }
            if ui
                .add_enabled(can_write, egui::Button::new("Export…"))
                .on_hover_text("Write the cameras to a file, without passwords")
                .on_disabled_hover_text(no_config)
                .clicked()
            {
                self.export_cameras();
            }
            ui.separator();
            let current = match self.ui_state.columns {
                None => "Auto".to_owned(),
                Some(n) => format!("{n}×{n}"),
            };
            egui::ComboBox::from_label("Layout")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.ui_state.columns, None, "Auto");
                    for n in 1..=MAX_COLUMNS {
                        ui.selectable_value(
                            &mut self.ui_state.columns,
                            Some(n),
                            format!("{n}×{n}"),
                        );
                    }
                });
            ui.separator();
            for (label, intent, hint) in [
                ("Play all", Intent::Play, "PLAY on every camera"),
                (
                    "Pause all",
                    Intent::Pause,
                    "PAUSE on every camera; sessions stay",
                ),
                ("Stop all", Intent::Stop, "TEARDOWN on every camera"),
            ] {
                if ui.button(label).on_hover_text(hint).clicked() {
                    self.cameras.iter().for_each(|c| c.set_intent(intent));
                }
            }
            ui.separator();
            let mut overlays = !self.ui_state.overlays_hidden;
            if ui.checkbox(&mut overlays, "Overlays").changed() {
                self.ui_state.overlays_hidden = !overlays;
            }
            ui.checkbox(&mut self.ui_state.stats_overlay, "Stats (I)")
                .on_hover_text("Bitrate, fps, jitter, loss and latency on every tile");
            ui.toggle_value(&mut self.ui_state.stats_panel, "Stats panel (P)")
                .on_hover_text("Plots of the last 5 minutes for the selected camera");
            if ui.button("Fullscreen (F)").clicked() {
                let fullscreen = ui.ctx().input(|i| i.viewport().fullscreen.unwrap_or(false));
                ui.ctx()
                    .send_viewport_cmd(egui::ViewportCommand::Fullscreen(!fullscreen));
            }
            if self.maximized.is_some() && ui.button("Back to the wall (Esc)").clicked() {
                self.maximized = None;
            }
            let pages = self.page_count();
            if pages > 1 && self.maximized.is_none() {
                ui.separator();
                if ui
                    .button("◀")
                    .on_hover_text("Previous page (Page Up)")
                    .clicked()
                {
                    self.turn_page(-1);
                }
                ui.label(format!("page {}/{pages}", self.page.min(pages - 1) + 1));
                if ui
                    .button("▶")
                    .on_hover_text("Next page (Page Down)")
                    .clicked()
                {
                    self.turn_page(1);
                }
                ui.toggle_value(&mut self.ui_state.tour, "Tour")
                    .on_hover_text("Show each page in turn");
                let mut seconds = self.tour_seconds();
                let label = ui.label("every");
                if ui
                    .add(
                        egui::DragValue::new(&mut seconds)
                            .range(2..=3600)
                            .suffix(" s"),
                    )
                    .labelled_by(label.id)
                    .changed()
                {
                    self.ui_state.tour_seconds = Some(seconds);
                }
            }
        });
        if self.demo_mode {
            ui.label(
                egui::RichText::new(
                    "These are built-in demo cameras. \"Add camera…\" adds your own (the demo \
                     cameras then make way for it), or put [[cameras]] entries in the config \
                     file.",
                )
                .color(egui::Color32::from_rgb(240, 200, 80)),
            );
        }
        if let Some(message) = &self.notice {
            ui.label(message.as_str());
        }
        if let (Some(error), Some(_)) = (self.audio.error(), self.audio.audible()) {
            ui.label(
                egui::RichText::new(format!("No sound: {error}"))
                    .color(egui::Color32::from_rgb(255, 190, 90)),
            );
        }
        if let Some(error) = &self.config_error {
            ui.label(
                egui::RichText::new(format!("Config not loaded, nothing was changed: {error}"))
                    .color(egui::Color32::from_rgb(255, 110, 110)),
            );
        }
    }

    fn wall_ui(&mut self, ui: &mut egui::Ui) {
        let area = ui.available_rect_before_wrap();
        if self.cameras.is_empty() {
            ui.centered_and_justified(|ui| {
                ui.label("No cameras. \"Add camera…\" in the toolbar adds one.");
            });
            return;
        }
        let now = Instant::now();
        if let Some(index) = self.maximized.filter(|&i| i < self.cameras.len()) {
            let view = self.tile_view(index, true, now);
            let (response, out) = tile::tile_ui(ui, area, &self.cameras[index], &view, now);
            self.after_tile(index, &response, &out);
            if response.double_clicked() {
                self.maximized = None;
            }
            return;
        }
        let columns = self.columns();
        let on_page = layout::page_range(self.page, self.cameras.len(), columns * columns);
        self.page = on_page.start / (columns * columns);
        let rows = on_page.len().div_ceil(columns).max(1);
        let cell = egui::vec2(area.width() / columns as f32, area.height() / rows as f32);
        for index in on_page.clone() {
            let slot = index - on_page.start;
            let (row, col) = (slot / columns, slot % columns);
            let min = area.min + egui::vec2(col as f32 * cell.x, row as f32 * cell.y);
            let rect = egui::Rect::from_min_size(min, cell).shrink(1.0);
            let view = self.tile_view(index, index == self.selected, now);
            let (response, out) = tile::tile_ui(ui, rect, &self.cameras[index], &view, now);
            self.after_tile(index, &response, &out);
            // Drag a tile onto another to swap them (a zoomed tile's drag pans its picture).
            if !view.zoom.is_zoomed() {
                response.dnd_set_drag_payload(DraggedTile(index));
            }
            if response
                .dnd_hover_payload::<DraggedTile>()
                .is_some_and(|from| from.0 != index)
            {
                ui.painter().rect_stroke(
                    rect.shrink(2.0),
                    0.0,
                    egui::Stroke::new(3.0, egui::Color32::from_rgb(240, 200, 80)),
                    egui::StrokeKind::Inside,
                );
            }
            if let Some(from) = response.dnd_release_payload::<DraggedTile>() {
                self.swap_tiles(from.0, index);
            }
            if response.clicked() {
                self.selected = index;
            }
            if response.double_clicked() {
                self.selected = index;
                self.maximized = Some(index);
            }
        }
    }

    /// What tile `index` offers beyond play controls: its context menu and "Enter password…".
    fn tile_extras(&mut self, index: usize, response: &egui::Response, out: &tile::TileOutput) {
        let configured = self
            .cameras
            .get(index)
            .is_some_and(|c| c.spec().camera_id.is_some());
        let mut action = None;
        response.context_menu(|ui| action = tile::tile_menu_ui(ui, configured));
        if let Some(action) = action {
            self.tile_action(index, action);
        }
        if out.enter_password {
            if let Some(camera) = self.cameras.get(index) {
                let username = camera.spec().username.clone().unwrap_or_default();
                self.password_prompt =
                    Some(PasswordPrompt::new(camera.id, &camera.name, &username));
            }
        }
    }

    /// How tile `index` is drawn this frame.
    fn tile_view(&self, index: usize, selected: bool, now: Instant) -> tile::TileView {
        let camera = &self.cameras[index];
        tile::TileView {
            selected,
            zoom: self.zoom_of(index),
            overlays: !self.ui_state.overlays_hidden,
            audible: self.audio.is_audible(camera.id),
            stats: if self.ui_state.stats_overlay {
                self.stats_shown(index, now)
            } else {
                None
            },
        }
    }

    /// Camera `index`'s latest figures with what its tile measured on screen, or `None` while
    /// it has none. A copy: the camera's own snapshot is left as the worker wrote it.
    fn stats_shown(&self, index: usize, now: Instant) -> Option<StatsSnapshot> {
        let stats = self.cameras.get(index)?.status().stats?;
        Some(self.shown.merged(index, stats, now))
    }

    /// The stats panel for the maximized or selected camera.
    fn stats_panel_ui(&self, ui: &mut egui::Ui) {
        let index = self.maximized.unwrap_or(self.selected);
        let Some(camera) = self.cameras.get(index) else {
            ui.label("No camera selected.");
            return;
        };
        let now = Instant::now();
        let stats = self.stats_shown(index, now);
        let empty = VecDeque::new();
        let shown = self.shown.history(index).unwrap_or(&empty);
        stats_panel::stats_panel_ui(ui, camera, stats.as_ref(), shown, now);
    }

    fn log_first_frame(&mut self) {
        if self.first_frame_logged {
            return;
        }
        let playing = self
            .cameras
            .iter()
            .filter(|c| c.slot().generation() > 0)
            .count();
        if !self.cameras.is_empty() && playing == self.cameras.len() {
            self.first_frame_logged = true;
            tracing::info!(
                "all {} cameras showing video {:.0} ms after start",
                playing,
                self.started.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
}

impl VedetteApp {
    /// One frame of the whole window: toolbar, wall, stats panel and dialogs. (What
    /// [`eframe::App::ui`] runs; tests run it in an `egui_kittest` harness.)
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        self.pacer.pass_began(Instant::now());
        let ctx = ui.ctx().clone();
        self.poll_chores();
        let dialog_open = self.dialog.is_some()
            || self.password_prompt.is_some()
            || self.confirm_remove.is_some();
        // Keys typed into a text field (or meant for a dialog) are not wall commands.
        if !dialog_open && !ctx.egui_wants_keyboard_input() {
            self.handle_keys(&ctx);
        }
        self.tour_tick(&ctx);
        if let Some(rect) = ctx.input(|i| i.viewport().inner_rect) {
            self.ui_state.window_size = Some([rect.width(), rect.height()]);
        }
        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar_ui(ui));
        if self.ui_state.stats_panel {
            egui::Panel::right("stats_panel")
                .resizable(true)
                .default_size(400.0)
                .size_range(280.0..=900.0)
                .show(ui, |ui| self.stats_panel_ui(ui));
        }
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| self.wall_ui(ui));
        self.dialogs_ui(&ctx);
        // A maximized tile plays the main stream, tiles in a grid their sub-stream.
        for (index, camera) in self.cameras.iter().enumerate() {
            camera.set_main_stream(self.maximized == Some(index));
        }
        self.log_first_frame();
        self.shown.sample(Instant::now());
        self.shown.maybe_log();
        // While any tile counts down to a reconnect, keep the number current.
        ctx.request_repaint_after(Duration::from_secs(1));
    }

    /// Tears every session down (bounded: the window is closing) and saves the window state.
    pub fn shutdown(&mut self) {
        let tasks: Vec<_> = self
            .cameras
            .drain(..)
            .filter_map(|c| {
                if let Some(rs) = &self.render_state {
                    crate::render::forget_tile(rs, c.id);
                }
                c.stop_and_take_task()
            })
            .collect();
        let count = tasks.len();
        self.runtime.block_on(async {
            let all = futures_util_join(tasks);
            if tokio::time::timeout(Duration::from_secs(3), all)
                .await
                .is_err()
            {
                tracing::warn!("some cameras did not stop within 3 s");
            }
        });
        tracing::info!("closed {count} camera sessions");
        if let Some(path) = &self.ui_state_path {
            if let Err(e) = self.ui_state.save(path) {
                tracing::warn!("could not save the window state to {}: {e}", path.display());
            }
        }
        // Dropping a runtime waits for every blocking task: a keychain call sitting on an
        // unlock prompt nobody answers, a file dialog left open. The window is closing, so
        // they get half a second and are then left behind, instead of keeping the process
        // alive with no window. (A runtime with no threads takes this one's place.)
        if let Ok(idle) = tokio::runtime::Builder::new_current_thread().build() {
            std::mem::replace(&mut self.runtime, idle).shutdown_timeout(Duration::from_millis(500));
        }
    }
}

impl eframe::App for VedetteApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    /// The wall's background is the clear colour, so nothing is painted under the tiles.
    fn clear_color(&self, _visuals: &egui::Visuals) -> [f32; 4] {
        egui::Color32::from_gray(8).to_normalized_gamma_f32()
    }

    fn on_exit(&mut self) {
        // Tear every session down before the process ends.
        self.shutdown();
    }
}

/// egui's proportional font (Ubuntu Light) has no "→", which the latency names use; its
/// monospace font (Hack) has, so it becomes the last fallback.
fn add_arrow_fallback(ctx: &egui::Context) {
    let mut fonts = egui::FontDefinitions::default();
    if !fonts.font_data.contains_key("Hack") {
        return;
    }
    if let Some(family) = fonts.families.get_mut(&egui::FontFamily::Proportional) {
        family.push("Hack".to_owned());
    }
    ctx.set_fonts(fonts);
}

/// Awaits every task (without pulling in a futures crate for one join).
async fn futures_util_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
    }
}

/// Columns for a grid that fits `count` tiles: 1, 2×2, 3×3 … up to 8×8.
pub fn auto_columns(count: usize) -> usize {
    let mut n = 1;
    while n * n < count && n < MAX_COLUMNS {
        n += 1;
    }
    n
}

/// The window icon, from `assets/`.
pub fn icon() -> Option<egui::IconData> {
    let png = include_bytes!("../../assets/vedette-256.png");
    let image = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .ok()?
        .into_rgba8();
    Some(egui::IconData {
        width: image.width(),
        height: image.height(),
        rgba: image.into_raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_sized_to_the_camera_count() {
        let got: Vec<usize> = [0, 1, 2, 4, 5, 9, 10, 16, 17, 64, 100]
            .iter()
            .map(|&n| auto_columns(n))
            .collect();
        assert_eq!(got, [1, 1, 2, 2, 3, 3, 4, 4, 5, 8, 8]);
    }

    #[test]
    fn median_of_the_last_fifty() {
        let mut m = RollingMedian::default();
        assert_eq!(m.median(), None);
        m.push(40.0);
        assert_eq!(m.median(), Some(40.0));
        m.push(1000.0);
        assert_eq!(m.median(), Some(520.0));
        m.push(42.0);
        assert_eq!(m.median(), Some(42.0), "one slow picture does not move it");
        for _ in 0..RollingMedian::LEN {
            m.push(10.0);
        }
        assert_eq!(m.values.len(), RollingMedian::LEN);
        assert_eq!(m.median(), Some(10.0));
    }

    #[test]
    fn show_rate_counts_intervals_in_the_window() {
        let start = Instant::now();
        let mut rate = ShowRate::default();
        assert_eq!(rate.per_second(start), 0.0);
        for i in 0..=100 {
            rate.on_shown(start + Duration::from_millis(40 * i));
        }
        let last = start + Duration::from_millis(4000);
        assert!((rate.per_second(last) - 25.0).abs() < 1e-9);
        assert!(rate.shown_at.len() <= 51, "{}", rate.shown_at.len());
        assert_eq!(rate.per_second(last + Duration::from_secs(3)), 0.0);
    }

    #[test]
    fn shown_figures_are_merged_into_a_copy() {
        let start = Instant::now();
        let mut shown = ShownFrames::new(2);
        for generation in 1..=11u64 {
            let at = start + Duration::from_millis(100 * generation);
            let arrived = at - Duration::from_millis(30);
            shown.record(0, generation, Some(arrived), None, None, at);
            // The same picture drawn again is neither counted nor measured.
            shown.record(
                0,
                generation,
                Some(arrived),
                None,
                None,
                at + Duration::from_millis(5),
            );
        }
        let now = start + Duration::from_millis(1100);
        let camera = StatsSnapshot {
            fps: 10.0,
            ..StatsSnapshot::default()
        };
        let merged = shown.merged(0, camera.clone(), now);
        assert!(
            (merged.fps_shown.unwrap() - 10.0).abs() < 1e-9,
            "{merged:?}"
        );
        assert!((merged.latency_ms.unwrap() - 30.0).abs() < 1e-6);
        assert_eq!(merged.latency_kind, Some(LatencyKind::ArrivalToScreen));

        // With a trusted sender clock the tile measures capture → screen instead.
        let captured = crate::stats::unix_now_ms() - 80.0;
        let at = Instant::now();
        let mut clocked = ShownFrames::new(1);
        clocked.record(0, 1, Some(at), Some(captured), None, at);
        let merged = clocked.merged(0, camera.clone(), at);
        assert_eq!(merged.latency_kind, Some(LatencyKind::CaptureToScreen));
        let latency = merged.latency_ms.unwrap();
        assert!((80.0..1000.0).contains(&latency), "{latency}");
        let other = shown.merged(1, camera.clone(), now);
        assert_eq!((other.fps_shown, other.latency_ms), (Some(0.0), None));
        assert_eq!(shown.merged(7, camera.clone(), now), camera);
        shown.sample(now + STATS_EVERY);
        shown.sample(now + STATS_EVERY + Duration::from_millis(10));
        assert_eq!(shown.history(0).map(VecDeque::len), Some(1));
    }

    #[test]
    fn icon_decodes() {
        let icon = icon().expect("icon");
        assert_eq!(icon.rgba.len(), (icon.width * icon.height * 4) as usize);
    }
}
