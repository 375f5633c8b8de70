//! The GPU side: one pipeline shared by all tiles, and per tile the plane textures, a small
//! uniform buffer and a bind group. Frames are uploaded in `prepare` only when the tile's
//! FrameSlot generation changed; `paint` draws one triangle.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use eframe::egui;
use egui_wgpu::wgpu;
use wgpu::util::DeviceExt as _;

use super::color::{color_uniform, ColorUniform};
use super::planes::{plane_uploads, PlaneFormat, PlaneUpload};
use crate::decode::{PixelLayout, VideoFrame};

/// What the shader's `Tile` uniform holds (see `yuv.wgsl`).
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct TileUniform {
    color: ColorUniform,
    /// 1 when U and V are interleaved in one texture (NV12).
    chroma_interleaved: u32,
    _padding: [u32; 3],
    /// The part of the picture drawn: left, top, width, height in 0..1 (digital zoom).
    uv_rect: [f32; 4],
}

impl TileUniform {
    fn for_frame(frame: &VideoFrame, uv_rect: [f32; 4]) -> Self {
        Self {
            color: color_uniform(frame.matrix, frame.full_range),
            chroma_interleaved: u32::from(frame.layout == PixelLayout::Nv12),
            _padding: [0; 3],
            uv_rect,
        }
    }
}

/// Shared resources, kept in egui_wgpu's callback resources by [`super::install`].
pub struct YuvRenderer {
    pipeline: wgpu::RenderPipeline,
    bind_group_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    max_texture_dimension: u32,
    tiles: HashMap<u64, Tile>,
}

/// One tile's state. A tile exists from its first frame, valid or not.
#[derive(Default)]
struct Tile {
    /// The FrameSlot generation last looked at, whether it was uploaded or rejected, so a
    /// frame is neither uploaded nor reported twice.
    generation: Option<u64>,
    /// `None` until a frame was uploaded; nothing is drawn before. A rejected frame leaves
    /// the last good picture in place.
    gpu: Option<TileGpu>,
}

struct TileGpu {
    /// Format and size of each plane texture; a frame that needs others gets new textures.
    texture_keys: Vec<(PlaneFormat, u32, u32)>,
    textures: Vec<wgpu::Texture>,
    uniform_buffer: wgpu::Buffer,
    uniform: TileUniform,
    bind_group: wgpu::BindGroup,
}

impl YuvRenderer {
    pub fn new(
        device: &wgpu::Device,
        target_format: wgpu::TextureFormat,
        msaa_samples: u32,
        depth_stencil_format: Option<wgpu::TextureFormat>,
    ) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("vedette_yuv"),
            source: wgpu::ShaderSource::Wgsl(include_str!("yuv.wgsl").into()),
        });
        let texture_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                multisampled: false,
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
            },
            count: None,
        };
        let bind_group_layout =
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("vedette_yuv_tile"),
                entries: &[
                    wgpu::BindGroupLayoutEntry {
                        binding: 0,
                        visibility: wgpu::ShaderStages::FRAGMENT,
                        ty: wgpu::BindingType::Buffer {
                            ty: wgpu::BufferBindingType::Uniform,
                            has_dynamic_offset: false,
                            min_binding_size: NonZeroU64::new(
                                std::mem::size_of::<TileUniform>() as u64
                            ),
                        },
                        count: None,
                    },
                    wgpu::BindGroupLayoutEntry {
                        binding: 1,
                        visibility: wgpu::ShaderStages::FRAGMENT,
                        ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                        count: None,
                    },
                    texture_entry(2),
                    texture_entry(3),
                    texture_entry(4),
                ],
            });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("vedette_yuv"),
            bind_group_layouts: &[Some(&bind_group_layout)],
            immediate_size: 0,
        });
        // Same choice as egui's own pipeline: an sRGB target encodes on write, so the shader
        // must hand it linear values.
        let fragment_entry = if target_format.is_srgb() {
            "fs_main_linear_framebuffer"
        } else {
            "fs_main_gamma_framebuffer"
        };
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("vedette_yuv"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs_main"),
                buffers: &[],
                compilation_options: wgpu::PipelineCompilationOptions::default(),
            },
            primitive: wgpu::PrimitiveState::default(),
            // The pipeline must match egui's render pass, which has a depth buffer only when
            // the app asked for one.
            depth_stencil: depth_stencil_format.map(|format| wgpu::DepthStencilState {
                format,
                depth_write_enabled: Some(false),
                depth_compare: Some(wgpu::CompareFunction::Always),
                stencil: wgpu::StencilState::default(),
                bias: wgpu::DepthBiasState::default(),
            }),
            multisample: wgpu::MultisampleState {
                count: msaa_samples.max(1),
                mask: !0,
                alpha_to_coverage_enabled: false,
            },
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some(fragment_entry),
                targets: &[Some(wgpu::ColorTargetState {
                    format: target_format,
                    // Video is opaque: replace what is under it.
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
                compilation_options: wgpu::PipelineCompilationOptions::default(),
            }),
            multiview_mask: None,
            cache: None,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("vedette_yuv"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            address_mode_w: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Self {
            pipeline,
            bind_group_layout,
            sampler,
            max_texture_dimension: device.limits().max_texture_dimension_2d,
            tiles: HashMap::new(),
        }
    }

    /// Uploads `frame` into the tile's textures unless `generation` is already there, and
    /// sets the part of it drawn (`uv_rect`, which changes without a new frame).
    fn upload(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        tile_id: u64,
        frame: &VideoFrame,
        generation: u64,
        uv_rect: [f32; 4],
    ) {
        let tile = self.tiles.entry(tile_id).or_default();
        if tile.generation == Some(generation) {
            if let Some(gpu) = tile.gpu.as_mut() {
                let uniform = TileUniform {
                    uv_rect,
                    ..gpu.uniform
                };
                gpu.set_uniform(queue, uniform);
            }
            return;
        }
        tile.generation = Some(generation);
        let uploads = match plane_uploads(frame, self.max_texture_dimension) {
            Ok(uploads) => uploads,
            Err(e) => {
                tracing::debug!(tile_id, generation, "not drawing a frame: {e}");
                return;
            }
        };
        let texture_keys: Vec<_> = uploads.iter().map(PlaneUpload::texture_key).collect();
        let uniform = TileUniform::for_frame(frame, uv_rect);
        let gpu = match tile.gpu.take() {
            Some(gpu) if gpu.texture_keys == texture_keys => gpu,
            _ => {
                tracing::debug!(tile_id, ?texture_keys, "creating plane textures");
                let Some(gpu) = TileGpu::new(
                    device,
                    &self.bind_group_layout,
                    &self.sampler,
                    tile_id,
                    &uploads,
                    texture_keys,
                    uniform,
                ) else {
                    tracing::debug!(tile_id, generation, "not drawing a frame without planes");
                    return;
                };
                gpu
            }
        };
        let gpu = tile.gpu.insert(gpu);
        tracing::trace!(tile_id, generation, "uploading planes");
        for (upload, texture) in uploads.iter().zip(&gpu.textures) {
            write_plane(queue, texture, upload);
        }
        gpu.set_uniform(queue, uniform);
    }

    fn paint(&self, tile_id: u64, render_pass: &mut wgpu::RenderPass<'static>) {
        let Some(gpu) = self.tiles.get(&tile_id).and_then(|t| t.gpu.as_ref()) else {
            return;
        };
        render_pass.set_pipeline(&self.pipeline);
        render_pass.set_bind_group(0, &gpu.bind_group, &[]);
        render_pass.draw(0..3, 0..1);
    }

    pub fn forget_tile(&mut self, tile_id: u64) {
        self.tiles.remove(&tile_id);
    }
}

impl TileGpu {
    fn set_uniform(&mut self, queue: &wgpu::Queue, uniform: TileUniform) {
        if uniform != self.uniform {
            queue.write_buffer(&self.uniform_buffer, 0, bytemuck::bytes_of(&uniform));
            self.uniform = uniform;
        }
    }

    /// Textures sized for `uploads` (checked non-empty and within the device's limits by
    /// `plane_uploads`), and the bind group that ties them to the shader. `None` when there
    /// are no planes to bind.
    fn new(
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        sampler: &wgpu::Sampler,
        tile_id: u64,
        uploads: &[PlaneUpload<'_>],
        texture_keys: Vec<(PlaneFormat, u32, u32)>,
        uniform: TileUniform,
    ) -> Option<Self> {
        let label = format!("vedette_tile_{tile_id}");
        let textures: Vec<wgpu::Texture> = uploads
            .iter()
            .map(|upload| {
                device.create_texture(&wgpu::TextureDescriptor {
                    label: Some(&label),
                    size: wgpu::Extent3d {
                        width: upload.width,
                        height: upload.height,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: match upload.format {
                        PlaneFormat::R8 => wgpu::TextureFormat::R8Unorm,
                        PlaneFormat::Rg8 => wgpu::TextureFormat::Rg8Unorm,
                    },
                    usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                    view_formats: &[],
                })
            })
            .collect();
        let views: Vec<wgpu::TextureView> = textures
            .iter()
            .map(|t| t.create_view(&wgpu::TextureViewDescriptor::default()))
            .collect();
        let uniform_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(&label),
            contents: bytemuck::bytes_of(&uniform),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        // Y, then U and V; NV12 binds its one UV texture to both chroma slots and the
        // shader reads both components from the first.
        let view = |index: usize| {
            views
                .get(index)
                .or_else(|| views.get(1))
                .or_else(|| views.first())
        };
        let (Some(luma), Some(chroma_a), Some(chroma_b)) = (view(0), view(1), view(2)) else {
            // plane_uploads returns two or three planes; nothing to bind otherwise.
            return None;
        };
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&label),
            layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniform_buffer.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Sampler(sampler),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(luma),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::TextureView(chroma_a),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: wgpu::BindingResource::TextureView(chroma_b),
                },
            ],
        });
        Some(Self {
            texture_keys,
            textures,
            uniform_buffer,
            uniform,
            bind_group,
        })
    }
}

/// Copies one plane, row by row at its stride; `write_texture` has no row alignment rule.
fn write_plane(queue: &wgpu::Queue, texture: &wgpu::Texture, upload: &PlaneUpload<'_>) {
    queue.write_texture(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        upload.data,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(upload.stride),
            rows_per_image: Some(upload.height),
        },
        wgpu::Extent3d {
            width: upload.width,
            height: upload.height,
            depth_or_array_layers: 1,
        },
    );
}

/// The paint callback of one tile for one egui frame.
pub struct YuvCallback {
    pub tile_id: u64,
    pub frame: Arc<VideoFrame>,
    pub generation: u64,
    /// The part of the picture drawn: left, top, width, height in 0..1.
    pub uv_rect: [f32; 4],
}

impl egui_wgpu::CallbackTrait for YuvCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen_descriptor: &egui_wgpu::ScreenDescriptor,
        _egui_encoder: &mut wgpu::CommandEncoder,
        callback_resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        match callback_resources.get_mut::<YuvRenderer>() {
            Some(renderer) => {
                renderer.upload(
                    device,
                    queue,
                    self.tile_id,
                    &self.frame,
                    self.generation,
                    self.uv_rect,
                );
            }
            None => report_not_installed(),
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        callback_resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(renderer) = callback_resources.get::<YuvRenderer>() {
            renderer.paint(self.tile_id, render_pass);
        }
    }
}

/// A programming error, not a per-frame event: said once.
fn report_not_installed() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| tracing::error!("render::install was not called; video is not drawn"));
}

#[cfg(test)]
mod tests {
    //! The shader on a real wgpu device (on a machine without a GPU: Mesa's lavapipe or
    //! llvmpipe), drawing the test pattern (coded from R'G'B' with the ITU equations, not with
    //! `color.rs`) and checked against the R'G'B' it was made from: a wrong constant in
    //! `color.rs` or the shader shows up as a wrong colour here.

    use super::*;
    use crate::decode::{ColorMatrix, PixelLayout};
    use crate::render::test_pattern::{colour_bars, rgb_at, BARS};

    /// The whole picture, as `uv_rect`.
    const WHOLE_PICTURE: [f32; 4] = [0.0, 0.0, 1.0, 1.0];

    /// Eight bars of 32 pixels: wide enough that a bar's centre is clear of chroma filtered
    /// across its edges. The bars take the top 10 rows, the grey ramp the bottom 6.
    const WIDTH: u32 = 256;
    const HEIGHT: u32 = 16;

    fn device() -> (wgpu::Device, wgpu::Queue) {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = futures::executor::block_on(
            instance.request_adapter(&wgpu::RequestAdapterOptions::default()),
        )
        .expect("a wgpu adapter (without a GPU: Mesa's lavapipe, package mesa-vulkan-drivers)");
        futures::executor::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default()))
            .expect("a wgpu device")
    }

    /// `frame` drawn by the renderer over a `WIDTH × HEIGHT` target of `format`, read back
    /// as RGBA rows.
    fn draw(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        format: wgpu::TextureFormat,
        frame: &VideoFrame,
        uv_rect: [f32; 4],
    ) -> Vec<u8> {
        let mut renderer = YuvRenderer::new(device, format, 1, None);
        renderer.upload(device, queue, 7, frame, 1, uv_rect);
        let size = wgpu::Extent3d {
            width: WIDTH,
            height: HEIGHT,
            depth_or_array_layers: 1,
        };
        let target = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("test_target"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = target.create_view(&wgpu::TextureViewDescriptor::default());
        // 256 bytes a row is what a texture-to-buffer copy needs, and exactly WIDTH · 4.
        let row_bytes = WIDTH * 4;
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("test_readback"),
            size: u64::from(row_bytes * HEIGHT),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder
                .begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("test_pass"),
                    color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                        view: &view,
                        depth_slice: None,
                        resolve_target: None,
                        ops: wgpu::Operations {
                            load: wgpu::LoadOp::Clear(wgpu::Color {
                                r: 0.5,
                                g: 0.0,
                                b: 0.5,
                                a: 1.0,
                            }),
                            store: wgpu::StoreOp::Store,
                        },
                    })],
                    ..Default::default()
                })
                .forget_lifetime();
            renderer.paint(7, &mut pass);
        }
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &target,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(row_bytes),
                    rows_per_image: Some(HEIGHT),
                },
            },
            size,
        );
        queue.submit([encoder.finish()]);
        readback
            .slice(..)
            .map_async(wgpu::MapMode::Read, |r| r.expect("map"));
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("poll");
        let pixels = readback
            .slice(..)
            .get_mapped_range()
            .expect("mapped")
            .to_vec();
        pixels
    }

    #[test]
    fn the_shader_draws_colour_bars_in_their_colours_for_every_layout_matrix_and_range() {
        let (device, queue) = device();
        let cases = [
            (PixelLayout::I420, ColorMatrix::Bt601, false),
            (PixelLayout::I420, ColorMatrix::Bt709, true),
            (PixelLayout::Nv12, ColorMatrix::Bt709, false),
            (PixelLayout::I422, ColorMatrix::Bt601, true),
            (PixelLayout::I444, ColorMatrix::Bt709, false),
            (PixelLayout::I420, ColorMatrix::Bt2020, false),
        ];
        // A gamma (plain) target gets R'G'B' as is; an sRGB target encodes on write, and
        // must end up with the same bytes.
        let formats = [
            wgpu::TextureFormat::Rgba8Unorm,
            wgpu::TextureFormat::Rgba8UnormSrgb,
        ];
        let bar_width = WIDTH / BARS.len() as u32;
        // The middle of each bar on rows whose chroma is all bar (4:2:0 chroma row 4 holds
        // picture rows 8 and 9, and row 9 is filtered with the ramp below), then three points
        // of the ramp on the last row.
        let points = (0..BARS.len() as u32)
            .flat_map(|bar| [0, 4, 7].map(|y| (bar * bar_width + bar_width / 2, y)))
            .chain([
                (0, HEIGHT - 1),
                (WIDTH / 2, HEIGHT - 1),
                (WIDTH - 1, HEIGHT - 1),
            ]);
        let points: Vec<(u32, u32)> = points.collect();
        for (layout, matrix, full_range) in cases {
            let frame = colour_bars(WIDTH, HEIGHT, layout, matrix, full_range);
            for format in formats {
                let pixels = draw(&device, &queue, format, &frame, WHOLE_PICTURE);
                for &(x, y) in &points {
                    let at = ((y * WIDTH + x) * 4) as usize;
                    let got = &pixels[at..at + 3];
                    let want = rgb_at(x, y, WIDTH, HEIGHT).map(|c| (c * 255.0).round() as u8);
                    let off = got
                        .iter()
                        .zip(want)
                        .map(|(&g, w)| g.abs_diff(w))
                        .max()
                        .unwrap_or(0);
                    assert!(
                        off <= 3,
                        "{layout:?} {matrix:?} full_range={full_range} {format:?}: \
                         ({x}, {y}) is {got:?}, expected {want:?}"
                    );
                }
            }
        }
    }

    /// Digital zoom: the shader draws only the part of the picture asked for, over the whole
    /// tile. Zoomed on bars 1 and 2 of the top half, the left half of the tile is bar 1 and the
    /// right half bar 2 (unzoomed, those places show bars 2 and 6).
    #[test]
    fn a_zoomed_tile_shows_only_the_part_of_the_picture_asked_for() {
        let (device, queue) = device();
        let frame = colour_bars(WIDTH, HEIGHT, PixelLayout::I420, ColorMatrix::Bt709, false);
        let format = wgpu::TextureFormat::Rgba8Unorm;
        let uv_rect = [0.125, 0.0, 0.25, 0.5];
        let pixel = |pixels: &[u8], x: u32, y: u32| -> [u8; 3] {
            let at = ((y * WIDTH + x) * 4) as usize;
            [pixels[at], pixels[at + 1], pixels[at + 2]]
        };
        let want = |x: u32, y: u32| rgb_at(x, y, WIDTH, HEIGHT).map(|c| (c * 255.0).round() as u8);
        let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 3);
        let zoomed = draw(&device, &queue, format, &frame, uv_rect);
        let whole = draw(&device, &queue, format, &frame, WHOLE_PICTURE);
        let bar_middle =
            |bar: u32| bar * (WIDTH / BARS.len() as u32) + WIDTH / BARS.len() as u32 / 2;
        // Tile rows 2 and 4 sample picture rows 1 and 2: the bars.
        for y in [2, 4] {
            for (x, bar) in [(WIDTH / 4, 1), (WIDTH * 3 / 4, 2)] {
                let got = pixel(&zoomed, x, y);
                assert!(
                    close(got, want(bar_middle(bar), 2)),
                    "zoomed ({x}, {y}) is {got:?}, bar {bar} is {:?}",
                    want(bar_middle(bar), 2)
                );
                assert!(
                    !close(pixel(&whole, x, y), got),
                    "the unzoomed tile shows the same at ({x}, {y})"
                );
            }
        }
    }
}
