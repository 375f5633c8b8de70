//! Draws decoded YUV frames with the GPU: the planes go into textures as they are (one `R8`
//! texture per plane, `R8` + `RG8` for NV12) and a WGSL shader converts to RGB with the frame's
//! matrix (BT.601/BT.709) and range (limited/full). The CPU never touches a pixel.
//!
//! Drawing goes through an egui_wgpu paint callback: [`install`] puts the shared pipeline into
//! the renderer's callback resources once; each tile's [`yuv_paint_callback`] uploads in
//! `prepare` (only when the FrameSlot generation changed) and draws in `paint`.

mod color;
mod planes;
pub mod test_pattern;
mod yuv;

use std::sync::Arc;

use eframe::egui;

pub use color::{color_uniform, yuv_to_rgb_reference, ColorUniform};
pub use planes::{plane_uploads, FrameRejected, PlaneFormat, PlaneUpload};

use crate::decode::VideoFrame;
use yuv::{YuvCallback, YuvRenderer};

/// Creates the pipeline and stores the shared resources in the renderer's callback resources.
/// Call once from the eframe app's creation (`cc.wgpu_render_state`).
///
/// Assumes eframe's default render pass: no multisampling, no depth buffer. An app that sets
/// `NativeOptions::multisampling` or `depth_buffer` calls [`install_for_pass`] instead.
pub fn install(render_state: &egui_wgpu::RenderState) {
    install_for_pass(render_state, 1, None);
}

/// [`install`] for a render pass with `msaa_samples` and a depth/stencil buffer of
/// `depth_stencil_format` (what eframe derives from `NativeOptions::multisampling`,
/// `depth_buffer` and `stencil_buffer`; see `egui_wgpu::depth_format_from_bits`). The pipeline
/// must match egui's pass or wgpu rejects the draw.
pub fn install_for_pass(
    render_state: &egui_wgpu::RenderState,
    msaa_samples: u32,
    depth_stencil_format: Option<egui_wgpu::wgpu::TextureFormat>,
) {
    let renderer = YuvRenderer::new(
        &render_state.device,
        render_state.target_format,
        msaa_samples,
        depth_stencil_format,
    );
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(renderer);
}

/// All of the picture, as the `uv_rect` of [`yuv_paint_callback`].
pub const WHOLE_PICTURE: egui::Rect = egui::Rect {
    min: egui::Pos2::ZERO,
    max: egui::Pos2 { x: 1.0, y: 1.0 },
};

/// A paint callback that draws `frame` stretched to `rect` (the caller already letterboxed
/// `rect` to the frame's aspect ratio). `tile_id` identifies the tile's textures; `generation`
/// is the FrameSlot generation: textures are re-uploaded only when it changes, so a tile whose
/// source changes (a new slot restarting at generation 1) calls [`forget_tile`] first.
///
/// A frame whose planes do not match its layout is not uploaded (logged at debug); the tile
/// keeps showing its last good picture, or nothing.
///
/// `uv_rect` is the part of the picture drawn over `rect`, in picture coordinates (0..1):
/// the unit square for the whole picture, less when the tile is zoomed in.
pub fn yuv_paint_callback(
    rect: egui::Rect,
    tile_id: u64,
    frame: Arc<VideoFrame>,
    generation: u64,
    uv_rect: egui::Rect,
) -> egui::PaintCallback {
    egui_wgpu::Callback::new_paint_callback(
        rect,
        YuvCallback {
            tile_id,
            frame,
            generation,
            uv_rect: [
                uv_rect.min.x,
                uv_rect.min.y,
                uv_rect.width(),
                uv_rect.height(),
            ],
        },
    )
}

/// Frees the textures of tiles that are gone.
pub fn forget_tile(render_state: &egui_wgpu::RenderState, tile_id: u64) {
    if let Some(renderer) = render_state
        .renderer
        .write()
        .callback_resources
        .get_mut::<YuvRenderer>()
    {
        renderer.forget_tile(tile_id);
    }
}

/// The rectangle inside `available` with the frame's aspect ratio, centred (letterbox/pillarbox).
///
/// When either has no area (or `available` is not finite) there is nothing sensible to fit:
/// the result is an empty rect, which a paint callback does not draw.
pub fn letterbox(available: egui::Rect, frame_width: u32, frame_height: u32) -> egui::Rect {
    let available_size = available.size();
    let has_area = available_size.x > 0.0 && available_size.y > 0.0;
    if !available.is_finite() || !has_area || frame_width == 0 || frame_height == 0 {
        let centre = if available.is_finite() {
            available.center()
        } else {
            egui::Pos2::ZERO
        };
        return egui::Rect::from_center_size(centre, egui::Vec2::ZERO);
    }
    let frame_size = egui::vec2(frame_width as f32, frame_height as f32);
    let scale = (available_size.x / frame_size.x).min(available_size.y / frame_size.y);
    egui::Rect::from_center_size(available.center(), frame_size * scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::{pos2, vec2, Rect};

    fn assert_rect_near(actual: Rect, expected: Rect) {
        let close = |a: egui::Pos2, b: egui::Pos2| (a - b).length() < 1e-3;
        assert!(
            close(actual.min, expected.min) && close(actual.max, expected.max),
            "got {actual:?}, expected {expected:?}"
        );
    }

    fn assert_no_nan(rect: Rect) {
        let values = [rect.min.x, rect.min.y, rect.max.x, rect.max.y];
        assert!(values.iter().all(|v| !v.is_nan()), "{rect:?}");
    }

    #[test]
    fn wide_frame_in_square_is_letterboxed() {
        let available = Rect::from_min_size(pos2(10.0, 20.0), vec2(400.0, 400.0));
        let fitted = letterbox(available, 1920, 1080);
        assert_rect_near(
            fitted,
            Rect::from_min_max(pos2(10.0, 107.5), pos2(410.0, 332.5)),
        );
    }

    #[test]
    fn tall_frame_in_wide_area_is_pillarboxed() {
        let available = Rect::from_min_size(pos2(0.0, 0.0), vec2(800.0, 400.0));
        let fitted = letterbox(available, 480, 640);
        assert_rect_near(
            fitted,
            Rect::from_min_max(pos2(250.0, 0.0), pos2(550.0, 400.0)),
        );
    }

    #[test]
    fn equal_aspect_fills_the_area() {
        let available = Rect::from_min_size(pos2(5.0, 5.0), vec2(640.0, 360.0));
        assert_rect_near(letterbox(available, 1280, 720), available);
        // Small frames are scaled up too.
        assert_rect_near(letterbox(available, 16, 9), available);
    }

    #[test]
    fn zero_sizes_give_an_empty_rect_without_nan() {
        let available = Rect::from_min_size(pos2(0.0, 0.0), vec2(640.0, 360.0));
        for (w, h) in [(0, 0), (0, 720), (1280, 0)] {
            let fitted = letterbox(available, w, h);
            assert_no_nan(fitted);
            assert_eq!(fitted.area(), 0.0);
        }
        for available in [
            Rect::from_min_size(pos2(3.0, 4.0), vec2(0.0, 0.0)),
            Rect::from_min_size(pos2(3.0, 4.0), vec2(0.0, 100.0)),
            Rect::from_min_size(pos2(3.0, 4.0), vec2(100.0, 0.0)),
            Rect::from_min_max(pos2(10.0, 10.0), pos2(0.0, 0.0)),
            Rect::NOTHING,
            Rect::EVERYTHING,
        ] {
            let fitted = letterbox(available, 1280, 720);
            assert_no_nan(fitted);
            assert_eq!(fitted.area(), 0.0, "{available:?}");
        }
    }

    #[test]
    fn extreme_aspect_ratios_stay_inside() {
        let available = Rect::from_min_size(pos2(0.0, 0.0), vec2(640.0, 360.0));
        for (w, h) in [(u32::MAX, 1), (1, u32::MAX), (1, 1)] {
            let fitted = letterbox(available, w, h);
            assert_no_nan(fitted);
            assert!(available.expand(1e-3).contains_rect(fitted), "{fitted:?}");
        }
    }
}
