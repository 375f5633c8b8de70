//! `vedette probe`: connect, play, decode N frames, tear down, report. Lean on purpose: it is
//! compared side by side with the FFmpeg and GStreamer command-line clients.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::pipeline::VideoPipeline;
use crate::rtsp::{
    CameraUrl, ClientOptions, Credentials, ErrorKind, MethodRecord, RtspError, RtspSession, Step,
    TlsOptions, Transport,
};
use crate::stats::{LatencyKind, StatsSnapshot};

#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub url: String,
    pub transport: Transport,
    pub credentials: Option<Credentials>,
    pub frames: u64,
    pub timeout: Duration,
    /// PAUSE after the first duration of playing, PLAY again after the second.
    pub pause: Option<(Duration, Duration)>,
    pub tls: TlsOptions,
    /// Play this long instead of until `frames` pictures.
    pub seconds: Option<Duration>,
    /// Print one JSON line of stats per interval on stdout while playing.
    pub every: Option<Duration>,
}

/// What a probe saw. Serialised as the `--json` output.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The URL without credentials.
    pub url: String,
    pub transport: Transport,
    pub codec: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// The size the picture is shown at: `width` stretched by the stream's sample aspect
    /// ratio (the same as `width` for square pixels).
    pub display_width: Option<u32>,
    pub display_height: Option<u32>,
    pub frames_decoded: u64,
    pub access_units: u64,
    /// Pictures not shown because they followed packet loss (held until the next IDR).
    pub frames_held_back: u64,
    pub decode_errors: u64,
    pub packets_lost: u64,
    /// From sending PLAY to the first decoded frame.
    pub first_frame_ms: Option<f64>,
    /// Median capture→decode latency, for streams that stamp capture time (Vedette demo server).
    pub latency_ms: Option<f64>,
    pub elapsed_ms: f64,
    /// With a pause: pictures decoded and RTP packets received from [`PAUSE_GRACE`] after the
    /// PAUSE answer until PLAY was sent. Both should be 0: the server stopped sending.
    pub frames_during_pause: Option<u64>,
    pub rtp_packets_during_pause: Option<u64>,
    /// Audio decoded alongside the video: `null` when the camera offers none.
    pub audio: Option<AudioReport>,
    /// The video stream's figures at the end (the same data the tile overlay shows).
    pub stats: Option<StatsSnapshot>,
    pub methods: Vec<MethodRecord>,
    pub error: Option<ProbeError>,
}

/// One `--every` line.
#[derive(Debug, Serialize)]
struct IntervalLine {
    elapsed_s: f64,
    stats: StatsSnapshot,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AudioReport {
    pub codec: String,
    pub frames_decoded: u64,
}

/// Packets already in flight when the server answered PAUSE may still arrive this long after.
pub const PAUSE_GRACE: Duration = Duration::from_millis(300);

/// The pause in a probe run.
#[derive(Debug, Clone, Copy)]
enum PausePhase {
    Before,
    /// PAUSE answered at this instant; counts of frames and packets since the grace ended.
    Paused {
        at: Instant,
        frames_at_grace: Option<u64>,
        packets: u64,
    },
    After,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProbeError {
    pub step: Step,
    pub status: Option<u16>,
    pub message: String,
}

impl From<&RtspError> for ProbeError {
    fn from(e: &RtspError) -> Self {
        Self {
            step: e.step,
            status: e.status(),
            message: e.message(),
        }
    }
}

impl ProbeReport {
    /// The one-line summary printed without `--json`.
    pub fn summary_line(&self) -> String {
        match &self.error {
            Some(e) => match e.status {
                Some(status) => format!("{} failed ({status}): {}", e.step, e.message),
                None => format!("{} failed: {}", e.step, e.message),
            },
            None => format!(
                "{}: {} {}x{}, {} frames decoded, first frame after {:.0} ms{}",
                self.url,
                self.codec.as_deref().unwrap_or("?"),
                self.width.unwrap_or(0),
                self.height.unwrap_or(0),
                self.frames_decoded,
                self.first_frame_ms.unwrap_or(0.0),
                self.latency_ms
                    .map(|l| format!(", latency {l:.0} ms"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// Runs a probe. Never panics on what the server sends; every failure lands in `error`.
pub async fn run_probe(opts: ProbeOptions) -> ProbeReport {
    let started = Instant::now();
    let mut report = ProbeReport {
        url: crate::rtsp::url::redact_url_text(&opts.url),
        transport: opts.transport,
        codec: None,
        width: None,
        height: None,
        display_width: None,
        display_height: None,
        frames_decoded: 0,
        access_units: 0,
        frames_held_back: 0,
        decode_errors: 0,
        packets_lost: 0,
        first_frame_ms: None,
        latency_ms: None,
        elapsed_ms: 0.0,
        frames_during_pause: None,
        rtp_packets_during_pause: None,
        audio: None,
        stats: None,
        methods: Vec::new(),
        error: None,
    };
    let url = match CameraUrl::parse(&opts.url) {
        Ok(u) => u,
        Err(e) => {
            report.error = Some(ProbeError::from(&RtspError::new(Step::Url, e)));
            return report;
        }
    };
    report.url = url.to_string();
    let client_opts = ClientOptions {
        transport: opts.transport,
        timeout: opts.timeout,
        credentials: opts.credentials.clone(),
        tls: opts.tls.clone(),
        ..Default::default()
    };
    let mut session = match RtspSession::connect(&url, client_opts).await {
        Ok(s) => s,
        Err(e) => {
            report.error = Some(ProbeError::from(&e));
            report.elapsed_ms = ms(started.elapsed());
            return report;
        }
    };
    let result = play_and_decode(&mut session, &opts, &mut report).await;
    // Tear down whatever happened; a failed TEARDOWN matters only if all else went well.
    let teardown = session.teardown().await;
    report.methods = session.methods().to_vec();
    let error = result.err().or(teardown.err());
    report.error = error.as_ref().map(ProbeError::from);
    report.elapsed_ms = ms(started.elapsed());
    report
}

async fn play_and_decode(
    session: &mut RtspSession,
    opts: &ProbeOptions,
    report: &mut ProbeReport,
) -> Result<(), RtspError> {
    session.options().await?;
    let mut pipeline = VideoPipeline::setup(session, "probe", Default::default()).await?;
    pipeline.decode_audio_always();
    report.codec = Some(pipeline.codec.as_str().to_owned());
    let play_sent = Instant::now();
    session.play().await?;

    report.transport = session.transport_in_use().unwrap_or(opts.transport);

    let stats = pipeline.decoder().stats().clone();
    let mut last_progress = Instant::now();
    let mut last_frames = 0;
    let mut next_line = Instant::now();
    let mut pause = if opts.pause.is_some() {
        PausePhase::Before
    } else {
        PausePhase::After
    };
    let outcome = loop {
        let frames = stats.frames();
        if let Some((pause_after, resume_after)) = opts.pause {
            match &mut pause {
                PausePhase::Before if play_sent.elapsed() >= pause_after => {
                    if let Err(e) = session.pause().await {
                        break Err(e);
                    }
                    pause = PausePhase::Paused {
                        at: Instant::now(),
                        frames_at_grace: None,
                        packets: 0,
                    };
                }
                PausePhase::Paused {
                    at,
                    frames_at_grace,
                    packets,
                } => {
                    if frames_at_grace.is_none() && at.elapsed() >= PAUSE_GRACE {
                        *frames_at_grace = Some(frames);
                    }
                    if at.elapsed() >= resume_after {
                        report.frames_during_pause =
                            Some(frames - frames_at_grace.unwrap_or(frames));
                        report.rtp_packets_during_pause = Some(*packets);
                        if let Err(e) = session.play().await {
                            break Err(e);
                        }
                        pause = PausePhase::After;
                    }
                    // No progress is expected while paused.
                    last_progress = Instant::now();
                }
                _ => {}
            }
        }
        let done = match opts.seconds {
            Some(seconds) => play_sent.elapsed() >= seconds,
            None => frames >= opts.frames,
        };
        if done && matches!(pause, PausePhase::After) {
            break Ok(());
        }
        if let Some(every) = opts.every {
            if next_line.elapsed() >= every {
                next_line += every;
                let line = IntervalLine {
                    elapsed_s: ms(play_sent.elapsed()) / 1000.0,
                    stats: pipeline.stats(session),
                };
                if let Ok(json) = serde_json::to_string(&line) {
                    println!("{json}");
                }
            }
        }
        if frames != last_frames {
            last_frames = frames;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > opts.timeout {
            let message = match stats.last_error() {
                Some(e) => format!("no picture decoded for {:?} ({e})", opts.timeout),
                None => format!(
                    "no picture decoded for {:?} ({} access units received)",
                    opts.timeout,
                    stats.access_units.load(Ordering::Relaxed)
                ),
            };
            break Err(RtspError::new(Step::Decode, ErrorKind::Decode(message)));
        }
        // Wake at least every 100 ms to check decode progress, even while packets flow.
        match tokio::time::timeout(Duration::from_millis(100), session.next_packet()).await {
            Ok(Ok(packet)) => {
                if let (
                    PausePhase::Paused {
                        at,
                        frames_at_grace: Some(_),
                        packets,
                    },
                    crate::rtsp::Packet::Rtp { .. },
                ) = (&mut pause, &packet)
                {
                    if at.elapsed() >= PAUSE_GRACE {
                        *packets += 1;
                    }
                }
                pipeline.handle(packet)
            }
            Ok(Err(e)) => break Err(e),
            Err(_) => {}
        }
    };

    // `auto` may have switched from UDP to TCP while playing.
    report.transport = session.transport_in_use().unwrap_or(opts.transport);
    let mut final_stats = pipeline.stats(session);
    report.audio = pipeline.audio_summary().map(|a| AudioReport {
        codec: a.codec.as_str().to_owned(),
        frames_decoded: a.frames_decoded,
    });
    // Let the decoder finish what it has queued before reading the figures.
    let slot = pipeline.decoder().slot().clone();
    report.packets_lost = pipeline.packets_lost();
    pipeline.finish();
    report.frames_decoded = stats.frames();
    report.access_units = stats.access_units.load(Ordering::Relaxed);
    report.frames_held_back = stats.held_back.load(Ordering::Relaxed);
    report.decode_errors = stats.decode_errors.load(Ordering::Relaxed);
    report.latency_ms = stats.median_latency_ms().map(|l| l as f64);
    if let Some(latency) = report.latency_ms {
        final_stats.latency_ms = Some(latency);
        final_stats.latency_kind = Some(LatencyKind::CaptureToDecoded);
    }
    final_stats.frames_decoded = stats.frames();
    report.stats = Some(final_stats);
    report.first_frame_ms = stats
        .first_frame_at
        .get()
        .map(|t| ms(t.saturating_duration_since(play_sent)));
    if let (Some(frame), _) = slot.latest() {
        report.width = Some(frame.width);
        report.height = Some(frame.height);
        let (display_width, display_height) = frame.display_size();
        report.display_width = Some(display_width);
        report.display_height = Some(display_height);
    }
    outcome
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}
