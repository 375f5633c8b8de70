//! The receive side of one video stream, shared by `vedette probe` and the camera tiles:
//! DESCRIBE → pick the first supported video stream → SETUP → decoder; then each RTP packet
//! goes through the depacketizer into the decode thread.

use std::sync::Arc;

use crate::audio_out::AudioRouter;
use crate::decode::audio::AudioDecoder;
use crate::rtp::audio::{AudioCodec, AudioDepacketizer};
use crate::stats::{StatsSnapshot, StreamMeter};

use crate::decode::{FrameSlot, VideoCodec, VideoDecoder};
use crate::rtp::h264::{AccessUnit, H264Depacketizer};
use crate::rtp::h265::{h265_uses_donl, H265Depacketizer};
use crate::rtp::jpeg::JpegDepacketizer;
use crate::rtp::{parse_rtp, RtpPacketInfo};
use crate::rtsp::{ErrorKind, Packet, RtspError, RtspSession, Step};

pub struct VideoPipeline {
    stream: usize,
    payload_type: u8,
    pub codec: VideoCodec,
    depacketizer: Depacketizer,
    decoder: VideoDecoder,
    audio: Option<AudioPath>,
    meter: StreamMeter,
}

/// Where decoded audio goes: the shared router, which plays it while this camera is the
/// audible one.
#[derive(Clone)]
pub struct AudioTarget {
    pub router: Arc<AudioRouter>,
    pub camera: u64,
}

/// The audio stream of a session: depacketized always, decoded when someone listens (or when
/// `decode_always`, for `vedette probe`).
struct AudioPath {
    stream: usize,
    payload_type: u8,
    depacketizer: AudioDepacketizer,
    decoder: Option<AudioDecoder>,
    decode_always: bool,
    target: Option<AudioTarget>,
    frames_received: u64,
    /// The decoder failed to open; logged once.
    failed: bool,
}

/// What the audio path did, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSummary {
    pub codec: AudioCodec,
    pub frames_received: u64,
    pub frames_decoded: u64,
}

impl AudioPath {
    fn handle(&mut self, info: &RtpPacketInfo, payload: &[u8]) {
        if let Err(e) = self.depacketizer.push(info, payload) {
            tracing::debug!("audio depacketize: {e}");
        }
        while let Some(frame) = self.depacketizer.pull() {
            self.frames_received += 1;
            let audible = self
                .target
                .as_ref()
                .is_some_and(|t| t.router.is_audible(t.camera));
            if !(audible || self.decode_always) || self.failed {
                continue;
            }
            if self.decoder.is_none() {
                match AudioDecoder::new(self.depacketizer.info()) {
                    Ok(d) => self.decoder = Some(d),
                    Err(e) => {
                        tracing::warn!(
                            "audio: cannot decode {:?}: {e}",
                            self.depacketizer.info().codec
                        );
                        self.failed = true;
                        continue;
                    }
                }
            }
            let Some(decoder) = self.decoder.as_mut() else {
                continue;
            };
            match decoder.decode(&frame) {
                Ok(Some(decoded)) => {
                    if let Some(t) = &self.target {
                        t.router.play(
                            t.camera,
                            &decoded.samples,
                            decoded.sample_rate,
                            decoded.channels,
                        );
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!("audio decode: {e}"),
            }
        }
    }
}

/// The payload format of the chosen stream.
#[derive(Debug)]
enum Depacketizer {
    H264(H264Depacketizer),
    H265(H265Depacketizer),
    Jpeg(JpegDepacketizer),
}

impl Depacketizer {
    /// Feeds a packet; a damaged one is dropped (and logged), the picture marked or dropped.
    fn push(&mut self, rtp: &RtpPacketInfo, payload: &[u8]) {
        let result = match self {
            Self::H264(d) => d.push(rtp, payload).map_err(|e| e.to_string()),
            Self::H265(d) => d.push(rtp, payload).map_err(|e| e.to_string()),
            Self::Jpeg(d) => d.push(rtp, payload).map_err(|e| e.to_string()),
        };
        if let Err(e) = result {
            tracing::debug!("depacketize: {e}");
        }
    }

    fn pull(&mut self) -> Option<AccessUnit> {
        match self {
            Self::H264(d) => d.pull(),
            Self::H265(d) => d.pull(),
            Self::Jpeg(d) => d.pull(),
        }
    }

    fn packets_lost(&self) -> u64 {
        match self {
            Self::H264(d) => d.packets_lost(),
            Self::H265(d) => d.packets_lost(),
            Self::Jpeg(d) => d.packets_lost,
        }
    }
}

impl VideoPipeline {
    /// DESCRIBEs, sets up the first video stream Vedette can decode and starts its decode
    /// thread, which publishes into `slot`. PLAY is left to the caller.
    pub async fn setup(
        session: &mut RtspSession,
        name: &str,
        slot: Arc<FrameSlot>,
    ) -> Result<Self, RtspError> {
        let presentation = session.describe().await?;
        let (stream, description) = presentation
            .streams
            .iter()
            .enumerate()
            .find(|(_, s)| {
                s.media == "video" && VideoCodec::from_encoding_name(&s.encoding).is_some()
            })
            .ok_or_else(|| {
                let offered: Vec<String> = presentation
                    .streams
                    .iter()
                    .map(|s| format!("{}/{}", s.media, s.encoding))
                    .collect();
                RtspError::new(
                    Step::Describe,
                    ErrorKind::Unsupported(format!(
                        "no supported video stream (the server offers {})",
                        offered.join(", ")
                    )),
                )
            })?;
        let codec =
            VideoCodec::from_encoding_name(&description.encoding).unwrap_or(VideoCodec::H264);
        let (parameter_sets, depacketizer) = match codec {
            VideoCodec::H264 => (
                description.h264_parameter_sets(),
                Depacketizer::H264(H264Depacketizer::new()),
            ),
            VideoCodec::H265 => {
                if h265_uses_donl(&description.fmtp) {
                    return Err(RtspError::new(
                        Step::Describe,
                        ErrorKind::Unsupported(
                            "H.265 with decoding order numbers (sprop-max-don-diff > 0)".into(),
                        ),
                    ));
                }
                (
                    description.h265_parameter_sets(),
                    Depacketizer::H265(H265Depacketizer::new()),
                )
            }
            VideoCodec::Mjpeg => (Vec::new(), Depacketizer::Jpeg(JpegDepacketizer::new())),
        };
        let payload_type = description.payload_type;
        // The first audio stream we can decode comes along (muted until someone listens).
        let audio = presentation
            .streams
            .iter()
            .enumerate()
            .filter(|(_, s)| s.media == "audio")
            .find_map(|(i, s)| {
                AudioDepacketizer::new(&s.encoding, s.clock_rate, s.channels, &s.fmtp)
                    .map(|d| (i, s.payload_type, d))
                    .map_err(|e| tracing::debug!("audio stream {i} skipped: {e}"))
                    .ok()
            });
        session.setup(stream).await?;
        let audio = match audio {
            Some((audio_stream, audio_pt, depacketizer)) => {
                match session.setup(audio_stream).await {
                    Ok(()) => Some(AudioPath {
                        stream: audio_stream,
                        payload_type: audio_pt,
                        depacketizer,
                        decoder: None,
                        decode_always: false,
                        target: None,
                        frames_received: 0,
                        failed: false,
                    }),
                    // Video matters more: play without sound.
                    Err(e) => {
                        tracing::info!("audio not set up: {e}");
                        None
                    }
                }
            }
            None => None,
        };
        let decoder = VideoDecoder::spawn(name, codec, parameter_sets, slot)
            .map_err(|e| RtspError::new(Step::Decode, ErrorKind::Decode(e.to_string())))?;
        Ok(Self {
            stream,
            payload_type,
            codec,
            depacketizer,
            decoder,
            audio,
            meter: StreamMeter::default(),
        })
    }

    /// Decode audio even when nobody listens (for reports).
    pub fn decode_audio_always(&mut self) {
        if let Some(a) = &mut self.audio {
            a.decode_always = true;
        }
    }

    /// Sends this camera's audio to `target` while `target.audible` is set.
    pub fn set_audio_target(&mut self, target: Option<AudioTarget>) {
        if let Some(a) = &mut self.audio {
            a.target = target;
        }
    }

    /// The audio stream's codec and counts, if the session has audio.
    pub fn audio_summary(&self) -> Option<AudioSummary> {
        self.audio.as_ref().map(|a| AudioSummary {
            codec: a.depacketizer.info().codec,
            frames_received: a.frames_received,
            frames_decoded: a.decoder.as_ref().map_or(0, |d| d.frames_decoded()),
        })
    }

    /// Feeds one packet from the session. Damaged packets are dropped (the depacketizer marks
    /// the picture, and the decoder waits for the next keyframe).
    pub fn handle(&mut self, packet: Packet) {
        let Packet::Rtp { stream, data } = packet else {
            return;
        };
        let Ok((info, payload)) = parse_rtp(&data) else {
            return;
        };
        if let Some(audio) = self.audio.as_mut().filter(|a| a.stream == stream) {
            if info.payload_type == audio.payload_type {
                audio.handle(&info, payload);
            }
            return;
        }
        if stream != self.stream {
            return;
        }
        let now = std::time::Instant::now();
        self.meter.on_packet(now, data.len());
        if info.payload_type != self.payload_type {
            return;
        }
        self.depacketizer.push(&info, payload);
        while let Some(au) = self.depacketizer.pull() {
            self.meter.on_picture(now, au.is_idr);
            self.decoder.push(au);
        }
    }

    /// The video stream's figures now: meter, RTCP receive statistics and decoder.
    pub fn stats(&mut self, session: &RtspSession) -> StatsSnapshot {
        let mut snapshot = self.meter.snapshot(std::time::Instant::now());
        if let Some(r) = session.receiver_stats(self.stream) {
            snapshot = snapshot.with_receiver(&r, session.late_packets(self.stream));
        }
        snapshot.with_decoder(self.decoder.stats())
    }

    /// The video stream's RTP clock rate (90 kHz for every video payload format here).
    pub fn clock_rate(&self) -> u32 {
        90_000
    }

    /// The set-up stream index of the video.
    pub fn stream(&self) -> usize {
        self.stream
    }

    pub fn decoder(&self) -> &VideoDecoder {
        &self.decoder
    }

    pub fn packets_lost(&self) -> u64 {
        self.depacketizer.packets_lost()
    }

    /// Stops the decode thread and waits for it to finish what it has queued.
    pub fn finish(self) {
        self.decoder.stop_and_join();
    }
}
