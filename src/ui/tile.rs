//! One tile: the video letterboxed to its aspect ratio, the camera name and its state in words,
//! and on request the stream's live figures. A tile is a button in the accessibility tree,
//! named after its camera, its value the state in words ("playing", "paused, sound on"); it can
//! be dragged onto another, and right-clicked for its menu.

use std::time::Instant;

use eframe::egui;

use crate::camera::control::Intent;
use crate::camera::state::ConnectionState;
use crate::camera::{CameraHandle, CameraStatus};
use crate::stats::StatsSnapshot;

/// How a tile is drawn.
#[derive(Debug, Default)]
pub struct TileView {
    pub selected: bool,
    /// The part of the picture shown (digital zoom).
    pub zoom: super::zoom::Zoom,
    /// The name and state labels (the toolbar's "Overlays").
    pub overlays: bool,
    /// This camera is the one heard.
    pub audible: bool,
    /// The figures to draw over the video (the toolbar's "Stats"), with what the wall measured
    /// merged in; `None` draws none.
    pub stats: Option<StatsSnapshot>,
}

/// What the user did on a tile.
#[derive(Debug, Default)]
pub struct TileOutput {
    /// Where the video was drawn, if a frame was.
    pub video: Option<egui::Rect>,
    /// The slot generation of the picture drawn (0: none yet).
    pub generation: u64,
    /// When the last packet of the picture drawn arrived.
    pub received_at: Option<Instant>,
    /// The shown picture's RTP timestamp.
    pub rtp_ts: Option<u32>,
    /// A transport button that was clicked.
    pub intent: Option<Intent>,
    /// The sound button was clicked.
    pub toggle_sound: bool,
    /// "Trust this certificate" was clicked.
    pub trust_certificate: bool,
    /// "Enter password…" was clicked.
    pub enter_password: bool,
    /// The wheel or a drag over the video changed the zoom to this.
    pub zoom: Option<super::zoom::Zoom>,
}

/// What the tile's context menu asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileAction {
    Edit,
    Remove,
    Snapshot,
}

/// The tile's context menu (right click). `configured`: the camera is in the config file (a
/// demo camera can be neither edited nor removed).
pub fn tile_menu_ui(ui: &mut egui::Ui, configured: bool) -> Option<TileAction> {
    let mut action = None;
    let why = "A built-in demo camera: add your own with \"Add camera…\"";
    if ui
        .add_enabled(configured, egui::Button::new("Edit camera…"))
        .on_disabled_hover_text(why)
        .clicked()
    {
        action = Some(TileAction::Edit);
    }
    if ui
        .add_enabled(configured, egui::Button::new("Remove camera"))
        .on_disabled_hover_text(why)
        .clicked()
    {
        action = Some(TileAction::Remove);
    }
    if ui
        .button("Snapshot…")
        .on_hover_text("Ctrl+S: save the picture as PNG")
        .clicked()
    {
        action = Some(TileAction::Snapshot);
    }
    action
}

/// Draws a camera into `rect`. Returns the tile's response (click, double-click), where the
/// video was drawn and which transport button was clicked.
pub fn tile_ui(
    ui: &mut egui::Ui,
    rect: egui::Rect,
    camera: &CameraHandle,
    view: &TileView,
    now: Instant,
) -> (egui::Response, TileOutput) {
    let TileView {
        selected,
        zoom,
        overlays,
        audible,
        ref stats,
    } = *view;
    let response = ui.interact(
        rect,
        ui.scope_id().with(("tile", camera.id)),
        egui::Sense::click_and_drag(),
    );
    let status = camera.status();
    let (state_text, state_color) = state_text(&status, now);
    // A screen reader (and the UI tests) reads the tile as "Camera 1, button, playing".
    response.widget_info(|| {
        let mut info = egui::WidgetInfo::selected(egui::Role::Button, true, selected, &camera.name);
        let mut value = state_text.clone();
        if audible {
            value.push_str(", sound on");
        }
        if zoom.is_zoomed() {
            value.push_str(&format!(", zoomed {:.1}×", zoom.scale()));
        }
        info.current_text_value = Some(value);
        info
    });
    let painter = ui.painter_at(rect);
    let (frame, generation) = camera.slot().latest();
    let mut drawn_at = None;
    let mut received_at = None;
    let mut rtp_ts = None;
    match frame {
        Some(frame) => {
            let (display_width, display_height) = frame.display_size();
            let video_rect = crate::render::letterbox(rect, display_width, display_height);
            drawn_at = Some(video_rect);
            received_at = Some(frame.received_at);
            rtp_ts = Some(frame.ts_in_90khz);
            // The bars around the video are the wall's clear colour: nothing is painted there.
            // egui's shader is the costliest per pixel in the frame under a software
            // rasterizer (four times the video's), so every filled pixel counts.
            painter.add(crate::render::yuv_paint_callback(
                video_rect,
                camera.id,
                frame,
                generation,
                zoom.uv_rect(),
            ));
        }
        None => {
            painter.rect_filled(rect, 0.0, egui::Color32::BLACK);
        }
    }

    if overlays {
        let font = egui::FontId::proportional(14.0);
        let name_pos = rect.left_top() + egui::vec2(8.0, 6.0);
        label_with_background(
            &painter,
            name_pos,
            &camera.name,
            font.clone(),
            egui::Color32::WHITE,
        );

        let state_pos = rect.left_bottom() + egui::vec2(8.0, -24.0);
        let galley_rect =
            label_with_background(&painter, state_pos, &state_text, font, state_color);
        if matches!(status.state, ConnectionState::Connecting { .. }) {
            let spinner_rect = egui::Rect::from_min_size(
                galley_rect.right_top() + egui::vec2(6.0, 0.0),
                egui::vec2(galley_rect.height(), galley_rect.height()),
            );
            ui.put(
                spinner_rect,
                egui::Spinner::new().size(galley_rect.height()),
            );
        }
    }
    if let Some(stats) = stats {
        // Under the name, or in its place when the labels are hidden.
        let top = if overlays { 32.0 } else { 6.0 };
        stats_overlay(
            &painter,
            rect,
            rect.left_top() + egui::vec2(8.0, top),
            stats,
        );
    }
    let new_zoom = drawn_at.and_then(|video| zoom_input(ui, &response, video, zoom));
    if overlays && zoom.is_zoomed() {
        label_with_background(
            &painter,
            rect.right_top() + egui::vec2(-52.0, 6.0),
            &format!("{:.1}×", zoom.scale()),
            egui::FontId::proportional(14.0),
            egui::Color32::WHITE,
        );
    }
    let mut intent = None;
    let mut toggle_sound = false;
    // Transport buttons while the pointer is over the tile, and only with overlays on: with
    // overlays off nothing covers the video (the toolbar, keys and the tile's menu still
    // play, pause and stop).
    if view.overlays && ui.rect_contains_pointer(rect) {
        intent = transport_buttons(ui, rect, status.intent);
        if status.audio.is_some() {
            let size = egui::vec2(70.0, 22.0);
            let sound_rect =
                egui::Rect::from_min_size(rect.right_top() + egui::vec2(-size.x - 6.0, 32.0), size);
            let label = if audible { "Mute" } else { "Unmute" };
            toggle_sound = ui
                .put(sound_rect, egui::Button::new(label).selected(audible))
                .on_hover_text("M: hear this camera (mutes the others)")
                .clicked();
        }
    }
    // A camera with a certificate we do not trust: offer to pin it (the fingerprint is in
    // the error text above, to compare with the camera's).
    let mut trust_certificate = false;
    if status.untrusted_certificate.is_some() {
        let size = egui::vec2(170.0, 24.0);
        let at = egui::Rect::from_center_size(rect.center(), size);
        trust_certificate = ui
            .put(at, egui::Button::new("Trust this certificate"))
            .on_hover_text("Pin this certificate's SHA-256 fingerprint in the config")
            .clicked();
    }
    if overlays && audible {
        let pos = rect.right_bottom() + egui::vec2(-60.0, -24.0);
        label_with_background(
            &painter,
            pos,
            "sound",
            egui::FontId::proportional(14.0),
            egui::Color32::from_rgb(140, 220, 255),
        );
    }
    if selected {
        painter.rect_stroke(
            rect.shrink(1.0),
            0.0,
            egui::Stroke::new(2.0, egui::Color32::from_rgb(80, 160, 255)),
            egui::StrokeKind::Inside,
        );
    }
    // The keychain could not give the password: offer to type it for this session.
    let mut enter_password = false;
    if status.password_needed {
        let size = egui::vec2(150.0, 24.0);
        let at = egui::Rect::from_center_size(rect.center(), size);
        enter_password = ui
            .put(at, egui::Button::new("Enter password…"))
            .on_hover_text("Used for this session only, never stored")
            .clicked();
    }
    (
        response,
        TileOutput {
            video: drawn_at,
            generation,
            received_at,
            rtp_ts,
            intent,
            toggle_sound,
            trust_certificate,
            enter_password,
            zoom: new_zoom,
        },
    )
}

/// The wheel (or a pinch) over the video zooms about the pointer; a drag pans a zoomed
/// picture. The new zoom, when it changed.
fn zoom_input(
    ui: &egui::Ui,
    response: &egui::Response,
    video: egui::Rect,
    zoom: super::zoom::Zoom,
) -> Option<super::zoom::Zoom> {
    let mut changed = zoom;
    if let Some(pointer) = response.hover_pos().filter(|p| video.contains(*p)) {
        let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
        if scroll != 0.0 || pinch != 1.0 {
            let fixed = changed.picture_point(video, pointer);
            changed.wheel(fixed, scroll);
            changed.zoom_about(fixed, pinch);
        }
    }
    if zoom.is_zoomed() && response.dragged_by(egui::PointerButton::Primary) {
        changed.pan(response.drag_delta(), video.size());
    }
    (changed != zoom).then_some(changed)
}

/// The camera's state in words, and the colour it is drawn in.
fn state_text(status: &CameraStatus, now: Instant) -> (String, egui::Color32) {
    match &status.state {
        ConnectionState::Playing => (
            {
                let mut text = "playing".to_owned();
                if status.waiting_for_keyframe {
                    text.push_str(" — waiting for a keyframe");
                }
                if let Some(notice) = &status.notice {
                    text.push_str(" — ");
                    text.push_str(notice);
                }
                text
            },
            egui::Color32::from_rgb(120, 220, 120),
        ),
        ConnectionState::Connecting { .. } => (
            status.state.describe(now),
            egui::Color32::from_rgb(230, 230, 230),
        ),
        state @ ConnectionState::Reconnecting { .. } => {
            (state.describe(now), egui::Color32::from_rgb(255, 190, 90))
        }
        ConnectionState::Failed { reason } => {
            (reason.clone(), egui::Color32::from_rgb(255, 110, 110))
        }
        ConnectionState::Paused => ("paused".to_owned(), egui::Color32::from_rgb(140, 190, 255)),
        ConnectionState::Stopped => ("stopped".to_owned(), egui::Color32::GRAY),
    }
}

/// Play/Pause and Stop in the tile's top-right corner; returns the intent clicked.
fn transport_buttons(ui: &mut egui::Ui, rect: egui::Rect, current: Intent) -> Option<Intent> {
    let size = egui::vec2(58.0, 22.0);
    let stop_rect =
        egui::Rect::from_min_size(rect.right_top() + egui::vec2(-size.x - 6.0, 6.0), size);
    let play_rect = stop_rect.translate(egui::vec2(-size.x - 4.0, 0.0));
    let (label, toggled) = match current {
        Intent::Play => ("Pause", Intent::Pause),
        Intent::Pause | Intent::Stop => ("Play", Intent::Play),
    };
    let mut clicked = None;
    if ui
        .put(play_rect, egui::Button::new(label))
        .on_hover_text("Space")
        .clicked()
    {
        clicked = Some(toggled);
    }
    if ui
        .put(
            stop_rect,
            egui::Button::new("Stop").selected(current == Intent::Stop),
        )
        .on_hover_text("S: TEARDOWN, frees the session")
        .clicked()
    {
        clicked = Some(Intent::Stop);
    }
    clicked
}

/// The key figures in a small box at `pos`, wrapped to the tile's width: amber when the loss or
/// jitter is visible in the picture, red above 5 % loss in the last interval.
fn stats_overlay(
    painter: &egui::Painter,
    tile: egui::Rect,
    pos: egui::Pos2,
    stats: &StatsSnapshot,
) {
    let font = egui::FontId::monospace(11.0);
    let char_width = painter
        .layout_no_wrap("0".to_owned(), font.clone(), egui::Color32::WHITE)
        .size()
        .x
        .max(1.0);
    let max_chars = ((tile.right() - pos.x - 8.0) / char_width).max(1.0) as usize;
    let text = pack_lines(&overlay_figures(stats), " · ", max_chars).join("\n");
    label_with_background(painter, pos, &text, font, stats_color(stats));
}

/// Interval loss above which the figures turn red (5 %: the picture breaks up constantly).
const LOSS_SEVERE: f64 = 0.05;

/// The colour of the figures: red for severe loss, amber when degraded, else light grey.
fn stats_color(stats: &StatsSnapshot) -> egui::Color32 {
    if stats.fraction_lost_interval > LOSS_SEVERE {
        egui::Color32::from_rgb(255, 110, 110)
    } else if stats.is_degraded() {
        egui::Color32::from_rgb(255, 190, 90)
    } else {
        egui::Color32::from_gray(230)
    }
}

/// The overlay's figures, one string each: bitrate, fps, jitter, loss, latency.
pub(super) fn overlay_figures(stats: &StatsSnapshot) -> Vec<String> {
    let fps = match stats.fps_shown {
        Some(shown) => format!("{:.1} fps (shown {shown:.1})", stats.fps),
        None => format!("{:.1} fps", stats.fps),
    };
    let mut figures = vec![
        format_bitrate(stats.bitrate_bps),
        fps,
        format!("jitter {:.1} ms", stats.jitter_ms),
        format!("loss {}", format_percent(stats.fraction_lost_interval)),
    ];
    if let Some(latency) = stats.latency_ms {
        let kind = stats.latency_kind.map_or("latency", |k| k.label());
        figures.push(format!("{latency:.0} ms {kind}"));
    }
    figures
}

/// `1.2 Mb/s`, or `850 kb/s` below a megabit.
pub(super) fn format_bitrate(bps: f64) -> String {
    if bps >= 1e6 {
        format!("{:.1} Mb/s", bps / 1e6)
    } else {
        format!("{:.0} kb/s", bps / 1e3)
    }
}

/// A fraction 0..1 as `0.4 %`.
pub(super) fn format_percent(fraction: f64) -> String {
    format!("{:.1} %", fraction * 100.0)
}

/// Joins `parts` with `separator` into lines of at most `max_chars` characters where it can (a
/// part longer than that gets a line of its own).
fn pack_lines(parts: &[String], separator: &str, max_chars: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for part in parts {
        if current.is_empty() {
            current.clone_from(part);
        } else if current.chars().count() + separator.chars().count() + part.chars().count()
            <= max_chars
        {
            current.push_str(separator);
            current.push_str(part);
        } else {
            lines.push(std::mem::replace(&mut current, part.clone()));
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// Text on a translucent dark box, readable on any picture. Returns the box.
fn label_with_background(
    painter: &egui::Painter,
    pos: egui::Pos2,
    text: &str,
    font: egui::FontId,
    color: egui::Color32,
) -> egui::Rect {
    let galley = painter.layout_no_wrap(text.to_owned(), font, color);
    let rect = egui::Rect::from_min_size(pos, galley.size()).expand(3.0);
    painter.rect_filled(rect, 3.0, egui::Color32::from_black_alpha(160));
    painter.galley(pos, galley, color);
    rect
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_on_the_overlay() {
        let mut stats = StatsSnapshot {
            bitrate_bps: 1_234_000.0,
            fps: 25.0,
            fps_shown: Some(24.84),
            jitter_ms: 0.81,
            latency_ms: Some(41.6),
            latency_kind: Some(crate::stats::LatencyKind::ArrivalToScreen),
            ..StatsSnapshot::default()
        };
        let line = pack_lines(&overlay_figures(&stats), " · ", 200).join("\n");
        assert_eq!(
            line,
            "1.2 Mb/s · 25.0 fps (shown 24.8) · jitter 0.8 ms · loss 0.0 % · 42 ms arrival → screen"
        );
        assert_eq!(format_bitrate(850_400.0), "850 kb/s");
        assert_eq!(format_percent(0.0123), "1.2 %");
        assert_eq!(stats_color(&stats), egui::Color32::from_gray(230));
        stats.fraction_lost_interval = 0.02;
        assert_eq!(stats_color(&stats), egui::Color32::from_rgb(255, 190, 90));
        stats.fraction_lost_interval = 0.06;
        assert_eq!(stats_color(&stats), egui::Color32::from_rgb(255, 110, 110));
        stats.fps_shown = None;
        stats.latency_ms = None;
        assert_eq!(overlay_figures(&stats)[1], "25.0 fps");
        assert_eq!(overlay_figures(&stats).len(), 4);
    }

    #[test]
    fn figures_wrap_to_the_tile() {
        let parts: Vec<String> = ["aaaa", "bbb", "cc", "dddddddddd"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            pack_lines(&parts, " · ", 10),
            ["aaaa · bbb", "cc", "dddddddddd"]
        );
        assert_eq!(
            pack_lines(&parts, " · ", 3),
            ["aaaa", "bbb", "cc", "dddddddddd"]
        );
        assert_eq!(pack_lines(&parts, " · ", 100).len(), 1);
        assert!(pack_lines(&[], " · ", 10).is_empty());
    }
}
