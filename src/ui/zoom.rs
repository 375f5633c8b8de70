//! Digital zoom of one tile, sans-I/O: which part of the picture the tile shows, as a rectangle
//! in picture coordinates (0..1 across and down). The mouse wheel zooms about the pointer, a
//! drag pans while zoomed, `+`/`-` zoom about the centre and `0` shows the whole picture. The
//! shader samples only that rectangle: nothing is scaled on the CPU.

use eframe::egui;

/// How far in a tile can go: a 4K picture on a 1080p screen is 2×, and a number plate across a
/// car park needs a few times more.
pub const MAX_ZOOM: f32 = 8.0;

/// One wheel notch (egui reports about 50 points a line) zooms by this factor.
const WHEEL_POINTS_PER_DOUBLING: f32 = 200.0;

/// One tile's zoom: a scale of 1 shows the whole picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Zoom {
    scale: f32,
    /// The picture point at the middle of the tile.
    center: egui::Pos2,
}

impl Default for Zoom {
    fn default() -> Self {
        Self {
            scale: 1.0,
            center: egui::pos2(0.5, 0.5),
        }
    }
}

impl Zoom {
    pub fn scale(&self) -> f32 {
        self.scale
    }

    pub fn is_zoomed(&self) -> bool {
        self.scale > 1.0 + 1e-3
    }

    /// The part of the picture shown, within `0..1` both ways.
    pub fn uv_rect(&self) -> egui::Rect {
        egui::Rect::from_center_size(self.center, egui::Vec2::splat(1.0 / self.scale))
    }

    /// The picture point under `at`, a position within `video` (where the tile draws it).
    pub fn picture_point(&self, video: egui::Rect, at: egui::Pos2) -> egui::Pos2 {
        let uv = self.uv_rect();
        let fraction = (at - video.min) / video.size();
        uv.min + fraction * uv.size()
    }

    /// Zooms by `factor` (above 1 zooms in) keeping the picture point `fixed` where it is on
    /// screen (under the pointer, say).
    pub fn zoom_about(&mut self, fixed: egui::Pos2, factor: f32) {
        if !factor.is_finite() || factor <= 0.0 {
            return;
        }
        let scale = (self.scale * factor).clamp(1.0, MAX_ZOOM);
        // `fixed` is at screen fraction 0.5 + (fixed - center)·scale; keep it there.
        self.center = fixed - (fixed - self.center) * (self.scale / scale);
        self.scale = scale;
        self.clamp_center();
    }

    /// The mouse wheel: `scroll_points` up zooms in about the picture point `fixed`.
    pub fn wheel(&mut self, fixed: egui::Pos2, scroll_points: f32) {
        let doublings = (scroll_points / WHEEL_POINTS_PER_DOUBLING).clamp(-8.0, 8.0);
        self.zoom_about(fixed, doublings.exp2());
    }

    /// A drag by `delta` screen points over a video drawn `video_size` big: the picture
    /// follows the pointer.
    pub fn pan(&mut self, delta: egui::Vec2, video_size: egui::Vec2) {
        if video_size.x <= 0.0 || video_size.y <= 0.0 {
            return;
        }
        self.center -= delta / video_size / self.scale;
        self.clamp_center();
    }

    /// Keeps the shown rectangle inside the picture.
    fn clamp_center(&mut self) {
        let half = 0.5 / self.scale;
        self.center = egui::pos2(
            self.center.x.clamp(half, 1.0 - half),
            self.center.y.clamp(half, 1.0 - half),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::{pos2, vec2, Rect};

    fn near(a: Rect, b: Rect) -> bool {
        (a.min - b.min).length() < 1e-4 && (a.max - b.max).length() < 1e-4
    }

    #[test]
    fn the_whole_picture_until_zoomed() {
        let zoom = Zoom::default();
        assert!(!zoom.is_zoomed());
        assert!(near(
            zoom.uv_rect(),
            Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0))
        ));
    }

    #[test]
    fn zooming_keeps_the_point_under_the_pointer() {
        let video = Rect::from_min_size(pos2(100.0, 50.0), vec2(400.0, 300.0));
        let mut zoom = Zoom::default();
        // The pointer a quarter across and a third down the video.
        let pointer = pos2(200.0, 150.0);
        let before = zoom.picture_point(video, pointer);
        zoom.zoom_about(before, 2.0);
        assert_eq!(zoom.scale(), 2.0);
        let after = zoom.picture_point(video, pointer);
        assert!(
            (after - before).length() < 1e-5,
            "{before:?} moved to {after:?}"
        );
        assert!(near(
            zoom.uv_rect(),
            Rect::from_min_size(pos2(0.125, 1.0 / 6.0), vec2(0.5, 0.5))
        ));
        // And again, further in.
        zoom.zoom_about(before, 2.0);
        assert!((zoom.picture_point(video, pointer) - before).length() < 1e-5);
    }

    #[test]
    fn the_shown_part_stays_inside_the_picture() {
        let mut zoom = Zoom::default();
        // Zooming about a corner shows that corner, not beyond it.
        zoom.zoom_about(pos2(0.0, 1.0), 4.0);
        assert!(near(
            zoom.uv_rect(),
            Rect::from_min_size(pos2(0.0, 0.75), vec2(0.25, 0.25))
        ));
        // Panning far past the edge stops at it.
        zoom.pan(vec2(-10_000.0, 10_000.0), vec2(400.0, 300.0));
        assert!(near(
            zoom.uv_rect(),
            Rect::from_min_size(pos2(0.75, 0.0), vec2(0.25, 0.25))
        ));
        // Zooming out from there gives the whole picture back, centred.
        zoom.zoom_about(pos2(0.9, 0.1), 0.01);
        assert_eq!(zoom, Zoom::default());
    }

    #[test]
    fn a_drag_moves_the_picture_with_the_pointer() {
        let mut zoom = Zoom::default();
        zoom.zoom_about(pos2(0.5, 0.5), 2.0);
        // Dragging left by a quarter of the video's width shows what was right of centre.
        zoom.pan(vec2(-100.0, 0.0), vec2(400.0, 300.0));
        assert!(near(
            zoom.uv_rect(),
            Rect::from_min_size(pos2(0.375, 0.25), vec2(0.5, 0.5))
        ));
    }

    #[test]
    fn zoom_is_bounded_and_ignores_nonsense() {
        let mut zoom = Zoom::default();
        zoom.wheel(pos2(0.5, 0.5), 100_000.0);
        assert_eq!(zoom.scale(), MAX_ZOOM);
        let before = zoom;
        zoom.zoom_about(pos2(0.5, 0.5), f32::NAN);
        zoom.zoom_about(pos2(0.5, 0.5), 0.0);
        zoom.pan(vec2(5.0, 5.0), vec2(0.0, 0.0));
        assert_eq!(zoom, before);
        // A wheel notch each way comes back to where it was.
        let mut zoom = Zoom::default();
        zoom.wheel(pos2(0.3, 0.3), 50.0);
        assert!(zoom.is_zoomed());
        zoom.wheel(pos2(0.3, 0.3), -50.0);
        assert!((zoom.scale() - 1.0).abs() < 1e-5);
    }
}
