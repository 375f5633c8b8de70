//! The demo server's moving test pattern, drawn straight into I420.
//!
//! Each frame shows, top to bottom: the capture-time code band ([`crate::timecode`]), colour
//! bars whose hues are rotated per camera so that tiles on the wall tell apart at a glance,
//! and a ramp in the camera's accent colour. Over those, a bar sweeps across and a box
//! bounces, so a frozen or stuttering tile is obvious; in the middle a dark panel shows the
//! camera name, the capture clock (UTC) and the frame number in a built-in 5x7 font.
//!
//! Up to 16 cameras at 640x360 and 25 fps share two cores with their encoders, so a frame
//! must draw in well under a millisecond: everything is filled a row slice at a time, and
//! rows that repeat are copied from the first one.

use std::ops::Range;

use crate::timecode::{timecode_band_height, write_timecode, MIN_HEIGHT, MIN_WIDTH};

/// A planar YUV 4:2:0 picture (I420), BT.601 limited range; strides are `width` and
/// `width / 2`. Width and height are even.
///
/// An odd size does not panic anything here, but its last column and row get no chroma.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Picture {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl I420Picture {
    /// A black picture.
    pub fn new(width: usize, height: usize) -> Self {
        let chroma_len = (width / 2) * (height / 2);
        Self {
            width,
            height,
            y: vec![BLACK.y; width * height],
            u: vec![BLACK.u; chroma_len],
            v: vec![BLACK.v; chroma_len],
        }
    }

    /// Width (and stride) of the U and V planes.
    pub fn chroma_width(&self) -> usize {
        self.width / 2
    }

    /// Height of the U and V planes.
    pub fn chroma_height(&self) -> usize {
        self.height / 2
    }

    /// Whether the planes are as long as the size says; the fields are public, so a caller
    /// could have resized one without the other.
    fn has_planes_for_size(&self) -> bool {
        let chroma_len = self.chroma_width().checked_mul(self.chroma_height());
        self.width
            .checked_mul(self.height)
            .is_some_and(|len| self.y.len() >= len)
            && chroma_len.is_some_and(|len| self.u.len() >= len && self.v.len() >= len)
    }

    /// Fills `rect` (clipped to the picture) with `colour`. Chroma covers every chroma
    /// sample the rectangle touches, so keep rectangles on even coordinates where the
    /// colour should not bleed into a neighbour.
    fn fill_rect(&mut self, rect: Rect, colour: Yuv) {
        self.fill_luma_rect(rect, colour.y);
        let (chroma_width, chroma_height) = (self.chroma_width(), self.chroma_height());
        let columns = rect.x / 2..rect.right().div_ceil(2).min(chroma_width);
        let rows = rect.y / 2..rect.bottom().div_ceil(2).min(chroma_height);
        fill_plane_rect(
            &mut self.u,
            chroma_width,
            columns.clone(),
            rows.clone(),
            colour.u,
        );
        fill_plane_rect(&mut self.v, chroma_width, columns, rows, colour.v);
    }

    /// Fills `rect` (clipped to the picture) in the luma plane only, leaving colour alone.
    fn fill_luma_rect(&mut self, rect: Rect, luma: u8) {
        let columns = rect.x..rect.right().min(self.width);
        let rows = rect.y..rect.bottom().min(self.height);
        fill_plane_rect(&mut self.y, self.width, columns, rows, luma);
    }
}

/// Fills `columns` x `rows` of a plane whose stride is `stride`; parts outside the plane are
/// skipped.
fn fill_plane_rect(
    plane: &mut [u8],
    stride: usize,
    columns: Range<usize>,
    rows: Range<usize>,
    value: u8,
) {
    if stride == 0 || columns.is_empty() {
        return;
    }
    for row in plane
        .chunks_exact_mut(stride)
        .take(rows.end)
        .skip(rows.start)
    {
        if let Some(pixels) = row.get_mut(columns.clone()) {
            pixels.fill(value);
        }
    }
}

/// Copies row `rows.start` of a plane into every other row of `rows`, so that a band whose
/// rows are all alike is computed once.
fn repeat_first_row(plane: &mut [u8], stride: usize, rows: Range<usize>) {
    let source = rows.start * stride..(rows.start + 1) * stride;
    if source.end > plane.len() {
        return;
    }
    for row in rows.skip(1) {
        let start = row * stride;
        if start + stride > plane.len() {
            return;
        }
        plane.copy_within(source.clone(), start);
    }
}

/// A rectangle in picture pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    x: usize,
    y: usize,
    width: usize,
    height: usize,
}

impl Rect {
    fn right(&self) -> usize {
        self.x.saturating_add(self.width)
    }

    fn bottom(&self) -> usize {
        self.y.saturating_add(self.height)
    }

    /// The rectangle shrunk by `inset` on every side.
    fn inset(&self, inset: usize) -> Self {
        Self {
            x: self.x + inset,
            y: self.y + inset,
            width: self.width.saturating_sub(2 * inset),
            height: self.height.saturating_sub(2 * inset),
        }
    }
}

/// One BT.601 limited-range colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Yuv {
    y: u8,
    u: u8,
    v: u8,
}

const BLACK: Yuv = Yuv {
    y: 16,
    u: 128,
    v: 128,
};
const WHITE: Yuv = Yuv {
    y: 235,
    u: 128,
    v: 128,
};
/// The text panel: dark enough for white text, light enough to read as a panel on black.
const PANEL: Yuv = Yuv {
    y: 28,
    u: 128,
    v: 128,
};

/// BT.601 limited-range Y'CbCr from gamma-encoded R'G'B' in 0..=1 (ITU-R BT.601 §2.5).
fn yuv_from_rgb([r, g, b]: [f32; 3]) -> Yuv {
    let channel = |value: f32| value.round().clamp(0.0, 255.0) as u8;
    Yuv {
        y: channel(16.0 + 65.481 * r + 128.553 * g + 24.966 * b),
        u: channel(128.0 - 37.797 * r - 74.203 * g + 112.0 * b),
        v: channel(128.0 + 112.0 * r - 93.786 * g - 18.214 * b),
    }
}

/// R'G'B' in 0..=1 from hue (degrees, any value), saturation and value in 0..=1.
fn rgb_from_hsv(hue_deg: f32, saturation: f32, value: f32) -> [f32; 3] {
    let sector = hue_deg.rem_euclid(360.0) / 60.0;
    let chroma = value * saturation;
    let rising = chroma * (1.0 - (sector % 2.0 - 1.0).abs());
    let low = value - chroma;
    let (r, g, b) = match sector as u32 {
        0 => (chroma, rising, 0.0),
        1 => (rising, chroma, 0.0),
        2 => (0.0, chroma, rising),
        3 => (0.0, rising, chroma),
        4 => (rising, 0.0, chroma),
        _ => (chroma, 0.0, rising),
    };
    [r + low, g + low, b + low]
}

/// Hues of the classic 75% colour bars after white: yellow, cyan, green, magenta, red, blue.
const BAR_HUES_DEG: [f32; 6] = [60.0, 180.0, 120.0, 300.0, 0.0, 240.0];
/// Brightness of the bars; 75% as in SMPTE bars, so that white text and the box stand out.
const BAR_VALUE: f32 = 0.75;
/// Hue step between cameras: the golden angle spreads any number of cameras evenly around
/// the colour wheel without two neighbours landing close together.
const HUE_STEP_DEG: f32 = 137.507_77;
/// Frames for the sweeping bar to cross the picture once (3 s at 25 fps).
const SWEEP_PERIOD_FRAMES: u64 = 75;

/// One demo camera's synthetic picture source.
#[derive(Debug, Clone)]
pub struct TestPattern {
    /// The name as drawn: upper case, characters the font lacks shown as `?`.
    label: String,
    /// Colour bars, left to right.
    bars: [Yuv; 7],
    /// This camera's own colour, for the ramp, the box and the panel's frame.
    accent: Yuv,
    /// Frames for the box to go across and back, horizontally and vertically. They differ
    /// per camera so that a wall of demo cameras does not move in lockstep.
    bounce_periods: (u64, u64),
    /// Frames by which this camera's bounce is ahead of the others'.
    bounce_phase: u64,
}

impl TestPattern {
    /// `camera_index` counts from 0 and picks the camera's colours and motion.
    pub fn new(name: &str, camera_index: usize) -> Self {
        let hue_deg = (camera_index % 360) as f32 * HUE_STEP_DEG;
        let mut bars = [yuv_from_rgb(rgb_from_hsv(0.0, 0.0, BAR_VALUE)); 7];
        for (bar, hue) in bars.iter_mut().skip(1).zip(BAR_HUES_DEG) {
            *bar = yuv_from_rgb(rgb_from_hsv(hue + hue_deg, 1.0, BAR_VALUE));
        }
        let index = camera_index as u64;
        Self {
            label: name.chars().map(font_char_from_char).collect(),
            bars,
            accent: yuv_from_rgb(rgb_from_hsv(hue_deg + 30.0, 0.8, 1.0)),
            bounce_periods: (110 + 14 * (index % 5), 76 + 10 * (index % 4)),
            bounce_phase: index.wrapping_mul(37),
        }
    }

    /// Draws frame number `frame_index`, captured at `capture_ms` (ms since the Unix epoch,
    /// UTC), into `picture`.
    ///
    /// Any size draws without panicking; from 128x64 up the top band carries `capture_ms` as
    /// a [`crate::timecode`]. A picture whose planes are shorter than its size says is left
    /// untouched.
    pub fn draw(&self, frame_index: u64, capture_ms: u64, picture: &mut I420Picture) {
        if !picture.has_planes_for_size() || picture.width < 2 || picture.height < 2 {
            return;
        }
        let (width, height) = (picture.width, picture.height);
        let carries_code = width >= MIN_WIDTH && height >= MIN_HEIGHT;
        let band_height = if carries_code {
            timecode_band_height(height)
        } else {
            0
        };
        let ramp_height = (height / 6) & !1;
        let scene = Rect {
            x: 0,
            y: band_height,
            width,
            height: height - band_height,
        };

        self.draw_bars(picture, band_height..height - ramp_height);
        self.draw_ramp(picture, height - ramp_height..height);
        draw_sweep(picture, frame_index, scene);
        self.draw_bouncing_box(picture, frame_index, scene);
        let lines = [
            self.label.clone(),
            clock_from_ms(capture_ms),
            format!("FRAME {frame_index:06}"),
        ];
        self.draw_text_panel(picture, &lines, scene);

        if carries_code {
            // Grey chroma under the code keeps its cells black and white after the encoder's
            // chroma subsampling, and reads as a plain strip on the wall.
            picture.fill_rect(
                Rect {
                    x: 0,
                    y: 0,
                    width,
                    height: band_height,
                },
                BLACK,
            );
            write_timecode(&mut picture.y, width, width, height, capture_ms);
        }
    }

    /// Vertical colour bars over `rows`.
    fn draw_bars(&self, picture: &mut I420Picture, rows: Range<usize>) {
        if rows.is_empty() {
            return;
        }
        let count = self.bars.len();
        for (index, &colour) in self.bars.iter().enumerate() {
            let x = (index * picture.width / count) & !1;
            let right = ((index + 1) * picture.width / count) & !1;
            let right = if index + 1 == count {
                picture.width
            } else {
                right
            };
            picture.fill_rect(
                Rect {
                    x,
                    y: rows.start,
                    width: right - x,
                    height: 1,
                },
                colour,
            );
        }
        let chroma_width = picture.chroma_width();
        repeat_first_row(&mut picture.y, picture.width, rows.clone());
        repeat_first_row(&mut picture.u, chroma_width, rows.start / 2..rows.end / 2);
        repeat_first_row(&mut picture.v, chroma_width, rows.start / 2..rows.end / 2);
    }

    /// A ramp from black to the accent colour, left to right, over `rows`.
    fn draw_ramp(&self, picture: &mut I420Picture, rows: Range<usize>) {
        if rows.is_empty() {
            return;
        }
        // Y'CbCr is linear in R'G'B', so interpolating it is interpolating the colour.
        let lerp = |from: u8, to: u8, at: usize, span: usize| {
            let (from, to) = (from as usize, to as usize);
            let span = span.max(1);
            if to >= from {
                (from + (to - from) * at / span) as u8
            } else {
                (from - (from - to) * at / span) as u8
            }
        };
        let width = picture.width;
        let first = rows.start * width;
        if let Some(row) = picture.y.get_mut(first..first + width) {
            for (x, luma) in row.iter_mut().enumerate() {
                *luma = lerp(BLACK.y, self.accent.y, x, width - 1);
            }
        }
        let chroma_width = picture.chroma_width();
        let chroma_rows = rows.start / 2..rows.end / 2;
        let first = chroma_rows.start * chroma_width;
        for (plane, to) in [
            (&mut picture.u, self.accent.u),
            (&mut picture.v, self.accent.v),
        ] {
            if let Some(row) = plane.get_mut(first..first + chroma_width) {
                for (x, chroma) in row.iter_mut().enumerate() {
                    *chroma = lerp(128, to, x, chroma_width.saturating_sub(1));
                }
            }
            repeat_first_row(plane, chroma_width, chroma_rows.clone());
        }
        repeat_first_row(&mut picture.y, width, rows);
    }

    /// A box in the accent colour with a dark rim, bouncing off the edges of `scene`.
    fn draw_bouncing_box(&self, picture: &mut I420Picture, frame_index: u64, scene: Rect) {
        let size = (scene.height / 4).max(4) & !1;
        let (period_x, period_y) = self.bounce_periods;
        let frame = frame_index.wrapping_add(self.bounce_phase);
        let x = bounce(frame, period_x, scene.width.saturating_sub(size));
        let y = bounce(frame, period_y, scene.height.saturating_sub(size));
        let outer = Rect {
            x: (scene.x + x) & !1,
            y: (scene.y + y) & !1,
            width: size,
            height: size,
        };
        let rim = (size / 12).max(2) & !1;
        picture.fill_rect(outer, BLACK);
        picture.fill_rect(outer.inset(rim), self.accent);
        picture.fill_rect(outer.inset(rim * 3), WHITE);
        picture.fill_rect(outer.inset(rim * 4), self.accent);
    }

    /// White `lines` on a dark panel centred in `scene`, as large as fits.
    fn draw_text_panel(&self, picture: &mut I420Picture, lines: &[String], scene: Rect) {
        let longest = lines
            .iter()
            .map(|line| line.chars().count())
            .max()
            .unwrap_or(0)
            .max(1);
        // A glyph cell is 6x8 font pixels (5x7 and a gap); the padding around the text is
        // 3 font pixels, and lines are 10 font pixels apart.
        let text_height_units = lines.len() * 10 - 2 + 6;
        let scale_for_height = (picture.height / 90).max(1);
        let scale_for_width = picture.width.saturating_sub(8) / (longest * 6 + 5);
        let scale_for_scene = scene.height / text_height_units;
        let scale = scale_for_height
            .min(scale_for_width)
            .min(scale_for_scene)
            .max(1);
        let max_chars = (picture.width.saturating_sub(6 * scale) / (6 * scale)).max(1);
        let chars_drawn = longest.min(max_chars);

        let panel_width = (chars_drawn * 6 - 1 + 6) * scale;
        let panel_height = text_height_units * scale;
        let panel = Rect {
            x: (scene.x + scene.width.saturating_sub(panel_width) / 2) & !1,
            y: (scene.y + scene.height.saturating_sub(panel_height) / 2) & !1,
            width: (panel_width + 1) & !1,
            height: (panel_height + 1) & !1,
        };
        let rim = scale.div_ceil(2) * 2;
        picture.fill_rect(
            Rect {
                x: panel.x.saturating_sub(rim),
                y: panel.y.saturating_sub(rim),
                width: panel.width + 2 * rim,
                height: panel.height + 2 * rim,
            },
            self.accent,
        );
        picture.fill_rect(panel, PANEL);

        for (line_index, line) in lines.iter().enumerate() {
            let line_chars = line.chars().count().min(chars_drawn);
            // Centre each line in the panel, on whole font pixels.
            let indent = (chars_drawn - line_chars) * 6 / 2;
            let x = panel.x + (3 + indent) * scale;
            let y = panel.y + (3 + line_index * 10) * scale;
            draw_text(picture, x, y, scale, line.chars().take(line_chars), WHITE.y);
        }
    }
}

/// A white bar that crosses `scene` left to right every [`SWEEP_PERIOD_FRAMES`].
fn draw_sweep(picture: &mut I420Picture, frame_index: u64, scene: Rect) {
    let bar_width = (scene.width / 96).max(2) & !1;
    let travel = scene.width.saturating_sub(bar_width) as u64;
    let x = (frame_index % SWEEP_PERIOD_FRAMES * travel / (SWEEP_PERIOD_FRAMES - 1)) as usize;
    picture.fill_rect(
        Rect {
            x: x & !1,
            width: bar_width,
            ..scene
        },
        WHITE,
    );
}

/// Where a bouncing object is after `frame` frames, for a trip across `travel` pixels and
/// back every `period` frames.
fn bounce(frame: u64, period: u64, travel: usize) -> usize {
    let period = period.max(2);
    let phase = frame % period;
    let distance = if 2 * phase < period {
        2 * phase
    } else {
        2 * (period - phase)
    };
    (distance * travel as u64 / period) as usize
}

/// `HH:MM:SS.mmm` of the UTC time of day.
fn clock_from_ms(ms_since_epoch: u64) -> String {
    let seconds = ms_since_epoch / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
        ms_since_epoch % 1000
    )
}

/// Draws `text` in luma with its top-left corner at (`x`, `y`), each font pixel
/// `scale`x`scale` picture pixels. Characters outside the picture are clipped.
fn draw_text(
    picture: &mut I420Picture,
    x: usize,
    y: usize,
    scale: usize,
    text: impl Iterator<Item = char>,
    luma: u8,
) {
    for (index, c) in text.enumerate() {
        let glyph_x = x + index * 6 * scale;
        if glyph_x >= picture.width {
            return;
        }
        for (row, &bits) in glyph_from_char(c).iter().enumerate() {
            // Fill each horizontal run of lit font pixels with one rectangle.
            let mut column = 0;
            while column < GLYPH_WIDTH {
                if bits & (0x10 >> column) == 0 {
                    column += 1;
                    continue;
                }
                let start = column;
                while column < GLYPH_WIDTH && bits & (0x10 >> column) != 0 {
                    column += 1;
                }
                picture.fill_luma_rect(
                    Rect {
                        x: glyph_x + start * scale,
                        y: y + row * scale,
                        width: (column - start) * scale,
                        height: scale,
                    },
                    luma,
                );
            }
        }
    }
}

/// Font pixels across a glyph; each row of a glyph is 5 bits, the leftmost pixel in bit 4.
const GLYPH_WIDTH: usize = 5;

/// The character the font draws for `c`: upper case, or `?` for what it lacks.
fn font_char_from_char(c: char) -> char {
    let upper = c.to_ascii_uppercase();
    if upper.is_ascii_alphanumeric() || " :.-/_#?".contains(upper) {
        upper
    } else {
        '?'
    }
}

/// The 5x7 glyph of `c`, top row first. Lower case draws as upper case and anything the font
/// lacks as `?`.
fn glyph_from_char(c: char) -> [u8; 7] {
    match font_char_from_char(c) {
        '0' => [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        '2' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
        '3' => [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
        '4' => [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
        '5' => [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
        '6' => [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
        '7' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
        '9' => [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
        'A' => [0x0e, 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11],
        'B' => [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
        'C' => [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
        'D' => [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
        'E' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
        'F' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
        'G' => [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
        'H' => [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'I' => [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
        'M' => [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'P' => [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
        'Q' => [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
        'R' => [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
        'S' => [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
        'T' => [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
        'X' => [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04],
        'Z' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
        ':' => [0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c],
        '-' => [0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f],
        '#' => [0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a],
        ' ' => [0x00; 7],
        _ => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timecode::read_timecode;

    const CAPTURE_MS: u64 = 1_767_225_599_987;

    fn drawn(width: usize, height: usize, camera_index: usize, frame_index: u64) -> I420Picture {
        let mut picture = I420Picture::new(width, height);
        TestPattern::new("Demo camera 1", camera_index).draw(frame_index, CAPTURE_MS, &mut picture);
        picture
    }

    #[test]
    fn draws_any_size_without_panicking() {
        let sizes = [
            (0, 0),
            (2, 2),
            (16, 8),
            (126, 62),
            (128, 64),
            (130, 64),
            (320, 180),
            (640, 360),
            (641, 361),
            (1280, 720),
            (1920, 1080),
            (3840, 2160),
        ];
        for (width, height) in sizes {
            for frame_index in [0, 1, 37, 74, 75, 1_000_000, u64::MAX] {
                drawn(width, height, 3, frame_index);
            }
        }
    }

    #[test]
    fn leaves_a_picture_with_short_planes_alone() {
        let mut picture = I420Picture::new(640, 360);
        picture.u.truncate(10);
        let before = picture.clone();
        TestPattern::new("x", 0).draw(5, CAPTURE_MS, &mut picture);
        assert_eq!(picture, before);
    }

    #[test]
    fn moves_from_frame_to_frame() {
        let first = drawn(640, 360, 0, 100);
        let second = drawn(640, 360, 0, 101);
        let band = timecode_band_height(360) * 640;
        // Same capture time, so any difference below the code band is motion.
        let changed = first.y[band..]
            .iter()
            .zip(&second.y[band..])
            .filter(|(a, b)| a != b)
            .count();
        assert!(changed > 1000, "only {changed} luma samples changed");
    }

    #[test]
    fn cameras_differ() {
        let first = drawn(640, 360, 0, 100);
        let second = drawn(640, 360, 1, 100);
        assert_ne!(first.u, second.u);
        assert_ne!(first.v, second.v);
    }

    #[test]
    fn timecode_reads_back() {
        for (width, height) in [(128, 64), (320, 180), (640, 360), (1280, 720), (1920, 1080)] {
            for frame_index in [0, 1, 50] {
                let picture = drawn(width, height, 2, frame_index);
                assert_eq!(
                    read_timecode(&picture.y, width, width, height),
                    Some(CAPTURE_MS),
                    "{width}x{height}"
                );
            }
        }
    }

    #[test]
    fn text_panel_is_not_flat() {
        let (width, height) = (640, 360);
        let picture = drawn(width, height, 0, 7);
        // The middle of the picture is the panel: white glyphs on a dark ground.
        let middle = &picture.y[height / 2 * width..(height / 2 + 1) * width];
        let panel_middle = &middle[width / 4..width * 3 / 4];
        let white = panel_middle.iter().filter(|&&v| v == WHITE.y).count();
        let dark = panel_middle.iter().filter(|&&v| v == PANEL.y).count();
        assert!(white > 20 && dark > 20, "white {white}, dark {dark}");
    }

    #[test]
    fn clock_is_utc_time_of_day() {
        assert_eq!(clock_from_ms(0), "00:00:00.000");
        // 2025-12-31T23:59:59.987Z
        assert_eq!(clock_from_ms(CAPTURE_MS), "23:59:59.987");
        assert_eq!(clock_from_ms(86_400_000 + 3_723_004), "01:02:03.004");
    }

    #[test]
    fn label_is_upper_case_in_the_font() {
        assert_eq!(TestPattern::new("Cam #2 (hall)", 0).label, "CAM #2 ?HALL?");
    }

    #[test]
    fn every_font_char_has_its_own_glyph() {
        let chars: Vec<char> = ('0'..='9')
            .chain('A'..='Z')
            .chain(" :.-/_#".chars())
            .collect();
        for (i, &a) in chars.iter().enumerate() {
            for &b in &chars[i + 1..] {
                assert_ne!(glyph_from_char(a), glyph_from_char(b), "{a} and {b}");
            }
            assert_ne!(glyph_from_char(a), glyph_from_char('?'), "{a}");
        }
    }

    #[test]
    fn bounce_stays_within_travel() {
        for frame in 0..500 {
            assert!(bounce(frame, 97, 300) <= 300);
        }
        assert_eq!(bounce(0, 100, 300), 0);
        assert_eq!(bounce(50, 100, 300), 300);
        assert_eq!(bounce(u64::MAX, 0, 300), bounce(u64::MAX, 2, 300));
    }

    #[test]
    fn yuv_matches_bt601_limited_range() {
        assert_eq!(yuv_from_rgb([0.0, 0.0, 0.0]), BLACK);
        assert_eq!(yuv_from_rgb([1.0, 1.0, 1.0]), WHITE);
        assert_eq!(
            yuv_from_rgb([1.0, 0.0, 0.0]),
            Yuv {
                y: 81,
                u: 90,
                v: 240
            }
        );
    }
}
