//! A capture-time code stamped into the top rows of a picture, readable after lossy coding.
//!
//! The demo server writes each frame's wall-clock capture time into the luma plane so that
//! the viewer can measure capture → encode → RTP → decode latency from the decoded picture
//! alone: the time needs no side channel and survives any transport. (RTP timestamps have
//! no epoch, and RTCP sender reports come too rarely to time each frame.)
//!
//! # Layout
//! The code fills a band of [`timecode_band_height`] rows across the full width, split into
//! two code rows of 32 equal cells. A cell is white (luma 235) or black (luma 16), the
//! BT.601 limited-range extremes, so the signal has the largest swing an encoder keeps.
//!
//! ```text
//! code row 0:  W B d47 d46 … d18                  2 sync + 30 data cells
//! code row 1:  W B d17 … d0 c7 … c0 K K K K       2 sync + 18 data + 8 check + 4 black
//! ```
//!
//! `d` are the low 48 bits of the capture time in milliseconds since the Unix epoch (enough
//! until the year 10889), most significant first; `c` is a CRC-8/AUTOSAR over those bits as
//! 6 big-endian bytes; `K` cells are always black.
//!
//! # Why this shape survives x264 at low bitrates
//! Two code rows of 32 cells make each cell twice as wide as one row of 64 would (20x8 px at
//! 640x360), so a cell keeps a flat centre after the codec's transform has softened its
//! edges. The band height is a multiple of 16 and starts at the top, so the code rows fall
//! on macroblock (and 4x4/8x8 transform) boundaries and their horizontal edges never sit
//! inside a block, where they would ring; at the common widths (640, 1280, 1920) the cell
//! edges fall on 4-pixel boundaries too. The reader averages only the centre half of each
//! cell in both directions and thresholds each code row at the midpoint of that row's own
//! sync cells, so a codec that shifts levels or shrinks contrast still reads. The sync
//! cells, the black cells and the checksum together reject pictures that carry no code.

use std::ops::Range;

/// Luma of a cell that carries a one (BT.601 limited-range white).
pub const WHITE_LUMA: u8 = 235;
/// Luma of a cell that carries a zero (BT.601 limited-range black).
pub const BLACK_LUMA: u8 = 16;

/// Smallest picture that carries a code: below this the cells get narrower than 4 pixels
/// and would not survive compression, so the writer leaves the picture alone.
pub const MIN_WIDTH: usize = 128;
/// See [`MIN_WIDTH`].
pub const MIN_HEIGHT: usize = 64;

/// Code rows stacked in the band; see the module docs for why two.
const CODE_ROWS: usize = 2;
/// Cells across one code row.
const CELLS_PER_ROW: usize = 32;
const CELL_COUNT: usize = CODE_ROWS * CELLS_PER_ROW;
/// Bits of the capture time carried: 2^48 ms is about 8900 years after 1970.
const DATA_BITS: u32 = 48;
const CHECK_BITS: u32 = 8;
/// Data and check bits, in the order they appear in the non-sync cells.
const PAYLOAD_BITS: u32 = DATA_BITS + CHECK_BITS;
const DATA_MASK: u64 = (1 << DATA_BITS) - 1;

/// Smallest difference between a code row's white and black sync cells that counts as a
/// code. A flat or low-contrast picture is not one, however its checksum happens to fall;
/// a compressed code keeps well over 150 of its 219 levels.
const MIN_SYNC_CONTRAST: u64 = 64;

/// Height in pixels of the band the code occupies, for a picture of this height (at least
/// 16 px, about height/24).
///
/// It is rounded to a multiple of 16 so that the band ends on a macroblock boundary and each
/// of its two code rows on a transform-block boundary (see the module docs).
pub fn timecode_band_height(height: usize) -> usize {
    ((height / 24 + 8) / 16 * 16).max(16)
}

/// Writes `capture_ms` into the top band of a luma plane (`stride` bytes per row,
/// `width`x`height` visible pixels). Does nothing if the picture is smaller than 128x64.
///
/// Only the low 48 bits of `capture_ms` are written; [`read_timecode`] returns those. The
/// whole band is overwritten, across the full width. A plane too short for `stride` and
/// `height`, or a `stride` below `width`, is left untouched rather than half-written.
pub fn write_timecode(
    y_plane: &mut [u8],
    stride: usize,
    width: usize,
    height: usize,
    capture_ms: u64,
) {
    let Some(geometry) = CodeGeometry::new(y_plane.len(), stride, width, height) else {
        return;
    };
    let cells = cells_from_capture_ms(capture_ms);
    for (code_row, row_cells) in cells.chunks_exact(CELLS_PER_ROW).enumerate() {
        for y in geometry.rows(code_row) {
            let start = y * stride;
            let Some(pixels) = y_plane.get_mut(start..start + width) else {
                return;
            };
            for (column, &white) in row_cells.iter().enumerate() {
                let luma = if white { WHITE_LUMA } else { BLACK_LUMA };
                if let Some(cell) = pixels.get_mut(geometry.columns(column)) {
                    cell.fill(luma);
                }
            }
        }
    }
}

/// Reads the code back; None when absent or the checksum fails. Never panics on any input
/// (short slices, zero sizes, stride < width...).
///
/// `width` and `height` must be the picture's own size (not a scaled copy's), since the
/// cells are found by geometry rather than by searching.
pub fn read_timecode(y_plane: &[u8], stride: usize, width: usize, height: usize) -> Option<u64> {
    let geometry = CodeGeometry::new(y_plane.len(), stride, width, height)?;
    let mut cells = [false; CELL_COUNT];
    for (code_row, row_cells) in cells.chunks_exact_mut(CELLS_PER_ROW).enumerate() {
        let mut levels = [0u64; CELLS_PER_ROW];
        for (column, level) in levels.iter_mut().enumerate() {
            *level = geometry.cell_mean_luma(y_plane, code_row, column)?;
        }
        // The first two cells of each code row are white then black: their midpoint is
        // this row's threshold, which follows whatever level shift the codec introduced.
        let (white, black) = (levels[0], levels[1]);
        if white < black + MIN_SYNC_CONTRAST {
            return None;
        }
        let threshold = (white + black) / 2;
        for (cell, &level) in row_cells.iter_mut().zip(&levels) {
            *cell = level > threshold;
        }
    }
    capture_ms_from_cells(&cells)
}

/// Where the cells of the code lie in a particular plane.
#[derive(Debug, Clone, Copy)]
struct CodeGeometry {
    stride: usize,
    width: usize,
    band_height: usize,
}

impl CodeGeometry {
    /// The geometry when a plane of `plane_len` bytes holds a whole band, else None.
    fn new(plane_len: usize, stride: usize, width: usize, height: usize) -> Option<Self> {
        if width < MIN_WIDTH || height < MIN_HEIGHT || stride < width {
            return None;
        }
        let band_height = timecode_band_height(height);
        if band_height > height {
            return None;
        }
        let needed = (band_height - 1).checked_mul(stride)?.checked_add(width)?;
        (needed <= plane_len).then_some(Self {
            stride,
            width,
            band_height,
        })
    }

    /// Pixel columns of cell `column` in any code row.
    fn columns(&self, column: usize) -> Range<usize> {
        split_point(self.width, CELLS_PER_ROW, column)
            ..split_point(self.width, CELLS_PER_ROW, column + 1)
    }

    /// Pixel rows of code row `code_row`.
    fn rows(&self, code_row: usize) -> Range<usize> {
        split_point(self.band_height, CODE_ROWS, code_row)
            ..split_point(self.band_height, CODE_ROWS, code_row + 1)
    }

    /// Mean luma of the centre of one cell, whose edges the codec blurs and rings.
    fn cell_mean_luma(&self, y_plane: &[u8], code_row: usize, column: usize) -> Option<u64> {
        let columns = centre_half(self.columns(column));
        let rows = centre_half(self.rows(code_row));
        let count = (columns.len() * rows.len()) as u64;
        if count == 0 {
            return None;
        }
        let mut sum = 0u64;
        for y in rows {
            let start = y * self.stride + columns.start;
            let pixels = y_plane.get(start..start + columns.len())?;
            sum += pixels.iter().map(|&luma| u64::from(luma)).sum::<u64>();
        }
        Some(sum / count)
    }
}

/// Where part `index` of `parts` equal parts of `total` starts, i.e. `index * total / parts`
/// rounded down, computed without the product overflowing.
fn split_point(total: usize, parts: usize, index: usize) -> usize {
    total / parts * index + total % parts * index / parts
}

/// The middle half of a range (a quarter trimmed from each end), never empty for a range of
/// two or more.
fn centre_half(range: Range<usize>) -> Range<usize> {
    let margin = range.len() / 4;
    range.start + margin..range.end - margin
}

/// The level a sync cell must have (true = white), or None for a payload cell.
fn sync_level(cell_index: usize) -> Option<bool> {
    match cell_index % CELLS_PER_ROW {
        0 => Some(true),
        1 => Some(false),
        _ => None,
    }
}

/// Every cell of the code for `capture_ms`, in reading order (true = white).
fn cells_from_capture_ms(capture_ms: u64) -> [bool; CELL_COUNT] {
    let data = capture_ms & DATA_MASK;
    let payload = data << CHECK_BITS | u64::from(crc8(&data_bytes(data)));
    let mut cells = [false; CELL_COUNT];
    let mut payload_index = 0u32;
    for (cell_index, cell) in cells.iter_mut().enumerate() {
        *cell = match sync_level(cell_index) {
            Some(white) => white,
            None => {
                let bit = payload_index < PAYLOAD_BITS
                    && (payload >> (PAYLOAD_BITS - 1 - payload_index)) & 1 == 1;
                payload_index += 1;
                bit
            }
        };
    }
    cells
}

/// The capture time a set of cells carries, if the sync cells, the always-black cells and
/// the checksum are all right.
fn capture_ms_from_cells(cells: &[bool; CELL_COUNT]) -> Option<u64> {
    let mut payload = 0u64;
    let mut payload_index = 0u32;
    for (cell_index, &white) in cells.iter().enumerate() {
        match sync_level(cell_index) {
            Some(expected) if white != expected => return None,
            Some(_) => {}
            None if payload_index < PAYLOAD_BITS => {
                payload = payload << 1 | u64::from(white);
                payload_index += 1;
            }
            None if white => return None,
            None => {}
        }
    }
    let data = payload >> CHECK_BITS;
    let check = (payload & 0xff) as u8;
    (crc8(&data_bytes(data)) == check).then_some(data)
}

/// The 48 data bits as 6 big-endian bytes, the checksum's input.
fn data_bytes(data: u64) -> [u8; 6] {
    let [_, _, b0, b1, b2, b3, b4, b5] = data.to_be_bytes();
    [b0, b1, b2, b3, b4, b5]
}

/// CRC-8/AUTOSAR (polynomial 0x2F, init 0xFF, final XOR 0xFF). Its non-zero init and final
/// XOR mean an all-black payload does not check, so a band that is black apart from its
/// sync cells is not read as time 0.
fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0xffu8;
    for &byte in bytes {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                crc << 1 ^ 0x2f
            } else {
                crc << 1
            };
        }
    }
    crc ^ 0xff
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh mid-grey plane, as a picture with no code would be.
    fn grey_plane(stride: usize, height: usize) -> Vec<u8> {
        vec![128; stride * height]
    }

    /// Deterministic pseudo-random numbers (xorshift64*), so failures reproduce.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// Uniform in `-amplitude..=amplitude`.
        fn offset(&mut self, amplitude: i32) -> i32 {
            let span = (2 * amplitude + 1) as u64;
            (self.next() % span) as i32 - amplitude
        }
    }

    /// Box-blurs every row horizontally and then every column vertically over `radius`
    /// pixels, which smears cell edges the way a low-bitrate codec does.
    fn blur(plane: &mut [u8], stride: usize, width: usize, height: usize, radius: usize) {
        let mut source = plane.to_vec();
        for y in 0..height {
            let row = &source[y * stride..y * stride + width];
            for x in 0..width {
                let window = &row[x.saturating_sub(radius)..(x + radius + 1).min(width)];
                let sum: u32 = window.iter().map(|&v| u32::from(v)).sum();
                plane[y * stride + x] = (sum / window.len() as u32) as u8;
            }
        }
        source.copy_from_slice(plane);
        for x in 0..width {
            for y in 0..height {
                let rows = y.saturating_sub(radius)..(y + radius + 1).min(height);
                let count = rows.len() as u32;
                let sum: u32 = rows.map(|row| u32::from(source[row * stride + x])).sum();
                plane[y * stride + x] = (sum / count) as u8;
            }
        }
    }

    const SIZES: [(usize, usize); 6] = [
        (128, 64),
        (320, 180),
        (640, 360),
        (1280, 720),
        (1920, 1080),
        (3840, 2160),
    ];
    const TIMES: [u64; 6] = [
        0,
        1,
        1_700_000_000_123,
        1_767_225_599_999,
        DATA_MASK,
        0x5555_aaaa_5555,
    ];

    #[test]
    fn crc8_matches_the_autosar_check_value() {
        assert_eq!(crc8(b"123456789"), 0xdf);
    }

    #[test]
    fn band_height_is_a_multiple_of_16_near_a_24th() {
        assert_eq!(timecode_band_height(0), 16);
        assert_eq!(timecode_band_height(64), 16);
        assert_eq!(timecode_band_height(360), 16);
        assert_eq!(timecode_band_height(720), 32);
        assert_eq!(timecode_band_height(1080), 48);
        assert_eq!(timecode_band_height(2160), 96);
        for height in 0..5000 {
            assert_eq!(timecode_band_height(height) % 16, 0);
        }
    }

    #[test]
    fn cells_round_trip() {
        for capture_ms in TIMES {
            assert_eq!(
                capture_ms_from_cells(&cells_from_capture_ms(capture_ms)),
                Some(capture_ms)
            );
        }
    }

    #[test]
    fn round_trips_at_common_sizes() {
        for (width, height) in SIZES {
            for capture_ms in TIMES {
                let mut plane = grey_plane(width, height);
                write_timecode(&mut plane, width, width, height, capture_ms);
                assert_eq!(
                    read_timecode(&plane, width, width, height),
                    Some(capture_ms),
                    "{width}x{height} {capture_ms}"
                );
            }
        }
    }

    #[test]
    fn round_trips_with_padded_odd_stride() {
        for (width, height, stride) in [(640, 360, 677), (321, 181, 333), (1280, 720, 1344)] {
            let mut plane = grey_plane(stride, height);
            write_timecode(&mut plane, stride, width, height, 1_700_000_000_123);
            assert_eq!(
                read_timecode(&plane, stride, width, height),
                Some(1_700_000_000_123)
            );
            // The padding beyond `width` is not ours to touch.
            for row in plane.chunks_exact(stride) {
                assert!(row[width..].iter().all(|&v| v == 128));
            }
        }
    }

    #[test]
    fn writes_only_the_band() {
        let (width, height) = (640, 360);
        let mut plane = grey_plane(width, height);
        write_timecode(&mut plane, width, width, height, 42);
        let band = timecode_band_height(height);
        assert!(plane[band * width..].iter().all(|&v| v == 128));
        assert!(plane[..band * width]
            .iter()
            .all(|&v| v == WHITE_LUMA || v == BLACK_LUMA));
    }

    #[test]
    fn keeps_only_the_low_48_bits() {
        let mut plane = grey_plane(640, 360);
        write_timecode(&mut plane, 640, 640, 360, (7 << 48) | 12345);
        assert_eq!(read_timecode(&plane, 640, 640, 360), Some(12345));
    }

    #[test]
    fn survives_noise_blur_and_level_shift() {
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        for (width, height) in [(320, 180), (640, 360), (1280, 720), (1920, 1080)] {
            for capture_ms in TIMES {
                let mut plane = grey_plane(width, height);
                write_timecode(&mut plane, width, width, height, capture_ms);
                // Only the band and a margin below it matter; blurring less keeps the test fast.
                blur(
                    &mut plane,
                    width,
                    width,
                    timecode_band_height(height) + 8,
                    2,
                );
                for luma in &mut plane {
                    // Shrink the swing towards grey and add ±40 of noise.
                    let shrunk = (i32::from(*luma) - 128) * 3 / 4 + 120;
                    *luma = (shrunk + noise.offset(40)).clamp(0, 255) as u8;
                }
                assert_eq!(
                    read_timecode(&plane, width, width, height),
                    Some(capture_ms),
                    "{width}x{height} {capture_ms}"
                );
            }
        }
    }

    #[test]
    fn any_flipped_cell_is_rejected() {
        let (width, height) = (640, 360);
        let mut clean = grey_plane(width, height);
        write_timecode(&mut clean, width, width, height, 1_700_000_000_123);
        let geometry =
            CodeGeometry::new(clean.len(), width, width, height).expect("640x360 holds a code");
        for code_row in 0..CODE_ROWS {
            for column in 0..CELLS_PER_ROW {
                let mut plane = clean.clone();
                for y in geometry.rows(code_row) {
                    for luma in &mut plane[y * width..][geometry.columns(column)] {
                        *luma = WHITE_LUMA + BLACK_LUMA - *luma;
                    }
                }
                assert_eq!(
                    read_timecode(&plane, width, width, height),
                    None,
                    "row {code_row} cell {column}"
                );
            }
        }
    }

    #[test]
    fn wrong_checksum_is_rejected() {
        let mut cells = cells_from_capture_ms(1_700_000_000_123);
        // The last check bit sits just before the four black cells of code row 1.
        let last_check_cell = CELL_COUNT - 5;
        cells[last_check_cell] = !cells[last_check_cell];
        assert_eq!(capture_ms_from_cells(&cells), None);
    }

    #[test]
    fn blank_planes_have_no_code() {
        for luma in [0, BLACK_LUMA, 128, WHITE_LUMA, 255] {
            let plane = vec![luma; 640 * 360];
            assert_eq!(read_timecode(&plane, 640, 640, 360), None, "luma {luma}");
        }
    }

    #[test]
    fn sync_cells_alone_are_not_time_zero() {
        let mut cells = [false; CELL_COUNT];
        for (cell_index, cell) in cells.iter_mut().enumerate() {
            *cell = sync_level(cell_index) == Some(true);
        }
        assert_eq!(capture_ms_from_cells(&cells), None);
    }

    #[test]
    fn garbage_has_no_code() {
        let mut noise = Noise(1);
        let mut found = 0;
        for _ in 0..200 {
            let plane: Vec<u8> = (0..320 * 180).map(|_| noise.next() as u8).collect();
            found += usize::from(read_timecode(&plane, 320, 320, 180).is_some());
        }
        assert_eq!(found, 0);
    }

    #[test]
    fn bad_geometry_never_panics() {
        let mut plane = grey_plane(640, 360);
        write_timecode(&mut plane, 640, 640, 360, 99);
        let cases = [
            (0, 0, 0, 0),
            (640, 0, 640, 360),
            (640, 640, 0, 360),
            (640, 640, 640, 0),
            (600, 640, 640, 360),
            (640, 640, 127, 360),
            (640, 640, 640, 63),
            (640, usize::MAX, usize::MAX, usize::MAX),
            (640, 640, 640, usize::MAX),
            (usize::MAX / 2, usize::MAX / 2, 640, 360),
        ];
        for (len, stride, width, height) in cases {
            let len = len.min(plane.len());
            assert_eq!(
                read_timecode(&plane[..len], stride, width, height),
                None,
                "{len} {stride} {width} {height}"
            );
            // Where the geometry is unusable for reading, it is for writing too.
            let mut copy = plane[..len].to_vec();
            write_timecode(&mut copy, stride, width, height, 1);
            assert_eq!(copy, plane[..len], "{len} {stride} {width} {height}");
        }
        // A plane just one byte short of the band.
        let band_len = 15 * 640 + 640;
        assert_eq!(read_timecode(&plane[..band_len - 1], 640, 640, 360), None);
        assert_eq!(read_timecode(&plane[..band_len], 640, 640, 360), Some(99));
        assert_eq!(read_timecode(&[], 640, 640, 360), None);
    }

    #[test]
    fn too_small_pictures_are_left_alone() {
        for (width, height) in [(127, 64), (128, 63), (64, 64), (2, 2)] {
            let mut plane = grey_plane(width, height);
            write_timecode(&mut plane, width, width, height, 5);
            assert!(plane.iter().all(|&v| v == 128));
        }
    }
}
