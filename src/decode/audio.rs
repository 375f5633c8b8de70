//! Audio decoding with FFmpeg: codec frames from [`crate::rtp::audio`] become interleaved
//! `f32` samples for [`crate::audio_out`].
//!
//! Decoding audio costs little, so [`AudioDecoder`] is a plain value that the stream's own task
//! calls, not a thread of its own.

use ffmpeg_next as ffmpeg;

use super::init_ffmpeg;
use crate::rtp::audio::{AudioCodec, AudioFrame, AudioStreamInfo};

#[derive(Debug, thiserror::Error)]
pub enum AudioDecodeError {
    #[error("no FFmpeg decoder for {0}")]
    NoDecoder(&'static str),
    #[error("FFmpeg: {0}")]
    Ffmpeg(#[from] ffmpeg::Error),
    #[error("decoding the {codec} frame at RTP time {rtp_timestamp}: {source}")]
    Frame {
        codec: &'static str,
        rtp_timestamp: u32,
        source: ffmpeg::Error,
    },
    #[error("FFmpeg gave {0:?} samples, which Vedette does not convert")]
    UnsupportedSampleFormat(ffmpeg::format::Sample),
}

/// Decoded samples of one codec frame.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Interleaved, one value per channel per sample instant, nominally in -1.0..=1.0.
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: u16,
    pub rtp_timestamp: u32,
}

impl DecodedAudio {
    /// Sample instants (samples per channel).
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }
}

pub struct AudioDecoder {
    codec: AudioCodec,
    decoder: ffmpeg::decoder::Audio,
    frame: ffmpeg::frame::Audio,
    frames_decoded: u64,
}

impl AudioDecoder {
    pub fn new(info: &AudioStreamInfo) -> Result<Self, AudioDecodeError> {
        init_ffmpeg();
        let (id, rate, channels) = match info.codec {
            AudioCodec::Aac => (ffmpeg::codec::Id::AAC, info.sample_rate, info.channels),
            // RFC 7587 §4.1: Opus is always timed at 48 kHz; FFmpeg decodes at 48 kHz too.
            AudioCodec::Opus => (ffmpeg::codec::Id::OPUS, 48_000, info.channels.clamp(1, 2)),
            AudioCodec::Pcmu => (
                ffmpeg::codec::Id::PCM_MULAW,
                info.sample_rate,
                info.channels,
            ),
            AudioCodec::Pcma => (ffmpeg::codec::Id::PCM_ALAW, info.sample_rate, info.channels),
        };
        let ffcodec =
            ffmpeg::decoder::find(id).ok_or(AudioDecodeError::NoDecoder(info.codec.as_str()))?;
        let mut context = ffmpeg::codec::Context::new_with_codec(ffcodec);
        // SAFETY: `context` owns a freshly allocated, not yet opened AVCodecContext, so setting
        // its fields is what avcodec_open2 expects. The extradata buffer comes from av_mallocz
        // with the padding FFmpeg requires, and avcodec_free_context frees it with the context.
        unsafe {
            let ctx = context.as_mut_ptr();
            (*ctx).sample_rate = i32::try_from(rate.max(1)).unwrap_or(8000);
            ffmpeg::ffi::av_channel_layout_default(
                &mut (*ctx).ch_layout,
                i32::from(channels.max(1)),
            );
            if !info.extradata.is_empty() {
                let len = info.extradata.len();
                let padded = len + ffmpeg::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
                let buf = ffmpeg::ffi::av_mallocz(padded).cast::<u8>();
                if buf.is_null() {
                    return Err(AudioDecodeError::Ffmpeg(ffmpeg::Error::Other {
                        errno: ffmpeg::util::error::ENOMEM,
                    }));
                }
                std::ptr::copy_nonoverlapping(info.extradata.as_ptr(), buf, len);
                (*ctx).extradata = buf;
                (*ctx).extradata_size = i32::try_from(len).unwrap_or(0);
            }
        }
        let decoder = context.decoder().audio()?;
        Ok(Self {
            codec: info.codec,
            decoder,
            frame: ffmpeg::frame::Audio::empty(),
            frames_decoded: 0,
        })
    }

    /// Decodes one codec frame. `None` when the decoder needs more input before it gives
    /// samples (and for an empty frame). A bad frame is an error for that frame only.
    pub fn decode(&mut self, frame: &AudioFrame) -> Result<Option<DecodedAudio>, AudioDecodeError> {
        if frame.data.is_empty() {
            return Ok(None);
        }
        let frame_error = |source| AudioDecodeError::Frame {
            codec: self.codec.as_str(),
            rtp_timestamp: frame.rtp_timestamp,
            source,
        };
        self.decoder
            .send_packet(&ffmpeg::Packet::copy(&frame.data))
            .map_err(frame_error)?;
        let mut out: Option<DecodedAudio> = None;
        loop {
            match self.decoder.receive_frame(&mut self.frame) {
                Ok(()) => {
                    self.frames_decoded += 1;
                    let channels = self.frame.channels();
                    let rate = self.frame.rate();
                    let decoded = out.get_or_insert_with(|| DecodedAudio {
                        samples: Vec::new(),
                        sample_rate: rate,
                        channels,
                        rtp_timestamp: frame.rtp_timestamp,
                    });
                    if (decoded.sample_rate, decoded.channels) == (rate, channels) {
                        append_interleaved_f32(&self.frame, &mut decoded.samples)?;
                    }
                }
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {
                    break
                }
                Err(ffmpeg::Error::Eof) => break,
                Err(e) => return Err(frame_error(e)),
            }
        }
        Ok(out.filter(|d| !d.samples.is_empty()))
    }

    /// Decoded FFmpeg frames so far.
    pub fn frames_decoded(&self) -> u64 {
        self.frames_decoded
    }

    pub fn codec(&self) -> AudioCodec {
        self.codec
    }
}

/// Appends a decoded frame's samples as interleaved `f32`, whatever FFmpeg's sample format.
fn append_interleaved_f32(
    frame: &ffmpeg::frame::Audio,
    out: &mut Vec<f32>,
) -> Result<(), AudioDecodeError> {
    use ffmpeg::format::Sample;
    let format = frame.format();
    let (bytes_per_sample, convert): (usize, fn(&[u8]) -> f32) = match format {
        Sample::U8(_) => (1, |b| (f32::from(b[0]) - 128.0) / 128.0),
        Sample::I16(_) => (2, |b| f32::from(i16::from_ne_bytes([b[0], b[1]])) / 32768.0),
        Sample::I32(_) => (4, |b| {
            i32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0
        }),
        Sample::F32(_) => (4, |b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
        Sample::F64(_) => (8, |b| {
            f64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
        }),
        other => return Err(AudioDecodeError::UnsupportedSampleFormat(other)),
    };
    let channels = usize::from(frame.channels());
    let samples = frame.samples();
    if channels == 0 || samples == 0 {
        return Ok(());
    }
    out.reserve(samples * channels);
    if format.is_planar() {
        let planes: Vec<&[u8]> = (0..channels)
            .map(|c| {
                frame
                    .data(c)
                    .get(..samples * bytes_per_sample)
                    .unwrap_or_default()
            })
            .collect();
        for i in 0..samples {
            for plane in &planes {
                let value = plane
                    .get(i * bytes_per_sample..(i + 1) * bytes_per_sample)
                    .map_or(0.0, convert);
                out.push(value);
            }
        }
    } else {
        let data = frame
            .data(0)
            .get(..samples * channels * bytes_per_sample)
            .unwrap_or_default();
        out.extend(data.chunks_exact(bytes_per_sample).map(convert));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes `seconds` of a `freq` Hz sine with FFmpeg's encoder `name` into codec frames, or
    /// `None` when this FFmpeg lacks that encoder.
    fn encode_sine(
        name: &str,
        rate: u32,
        channels: u16,
        freq: f32,
        seconds: f32,
    ) -> Option<Vec<Vec<u8>>> {
        init_ffmpeg();
        let codec = ffmpeg::encoder::find_by_name(name)?;
        let format = codec
            .audio()
            .ok()?
            .formats()?
            .next()
            .unwrap_or(ffmpeg::format::Sample::I16(
                ffmpeg::format::sample::Type::Packed,
            ));
        let layout = ffmpeg::ChannelLayout::default(i32::from(channels));
        let mut encoder = ffmpeg::codec::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .unwrap();
        encoder.set_rate(rate as i32);
        encoder.set_format(format);
        encoder.set_channel_layout(layout);
        encoder.set_time_base((1, rate as i32));
        encoder.set_bit_rate(64_000);
        let mut encoder = encoder.open_as(codec).unwrap();
        let frame_size = match encoder.frame_size() {
            0 => 160,
            n => n as usize,
        };
        let total = (rate as f32 * seconds) as usize;
        let mut packets = Vec::new();
        let mut packet = ffmpeg::Packet::empty();
        let mut drain = |encoder: &mut ffmpeg::encoder::Audio, packets: &mut Vec<Vec<u8>>| {
            while encoder.receive_packet(&mut packet).is_ok() {
                packets.push(packet.data().unwrap_or_default().to_vec());
            }
        };
        let mut start = 0;
        while start < total {
            let n = frame_size.min(total - start);
            let mut frame = ffmpeg::frame::Audio::new(format, n, layout);
            frame.set_rate(rate);
            frame.set_pts(Some(start as i64));
            let value = |i: usize| {
                0.5 * (2.0 * std::f32::consts::PI * freq * (start + i) as f32 / rate as f32).sin()
            };
            for plane in 0..frame.planes() {
                let per_plane = if format.is_planar() {
                    1
                } else {
                    channels as usize
                };
                let data = frame.data_mut(plane);
                for i in 0..n * per_plane {
                    let v = value(i / per_plane);
                    match format {
                        ffmpeg::format::Sample::F32(_) => {
                            data[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes())
                        }
                        ffmpeg::format::Sample::I16(_) => data[i * 2..i * 2 + 2]
                            .copy_from_slice(&((v * 32767.0) as i16).to_ne_bytes()),
                        other => panic!("test encoder input {other:?}"),
                    }
                }
            }
            encoder.send_frame(&frame).unwrap();
            drain(&mut encoder, &mut packets);
            start += n;
        }
        encoder.send_eof().unwrap();
        drain(&mut encoder, &mut packets);
        Some(packets)
    }

    /// Decodes every packet and returns the first channel's samples and the output format.
    fn decode_all(info: &AudioStreamInfo, packets: &[Vec<u8>]) -> (Vec<f32>, u32, u16, u64) {
        let mut decoder = AudioDecoder::new(info).unwrap();
        let mut mono = Vec::new();
        let mut format = (0, 0);
        for (i, data) in packets.iter().enumerate() {
            let frame = AudioFrame {
                rtp_timestamp: i as u32,
                data: data.clone(),
            };
            if let Some(decoded) = decoder.decode(&frame).unwrap() {
                format = (decoded.sample_rate, decoded.channels);
                mono.extend(
                    decoded
                        .samples
                        .chunks(usize::from(decoded.channels))
                        .map(|c| c[0]),
                );
            }
        }
        (mono, format.0, format.1, decoder.frames_decoded())
    }

    /// Frequency estimated from rising zero crossings, skipping codec start-up.
    fn frequency(samples: &[f32], rate: u32) -> f32 {
        let steady = &samples[samples.len() / 4..samples.len() * 3 / 4];
        let crossings = steady
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        crossings as f32 * rate as f32 / steady.len() as f32
    }

    fn info(codec: AudioCodec, rate: u32, channels: u16, extradata: Vec<u8>) -> AudioStreamInfo {
        AudioStreamInfo {
            codec,
            clock_rate: rate,
            sample_rate: rate,
            channels,
            extradata,
        }
    }

    #[test]
    fn decodes_g711_mulaw_and_alaw() {
        for (encoder, codec) in [
            ("pcm_mulaw", AudioCodec::Pcmu),
            ("pcm_alaw", AudioCodec::Pcma),
        ] {
            let packets = encode_sine(encoder, 8000, 1, 400.0, 1.0).unwrap();
            let (samples, rate, channels, frames) =
                decode_all(&info(codec, 8000, 1, Vec::new()), &packets);
            assert_eq!((rate, channels), (8000, 1));
            assert_eq!(samples.len(), 8000, "{encoder}");
            assert_eq!(frames, packets.len() as u64);
            let f = frequency(&samples, rate);
            assert!((f - 400.0).abs() < 20.0, "{encoder}: {f} Hz");
            let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
            assert!((0.4..0.6).contains(&peak), "{encoder}: peak {peak}");
        }
    }

    #[test]
    fn decodes_aac_with_the_sdp_config() {
        // AAC-LC, 16 kHz, mono: the AudioSpecificConfig a camera puts in `config=1408`.
        let packets = encode_sine("aac", 16000, 1, 440.0, 1.0).unwrap();
        let (samples, rate, channels, frames) =
            decode_all(&info(AudioCodec::Aac, 16000, 1, vec![0x14, 0x08]), &packets);
        assert_eq!((rate, channels), (16000, 1));
        // 1024 samples per frame; the encoder adds its priming and padding.
        assert_eq!(samples.len(), packets.len() * 1024);
        assert!(samples.len() >= 16000);
        assert_eq!(frames, packets.len() as u64);
        let f = frequency(&samples, rate);
        assert!((f - 440.0).abs() < 20.0, "{f} Hz");
    }

    #[test]
    fn decodes_opus_when_libopus_is_present() {
        let Some(packets) = encode_sine("libopus", 48000, 2, 440.0, 1.0) else {
            eprintln!("no libopus encoder in this FFmpeg: skipped");
            return;
        };
        let (samples, rate, channels, _) =
            decode_all(&info(AudioCodec::Opus, 48000, 2, Vec::new()), &packets);
        assert_eq!((rate, channels), (48000, 2));
        assert!(samples.len() >= 48000, "{}", samples.len());
        let f = frequency(&samples, rate);
        assert!((f - 440.0).abs() < 20.0, "{f} Hz");
    }

    #[test]
    fn decoder_can_move_to_a_stream_task() {
        fn sendable<T: Send>() {}
        sendable::<AudioDecoder>();
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut decoder =
            AudioDecoder::new(&info(AudioCodec::Aac, 16000, 1, vec![0x14, 0x08])).unwrap();
        for len in 1..200 {
            let frame = AudioFrame {
                rtp_timestamp: 0,
                data: (0..len).map(|i| (i * 37) as u8).collect(),
            };
            let _ = decoder.decode(&frame);
        }
        let frame = AudioFrame {
            rtp_timestamp: 0,
            data: Vec::new(),
        };
        assert!(decoder.decode(&frame).unwrap().is_none());
    }
}
