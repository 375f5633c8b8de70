// Draws one YUV frame over the whole viewport (egui_wgpu sets the viewport to the callback's
// rect), converting to R'G'B' with the rows that `color_uniform` in color.rs builds.

struct ColorRows {
    r: vec4<f32>,
    g: vec4<f32>,
    b: vec4<f32>,
};

struct Tile {
    color: ColorRows,
    // 1: U and V are interleaved in `chroma_a` (NV12); 0: U in `chroma_a`, V in `chroma_b`.
    chroma_interleaved: u32,
    // The part of the picture drawn (digital zoom): xy its top left, zw its size, in 0..1.
    uv_rect: vec4<f32>,
};

@group(0) @binding(0) var<uniform> tile: Tile;
@group(0) @binding(1) var plane_sampler: sampler;
@group(0) @binding(2) var luma: texture_2d<f32>;
@group(0) @binding(3) var chroma_a: texture_2d<f32>;
@group(0) @binding(4) var chroma_b: texture_2d<f32>;

struct VertexOutput {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

// One triangle that covers the viewport: vertices at (-1,-1), (3,-1), (-1,3) in clip space.
@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOutput {
    let clip = vec2<f32>(f32((index << 1u) & 2u) * 2.0 - 1.0, f32(index & 2u) * 2.0 - 1.0);
    var out: VertexOutput;
    out.position = vec4<f32>(clip, 0.0, 1.0);
    // Texture rows go down, clip space goes up.
    out.uv = vec2<f32>(clip.x + 1.0, 1.0 - clip.y) * 0.5;
    return out;
}

// The planes have no mip levels: sampling level 0 explicitly spares a software rasterizer
// (llvmpipe) the derivatives and level selection of `textureSample`, about 12 % of its time.
fn rgb_at(uv: vec2<f32>) -> vec3<f32> {
    let y = textureSampleLevel(luma, plane_sampler, uv, 0.0).r;
    let a = textureSampleLevel(chroma_a, plane_sampler, uv, 0.0);
    let b = textureSampleLevel(chroma_b, plane_sampler, uv, 0.0);
    var uv_chroma = vec2<f32>(a.r, b.r);
    if tile.chroma_interleaved != 0u {
        uv_chroma = a.rg;
    }
    let yuv = vec3<f32>(y, uv_chroma);
    let rgb = vec3<f32>(
        dot(tile.color.r.xyz, yuv) + tile.color.r.w,
        dot(tile.color.g.xyz, yuv) + tile.color.g.w,
        dot(tile.color.b.xyz, yuv) + tile.color.b.w,
    );
    return saturate(rgb);
}

// Where in the picture a point of the tile (0..1 across the viewport) samples.
fn picture_uv(viewport_uv: vec2<f32>) -> vec2<f32> {
    return tile.uv_rect.xy + viewport_uv * tile.uv_rect.zw;
}

// For the usual non-sRGB (gamma-space) framebuffer: R'G'B' goes out as is.
@fragment
fn fs_main_gamma_framebuffer(in: VertexOutput) -> @location(0) vec4<f32> {
    return vec4<f32>(rgb_at(picture_uv(in.uv)), 1.0);
}

// sRGB framebuffer: the hardware encodes on write, so hand it linear values.
@fragment
fn fs_main_linear_framebuffer(in: VertexOutput) -> @location(0) vec4<f32> {
    let encoded = rgb_at(picture_uv(in.uv));
    let cutoff = encoded < vec3<f32>(0.04045);
    let lower = encoded / vec3<f32>(12.92);
    let higher = pow((encoded + vec3<f32>(0.055)) / vec3<f32>(1.055), vec3<f32>(2.4));
    return vec4<f32>(select(higher, lower, cutoff), 1.0);
}
