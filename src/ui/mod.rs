//! The camera wall: a thin egui layer over the camera workers. It reads status snapshots and
//! the newest frame of each camera, and sends commands; it never waits on network, decode or
//! keychain. Frames are drawn by `render` as YUV textures.

mod stats_panel;
mod tile;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;

use crate::audio_out::AudioRouter;
use crate::camera::control::Intent;
use crate::camera::{CameraHandle, CameraSpec, STATS_EVERY, STATS_HISTORY};
use crate::config::UiState;
use crate::demo::DemoServer;
use crate::stats::{LatencyKind, StatsSnapshot};

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
    render_state: Option<egui_wgpu::RenderState>,
    demo_mode: bool,
    started: Instant,
    first_frame_logged: bool,
    shown: ShownFrames,
    /// Which camera is heard; all start muted.
    audio: Arc<AudioRouter>,
    repaint: Arc<dyn Fn() + Send + Sync>,
    /// The outcome of the last "Trust this certificate", shown in the toolbar.
    trust_message: Option<String>,
}

/// What each tile actually showed, measured where the picture is shown: pictures per second on
/// screen and the time from a picture's last packet arriving to the UI drawing it. The counts
/// are logged every few seconds (the bench reads them).
struct ShownFrames {
    since: Instant,
    last_sample: Instant,
    tiles: Vec<ShownTile>,
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
        }
    }

    /// Tile `tile` drew the picture `generation` (which arrived at `received_at`) into `video`
    /// at `now`.
    fn record(
        &mut self,
        tile: usize,
        generation: u64,
        received_at: Option<Instant>,
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
        }
    }

    /// The camera's figures with what tile `tile` measured on screen merged in.
    fn merged(&self, tile: usize, stats: StatsSnapshot, now: Instant) -> StatsSnapshot {
        let Some(t) = self.tiles.get(tile) else {
            return stats;
        };
        let mut stats = stats;
        stats.fps_shown = Some(t.rate.per_second(now));
        if let Some(latency) = t.latency_ms.median() {
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
                latency_ms: t.latency_ms.median(),
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
            "wall: {} tiles, shown fps mean {mean:.1} min {min:.1}",
            fps.len()
        );
        self.since = Instant::now();
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
        add_arrow_fallback(&cc.egui_ctx);
        let ctx = cc.egui_ctx.clone();
        let repaint: Arc<dyn Fn() + Send + Sync> = Arc::new(move || ctx.request_repaint());
        let app_repaint = repaint.clone();
        let handle = setup.runtime.handle().clone();
        let count = setup.cameras.len();
        let audio = Arc::new(AudioRouter::default());
        let cameras = setup
            .cameras
            .into_iter()
            .enumerate()
            .map(|(i, spec)| {
                let delay = (STAGGER * i as u32).min(MAX_STAGGER);
                CameraHandle::spawn(
                    &handle,
                    i as u64,
                    spec,
                    delay,
                    repaint.clone(),
                    audio.clone(),
                )
            })
            .collect();
        close_on_signal(&handle, cc.egui_ctx.clone());
        Self {
            runtime: setup.runtime,
            cameras,
            demo_mode: setup.demo.is_some(),
            _demo: setup.demo,
            config_error: setup.config_error,
            config_path: setup.config_path,
            ui_state_path: setup.ui_state_path,
            ui_state: setup.ui_state,
            maximized: None,
            selected: 0,
            render_state,
            started: Instant::now(),
            first_frame_logged: false,
            shown: ShownFrames::new(count),
            audio,
            repaint: app_repaint,
            trust_message: None,
        }
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
        match crate::config::pin_fingerprint(&path, &spec.name, &fingerprint) {
            Ok(()) => {
                tracing::info!(camera = %spec.name, %fingerprint, "certificate pinned");
                self.trust_message = Some(format!(
                    "{}: trusted the certificate {fingerprint}",
                    spec.name
                ));
                spec.tls_fingerprint = Some(fingerprint);
                let id = camera.id;
                let handle = self.runtime.handle().clone();
                self.cameras[index] = CameraHandle::spawn(
                    &handle,
                    id,
                    spec,
                    Duration::ZERO,
                    self.repaint.clone(),
                    self.audio.clone(),
                );
            }
            Err(e) => {
                self.trust_message = Some(format!("Could not pin the certificate: {e}"));
            }
        }
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
        self.runtime.spawn_blocking(move || {
            let _ = router.output();
        });
    }

    fn columns(&self) -> usize {
        self.ui_state
            .columns
            .unwrap_or_else(|| auto_columns(self.cameras.len()))
            .clamp(1, MAX_COLUMNS)
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        let count = self.cameras.len();
        let columns = self.columns();
        ctx.input(|i| {
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
                        if (0..count as isize).contains(&next) {
                            self.selected = next as usize;
                        }
                    }
                }
            }
        });
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
        ui.horizontal(|ui| {
            ui.strong("Vedette");
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
        });
        if self.demo_mode {
            let path = self
                .config_path
                .as_ref()
                .map_or_else(|| "the config file".to_owned(), |p| p.display().to_string());
            ui.label(
                egui::RichText::new(format!(
                    "These are built-in demo cameras. To add your own, put [[cameras]] entries \
                     (name = \"Door\", url = \"rtsp://host/path\") in {path} and restart."
                ))
                .color(egui::Color32::from_rgb(240, 200, 80)),
            );
        }
        if let Some(message) = &self.trust_message {
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
                ui.label("No cameras. Add [[cameras]] entries to the config file.");
            });
            return;
        }
        let now = Instant::now();
        if let Some(index) = self.maximized.filter(|&i| i < self.cameras.len()) {
            let view = self.tile_view(index, true, now);
            let (response, out) = tile::tile_ui(ui, area, &self.cameras[index], &view, now);
            self.shown.record(
                index,
                out.generation,
                out.received_at,
                out.video,
                Instant::now(),
            );
            if let Some(intent) = out.intent {
                self.cameras[index].set_intent(intent);
            }
            if out.toggle_sound {
                self.toggle_sound(index);
            }
            if out.trust_certificate {
                self.trust_certificate(index);
            }
            if response.double_clicked() {
                self.maximized = None;
            }
            return;
        }
        let columns = self.columns();
        let visible = self.cameras.len().min(columns * columns);
        let rows = visible.div_ceil(columns).max(1);
        let cell = egui::vec2(area.width() / columns as f32, area.height() / rows as f32);
        for index in 0..visible {
            let (row, col) = (index / columns, index % columns);
            let min = area.min + egui::vec2(col as f32 * cell.x, row as f32 * cell.y);
            let rect = egui::Rect::from_min_size(min, cell).shrink(1.0);
            let view = self.tile_view(index, index == self.selected, now);
            let (response, out) = tile::tile_ui(ui, rect, &self.cameras[index], &view, now);
            self.shown.record(
                index,
                out.generation,
                out.received_at,
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
            if response.clicked() {
                self.selected = index;
            }
            if response.double_clicked() {
                self.selected = index;
                self.maximized = Some(index);
            }
        }
    }

    /// How tile `index` is drawn this frame.
    fn tile_view(&self, index: usize, selected: bool, now: Instant) -> tile::TileView {
        let camera = &self.cameras[index];
        tile::TileView {
            selected,
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

impl eframe::App for VedetteApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.handle_keys(&ctx);
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
        self.log_first_frame();
        self.shown.sample(Instant::now());
        self.shown.maybe_log();
        // While any tile counts down to a reconnect, keep the number current.
        ctx.request_repaint_after(Duration::from_secs(1));
    }

    /// The wall's background is the clear colour, so nothing is painted under the tiles.
    fn clear_color(&self, _visuals: &egui::Visuals) -> [f32; 4] {
        egui::Color32::from_gray(8).to_normalized_gamma_f32()
    }

    fn on_exit(&mut self) {
        // Tear every session down before the process ends (bounded: the UI is closing).
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
            shown.record(0, generation, Some(arrived), None, at);
            // The same picture drawn again is neither counted nor measured.
            shown.record(
                0,
                generation,
                Some(arrived),
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
