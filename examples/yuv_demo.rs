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
use vedette::decode::{ColorMatrix, PixelLayout, VideoFrame};
use vedette::render;
use vedette::render::test_pattern::colour_bars;

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

struct Tile {
    label: String,
    frame: Arc<VideoFrame>,
    generation: u64,
}

impl Tile {
    fn new(spec: TileSpec) -> Self {
        Self {
            label: spec.label(),
            frame: Arc::new(colour_bars(
                spec.width,
                spec.height,
                spec.layout,
                spec.matrix,
                spec.full_range,
            )),
            generation: 1,
        }
    }

    fn replace(&mut self, spec: TileSpec) {
        self.label = spec.label();
        self.frame = Arc::new(colour_bars(
            spec.width,
            spec.height,
            spec.layout,
            spec.matrix,
            spec.full_range,
        ));
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
        let mut broken = colour_bars(
            specs[0].width,
            specs[0].height,
            specs[0].layout,
            specs[0].matrix,
            specs[0].full_range,
        );
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
                    render::WHOLE_PICTURE,
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
                render::WHOLE_PICTURE,
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
