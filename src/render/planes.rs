//! Checks a decoded frame against its pixel layout before any of it reaches the GPU.
//!
//! wgpu treats a bad copy (short data, zero or oversized texture) as a validation error, which
//! aborts the app; a frame off the network must never get that far. Everything here is pure,
//! so it is tested without a GPU.

use crate::decode::{PixelLayout, VideoFrame};

/// How one plane is stored on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlaneFormat {
    /// One byte per texel: Y, U or V (`R8Unorm`).
    R8,
    /// Two bytes per texel: interleaved U and V of NV12 (`Rg8Unorm`).
    Rg8,
}

impl PlaneFormat {
    pub fn bytes_per_texel(self) -> usize {
        match self {
            Self::R8 => 1,
            Self::Rg8 => 2,
        }
    }
}

/// The texture one plane needs and how to copy it in. Checked: `data` holds at least
/// `stride · (height - 1) + width · bytes_per_texel` bytes, and both sizes are non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneUpload<'a> {
    pub format: PlaneFormat,
    pub width: u32,
    pub height: u32,
    /// Bytes from one row to the next in `data` (`bytes_per_row` of the copy).
    pub stride: u32,
    pub data: &'a [u8],
}

impl PlaneUpload<'_> {
    /// What decides whether an existing texture can take this plane.
    pub fn texture_key(&self) -> (PlaneFormat, u32, u32) {
        (self.format, self.width, self.height)
    }
}

/// Why a frame is not drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameRejected {
    #[error("{layout:?} needs {expected} planes, the frame has {actual}")]
    PlaneCount {
        layout: PixelLayout,
        expected: usize,
        actual: usize,
    },
    #[error("plane {plane} is {actual_width}x{actual_height}, {layout:?} at {frame_width}x{frame_height} needs {expected_width}x{expected_height}")]
    PlaneSize {
        plane: usize,
        layout: PixelLayout,
        frame_width: u32,
        frame_height: u32,
        expected_width: usize,
        expected_height: usize,
        actual_width: usize,
        actual_height: usize,
    },
    #[error("the frame is {width}x{height}; textures must be between 1 and {max_dimension} texels a side")]
    TextureSize {
        width: u32,
        height: u32,
        max_dimension: u32,
    },
    #[error("plane {plane}: stride {stride} is shorter than a row of {row_bytes} bytes")]
    StrideTooShort {
        plane: usize,
        stride: usize,
        row_bytes: usize,
    },
    #[error("plane {plane}: stride {stride} does not fit a texture copy")]
    StrideTooLong { plane: usize, stride: usize },
    #[error("plane {plane}: {actual} bytes, {needed} needed for {height} rows at stride {stride}")]
    DataTooShort {
        plane: usize,
        needed: usize,
        actual: usize,
        height: usize,
        stride: usize,
    },
}

/// Plane formats of a layout, in plane order, and the chroma subsampling `(x, y)` shift.
fn layout_planes(layout: PixelLayout) -> (&'static [PlaneFormat], (u32, u32)) {
    use PlaneFormat::{Rg8, R8};
    match layout {
        PixelLayout::I420 => (&[R8, R8, R8], (1, 1)),
        PixelLayout::Nv12 => (&[R8, Rg8], (1, 1)),
        PixelLayout::I422 => (&[R8, R8, R8], (1, 0)),
        PixelLayout::I444 => (&[R8, R8, R8], (0, 0)),
    }
}

/// The planes of `frame`, checked against its layout and the device's largest texture.
/// Returns at most three uploads (Y, then U and V or UV).
pub fn plane_uploads(
    frame: &VideoFrame,
    max_dimension: u32,
) -> Result<Vec<PlaneUpload<'_>>, FrameRejected> {
    if frame.width == 0
        || frame.height == 0
        || frame.width > max_dimension
        || frame.height > max_dimension
    {
        return Err(FrameRejected::TextureSize {
            width: frame.width,
            height: frame.height,
            max_dimension,
        });
    }
    let (formats, (shift_x, shift_y)) = layout_planes(frame.layout);
    if frame.planes.len() != formats.len() {
        return Err(FrameRejected::PlaneCount {
            layout: frame.layout,
            expected: formats.len(),
            actual: frame.planes.len(),
        });
    }
    let mut uploads = Vec::with_capacity(formats.len());
    for (index, (plane, &format)) in frame.planes.iter().zip(formats).enumerate() {
        // Chroma sizes round up, as FFmpeg's (AV_CEIL_RSHIFT) do for odd frame sizes.
        let (shift_x, shift_y) = if index == 0 {
            (0, 0)
        } else {
            (shift_x, shift_y)
        };
        let expected_width = frame.width.div_ceil(1 << shift_x);
        let expected_height = frame.height.div_ceil(1 << shift_y);
        if usize::try_from(expected_width) != Ok(plane.width)
            || usize::try_from(expected_height) != Ok(plane.height)
        {
            return Err(FrameRejected::PlaneSize {
                plane: index,
                layout: frame.layout,
                frame_width: frame.width,
                frame_height: frame.height,
                expected_width: expected_width as usize,
                expected_height: expected_height as usize,
                actual_width: plane.width,
                actual_height: plane.height,
            });
        }
        let row_bytes = plane.width.saturating_mul(format.bytes_per_texel());
        if plane.stride < row_bytes {
            return Err(FrameRejected::StrideTooShort {
                plane: index,
                stride: plane.stride,
                row_bytes,
            });
        }
        let stride = u32::try_from(plane.stride).map_err(|_| FrameRejected::StrideTooLong {
            plane: index,
            stride: plane.stride,
        })?;
        // The last row need not be padded out to the stride (FFmpeg's buffers are, others
        // may not be); this is also exactly what wgpu checks.
        let needed = plane
            .stride
            .checked_mul(plane.height.saturating_sub(1))
            .and_then(|rows| rows.checked_add(row_bytes))
            .unwrap_or(usize::MAX);
        if plane.data.len() < needed {
            return Err(FrameRejected::DataTooShort {
                plane: index,
                needed,
                actual: plane.data.len(),
                height: plane.height,
                stride: plane.stride,
            });
        }
        uploads.push(PlaneUpload {
            format,
            width: expected_width,
            height: expected_height,
            stride,
            data: &plane.data,
        });
    }
    Ok(uploads)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::decode::{ColorMatrix, Plane};

    const MAX: u32 = 8192;

    fn plane(width: usize, height: usize, stride: usize) -> Plane {
        Plane {
            data: vec![0; stride * height].into(),
            stride,
            width,
            height,
        }
    }

    fn frame(width: u32, height: u32, layout: PixelLayout, planes: Vec<Plane>) -> VideoFrame {
        VideoFrame {
            width,
            height,
            layout,
            matrix: ColorMatrix::Bt601,
            full_range: false,
            sample_aspect: (1, 1),
            planes,
            ts_in_90khz: 0,
            decoded_at: Instant::now(),
            received_at: Instant::now(),
            capture_ms: None,
        }
    }

    fn i420(width: u32, height: u32) -> VideoFrame {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        frame(
            width,
            height,
            PixelLayout::I420,
            vec![
                plane(w, h, w + 32),
                plane(cw, ch, cw + 16),
                plane(cw, ch, cw + 16),
            ],
        )
    }

    #[test]
    fn accepts_i420_with_padded_strides() {
        let f = i420(640, 360);
        let uploads = plane_uploads(&f, MAX).unwrap();
        let sizes: Vec<_> = uploads
            .iter()
            .map(|u| (u.format, u.width, u.height, u.stride))
            .collect();
        assert_eq!(
            sizes,
            [
                (PlaneFormat::R8, 640, 360, 672),
                (PlaneFormat::R8, 320, 180, 336),
                (PlaneFormat::R8, 320, 180, 336)
            ]
        );
    }

    #[test]
    fn odd_sizes_round_chroma_up() {
        let f = i420(641, 359);
        let uploads = plane_uploads(&f, MAX).unwrap();
        assert_eq!((uploads[1].width, uploads[1].height), (321, 180));
    }

    #[test]
    fn accepts_nv12_i422_i444() {
        let nv12 = frame(
            64,
            48,
            PixelLayout::Nv12,
            vec![plane(64, 48, 64), plane(32, 24, 64)],
        );
        let uploads = plane_uploads(&nv12, MAX).unwrap();
        assert_eq!(uploads[1].format, PlaneFormat::Rg8);

        let i422 = frame(
            64,
            48,
            PixelLayout::I422,
            vec![plane(64, 48, 64), plane(32, 48, 32), plane(32, 48, 32)],
        );
        assert!(plane_uploads(&i422, MAX).is_ok());

        let i444 = frame(
            64,
            48,
            PixelLayout::I444,
            vec![plane(64, 48, 64), plane(64, 48, 64), plane(64, 48, 64)],
        );
        assert!(plane_uploads(&i444, MAX).is_ok());
    }

    #[test]
    fn last_row_needs_no_padding() {
        let mut f = i420(64, 48);
        let y = &mut f.planes[0];
        y.data.to_mut().truncate(y.stride * 47 + 64);
        assert!(plane_uploads(&f, MAX).is_ok());
        f.planes[0].data.to_mut().pop();
        assert!(matches!(
            plane_uploads(&f, MAX),
            Err(FrameRejected::DataTooShort { plane: 0, .. })
        ));
    }

    #[test]
    fn rejects_missing_planes() {
        let mut f = i420(64, 48);
        f.planes.pop();
        assert!(matches!(
            plane_uploads(&f, MAX),
            Err(FrameRejected::PlaneCount {
                expected: 3,
                actual: 2,
                ..
            })
        ));
        f.planes.clear();
        assert!(plane_uploads(&f, MAX).is_err());
    }

    #[test]
    fn rejects_planes_that_do_not_match_the_layout() {
        // I420 chroma planes in a frame that says I444.
        let mut f = i420(64, 48);
        f.layout = PixelLayout::I444;
        assert!(matches!(
            plane_uploads(&f, MAX),
            Err(FrameRejected::PlaneSize { plane: 1, .. })
        ));
        // Y plane smaller than the frame.
        let mut f = i420(64, 48);
        f.planes[0].height = 47;
        assert!(matches!(
            plane_uploads(&f, MAX),
            Err(FrameRejected::PlaneSize { plane: 0, .. })
        ));
    }

    #[test]
    fn rejects_short_strides_and_data() {
        let mut f = i420(64, 48);
        f.planes[2].stride = 31;
        assert!(matches!(
            plane_uploads(&f, MAX),
            Err(FrameRejected::StrideTooShort { plane: 2, .. })
        ));
        // NV12 chroma rows are two bytes a texel.
        let nv12 = frame(
            64,
            48,
            PixelLayout::Nv12,
            vec![plane(64, 48, 64), plane(32, 24, 32)],
        );
        assert!(matches!(
            plane_uploads(&nv12, MAX),
            Err(FrameRejected::StrideTooShort { plane: 1, .. })
        ));
        let mut f = i420(64, 48);
        f.planes[1].data.to_mut().clear();
        assert!(matches!(
            plane_uploads(&f, MAX),
            Err(FrameRejected::DataTooShort { plane: 1, .. })
        ));
    }

    #[test]
    fn rejects_empty_and_oversized_frames() {
        let empty = frame(0, 0, PixelLayout::I420, vec![]);
        assert!(matches!(
            plane_uploads(&empty, MAX),
            Err(FrameRejected::TextureSize { .. })
        ));
        let mut zero_height = i420(64, 48);
        zero_height.height = 0;
        assert!(plane_uploads(&zero_height, MAX).is_err());
        assert!(matches!(
            plane_uploads(&i420(64, 48), 32),
            Err(FrameRejected::TextureSize { .. })
        ));
    }
}
