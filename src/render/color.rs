//! The YUV→RGB colour maths, in one place for the shader and for tests.
//!
//! The shader does not know about BT.601 or BT.709: it multiplies the sampled `(Y, U, V)` by
//! the rows of a [`ColorUniform`] that [`color_uniform`] builds here. [`yuv_to_rgb_reference`]
//! applies the very same rows on the CPU, so tests pin the constants the GPU uses.
//!
//! Equations from ITU-R BT.601-7 and BT.709-6 §3: with `Y'` in `[0, 1]` and `Cb`, `Cr` in
//! `[-0.5, 0.5]`:
//! `R = Y' + 2(1-Kr)·Cr`, `B = Y' + 2(1-Kb)·Cb`, `G = (Y' - Kr·R - Kb·B) / Kg`.
//! Limited ("TV", "MPEG") range codes luma as 16..=235 and chroma as 16..=240 around 128;
//! full ("PC", "JPEG") range uses 0..=255 for both (chroma around 128).

use crate::decode::ColorMatrix;

/// Rows of the affine map from sampled texel values (`0.0..=1.0`, i.e. the 8-bit code / 255) to
/// gamma-encoded R'G'B': `r = dot(r.xyz, yuv) + r.w`, same for g and b.
///
/// Laid out as three WGSL `vec4<f32>`, so it is 48 bytes with no padding.
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct ColorUniform {
    pub r: [f32; 4],
    pub g: [f32; 4],
    pub b: [f32; 4],
}

/// Luma weights `(Kr, Kb)` of a matrix; `Kg = 1 - Kr - Kb`.
fn luma_weights(matrix: ColorMatrix) -> (f32, f32) {
    match matrix {
        ColorMatrix::Bt601 => (0.299, 0.114),
        ColorMatrix::Bt709 => (0.2126, 0.0722),
        // ITU-R BT.2020-2, non-constant luminance.
        ColorMatrix::Bt2020 => (0.2627, 0.0593),
    }
}

/// The one function that decides the coefficients the shader uses.
pub fn color_uniform(matrix: ColorMatrix, full_range: bool) -> ColorUniform {
    let (kr, kb) = luma_weights(matrix);
    let kg = 1.0 - kr - kb;

    // Texel value t = code / 255. Normalised Y' = t·luma_scale + luma_offset, and
    // Cb (or Cr) = t·chroma_scale + chroma_offset.
    let (luma_scale, luma_offset, chroma_scale) = if full_range {
        (1.0, 0.0, 1.0)
    } else {
        (255.0 / 219.0, -16.0 / 219.0, 255.0 / 224.0)
    };
    let chroma_offset = -128.0 / 255.0 * chroma_scale;

    // R'G'B' from (Y', Cb, Cr).
    let rgb_from_ycbcr = [
        [1.0, 0.0, 2.0 * (1.0 - kr)],
        [
            1.0,
            -2.0 * kb * (1.0 - kb) / kg,
            -2.0 * kr * (1.0 - kr) / kg,
        ],
        [1.0, 2.0 * (1.0 - kb), 0.0],
    ];
    // Fold the range scaling into the rows, so the shader does one dot product per channel.
    let row = |m: [f32; 3]| {
        [
            m[0] * luma_scale,
            m[1] * chroma_scale,
            m[2] * chroma_scale,
            m[0] * luma_offset + (m[1] + m[2]) * chroma_offset,
        ]
    };
    ColorUniform {
        r: row(rgb_from_ycbcr[0]),
        g: row(rgb_from_ycbcr[1]),
        b: row(rgb_from_ycbcr[2]),
    }
}

/// What the shader computes for one pixel, on the CPU. For tests and documentation only: the
/// picture itself is never converted on the CPU.
pub fn yuv_to_rgb_reference(y: u8, u: u8, v: u8, matrix: ColorMatrix, full_range: bool) -> [u8; 3] {
    let uniform = color_uniform(matrix, full_range);
    let yuv = [
        f32::from(y) / 255.0,
        f32::from(u) / 255.0,
        f32::from(v) / 255.0,
    ];
    // Like the shader's `saturate` followed by the unorm render target's rounding.
    let channel = |row: [f32; 4]| {
        let value = row[0] * yuv[0] + row[1] * yuv[1] + row[2] * yuv[2] + row[3];
        (value.clamp(0.0, 1.0) * 255.0).round() as u8
    };
    [channel(uniform.r), channel(uniform.g), channel(uniform.b)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColorMatrix::{Bt601, Bt709};

    fn assert_near(actual: [u8; 3], expected: [u8; 3], tolerance: u8, what: &str) {
        for (a, e) in actual.iter().zip(expected) {
            assert!(
                a.abs_diff(e) <= tolerance,
                "{what}: got {actual:?}, expected {expected:?} ±{tolerance}"
            );
        }
    }

    /// Forward conversion R'G'B' (0..=255) → 8-bit YUV, written independently of
    /// `color_uniform`, to round-trip primaries through the reference.
    fn yuv_from_rgb(rgb: [f32; 3], matrix: ColorMatrix, full_range: bool) -> (u8, u8, u8) {
        let (kr, kb) = luma_weights(matrix);
        let [r, g, b] = rgb.map(|c| c / 255.0);
        let y = kr * r + (1.0 - kr - kb) * g + kb * b;
        let cb = (b - y) / (2.0 * (1.0 - kb));
        let cr = (r - y) / (2.0 * (1.0 - kr));
        let (y_code, cb_code, cr_code) = if full_range {
            (y * 255.0, 128.0 + cb * 255.0, 128.0 + cr * 255.0)
        } else {
            (16.0 + y * 219.0, 128.0 + cb * 224.0, 128.0 + cr * 224.0)
        };
        let code = |x: f32| x.round().clamp(0.0, 255.0) as u8;
        (code(y_code), code(cb_code), code(cr_code))
    }

    #[test]
    fn limited_range_black_white_and_grey() {
        for matrix in [Bt601, Bt709] {
            assert_eq!(yuv_to_rgb_reference(16, 128, 128, matrix, false), [0, 0, 0]);
            assert_eq!(
                yuv_to_rgb_reference(235, 128, 128, matrix, false),
                [255, 255, 255]
            );
            // Mid grey: (126 - 16) / 219 · 255 = 128.08.
            assert_eq!(
                yuv_to_rgb_reference(126, 128, 128, matrix, false),
                [128, 128, 128]
            );
            // Codes outside the nominal range clip instead of wrapping.
            assert_eq!(yuv_to_rgb_reference(0, 128, 128, matrix, false), [0, 0, 0]);
            assert_eq!(
                yuv_to_rgb_reference(255, 128, 128, matrix, false),
                [255, 255, 255]
            );
        }
    }

    #[test]
    fn full_range_black_white_and_grey() {
        for matrix in [Bt601, Bt709] {
            assert_eq!(yuv_to_rgb_reference(0, 128, 128, matrix, true), [0, 0, 0]);
            assert_eq!(
                yuv_to_rgb_reference(255, 128, 128, matrix, true),
                [255, 255, 255]
            );
            assert_eq!(
                yuv_to_rgb_reference(128, 128, 128, matrix, true),
                [128, 128, 128]
            );
            // Limited-range black read as full range is a visible dark grey: range matters.
            assert_eq!(
                yuv_to_rgb_reference(16, 128, 128, matrix, true),
                [16, 16, 16]
            );
        }
    }

    #[test]
    fn bt601_limited_primaries() {
        // The classic BT.601 limited-range codes of the primaries.
        let cases = [
            ((81, 90, 240), [255, 0, 0], "red"),
            ((145, 54, 34), [0, 255, 0], "green"),
            ((41, 240, 110), [0, 0, 255], "blue"),
            ((210, 16, 146), [255, 255, 0], "yellow"),
            ((170, 166, 16), [0, 255, 255], "cyan"),
            ((106, 202, 222), [255, 0, 255], "magenta"),
        ];
        for ((y, u, v), rgb, name) in cases {
            assert_near(yuv_to_rgb_reference(y, u, v, Bt601, false), rgb, 2, name);
        }
    }

    #[test]
    fn bt709_limited_primaries() {
        // BT.709 limited-range codes of the primaries (as in SMPTE RP 219 bars at 100%).
        let cases = [
            ((63, 102, 240), [255, 0, 0], "red"),
            ((173, 42, 26), [0, 255, 0], "green"),
            ((32, 240, 118), [0, 0, 255], "blue"),
        ];
        for ((y, u, v), rgb, name) in cases {
            assert_near(yuv_to_rgb_reference(y, u, v, Bt709, false), rgb, 2, name);
        }
    }

    #[test]
    fn primaries_round_trip_for_every_matrix_and_range() {
        let colours = [
            [255.0, 0.0, 0.0],
            [0.0, 255.0, 0.0],
            [0.0, 0.0, 255.0],
            [255.0, 255.0, 0.0],
            [0.0, 255.0, 255.0],
            [255.0, 0.0, 255.0],
            [191.0, 191.0, 191.0],
            [191.0, 0.0, 0.0],
        ];
        for matrix in [Bt601, Bt709] {
            for full_range in [false, true] {
                for rgb in colours {
                    let (y, u, v) = yuv_from_rgb(rgb, matrix, full_range);
                    let expected = rgb.map(|c| c as u8);
                    assert_near(
                        yuv_to_rgb_reference(y, u, v, matrix, full_range),
                        expected,
                        2,
                        &format!("{rgb:?} via {matrix:?} full_range={full_range}"),
                    );
                }
            }
        }
    }

    #[test]
    fn matrices_differ_where_they_should() {
        // BT.601 green decoded with BT.709 coefficients is visibly darker; guards against the
        // matrix argument being ignored.
        let as_601 = yuv_to_rgb_reference(145, 54, 34, Bt601, false);
        let as_709 = yuv_to_rgb_reference(145, 54, 34, Bt709, false);
        assert!(
            as_601[1].abs_diff(as_709[1]) > 30,
            "{as_601:?} vs {as_709:?}"
        );
    }

    #[test]
    fn bt2020_has_its_own_coefficients() {
        // Full-range pure red in BT.2020 (Kr 0.2627, Kb 0.0593): Y' = 0.2627,
        // Cb = -Kr / (2(1-Kb)) = -0.1396, Cr = 0.5. As codes: 67, 92, 255.
        let red = yuv_to_rgb_reference(67, 92, 255, ColorMatrix::Bt2020, true);
        assert_near(red, [255, 0, 0], 2, "BT.2020 red");
        let as_709 = yuv_to_rgb_reference(67, 92, 255, Bt709, true);
        assert!(as_709[1].abs_diff(red[1]) > 10 || as_709[2].abs_diff(red[2]) > 10);
    }

    #[test]
    fn uniform_is_three_vec4() {
        assert_eq!(std::mem::size_of::<ColorUniform>(), 48);
    }
}
