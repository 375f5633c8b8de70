//! Snapshots of a tile: the newest decoded picture at full resolution (an anamorphic picture
//! widened to the shape it is meant to be seen at), converted to RGB on
//! the CPU with the shader's own coefficients (`render::yuv_to_rgb_reference`, BT.601/709,
//! limited or full range), saved as PNG. Runs on a worker thread, never the UI thread.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::decode::{PixelLayout, VideoFrame};

/// Why a snapshot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("the picture's planes are incomplete ({0})")]
    BadFrame(&'static str),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: image::ImageError,
    },
}

/// The picture as 8-bit RGB, `width × height`, converted pixel by pixel exactly as the shader
/// does (chroma sampled from the co-sited sample of its plane).
pub fn frame_to_rgb(frame: &VideoFrame) -> Result<image::RgbImage, SnapshotError> {
    let (width, height) = (frame.width as usize, frame.height as usize);
    let luma = frame
        .planes
        .first()
        .ok_or(SnapshotError::BadFrame("no luma plane"))?;
    // Chroma subsampling as shifts: (x >> sx, y >> sy) is a pixel's chroma sample.
    let (sx, sy) = match frame.layout {
        PixelLayout::I420 | PixelLayout::Nv12 => (1, 1),
        PixelLayout::I422 => (1, 0),
        PixelLayout::I444 => (0, 0),
    };
    let sample = |plane: usize, x: usize, y: usize, step: usize, offset: usize| -> Option<u8> {
        let p = frame.planes.get(plane)?;
        p.data
            .get(y.min(p.height.saturating_sub(1)) * p.stride + x * step + offset)
            .copied()
    };
    let mut rgb = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            let luma_at = y.min(luma.height.saturating_sub(1)) * luma.stride + x;
            let l = *luma
                .data
                .get(luma_at)
                .ok_or(SnapshotError::BadFrame("luma plane too small"))?;
            let (cx, cy) = (x >> sx, y >> sy);
            let (u, v) = match frame.layout {
                PixelLayout::Nv12 => (sample(1, cx, cy, 2, 0), sample(1, cx, cy, 2, 1)),
                _ => (sample(1, cx, cy, 1, 0), sample(2, cx, cy, 1, 0)),
            };
            let (Some(u), Some(v)) = (u, v) else {
                return Err(SnapshotError::BadFrame("chroma plane too small"));
            };
            rgb.extend_from_slice(&crate::render::yuv_to_rgb_reference(
                l,
                u,
                v,
                frame.matrix,
                frame.full_range,
            ));
        }
    }
    image::RgbImage::from_raw(frame.width, frame.height, rgb)
        .ok_or(SnapshotError::BadFrame("size mismatch"))
}

/// Converts `frame` and writes it to `path` as PNG. Returns the picture's size, which is its
/// display size: 1440x1080 with 4:3 pixels is saved as 1920x1080, as the tile shows it.
pub fn save_png(frame: &VideoFrame, path: &Path) -> Result<(u32, u32), SnapshotError> {
    let mut image = frame_to_rgb(frame)?;
    let (width, height) = frame.display_size();
    if (width, height) != image.dimensions() {
        image =
            image::imageops::resize(&image, width, height, image::imageops::FilterType::Triangle);
    }
    image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|source| SnapshotError::Write {
            path: path.display().to_string(),
            source,
        })?;
    Ok((width, height))
}

/// `<camera>-<YYYYmmdd-HHMMSS>.png` (UTC), with characters a file name cannot hold replaced.
pub fn default_file_name(camera: &str, at: SystemTime) -> String {
    let safe: String = camera
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let time = secs % 86_400;
    format!(
        "{}-{year:04}{month:02}{day:02}-{:02}{:02}{:02}.png",
        if safe.is_empty() { "camera" } else { &safe },
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{ColorMatrix, Plane};
    use std::time::{Duration, Instant};

    /// A 4×2 I420 picture, BT.601 limited range: the left half red, the right half blue
    /// (the classic codes), each 2×2 block sharing one chroma sample.
    fn red_blue_i420() -> VideoFrame {
        let ((ry, ru, rv), (by, bu, bv)) = ((81, 90, 240), (41, 240, 110));
        let plane = |data: Vec<u8>, stride, width, height| Plane {
            data: data.into(),
            stride,
            width,
            height,
        };
        VideoFrame {
            width: 4,
            height: 2,
            layout: PixelLayout::I420,
            matrix: ColorMatrix::Bt601,
            full_range: false,
            sample_aspect: (1, 1),
            // Strides wider than the rows, as decoders pad them.
            planes: vec![
                plane(vec![ry, ry, by, by, 0, 0, ry, ry, by, by, 0, 0], 6, 4, 2),
                plane(vec![ru, bu, 0, 0], 4, 2, 1),
                plane(vec![rv, bv, 0, 0], 4, 2, 1),
            ],
            ts_in_90khz: 0,
            decoded_at: Instant::now(),
            received_at: Instant::now(),
            capture_ms: None,
        }
    }

    fn near(a: [u8; 3], b: [u8; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 2)
    }

    #[test]
    fn a_synthetic_i420_frame_converts_at_full_size() {
        let rgb = frame_to_rgb(&red_blue_i420()).unwrap();
        assert_eq!(rgb.dimensions(), (4, 2));
        for y in 0..2 {
            for x in 0..4 {
                let want = if x < 2 { [255, 0, 0] } else { [0, 0, 255] };
                let got = rgb.get_pixel(x, y).0;
                assert!(near(got, want), "({x},{y}): {got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn nv12_and_full_range_use_their_own_maths() {
        let mut frame = red_blue_i420();
        let (u, v) = (frame.planes[1].data.to_vec(), frame.planes[2].data.to_vec());
        let interleaved = vec![u[0], v[0], u[1], v[1]];
        frame.layout = PixelLayout::Nv12;
        frame.planes.truncate(1);
        frame.planes.push(Plane {
            data: interleaved.into(),
            stride: 4,
            width: 2,
            height: 1,
        });
        let rgb = frame_to_rgb(&frame).unwrap();
        assert!(near(rgb.get_pixel(0, 0).0, [255, 0, 0]));
        assert!(near(rgb.get_pixel(3, 1).0, [0, 0, 255]));
        // Full-range luma 16 is a dark grey, not black: the range flag is honoured.
        frame.full_range = true;
        frame.planes[0] = Plane {
            data: vec![16; 8].into(),
            stride: 4,
            width: 4,
            height: 2,
        };
        frame.planes[1] = Plane {
            data: vec![128; 4].into(),
            stride: 4,
            width: 2,
            height: 1,
        };
        assert_eq!(
            frame_to_rgb(&frame).unwrap().get_pixel(1, 1).0,
            [16, 16, 16]
        );
    }

    #[test]
    fn an_anamorphic_picture_is_saved_at_its_display_size() {
        // 2:1 pixels: the 4x2 picture is meant to be seen 8x2 wide.
        let mut frame = red_blue_i420();
        frame.sample_aspect = (2, 1);
        let dir = std::env::temp_dir().join(format!("vedette-anamorphic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("wide.png");
        assert_eq!(save_png(&frame, &path).unwrap(), (8, 2));
        let saved = image::open(&path).unwrap().into_rgb8();
        assert_eq!(saved.dimensions(), (8, 2));
        assert!(near(saved.get_pixel(0, 0).0, [255, 0, 0]));
        assert!(near(saved.get_pixel(7, 1).0, [0, 0, 255]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_short_plane_is_an_error_not_a_panic() {
        let mut frame = red_blue_i420();
        frame.planes[2].data = vec![1].into();
        assert!(matches!(
            frame_to_rgb(&frame),
            Err(SnapshotError::BadFrame(_))
        ));
        frame.planes.clear();
        assert!(frame_to_rgb(&frame).is_err());
    }

    #[test]
    fn png_round_trip() {
        let dir = std::env::temp_dir().join(format!("vedette-snapshot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("shot.png");
        assert_eq!(save_png(&red_blue_i420(), &path).unwrap(), (4, 2));
        let back = image::open(&path).unwrap().into_rgb8();
        assert_eq!(back, frame_to_rgb(&red_blue_i420()).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_names_carry_the_camera_and_the_time() {
        // 2024-02-29 13:05:09 UTC.
        let at = UNIX_EPOCH + Duration::from_secs(1_709_211_909);
        assert_eq!(
            default_file_name("Front door", at),
            "Front door-20240229-130509.png"
        );
        assert_eq!(
            default_file_name("a/b:c", UNIX_EPOCH),
            "a_b_c-19700101-000000.png"
        );
        assert_eq!(
            default_file_name(" ", UNIX_EPOCH),
            "camera-19700101-000000.png"
        );
    }
}
