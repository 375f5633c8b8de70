//! Shows synthetic colour bars through `vedette::render` in a 2x2 grid, one tile per pixel
//! layout, matrix and range, to check the GPU YUV→RGB path by eye (or by screenshot).
//!
//! Every tile should show, left to right, white, yellow, cyan, green, magenta, red, blue,
//! black bars over a grey ramp from black to white, letterboxed on a dark grey cell.
//!
//! ```text
//! cargo run --example yuv_demo [-- --animate] [--exit-after SECONDS]
//! ```
//! `--animate` swaps the top-right tile between two sizes and layouts every second, which
//! re-creates its textures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use vedette::decode::{ColorMatrix, PixelLayout, Plane, VideoFrame};
use vedette::render;

/// 100% bars in R'G'B': white, yellow, cyan, green, magenta, red, blue, black.
const BARS: [[f32; 3]; 8] = [
    [1.0, 1.0, 1.0],
    [1.0, 1.0, 0.0],
    [0.0, 1.0, 1.0],
    [0.0, 1.0, 0.0],
    [1.0, 0.0, 1.0],
    [1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0],
    [0.0, 0.0, 0.0],
];

/// What one tile shows.
#[derive(Clone, Copy)]
struct TileSpec {
    width: u32,
    height: u32,
    layout: PixelLayout,
    matrix: ColorMatrix,
    full_range: bool,
}

impl TileSpec {
    fn label(&self) -> String {
        format!(
            "{:?} {:?} {} {}x{}",
            self.layout,
            self.matrix,
            if self.full_range { "full" } else { "limited" },
            self.width,
            self.height
        )
    }
}

/// The colour of the test picture at a pixel: bars on the top two thirds, a grey ramp below.
fn rgb_at(x: u32, y: u32, width: u32, height: u32) -> [f32; 3] {
    if y < height * 2 / 3 {
        let bar = (x as usize * BARS.len() / width as usize).min(BARS.len() - 1);
        BARS[bar]
    } else {
        let grey = x as f32 / (width.max(2) - 1) as f32;
        [grey; 3]
    }
}

/// R'G'B' → 8-bit Y'CbCr, written out from BT.601/BT.709 independently of the renderer.
fn yuv_from_rgb(rgb: [f32; 3], matrix: ColorMatrix, full_range: bool) -> [u8; 3] {
    let (kr, kb) = match matrix {
        ColorMatrix::Bt601 => (0.299, 0.114),
        ColorMatrix::Bt709 => (0.2126, 0.0722),
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

/// A frame of the test picture in `spec`'s layout, with padded strides like FFmpeg's.
fn test_frame(spec: TileSpec) -> VideoFrame {
    let TileSpec {
        width,
        height,
        layout,
        matrix,
        full_range,
    } = spec;
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
        planes,
        ts_in_90khz: 0,
        decoded_at: Instant::now(),
        received_at: Instant::now(),
        capture_ms: None,
    }
}

struct Tile {
    label: String,
    frame: Arc<VideoFrame>,
    generation: u64,
}

impl Tile {
    fn new(spec: TileSpec) -> Self {
        Self {
            label: spec.label(),
            frame: Arc::new(test_frame(spec)),
            generation: 1,
        }
    }

    fn replace(&mut self, spec: TileSpec) {
        self.label = spec.label();
        self.frame = Arc::new(test_frame(spec));
        self.generation += 1;
    }
}

struct DemoApp {
    tiles: Vec<Tile>,
    /// The top-right tile's two looks when animating.
    alternates: Option<[TileSpec; 2]>,
    /// A frame with a plane missing, drawn every frame: it must be skipped, not crash.
    broken: Arc<VideoFrame>,
    started: Instant,
    exit_after: Option<Duration>,
}

impl DemoApp {
    fn new(animate: bool, exit_after: Option<Duration>) -> Self {
        let specs = [
            TileSpec {
                width: 640,
                height: 360,
                layout: PixelLayout::I420,
                matrix: ColorMatrix::Bt601,
                full_range: false,
            },
            TileSpec {
                width: 480,
                height: 480,
                layout: PixelLayout::Nv12,
                matrix: ColorMatrix::Bt709,
                full_range: false,
            },
            TileSpec {
                width: 360,
                height: 640,
                layout: PixelLayout::I444,
                matrix: ColorMatrix::Bt709,
                full_range: true,
            },
            TileSpec {
                width: 801,
                height: 301,
                layout: PixelLayout::I422,
                matrix: ColorMatrix::Bt601,
                full_range: true,
            },
        ];
        let mut broken = test_frame(specs[0]);
        broken.planes.truncate(1);
        let alternate = TileSpec {
            width: 1280,
            height: 720,
            layout: PixelLayout::I420,
            matrix: ColorMatrix::Bt709,
            full_range: false,
        };
        Self {
            tiles: specs.into_iter().map(Tile::new).collect(),
            alternates: animate.then_some([specs[1], alternate]),
            broken: Arc::new(broken),
            started: Instant::now(),
            exit_after,
        }
    }
}

impl eframe::App for DemoApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let elapsed = self.started.elapsed();
        if self.exit_after.is_some_and(|limit| elapsed >= limit) {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if let (Some(alternates), Some(tile)) = (self.alternates, self.tiles.get_mut(1)) {
            let wanted = alternates[(elapsed.as_secs() % 2) as usize];
            if tile.label != wanted.label() {
                tile.replace(wanted);
            }
        }
        if self.alternates.is_some() || self.exit_after.is_some() {
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }

        egui::CentralPanel::default().show(ui, |ui| {
            let area = ui.available_rect_before_wrap();
            let cell_size = area.size() / 2.0;
            let painter = ui.painter();
            for (index, tile) in self.tiles.iter().enumerate() {
                let cell_min =
                    area.min + egui::vec2((index % 2) as f32, (index / 2) as f32) * cell_size;
                let cell = egui::Rect::from_min_size(cell_min, cell_size).shrink(4.0);
                let label_height = 18.0;
                painter.text(
                    cell.left_top(),
                    egui::Align2::LEFT_TOP,
                    &tile.label,
                    egui::FontId::proportional(14.0),
                    ui.visuals().strong_text_color(),
                );
                let picture_area =
                    egui::Rect::from_min_max(cell.min + egui::vec2(0.0, label_height), cell.max);
                painter.rect_filled(picture_area, 0.0, egui::Color32::from_gray(40));
                let picture = render::letterbox(picture_area, tile.frame.width, tile.frame.height);
                painter.add(render::yuv_paint_callback(
                    picture,
                    index as u64,
                    tile.frame.clone(),
                    tile.generation,
                ));
            }
            let broken_rect = egui::Rect::from_min_size(
                area.right_bottom() - egui::vec2(40.0, 40.0),
                egui::vec2(32.0, 32.0),
            );
            painter.add(render::yuv_paint_callback(
                broken_rect,
                99,
                self.broken.clone(),
                1,
            ));
        });
    }
}

fn main() -> eframe::Result {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let mut animate = false;
    let mut exit_after = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--animate" => animate = true,
            "--exit-after" => {
                exit_after = args
                    .next()
                    .and_then(|s| s.parse::<f64>().ok())
                    .map(Duration::from_secs_f64);
            }
            other => eprintln!("ignoring unknown argument {other}"),
        }
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Vedette YUV demo")
            .with_inner_size([1280.0, 720.0]),
        ..Default::default()
    };
    eframe::run_native(
        "vedette-yuv-demo",
        options,
        Box::new(move |cc| {
            let render_state = cc
                .wgpu_render_state
                .as_ref()
                .ok_or("the yuv demo needs eframe's wgpu renderer")?;
            let info = render_state.adapter.get_info();
            tracing::info!(
                adapter = %info.name,
                backend = ?info.backend,
                target_format = ?render_state.target_format,
                "wgpu adapter"
            );
            render::install(render_state);
            Ok(Box::new(DemoApp::new(animate, exit_after)))
        }),
    )
}
