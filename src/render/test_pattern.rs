//! A test picture for the YUV path: 100% colour bars over a grey ramp, built in any pixel
//! layout, matrix and range from R'G'B' with the BT.601/BT.709 equations written out here,
//! independently of `color.rs` (which goes the other way, for the shader). `examples/yuv_demo`
//! shows it; the shader's unit test draws it and checks the colours that come back.

use std::time::Instant;

use crate::decode::{ColorMatrix, PixelLayout, Plane, VideoFrame};

/// 100% bars in R'G'B': white, yellow, cyan, green, magenta, red, blue, black.
pub const BARS: [[f32; 3]; 8] = [
    [1.0, 1.0, 1.0],
    [1.0, 1.0, 0.0],
    [0.0, 1.0, 1.0],
    [0.0, 1.0, 0.0],
    [1.0, 0.0, 1.0],
    [1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0],
    [0.0, 0.0, 0.0],
];

/// The colour of the test picture at a pixel: bars on the top two thirds, a grey ramp below.
pub fn rgb_at(x: u32, y: u32, width: u32, height: u32) -> [f32; 3] {
    if y < height * 2 / 3 {
        let bar = (x as usize * BARS.len() / width as usize).min(BARS.len() - 1);
        BARS[bar]
    } else {
        let grey = x as f32 / (width.max(2) - 1) as f32;
        [grey; 3]
    }
}

/// R'G'B' → 8-bit Y'CbCr, written out from BT.601/BT.709 independently of the renderer.
pub fn yuv_from_rgb(rgb: [f32; 3], matrix: ColorMatrix, full_range: bool) -> [u8; 3] {
    let (kr, kb) = match matrix {
        ColorMatrix::Bt601 => (0.299, 0.114),
        ColorMatrix::Bt709 => (0.2126, 0.0722),
        ColorMatrix::Bt2020 => (0.2627, 0.0593),
    };
    let [r, g, b] = rgb;
    let y = kr * r + (1.0 - kr - kb) * g + kb * b;
    let cb = (b - y) / (2.0 * (1.0 - kb));
    let cr = (r - y) / (2.0 * (1.0 - kr));
    let (y, cb, cr) = if full_range {
        (y * 255.0, 128.0 + cb * 255.0, 128.0 + cr * 255.0)
    } else {
        (16.0 + y * 219.0, 128.0 + cb * 224.0, 128.0 + cr * 224.0)
    };
    [y, cb, cr].map(|c| c.round().clamp(0.0, 255.0) as u8)
}

/// The test picture as a `width × height` frame of `layout`, coded with `matrix` and range,
/// with padded strides like FFmpeg's.
pub fn colour_bars(
    width: u32,
    height: u32,
    layout: PixelLayout,
    matrix: ColorMatrix,
    full_range: bool,
) -> VideoFrame {
    let (shift_x, shift_y) = match layout {
        PixelLayout::I420 | PixelLayout::Nv12 => (1, 1),
        PixelLayout::I422 => (1, 0),
        PixelLayout::I444 => (0, 0),
    };
    let (chroma_width, chroma_height) =
        (width.div_ceil(1 << shift_x), height.div_ceil(1 << shift_y));
    let padded = |bytes: u32| (bytes as usize).next_multiple_of(64) + 64;
    let new_plane = |w: u32, h: u32, bytes_per_texel: u32| Plane {
        data: vec![0; padded(w * bytes_per_texel) * h as usize].into(),
        stride: padded(w * bytes_per_texel),
        width: w as usize,
        height: h as usize,
    };

    let mut luma = new_plane(width, height, 1);
    for y in 0..height {
        for x in 0..width {
            let [luma_code, _, _] = yuv_from_rgb(rgb_at(x, y, width, height), matrix, full_range);
            luma.data[y as usize * luma.stride + x as usize] = luma_code;
        }
    }
    // Chroma from the top-left luma position of each chroma sample; the bars are wide enough
    // that siting does not matter here.
    let chroma_at = |cx: u32, cy: u32| {
        let rgb = rgb_at(cx << shift_x, cy << shift_y, width, height);
        let [_, u, v] = yuv_from_rgb(rgb, matrix, full_range);
        (u, v)
    };
    let planes = if layout == PixelLayout::Nv12 {
        let mut uv = new_plane(chroma_width, chroma_height, 2);
        for cy in 0..chroma_height {
            for cx in 0..chroma_width {
                let (u, v) = chroma_at(cx, cy);
                let i = cy as usize * uv.stride + 2 * cx as usize;
                uv.data[i] = u;
                uv.data[i + 1] = v;
            }
        }
        vec![luma, uv]
    } else {
        let mut u_plane = new_plane(chroma_width, chroma_height, 1);
        let mut v_plane = new_plane(chroma_width, chroma_height, 1);
        for cy in 0..chroma_height {
            for cx in 0..chroma_width {
                let (u, v) = chroma_at(cx, cy);
                let i = cy as usize * u_plane.stride + cx as usize;
                u_plane.data[i] = u;
                v_plane.data[i] = v;
            }
        }
        vec![luma, u_plane, v_plane]
    };
    VideoFrame {
        width,
        height,
        layout,
        matrix,
        full_range,
        sample_aspect: (1, 1),
        planes,
        ts_in_90khz: 0,
        decoded_at: Instant::now(),
        received_at: Instant::now(),
        capture_ms: None,
    }
}
