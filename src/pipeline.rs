//! The receive side of one video stream, shared by `vedette probe` and the camera tiles:
//! DESCRIBE → pick the first supported video stream → SETUP → decoder; then each RTP packet
//! goes through the depacketizer into the decode thread.

use std::sync::Arc;

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
            Self::H264(d) => d.packets_lost,
            Self::H265(d) => d.packets_lost,
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
        session.setup(stream).await?;
        let decoder = VideoDecoder::spawn(name, codec, parameter_sets, slot)
            .map_err(|e| RtspError::new(Step::Decode, ErrorKind::Decode(e.to_string())))?;
        Ok(Self {
            stream,
            payload_type,
            codec,
            depacketizer,
            decoder,
        })
    }

    /// Feeds one packet from the session. Damaged packets are dropped (the depacketizer marks
    /// the picture, and the decoder waits for the next keyframe).
    pub fn handle(&mut self, packet: Packet) {
        let Packet::Rtp { stream, data } = packet else {
            return;
        };
        if stream != self.stream {
            return;
        }
        let Ok((info, payload)) = parse_rtp(&data) else {
            return;
        };
        if info.payload_type != self.payload_type {
            return;
        }
        self.depacketizer.push(&info, payload);
        while let Some(au) = self.depacketizer.pull() {
            self.decoder.push(au);
        }
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
