//! Video decoding with FFmpeg on a named thread per stream.
//!
//! The network task hands access units to [`VideoDecoder::push`] (a bounded queue: when the
//! decoder falls behind, new units are dropped and decoding resumes at the next keyframe,
//! so latency never grows). Decoded pictures stay in YUV and go into a [`FrameSlot`] that holds
//! only the newest frame. After packet loss, pictures are held back until the next IDR, so a
//! viewer never shows a smeared picture.

pub mod audio;
mod slot;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ffmpeg_next as ffmpeg;

use crate::rtp::h264::{AccessUnit, START_CODE};
use crate::rtp::{h264, h265};
pub use slot::FrameSlot;

/// Access units queued for decode before the network side starts dropping.
const QUEUE_DEPTH: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("no FFmpeg decoder for {0}")]
    NoDecoder(String),
    #[error("FFmpeg: {0}")]
    Ffmpeg(#[from] ffmpeg::Error),
    #[error("could not start the decode thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The video codecs Vedette decodes, by their SDP encoding name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    H264,
    H265,
    /// Motion JPEG (RFC 2435 encoding name `JPEG`): every picture stands alone.
    Mjpeg,
}

impl VideoCodec {
    /// From an `a=rtpmap` encoding name (any case).
    pub fn from_encoding_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "h264" => Some(Self::H264),
            "h265" | "hevc" => Some(Self::H265),
            "jpeg" => Some(Self::Mjpeg),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::H264 => "h264",
            Self::H265 => "h265",
            Self::Mjpeg => "mjpeg",
        }
    }

    /// What a NAL unit of this codec is, as far as decoding needs parameter sets.
    fn parameter_set_kind(self, nal: &[u8]) -> Option<ParameterSet> {
        match self {
            Self::H264 => match h264::nal_unit_type(nal)? {
                h264::nal_type::SPS => Some(ParameterSet::Sps),
                h264::nal_type::PPS => Some(ParameterSet::Other),
                _ => None,
            },
            Self::H265 => match h265::nal_unit_type(nal)? {
                h265::nal_type::SPS => Some(ParameterSet::Sps),
                h265::nal_type::VPS | h265::nal_type::PPS => Some(ParameterSet::Other),
                _ => None,
            },
            Self::Mjpeg => None,
        }
    }

    fn ffmpeg_id(self) -> ffmpeg::codec::Id {
        match self {
            Self::H264 => ffmpeg::codec::Id::H264,
            Self::H265 => ffmpeg::codec::Id::HEVC,
            Self::Mjpeg => ffmpeg::codec::Id::MJPEG,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParameterSet {
    Sps,
    /// VPS (H.265) or PPS.
    Other,
}

/// In-band parameter sets kept from access units that were not decoded, at most this many.
const KEPT_PARAMETER_SETS: usize = 8;

/// How the planes of a [`VideoFrame`] are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelLayout {
    /// Y, U, V planes; chroma at half width and height (4:2:0).
    I420,
    /// Y plane, then interleaved UV at half width and height.
    Nv12,
    /// Y, U, V; chroma at half width, full height.
    I422,
    /// Y, U, V at full size.
    I444,
}

/// YUV→RGB matrix (the renderer's shader picks its coefficients from this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMatrix {
    Bt601,
    Bt709,
    /// BT.2020 non-constant luminance (wide-gamut and HDR cameras). Only the matrix: the
    /// picture is shown without tone mapping.
    Bt2020,
}

/// The bytes of one plane: a view into the decoder's reference-counted picture (no copy on
/// the hand-off from decoder to screen), or bytes of our own (tests, synthetic frames).
#[derive(Clone)]
pub enum PlaneData {
    Owned(Vec<u8>),
    Decoded {
        picture: Arc<ffmpeg::frame::Video>,
        plane: usize,
        len: usize,
    },
}

impl std::ops::Deref for PlaneData {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            PlaneData::Owned(v) => v,
            PlaneData::Decoded {
                picture,
                plane,
                len,
            } => picture.data(*plane).get(..*len).unwrap_or_default(),
        }
    }
}

/// Writing copies a decoded plane first (copy on write): the decoder's buffers stay read-only.
impl std::ops::DerefMut for PlaneData {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.to_mut()
    }
}

impl PlaneData {
    /// Mutable bytes, copying a decoded plane first.
    pub fn to_mut(&mut self) -> &mut Vec<u8> {
        if let PlaneData::Decoded { .. } = self {
            *self = PlaneData::Owned(self.to_vec());
        }
        match self {
            PlaneData::Owned(v) => v,
            PlaneData::Decoded { .. } => unreachable!("converted above"),
        }
    }
}

impl From<Vec<u8>> for PlaneData {
    fn from(v: Vec<u8>) -> Self {
        PlaneData::Owned(v)
    }
}

impl std::fmt::Debug for PlaneData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlaneData({} bytes)", self.len())
    }
}

impl PartialEq for PlaneData {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for PlaneData {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plane {
    pub data: PlaneData,
    /// Bytes per row in `data`.
    pub stride: usize,
    pub width: usize,
    pub height: usize,
}

/// One decoded picture, still in YUV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    pub width: u32,
    pub height: u32,
    pub layout: PixelLayout,
    pub matrix: ColorMatrix,
    pub full_range: bool,
    /// The shape of one pixel, `num:den` (the stream's sample aspect ratio): 1:1 for square
    /// pixels and when the stream does not say. Anamorphic cameras send e.g. 1440x1080 at 4:3
    /// or 704x576 at 12:11.
    pub sample_aspect: (u32, u32),
    pub planes: Vec<Plane>,
    pub ts_in_90khz: u32,
    pub decoded_at: Instant,
    /// When the last packet of this picture arrived (for arrival → on-screen latency).
    pub received_at: Instant,
    /// Capture time stamped into the picture by a Vedette demo server, if present.
    pub capture_ms: Option<u64>,
}

impl VideoFrame {
    /// The size the picture is meant to be seen at: the decoded width stretched by the sample
    /// aspect ratio (1440x1080 at 4:3 is 1920x1080), the height as decoded.
    pub fn display_size(&self) -> (u32, u32) {
        let (num, den) = self.sample_aspect;
        if num == den || !sample_aspect_is_sane(num, den) {
            return (self.width, self.height);
        }
        let width = (u64::from(self.width) * u64::from(num) + u64::from(den) / 2) / u64::from(den);
        (u32::try_from(width).unwrap_or(u32::MAX).max(1), self.height)
    }
}

/// A pixel between 1:4 and 4:1 wide. Anything else is a broken VUI (0:0, 255:1 …), and the
/// picture is better shown as decoded.
fn sample_aspect_is_sane(num: u32, den: u32) -> bool {
    num > 0
        && den > 0
        && u64::from(num) <= 4 * u64::from(den)
        && u64::from(den) <= 4 * u64::from(num)
}

/// Counters shared between the decode thread and whoever watches it.
#[derive(Debug, Default)]
pub struct DecoderStats {
    pub access_units: AtomicU64,
    pub frames_decoded: AtomicU64,
    /// Pictures not shown: before the first keyframe (not decoded), or held back after packet
    /// loss while a keyframe was near (decoded, not shown).
    pub held_back: AtomicU64,
    /// Access units dropped because the decode queue was full.
    pub dropped_queue_full: AtomicU64,
    pub decode_errors: AtomicU64,
    pub first_frame_at: OnceLock<Instant>,
    pub last_error: Mutex<Option<String>>,
    /// Pictures shown although packets were lost before them (persistent loss: a concealed
    /// picture is better than a frozen one).
    pub concealed: AtomicU64,
    /// Time spent in the decoder, summed over `frames_decoded`, in microseconds.
    pub decode_us_total: AtomicU64,
    /// Capture→decode latency of the most recent frames that carry a timecode.
    pub latency_ms: Mutex<std::collections::VecDeque<u64>>,
}

/// Latency samples kept for the median.
const LATENCY_SAMPLES: usize = 256;

impl DecoderStats {
    pub fn frames(&self) -> u64 {
        self.frames_decoded.load(Ordering::Relaxed)
    }

    /// Median capture→decode latency of recent frames. The median, not the mean: a new
    /// viewer first gets the server's cached pictures since the last keyframe, which are
    /// older than live ones and would skew a mean.
    pub fn median_latency_ms(&self) -> Option<u64> {
        let samples = self.latency_ms.lock().ok()?;
        let mut sorted: Vec<u64> = samples.iter().copied().collect();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied()
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}

enum Command {
    /// An access unit and when it was complete.
    Decode(AccessUnit, Instant),
    Stop,
}

/// Owns a decode thread. Dropping it asks the thread to stop without waiting for it.
pub struct VideoDecoder {
    tx: SyncSender<Command>,
    /// Set to stop: the thread looks at it before each access unit, so it stops after the one
    /// in hand even when the queue is full (and `Command::Stop` found no room).
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    slot: Arc<FrameSlot>,
    stats: Arc<DecoderStats>,
    /// Set when a unit was dropped: the next units are useless until an IDR.
    dropped_since_idr: bool,
}

impl VideoDecoder {
    /// Starts a decode thread named `decode:<name>` that publishes into `slot` (a camera keeps
    /// its slot across reconnects). `parameter_sets` (e.g. from SDP `sprop-parameter-sets`) are
    /// fed in front of the first access unit.
    pub fn spawn(
        name: &str,
        codec: VideoCodec,
        parameter_sets: Vec<Vec<u8>>,
        slot: Arc<FrameSlot>,
    ) -> Result<Self, DecodeError> {
        init_ffmpeg();
        let ffcodec = ffmpeg::decoder::find(codec.ffmpeg_id())
            .ok_or_else(|| DecodeError::NoDecoder(codec.as_str().into()))?;
        let mut context = ffmpeg::codec::Context::new_with_codec(ffcodec);
        context.set_flags(ffmpeg::codec::Flags::LOW_DELAY);
        // One thread per stream: frame threading would add a frame of latency per thread, and
        // a wall of cameras already spreads decoding over every core, one thread per camera.
        context.set_threading(ffmpeg::codec::threading::Config {
            kind: ffmpeg::codec::threading::Type::Slice,
            count: 1,
            ..Default::default()
        });
        let decoder = context.decoder().video()?;

        let (tx, rx) = mpsc::sync_channel(QUEUE_DEPTH);
        let stats = Arc::new(DecoderStats::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let worker = DecodeWorker {
            codec,
            decoder,
            rx,
            stopping: stopping.clone(),
            slot: slot.clone(),
            stats: stats.clone(),
            parameter_sets,
            kept_parameter_sets: Vec::new(),
            waiting_for_idr: true,
            sent_parameter_sets: false,
        };
        let thread = std::thread::Builder::new()
            .name(format!("decode:{name}"))
            .spawn(move || worker.run())?;
        Ok(Self {
            tx,
            stopping,
            thread: Some(thread),
            slot,
            stats,
            dropped_since_idr: false,
        })
    }

    /// Queues an access unit without blocking. Returns false when it was dropped.
    pub fn push(&mut self, mut au: AccessUnit) -> bool {
        if self.dropped_since_idr {
            if !au.is_idr {
                self.stats
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
                return false;
            }
            au.loss = true;
        }
        match self.tx.try_send(Command::Decode(au, Instant::now())) {
            Ok(()) => {
                self.dropped_since_idr = false;
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
                self.dropped_since_idr = true;
                false
            }
        }
    }

    pub fn slot(&self) -> &Arc<FrameSlot> {
        &self.slot
    }

    pub fn stats(&self) -> &Arc<DecoderStats> {
        &self.stats
    }

    /// Stops the thread and waits for it, which takes at most the access unit it is decoding
    /// (not the queue behind it). Blocks: in async code, call it from `spawn_blocking`.
    pub fn stop_and_join(mut self) {
        let thread = self.thread.take();
        // Dropping `self` raises the flag, wakes an idle thread and hangs up the queue, so the
        // thread ends whether or not `Command::Stop` found room in it.
        drop(self);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for VideoDecoder {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        // If the queue is full the thread still ends: it sees the flag before its next unit,
        // and the sender hangs up with us.
        let _ = self.tx.try_send(Command::Stop);
    }
}

struct DecodeWorker {
    codec: VideoCodec,
    decoder: ffmpeg::decoder::Video,
    rx: Receiver<Command>,
    stopping: Arc<AtomicBool>,
    slot: Arc<FrameSlot>,
    stats: Arc<DecoderStats>,
    parameter_sets: Vec<Vec<u8>>,
    /// Parameter sets that came in access units skipped before the first keyframe (after a
    /// (re)start): fed in front of the next unit decoded. Cameras that send SPS/PPS in an
    /// access unit of their own would otherwise never start.
    kept_parameter_sets: Vec<Vec<u8>>,
    waiting_for_idr: bool,
    sent_parameter_sets: bool,
}

/// What to do with a decoded picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Show {
    Clean,
    /// Shown although it follows loss (loss is persistent).
    Concealed,
    /// Not shown: it follows loss and a clean keyframe is expected soon.
    HoldBack,
}

/// After packet loss a picture (and every picture that references it) is damaged until the
/// next keyframe. When loss is rare, the tile keeps the last clean picture until then (a short
/// freeze beats smeared blocks), but not for longer than [`Self::HOLD_AT_MOST`]: cameras with
/// "smart" GOPs send a keyframe every 4–10 s, and a tile frozen that long after one lost
/// packet looks dead. When loss is persistent (a lossy radio link) holding back would leave
/// the tile frozen almost all the time, so damaged pictures are shown at once, concealed by
/// FFmpeg. Damaged pictures are decoded either way, so that once shown they rest on every
/// picture that arrived.
#[derive(Debug, Default)]
struct DamagePolicy {
    /// When the pictures since the last keyframe became damaged (None: clean).
    damaged_since: Option<Instant>,
    /// Loss flags of the most recent access units.
    recent: std::collections::VecDeque<bool>,
}

impl DamagePolicy {
    /// Access units looked back on to judge whether loss is persistent (2 s at 25 fps).
    const WINDOW: usize = 50;
    /// Above this share of damaged access units, damaged pictures are shown.
    const PERSISTENT: usize = Self::WINDOW / 5;
    /// The longest a tile keeps its last clean picture while waiting for a keyframe. A camera
    /// with the usual 1–2 s GOP gets its keyframe first.
    const HOLD_AT_MOST: Duration = Duration::from_millis(1500);

    /// What to do with the picture of an access unit that arrived `at`.
    fn on_access_unit(&mut self, is_idr: bool, loss: bool, at: Instant) -> Show {
        if self.recent.len() == Self::WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(loss);
        if is_idr {
            // A keyframe restarts prediction; if it is damaged itself, concealment is the
            // best there is.
            self.damaged_since = None;
            return if loss { Show::Concealed } else { Show::Clean };
        }
        if loss && self.damaged_since.is_none() {
            self.damaged_since = Some(at);
        }
        let Some(since) = self.damaged_since else {
            return Show::Clean;
        };
        let persistent = self.recent.iter().filter(|l| **l).count() > Self::PERSISTENT;
        if persistent || at.saturating_duration_since(since) >= Self::HOLD_AT_MOST {
            Show::Concealed
        } else {
            Show::HoldBack
        }
    }

    fn on_decode_error(&mut self, at: Instant) {
        self.damaged_since.get_or_insert(at);
    }
}

/// Converts pictures in formats the shader does not take (10-bit, 4:4:4 12-bit …) to 8-bit
/// 4:2:0; built for the first such picture, on the decode thread (it is not `Send`).
type Converter = Option<(
    ffmpeg::format::Pixel,
    u32,
    u32,
    ffmpeg::software::scaling::Context,
)>;

impl DecodeWorker {
    fn run(mut self) {
        let mut frame = ffmpeg::frame::Video::empty();
        let mut converter: Converter = None;
        let mut damage = DamagePolicy::default();
        while let Ok(Command::Decode(au, received_at)) = self.rx.recv() {
            if self.stopping.load(Ordering::Relaxed) {
                break;
            }
            self.stats.access_units.fetch_add(1, Ordering::Relaxed);
            // Nothing can be decoded before the first keyframe (after a (re)start).
            if self.waiting_for_idr && !au.is_idr {
                self.keep_parameter_sets(&au);
                self.stats.held_back.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.waiting_for_idr = false;
            let show = damage.on_access_unit(au.is_idr, au.loss, received_at);
            if show == Show::HoldBack {
                // Decoded (below) but not shown.
                self.stats.held_back.fetch_add(1, Ordering::Relaxed);
            }
            let started = Instant::now();
            let packet = self.packet_for(&au);
            if let Err(e) = self.decoder.send_packet(&packet) {
                self.record_error(format!(
                    "decoding the picture at RTP time {}: {e}",
                    au.ts_in_90khz
                ));
                damage.on_decode_error(received_at);
                continue;
            }
            loop {
                match self.decoder.receive_frame(&mut frame) {
                    Ok(()) => {
                        let picture = std::mem::replace(&mut frame, ffmpeg::frame::Video::empty());
                        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(0);
                        self.stats
                            .decode_us_total
                            .fetch_add(took, Ordering::Relaxed);
                        match show {
                            Show::Clean => {
                                self.publish(&mut converter, picture, au.ts_in_90khz, received_at)
                            }
                            Show::Concealed => {
                                self.stats.concealed.fetch_add(1, Ordering::Relaxed);
                                self.publish(&mut converter, picture, au.ts_in_90khz, received_at)
                            }
                            Show::HoldBack => {}
                        }
                    }
                    Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {
                        break
                    }
                    Err(ffmpeg::Error::Eof) => break,
                    Err(e) => {
                        self.record_error(e.to_string());
                        damage.on_decode_error(received_at);
                        break;
                    }
                }
            }
        }
        tracing::debug!("decode thread ends");
    }

    /// Keeps the parameter sets of an access unit skipped before the first keyframe, newest
    /// last, each once.
    fn keep_parameter_sets(&mut self, au: &AccessUnit) {
        for nal in au.nal_units() {
            if self.codec.parameter_set_kind(nal).is_none() {
                continue;
            }
            self.kept_parameter_sets
                .retain(|kept| kept.as_slice() != nal);
            if self.kept_parameter_sets.len() == KEPT_PARAMETER_SETS {
                self.kept_parameter_sets.remove(0);
            }
            self.kept_parameter_sets.push(nal.to_vec());
        }
    }

    /// The access unit as an FFmpeg packet. In front of it: the SDP's parameter sets before
    /// the first unit when neither the stream nor a kept unit carried an SPS, then the
    /// parameter sets kept from units skipped before it.
    fn packet_for(&mut self, au: &AccessUnit) -> ffmpeg::Packet {
        let is_sps = |n: &[u8]| self.codec.parameter_set_kind(n) == Some(ParameterSet::Sps);
        let sdp_sets = !self.sent_parameter_sets
            && !self.parameter_sets.is_empty()
            && !au.nal_units().into_iter().any(is_sps)
            && !self.kept_parameter_sets.iter().any(|n| is_sps(n));
        self.sent_parameter_sets = true;
        let kept = std::mem::take(&mut self.kept_parameter_sets);
        if !sdp_sets && kept.is_empty() {
            return ffmpeg::Packet::copy(&au.data);
        }
        let sdp = if sdp_sets {
            &self.parameter_sets[..]
        } else {
            &[]
        };
        let mut data = Vec::with_capacity(au.data.len() + 256);
        for ps in sdp.iter().chain(&kept) {
            data.extend_from_slice(&START_CODE);
            data.extend_from_slice(ps);
        }
        data.extend_from_slice(&au.data);
        ffmpeg::Packet::copy(&data)
    }

    fn record_error(&self, message: String) {
        self.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%message, "decode error");
        if let Ok(mut e) = self.stats.last_error.lock() {
            *e = Some(message);
        }
    }

    /// A picture in a pixel format the renderer takes, converting if needed (on the CPU, so
    /// only for the formats the shader has no path for).
    fn displayable(
        converter: &mut Converter,
        frame: ffmpeg::frame::Video,
    ) -> Option<ffmpeg::frame::Video> {
        use ffmpeg::format::Pixel;
        let format = frame.format();
        if pixel_layout(format).is_some() {
            return Some(frame);
        }
        let (w, h) = (frame.width(), frame.height());
        if !matches!(converter, Some((f, cw, ch, _)) if *f == format && *cw == w && *ch == h) {
            let context = ffmpeg::software::scaling::Context::get(
                format,
                w,
                h,
                Pixel::YUV420P,
                w,
                h,
                ffmpeg::software::scaling::Flags::FAST_BILINEAR,
            )
            .ok()?;
            tracing::info!(?format, "converting pictures to 8-bit 4:2:0 for display");
            *converter = Some((format, w, h, context));
        }
        let (_, _, _, context) = converter.as_mut()?;
        let mut out = ffmpeg::frame::Video::empty();
        context.run(&frame, &mut out).ok()?;
        out.set_color_space(frame.color_space());
        out.set_color_range(frame.color_range());
        Some(out)
    }

    fn publish(
        &self,
        converter: &mut Converter,
        frame: ffmpeg::frame::Video,
        ts_in_90khz: u32,
        received_at: Instant,
    ) {
        let format = frame.format();
        let Some(frame) = Self::displayable(converter, frame) else {
            self.record_error(format!("unsupported pixel format {format:?}"));
            return;
        };
        let Some(mut video) = video_frame_from(frame, ts_in_90khz) else {
            self.record_error(format!("unsupported pixel format {format:?}"));
            return;
        };
        video.received_at = received_at;
        let now = Instant::now();
        let _ = self.stats.first_frame_at.set(now);
        if let Some(capture_ms) = video.capture_ms {
            let now_ms = unix_millis();
            if let Some(latency) = now_ms.checked_sub(capture_ms).filter(|&l| l < 60_000) {
                if let Ok(mut samples) = self.stats.latency_ms.lock() {
                    if samples.len() == LATENCY_SAMPLES {
                        samples.pop_front();
                    }
                    samples.push_back(latency);
                }
            }
        }
        self.stats.frames_decoded.fetch_add(1, Ordering::Relaxed);
        self.slot.publish(Arc::new(video));
    }
}

/// Milliseconds since the Unix epoch, for capture-time stamps.
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The plane layout of the pixel formats the renderer takes, and whether the format itself
/// says full range (the JPEG variants).
fn pixel_layout(format: ffmpeg::format::Pixel) -> Option<(PixelLayout, bool)> {
    use ffmpeg::format::Pixel;
    Some(match format {
        Pixel::YUV420P => (PixelLayout::I420, false),
        Pixel::YUVJ420P => (PixelLayout::I420, true),
        Pixel::NV12 => (PixelLayout::Nv12, false),
        Pixel::YUV422P => (PixelLayout::I422, false),
        Pixel::YUVJ422P => (PixelLayout::I422, true),
        Pixel::YUV444P => (PixelLayout::I444, false),
        Pixel::YUVJ444P => (PixelLayout::I444, true),
        _ => return None,
    })
}

/// Copies FFmpeg's planes out (the decoder reuses its buffers), keeping YUV as is.
fn video_frame_from(frame: ffmpeg::frame::Video, ts_in_90khz: u32) -> Option<VideoFrame> {
    let (layout, forced_full_range) = pixel_layout(frame.format())?;
    // The decoder handed this picture over: its buffers are reference-counted and FFmpeg
    // never writes them again, so planes can point into them instead of being copied.
    let picture = Arc::new(frame);
    let frame = &*picture;
    let planes: Vec<Plane> = (0..frame.planes())
        .map(|i| {
            let height = frame.plane_height(i) as usize;
            let stride = frame.stride(i);
            let len = (stride * height).min(frame.data(i).len());
            Plane {
                data: PlaneData::Decoded {
                    picture: picture.clone(),
                    plane: i,
                    len,
                },
                stride,
                width: frame.plane_width(i) as usize,
                height,
            }
        })
        .collect();
    let full_range = forced_full_range || frame.color_range() == ffmpeg::color::Range::JPEG;
    let matrix = color_matrix(frame.color_space(), frame.width(), frame.height());
    let sar = frame.aspect_ratio();
    let sample_aspect = match (
        u32::try_from(sar.numerator()),
        u32::try_from(sar.denominator()),
    ) {
        (Ok(num), Ok(den)) if sample_aspect_is_sane(num, den) => (num, den),
        _ => (1, 1),
    };
    let capture_ms = planes
        .first()
        .and_then(|y| crate::timecode::read_timecode(&y.data, y.stride, y.width, y.height));
    Some(VideoFrame {
        width: frame.width(),
        height: frame.height(),
        layout,
        matrix,
        full_range,
        sample_aspect,
        planes,
        ts_in_90khz,
        decoded_at: Instant::now(),
        received_at: Instant::now(),
        capture_ms,
    })
}

/// The matrix a picture says it uses; when it does not say, HD sizes are BT.709 and SD sizes
/// BT.601 (mpv's rule: wider than 1279 or taller than 576 is HD).
fn color_matrix(space: ffmpeg::color::Space, width: u32, height: u32) -> ColorMatrix {
    use ffmpeg::color::Space;
    match space {
        Space::BT709 => ColorMatrix::Bt709,
        Space::BT2020NCL | Space::BT2020CL => ColorMatrix::Bt2020,
        Space::Unspecified | Space::RGB | Space::Reserved if width >= 1280 || height > 576 => {
            ColorMatrix::Bt709
        }
        _ => ColorMatrix::Bt601,
    }
}

/// Initialises FFmpeg once and keeps its log quiet (errors reach us as return values).
pub fn init_ffmpeg() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        if let Err(e) = ffmpeg::init() {
            tracing::warn!("FFmpeg init: {e}");
        }
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
}

#[cfg(test)]
mod damage_tests {
    use super::*;

    /// Access units 40 ms apart (25 fps) from one start.
    struct Clock(Instant, u32);

    impl Clock {
        fn new() -> Self {
            Self(Instant::now(), 0)
        }

        fn next(&mut self) -> Instant {
            self.1 += 1;
            self.0 + Duration::from_millis(40) * self.1
        }
    }

    #[test]
    fn rare_loss_holds_back_until_the_next_keyframe() {
        let mut d = DamagePolicy::default();
        let mut clock = Clock::new();
        assert_eq!(d.on_access_unit(true, false, clock.next()), Show::Clean);
        for _ in 0..20 {
            assert_eq!(d.on_access_unit(false, false, clock.next()), Show::Clean);
        }
        assert_eq!(d.on_access_unit(false, true, clock.next()), Show::HoldBack);
        for _ in 0..10 {
            assert_eq!(
                d.on_access_unit(false, false, clock.next()),
                Show::HoldBack,
                "references are damaged"
            );
        }
        assert_eq!(d.on_access_unit(true, false, clock.next()), Show::Clean);
        assert_eq!(d.on_access_unit(false, false, clock.next()), Show::Clean);
    }

    #[test]
    fn persistent_loss_shows_concealed_pictures() {
        let mut d = DamagePolicy::default();
        let mut clock = Clock::new();
        d.on_access_unit(true, false, clock.next());
        let shown: Vec<Show> = (0..60)
            .map(|i| d.on_access_unit(false, i % 3 == 0, clock.next()))
            .collect();
        // First held back; once a fifth of recent pictures are damaged, shown concealed.
        assert_eq!(shown[0], Show::HoldBack);
        assert_eq!(shown[59], Show::Concealed);
        assert!(shown.iter().filter(|s| **s == Show::Concealed).count() > 20);
    }

    #[test]
    fn a_long_wait_for_a_keyframe_ends_in_concealed_pictures() {
        // One lost packet on a camera with a keyframe every 8 s: the last clean picture stays
        // for 1.5 s, then the (concealed) live pictures are shown until the keyframe.
        let mut d = DamagePolicy::default();
        let mut clock = Clock::new();
        assert_eq!(d.on_access_unit(true, false, clock.next()), Show::Clean);
        let lost_at = clock.next();
        assert_eq!(d.on_access_unit(false, true, lost_at), Show::HoldBack);
        let mut first_shown = None;
        for _ in 0..100 {
            let at = clock.next();
            if d.on_access_unit(false, false, at) == Show::Concealed {
                first_shown.get_or_insert(at);
            }
        }
        let held = first_shown
            .expect("held back for 4 s")
            .duration_since(lost_at);
        // The first picture 1.5 s or more after the loss (pictures are 40 ms apart).
        assert!(
            held >= DamagePolicy::HOLD_AT_MOST
                && held < DamagePolicy::HOLD_AT_MOST + Duration::from_millis(40),
            "{held:?}"
        );
        assert_eq!(d.on_access_unit(true, false, clock.next()), Show::Clean);
        assert_eq!(d.on_access_unit(false, false, clock.next()), Show::Clean);
    }

    #[test]
    fn a_damaged_keyframe_is_shown_concealed() {
        let mut d = DamagePolicy::default();
        let mut clock = Clock::new();
        assert_eq!(d.on_access_unit(true, true, clock.next()), Show::Concealed);
        assert_eq!(d.on_access_unit(false, false, clock.next()), Show::Clean);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_planes_are_views_and_copy_on_write() {
        init_ffmpeg();
        let mut frame = ffmpeg::frame::Video::new(ffmpeg::format::Pixel::GRAY8, 8, 2);
        frame.data_mut(0).fill(7);
        let picture = Arc::new(frame);
        let len = picture.stride(0) * 2;
        let mut a = PlaneData::Decoded {
            picture: picture.clone(),
            plane: 0,
            len,
        };
        let b = a.clone();
        assert_eq!(a.len(), len);
        assert!(a.iter().all(|&v| v == 7));
        a[0] = 9;
        assert_eq!(
            (a[0], b[0], picture.data(0)[0]),
            (9, 7, 7),
            "the picture stays untouched"
        );
        assert_eq!(PlaneData::from(vec![1, 2]), PlaneData::Owned(vec![1, 2]));
    }

    fn decoded_with_sar(width: u32, height: u32, num: i32, den: i32) -> VideoFrame {
        init_ffmpeg();
        let mut frame = ffmpeg::frame::Video::new(ffmpeg::format::Pixel::YUV420P, width, height);
        // SAFETY: the frame is ours and allocated; the field is plain data. ffmpeg-next has
        // no setter for it.
        unsafe {
            (*frame.as_mut_ptr()).sample_aspect_ratio = ffmpeg::ffi::AVRational { num, den };
        }
        video_frame_from(frame, 0).expect("a YUV 4:2:0 picture")
    }

    #[test]
    fn the_matrix_is_the_streams_or_guessed_from_the_size() {
        use ffmpeg::color::Space;
        let cases = [
            (Space::BT709, 640, 360, ColorMatrix::Bt709),
            (Space::SMPTE170M, 1920, 1080, ColorMatrix::Bt601),
            (Space::BT470BG, 704, 576, ColorMatrix::Bt601),
            (Space::BT2020NCL, 3840, 2160, ColorMatrix::Bt2020),
            // Unspecified: by size. A 1280x640 panorama is HD; PAL and NTSC sizes are SD.
            (Space::Unspecified, 1280, 640, ColorMatrix::Bt709),
            (Space::Unspecified, 960, 1080, ColorMatrix::Bt709),
            (Space::Unspecified, 704, 576, ColorMatrix::Bt601),
            (Space::Unspecified, 720, 480, ColorMatrix::Bt601),
        ];
        for (space, width, height, want) in cases {
            assert_eq!(
                color_matrix(space, width, height),
                want,
                "{space:?} {width}x{height}"
            );
        }
    }

    #[test]
    fn parameter_sets_are_told_apart_per_codec() {
        // H.265 SPS (type 33): its first byte, 0x42, is type 2 (a slice) to an H.264 reader,
        // which made the decoder put the SDP's sets in front of units that carried their own.
        let h265_sps = [0x42, 0x01, 0x01];
        assert_eq!(
            VideoCodec::H265.parameter_set_kind(&h265_sps),
            Some(ParameterSet::Sps)
        );
        assert_eq!(VideoCodec::H264.parameter_set_kind(&h265_sps), None);
        assert_eq!(
            VideoCodec::H265.parameter_set_kind(&[0x40, 0x01]),
            Some(ParameterSet::Other),
            "VPS"
        );
        assert_eq!(
            VideoCodec::H265.parameter_set_kind(&[0x26, 0x01]),
            None,
            "IDR slice"
        );
        assert_eq!(
            VideoCodec::H264.parameter_set_kind(&[0x67, 0x42]),
            Some(ParameterSet::Sps)
        );
        assert_eq!(
            VideoCodec::H264.parameter_set_kind(&[0x68, 0xce]),
            Some(ParameterSet::Other)
        );
        assert_eq!(VideoCodec::H264.parameter_set_kind(&[0x65]), None);
        assert_eq!(VideoCodec::Mjpeg.parameter_set_kind(&[0x67]), None);
    }

    #[test]
    fn anamorphic_pictures_are_shown_at_their_sample_aspect_ratio() {
        // HDV-style 1440x1080 with 4:3 pixels is a 16:9 picture.
        let hdv = decoded_with_sar(1440, 1080, 4, 3);
        assert_eq!(hdv.sample_aspect, (4, 3));
        assert_eq!(hdv.display_size(), (1920, 1080));
        // PAL D1 (704x576 at 12:11) is 4:3.
        let d1 = decoded_with_sar(704, 576, 12, 11);
        assert_eq!(d1.display_size(), (768, 576));
        // Unspecified (0:1) and nonsense (255:1) are square pixels.
        assert_eq!(decoded_with_sar(640, 360, 0, 1).display_size(), (640, 360));
        assert_eq!(
            decoded_with_sar(640, 360, 255, 1).display_size(),
            (640, 360)
        );
        assert_eq!(decoded_with_sar(640, 360, 255, 1).sample_aspect, (1, 1));
    }
}
