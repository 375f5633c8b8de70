//! Playback of decoded camera audio on the default output device, through `cpal`.
//!
//! The cpal stream lives on a named thread `audio-out` (streams are `!Send` on some
//! platforms). [`AudioOutput::play`] converts samples to the device's rate and channels and
//! pushes them into a bounded ring buffer that the device callback drains. Live audio must not
//! build up latency, so a full ring drops its oldest samples. Which camera is heard is the
//! caller's choice: it plays one source and calls [`AudioOutput::clear`] when it switches.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

/// The most audio buffered for the device; older samples are dropped past this.
const MAX_BUFFERED: Duration = Duration::from_millis(250);
/// Above this much buffered, the queue is drained slowly: one frame in [`DRAIN_ONE_IN`] is
/// dropped (sound runs 1 % fast, which nobody hears). Without it, one network burst, or a
/// camera whose clock runs a little fast, left sound lagging the video by [`MAX_BUFFERED`] for
/// good, with no room left for the next burst.
const HIGH_WATER: Duration = Duration::from_millis(120);
const DRAIN_ONE_IN: usize = 100;
/// After running dry, playback resumes only once this much is buffered, so network jitter
/// gives one gap instead of a crackle of tiny ones.
const RESTART_BUFFERED: Duration = Duration::from_millis(60);
/// Device callback period we ask for, when the device lets us choose.
const DEVICE_PERIOD: Duration = Duration::from_millis(20);
/// How long [`AudioOutput::open`] waits for the audio thread to open the device.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum AudioOutError {
    #[error("no audio output device")]
    NoDevice,
    #[error("opening the audio output device: {0}")]
    Device(#[from] cpal::Error),
    #[error("the audio output device wants {0} samples, which Vedette does not produce")]
    UnsupportedSampleFormat(cpal::SampleFormat),
    #[error("could not start the audio thread: {0}")]
    Thread(#[from] std::io::Error),
    #[error("the audio thread did not open the device in time")]
    Timeout,
}

enum Command {
    Stop,
}

type Opener = Box<dyn Fn() -> Result<AudioOutput, AudioOutError> + Send + Sync>;

/// Which camera is heard: at most one at a time, every camera starts muted. Shared by the UI
/// (which picks, and opens the device when a camera is unmuted) and the camera tasks (which
/// play into the open device, never opening it themselves: that blocks).
pub struct AudioRouter {
    /// The device as last opened, or why it could not be. A failure, or a device that went
    /// away (headphones unplugged), is tried again at the next unmute.
    output: Mutex<Option<Result<Arc<AudioOutput>, String>>>,
    opener: Opener,
    /// Camera id + 1 of the audible camera; 0 when all are muted.
    audible: std::sync::atomic::AtomicU64,
}

impl Default for AudioRouter {
    fn default() -> Self {
        Self::with_opener(Box::new(AudioOutput::open))
    }
}

impl AudioRouter {
    fn with_opener(opener: Opener) -> Self {
        Self {
            output: Mutex::new(None),
            opener,
            audible: Default::default(),
        }
    }

    /// Makes `camera` the one heard (muting the one before), or mutes all with `None`.
    pub fn set_audible(&self, camera: Option<u64>) {
        use std::sync::atomic::Ordering;
        self.audible
            .store(camera.map_or(0, |c| c + 1), Ordering::Relaxed);
        if let Some(out) = self.output() {
            out.clear();
        }
    }

    pub fn audible(&self) -> Option<u64> {
        use std::sync::atomic::Ordering;
        self.audible.load(Ordering::Relaxed).checked_sub(1)
    }

    pub fn is_audible(&self, camera: u64) -> bool {
        self.audible() == Some(camera)
    }

    /// Opens the device unless it is open and working. Blocks (a few ms; up to the open
    /// timeout on a stuck sound server): never on the UI thread or a camera task. The error,
    /// e.g. "no audio output device", is kept for [`Self::error`] until the next try.
    pub fn open(&self) -> Result<Arc<AudioOutput>, String> {
        let Ok(mut output) = self.output.lock() else {
            return Err("audio output state poisoned".into());
        };
        if let Some(Ok(out)) = output.as_ref() {
            if !out.is_lost() {
                return Ok(out.clone());
            }
            tracing::info!("audio: the output device went away; opening the default one again");
        }
        let opened = (self.opener)().map(Arc::new).map_err(|e| {
            tracing::warn!("audio: {e}");
            e.to_string()
        });
        *output = Some(opened.clone());
        opened
    }

    /// The open device, if it is open and working; never opens it.
    pub fn output(&self) -> Option<Arc<AudioOutput>> {
        match self.output.lock().ok()?.as_ref()? {
            Ok(out) if !out.is_lost() => Some(out.clone()),
            _ => None,
        }
    }

    /// Why the device could not be opened at the last try.
    pub fn error(&self) -> Option<String> {
        match self.output.lock().ok()?.as_ref()? {
            Err(e) => Some(e.clone()),
            Ok(out) if out.is_lost() => Some("the audio output device went away".into()),
            Ok(_) => None,
        }
    }

    /// Plays samples from `camera` if it is the audible one and the device is open.
    pub fn play(&self, camera: u64, samples: &[f32], rate: u32, channels: u16) {
        if self.is_audible(camera) {
            if let Some(out) = self.output() {
                out.play(samples, rate, channels);
            }
        }
    }
}

/// An open output device. Dropping it stops the audio thread without waiting for it.
pub struct AudioOutput {
    ring: Arc<Mutex<Ring>>,
    /// Set by the stream when its device disappears (unplugged, sound server gone).
    lost: Arc<std::sync::atomic::AtomicBool>,
    converter: Mutex<Converter>,
    device_rate: u32,
    device_channels: u16,
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl AudioOutput {
    /// Opens the default output device. Fails with [`AudioOutError::NoDevice`] on a machine
    /// without one (CI, a headless server). Blocks until the device is open, typically a
    /// few milliseconds: call it off the UI thread.
    pub fn open() -> Result<Self, AudioOutError> {
        let (opened_tx, opened_rx) = mpsc::sync_channel(1);
        let (commands, commands_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("audio-out".into())
            .spawn(move || run_output(&opened_tx, &commands_rx))?;
        let opened = match opened_rx.recv_timeout(OPEN_TIMEOUT) {
            Ok(result) => result?,
            Err(_) => {
                let _ = commands.send(Command::Stop);
                return Err(AudioOutError::Timeout);
            }
        };
        Ok(Self {
            ring: opened.ring,
            lost: opened.lost,
            converter: Mutex::new(Converter::new(opened.rate, opened.channels)),
            device_rate: opened.rate,
            device_channels: opened.channels,
            commands,
            thread: Some(thread),
        })
    }

    /// The stream reported that its device went away.
    pub fn is_lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// An output with no device behind it (no audio thread): for tests of what feeds it.
    #[cfg(test)]
    fn without_device(rate: u32, channels: u16) -> Self {
        Self {
            ring: Arc::new(Mutex::new(Ring::new(rate, channels))),
            lost: Arc::default(),
            converter: Mutex::new(Converter::new(rate, channels)),
            device_rate: rate,
            device_channels: channels,
            commands: mpsc::channel().0,
            thread: None,
        }
    }

    /// Queues interleaved samples of `channels` channels at `rate` Hz for playback,
    /// converting them to the device's rate and channels. Never blocks on the device.
    pub fn play(&self, samples: &[f32], rate: u32, channels: u16) {
        if rate == 0 || channels == 0 || samples.is_empty() {
            return;
        }
        let mut converted = Vec::new();
        if let Ok(mut converter) = self.converter.lock() {
            converter.convert(samples, rate, channels, &mut converted);
        }
        if let Ok(mut ring) = self.ring.lock() {
            ring.push(&converted);
        }
    }

    /// Drops everything queued (when the audible camera changes).
    pub fn clear(&self) {
        if let Ok(mut converter) = self.converter.lock() {
            converter.reset();
        }
        if let Ok(mut ring) = self.ring.lock() {
            ring.clear();
        }
    }

    /// Audio queued for the device and not yet played.
    pub fn buffered(&self) -> Duration {
        let samples = self.ring.lock().map_or(0, |r| r.samples.len());
        let frames = samples / usize::from(self.device_channels.max(1));
        Duration::from_secs_f64(frames as f64 / f64::from(self.device_rate.max(1)))
    }

    /// Samples dropped because the ring was full (the source ran ahead of the device).
    pub fn dropped_samples(&self) -> u64 {
        self.ring.lock().map_or(0, |r| r.dropped)
    }

    pub fn device_rate(&self) -> u32 {
        self.device_rate
    }

    pub fn device_channels(&self) -> u16 {
        self.device_channels
    }

    /// Stops the audio thread and waits for it.
    pub fn stop_and_join(mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for AudioOutput {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
    }
}

/// What the audio thread reports once the device is open.
struct Opened {
    ring: Arc<Mutex<Ring>>,
    lost: Arc<std::sync::atomic::AtomicBool>,
    rate: u32,
    channels: u16,
}

/// The audio thread: opens the device, then keeps the stream alive until told to stop.
fn run_output(opened: &SyncSender<Result<Opened, AudioOutError>>, commands: &Receiver<Command>) {
    // alsa-lib prints its complaints (no sound card on a server, say) to stderr; collect this
    // thread's instead, for the log, so that a missing device is one error and no noise.
    #[cfg(target_os = "linux")]
    let alsa_messages = alsa::Output::local_error_handler().ok();
    let stream = match open_stream() {
        Ok((stream, report)) => {
            if opened.send(Ok(report)).is_err() {
                return;
            }
            stream
        }
        Err(e) => {
            #[cfg(target_os = "linux")]
            if let Some(messages) = alsa_messages {
                tracing::debug!("alsa-lib: {}", messages.borrow().to_string().trim_end());
            }
            let _ = opened.send(Err(e));
            return;
        }
    };
    // Returns on Stop, or when the owner is gone.
    match commands.recv() {
        Ok(Command::Stop) | Err(_) => {}
    }
    drop(stream);
    tracing::debug!("audio output thread ends");
}

fn open_stream() -> Result<(cpal::Stream, Opened), AudioOutError> {
    let host = cpal::default_host();
    let device = host
        .default_output_device()
        .ok_or(AudioOutError::NoDevice)?;
    let supported = device.default_output_config().map_err(|e| {
        if e.kind() == cpal::ErrorKind::DeviceNotAvailable {
            AudioOutError::NoDevice
        } else {
            AudioOutError::Device(e)
        }
    })?;
    let rate = supported.sample_rate();
    let channels = supported.channels().max(1);
    let mut config = supported.config();
    if let cpal::SupportedBufferSize::Range { min, max } = *supported.buffer_size() {
        let period = (u64::from(rate) * DEVICE_PERIOD.as_millis() as u64 / 1000) as u32;
        config.buffer_size = cpal::BufferSize::Fixed(period.clamp(min, max.max(min)));
    }
    let ring = Arc::new(Mutex::new(Ring::new(rate, channels)));
    let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let build = |config: cpal::StreamConfig| -> Result<cpal::Stream, AudioOutError> {
        use cpal::SampleFormat as F;
        let (ring, lost) = (ring.clone(), lost.clone());
        match supported.sample_format() {
            F::F32 => build_stream::<f32>(&device, config, ring, lost),
            F::I16 => build_stream::<i16>(&device, config, ring, lost),
            F::U16 => build_stream::<u16>(&device, config, ring, lost),
            F::I32 => build_stream::<i32>(&device, config, ring, lost),
            F::I8 => build_stream::<i8>(&device, config, ring, lost),
            F::U8 => build_stream::<u8>(&device, config, ring, lost),
            F::F64 => build_stream::<f64>(&device, config, ring, lost),
            other => Err(AudioOutError::UnsupportedSampleFormat(other)),
        }
    };
    // A device may refuse the period we asked for; its own default then.
    let stream = build(config).or_else(|_| {
        build(cpal::StreamConfig {
            buffer_size: cpal::BufferSize::Default,
            ..config
        })
    })?;
    stream.play()?;
    tracing::debug!(rate, channels, "audio output open");
    Ok((
        stream,
        Opened {
            ring,
            lost,
            rate,
            channels,
        },
    ))
}

fn build_stream<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    ring: Arc<Mutex<Ring>>,
    lost: Arc<std::sync::atomic::AtomicBool>,
) -> Result<cpal::Stream, AudioOutError>
where
    T: cpal::SizedSample + cpal::FromSample<f32>,
{
    let stream = device.build_output_stream(
        config,
        move |out: &mut [T], _: &cpal::OutputCallbackInfo| match ring.lock() {
            Ok(mut ring) => ring.fill(out),
            Err(_) => out.fill(T::EQUILIBRIUM),
        },
        move |e: cpal::Error| match e.kind() {
            // Underruns happen whenever the network is late; not worth a log line each.
            cpal::ErrorKind::Xrun => tracing::trace!("audio output: {e}"),
            // The device is gone: the next unmute opens the default device again.
            cpal::ErrorKind::DeviceNotAvailable
            | cpal::ErrorKind::HostUnavailable
            | cpal::ErrorKind::StreamInvalidated => {
                tracing::warn!("audio output: {e}");
                lost.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            _ => tracing::warn!("audio output: {e}"),
        },
        None,
    )?;
    Ok(stream)
}

/// Device-format samples waiting for the device callback.
struct Ring {
    samples: VecDeque<f32>,
    capacity: usize,
    high_water: usize,
    channels: usize,
    /// Frames pushed while draining, counted across pushes so drops stay evenly spaced.
    drain_phase: usize,
    restart_at: usize,
    /// False after running dry, until `restart_at` samples are queued again.
    playing: bool,
    dropped: u64,
}

impl Ring {
    fn new(rate: u32, channels: u16) -> Self {
        let samples_for = |d: Duration| {
            let frames = (f64::from(rate) * d.as_secs_f64()).ceil() as usize;
            frames.max(1) * usize::from(channels.max(1))
        };
        Self {
            samples: VecDeque::with_capacity(samples_for(MAX_BUFFERED)),
            capacity: samples_for(MAX_BUFFERED),
            high_water: samples_for(HIGH_WATER),
            channels: usize::from(channels.max(1)),
            drain_phase: 0,
            restart_at: samples_for(RESTART_BUFFERED),
            playing: false,
            dropped: 0,
        }
    }

    /// Appends whole device frames, dropping the oldest past capacity (so frames stay aligned).
    fn push(&mut self, samples: &[f32]) {
        let samples = match samples.len().checked_sub(self.capacity) {
            Some(excess) if excess > 0 => {
                self.dropped += excess as u64;
                samples.get(excess..).unwrap_or_default()
            }
            _ => samples,
        };
        let overflow = (self.samples.len() + samples.len()).saturating_sub(self.capacity);
        if overflow > 0 {
            self.samples.drain(..overflow);
            self.dropped += overflow as u64;
        }
        if self.samples.len() <= self.high_water {
            self.samples.extend(samples);
            return;
        }
        for frame in samples.chunks(self.channels) {
            self.drain_phase = (self.drain_phase + 1) % DRAIN_ONE_IN;
            if self.drain_phase == 0 {
                self.dropped += frame.len() as u64;
            } else {
                self.samples.extend(frame);
            }
        }
    }

    fn clear(&mut self) {
        self.samples.clear();
        self.playing = false;
    }

    /// Fills a device buffer, with silence where there is nothing to play.
    fn fill<T: cpal::Sample + cpal::FromSample<f32>>(&mut self, out: &mut [T]) {
        if !self.playing && self.samples.len() >= self.restart_at {
            self.playing = true;
        }
        for slot in out.iter_mut() {
            let value = if self.playing {
                self.samples.pop_front()
            } else {
                None
            };
            *slot = value.map_or(T::EQUILIBRIUM, T::from_sample);
        }
        if self.samples.is_empty() {
            self.playing = false;
        }
    }
}

/// Converts a stream's samples to the device's channels and rate: channels by copying (mono
/// to all, anything to mono by averaging), rate by linear interpolation, which is plenty for
/// a camera microphone. Keeps its state between calls so chunks join without clicks.
struct Converter {
    device_rate: u32,
    device_channels: usize,
    /// The input format the state below belongs to.
    input: Option<(u32, u16)>,
    /// The last input frame of the previous chunk, already in device channels.
    last: Vec<f32>,
    /// Position of the next output frame in input frames, where 0 is `last`, in units of
    /// 1/`device_rate` so that steps add up exactly.
    position: u64,
}

impl Converter {
    fn new(device_rate: u32, device_channels: u16) -> Self {
        Self {
            device_rate: device_rate.max(1),
            device_channels: usize::from(device_channels.max(1)),
            input: None,
            last: Vec::new(),
            position: 0,
        }
    }

    fn reset(&mut self) {
        self.input = None;
        self.last.clear();
        self.position = 0;
    }

    fn convert(&mut self, samples: &[f32], rate: u32, channels: u16, out: &mut Vec<f32>) {
        if self.input != Some((rate, channels)) {
            self.reset();
            self.input = Some((rate, channels));
        }
        let dc = self.device_channels;
        let mut mapped =
            Vec::with_capacity(self.last.len() + samples.len() / usize::from(channels) * dc);
        mapped.extend_from_slice(&self.last);
        for frame in samples.chunks_exact(usize::from(channels)) {
            map_channels(frame, dc, &mut mapped);
        }
        let frames = mapped.len() / dc;
        if frames == 0 {
            return;
        }
        if rate == self.device_rate {
            // Same rate: `last` is never kept, so `mapped` is exactly this chunk.
            out.extend_from_slice(&mapped);
            return;
        }
        let unit = u64::from(self.device_rate);
        let frame = |i: usize| mapped.get(i * dc..(i + 1) * dc).unwrap_or_default();
        // Interpolating needs the frame after the position; the last frame waits for the
        // next chunk.
        let end = (frames as u64 - 1) * unit;
        while self.position < end {
            let i = (self.position / unit) as usize;
            let frac = (self.position % unit) as f32 / unit as f32;
            for (a, b) in frame(i).iter().zip(frame(i + 1)) {
                out.push(a + (b - a) * frac);
            }
            self.position += u64::from(rate);
        }
        self.position -= end;
        self.last = frame(frames - 1).to_vec();
    }
}

/// Appends one input frame in `device_channels` channels.
fn map_channels(frame: &[f32], device_channels: usize, out: &mut Vec<f32>) {
    match (frame.len(), device_channels) {
        (n, d) if n == d => out.extend_from_slice(frame),
        (1, d) => out.extend(std::iter::repeat_n(
            frame.first().copied().unwrap_or(0.0),
            d,
        )),
        (n, 1) => out.push(frame.iter().sum::<f32>() / n as f32),
        // Stereo into more speakers: front left and right, the rest silent; more channels
        // into fewer: the first ones (front left and right in FFmpeg's order).
        (_, d) => out.extend((0..d).map(|c| frame.get(c).copied().unwrap_or(0.0))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_without_a_device_is_an_error_not_a_panic() {
        match AudioOutput::open() {
            Ok(output) => {
                output.play(&[0.0; 320], 8000, 1);
                assert!(output.buffered() <= MAX_BUFFERED);
                output.stop_and_join();
            }
            Err(e) => {
                eprintln!("no audio output here: {e}");
                assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn output_can_be_shared_between_camera_tasks() {
        fn shared<T: Send + Sync>() {}
        shared::<AudioOutput>();
    }

    #[test]
    fn ring_drops_oldest_and_keeps_latency_bounded() {
        let mut ring = Ring::new(1000, 2);
        assert_eq!(ring.capacity, 500);
        let samples: Vec<f32> = (0..400).map(|i| i as f32).collect();
        ring.push(&samples);
        ring.push(&samples);
        assert_eq!(ring.samples.len(), 500);
        assert_eq!(ring.dropped, 300);
        // The oldest went: the queue now starts at a frame boundary of the first chunk.
        assert_eq!(ring.samples.front(), Some(&300.0));
        let huge: Vec<f32> = (0..2000).map(|i| i as f32).collect();
        ring.push(&huge);
        assert_eq!(ring.samples.front(), Some(&1500.0));
    }

    /// A device that was missing (headset not yet connected) or went away (unplugged) is
    /// tried again at the next unmute; before, the first error was kept for the life of the
    /// app. Camera tasks never open the device: `play` only uses one that is open.
    #[test]
    fn a_missing_or_lost_device_is_opened_again_at_the_next_unmute() {
        let tries = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = tries.clone();
        let router = AudioRouter::with_opener(Box::new(move || {
            match counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => Err(AudioOutError::NoDevice),
                _ => Ok(AudioOutput::without_device(48_000, 2)),
            }
        }));
        router.set_audible(Some(1));
        router.play(1, &[0.5; 480], 48_000, 1);
        assert_eq!(
            tries.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "play opened the device"
        );
        assert!(router.open().is_err());
        assert!(router.error().is_some() && router.output().is_none());
        // The user unmutes again: this time the device is there.
        let out = router.open().expect("the second try opens it");
        assert!(router.error().is_none());
        router.play(1, &[0.5; 480], 48_000, 1);
        assert_eq!(out.buffered(), Duration::from_millis(10));
        assert!(
            Arc::ptr_eq(&router.open().unwrap(), &out),
            "an open device is kept"
        );
        // Unplugged: the stream says so, and the next open gets a new one.
        out.lost.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(router.output().is_none() && router.error().is_some());
        let again = router.open().expect("opened again");
        assert!(!Arc::ptr_eq(&again, &out));
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[test]
    fn a_ring_filled_by_a_burst_drains_back_to_low_latency() {
        // 200 ms queued by a network burst, then the camera and the device at the same pace
        // (10 ms chunks) for 60 s: the queue comes back under the high-water mark.
        let mut ring = Ring::new(48_000, 1);
        ring.push(&vec![0.25; 9_600]);
        let mut out = vec![0.0f32; 480];
        for _ in 0..6_000 {
            ring.push(&[0.25; 480]);
            ring.fill(&mut out);
        }
        assert!(
            ring.samples.len() <= ring.high_water,
            "{} samples still queued ({} ms)",
            ring.samples.len(),
            ring.samples.len() / 48
        );
        assert!(ring.playing, "it never ran dry while draining");
    }

    #[test]
    fn ring_waits_to_refill_after_running_dry() {
        let mut ring = Ring::new(1000, 1);
        let mut out = [1.0f32; 10];
        ring.push(&[0.5; 30]);
        ring.fill(&mut out);
        assert_eq!(out, [0.0; 10], "below the restart level: silence");
        ring.push(&[0.5; 40]);
        ring.fill(&mut out);
        assert_eq!(out, [0.5; 10]);
        let mut big = [1.0f32; 100];
        ring.fill(&mut big);
        assert_eq!(&big[..60], &[0.5; 60][..]);
        assert_eq!(&big[60..], &[0.0; 40][..]);
        assert!(!ring.playing);
    }

    #[test]
    fn converter_maps_channels() {
        let mut out = Vec::new();
        let mut c = Converter::new(48000, 2);
        c.convert(&[0.1, 0.2], 48000, 1, &mut out);
        assert_eq!(out, [0.1, 0.1, 0.2, 0.2]);
        let mut out = Vec::new();
        let mut c = Converter::new(48000, 1);
        c.convert(&[0.2, 0.4, 1.0, 0.0], 48000, 2, &mut out);
        assert_eq!(out.len(), 2);
        assert!((out[0] - 0.3).abs() < 1e-6 && (out[1] - 0.5).abs() < 1e-6);
        let mut out = Vec::new();
        Converter::new(48000, 4).convert(&[0.1, 0.2], 48000, 2, &mut out);
        assert_eq!(out, [0.1, 0.2, 0.0, 0.0]);
    }

    #[test]
    fn converter_resamples_across_chunks_without_gaps() {
        // 8 kHz ramp in chunks of 160 to 48 kHz: a continuous ramp six times as long.
        let mut c = Converter::new(48000, 1);
        let mut out = Vec::new();
        let input: Vec<f32> = (0..1600).map(|i| i as f32).collect();
        for chunk in input.chunks(160) {
            c.convert(chunk, 8000, 1, &mut out);
        }
        // Everything but the final input frame, which waits for the next chunk.
        assert_eq!(out.len(), 1599 * 6);
        for (i, v) in out.iter().enumerate() {
            assert!((v - i as f32 / 6.0).abs() < 1e-3, "sample {i}: {v}");
        }
        // Down: 48 kHz to 16 kHz keeps every third sample.
        let mut c = Converter::new(16000, 1);
        let mut out = Vec::new();
        let input: Vec<f32> = (0..960).map(|i| i as f32).collect();
        for chunk in input.chunks(100) {
            c.convert(chunk, 48000, 1, &mut out);
        }
        assert_eq!(out.len(), 320);
        assert!(out
            .iter()
            .enumerate()
            .all(|(i, v)| (v - 3.0 * i as f32).abs() < 1e-3));
    }
}
