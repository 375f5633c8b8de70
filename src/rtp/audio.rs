//! Audio over RTP: a sans-I/O depacketizer that turns packets into codec frames for the
//! decoder. Three payload formats cover what cameras send:
//!
//! - AAC as `mpeg4-generic` (RFC 3640, modes `AAC-hbr` and `AAC-lbr`): an AU header section,
//!   then one or more access units, or one fragment of a large access unit.
//! - Opus (RFC 7587): one packet is one Opus packet.
//! - G.711 µ-law / A-law (`PCMU`/`PCMA`, RFC 3551 §4.5.14): the payload is the samples.
//!
//! Interleaved AAC (RFC 3640 §3.2.3.2, AU-Index-delta ≠ 0) is not reordered: frames come out in
//! the order they were sent, with the timestamps their indices give them.

use std::collections::VecDeque;

use super::{RtpPacketInfo, SeqStep, SeqTracker};

/// AAC access units are at most 6144 bits per channel (ISO 14496-3 §4.5.3.1); 8 channels fit
/// well below this, so a larger declared size is garbage rather than audio.
const MAX_FRAME_BYTES: usize = 64 * 1024;

/// The audio codecs Vedette decodes, by their SDP encoding name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    Aac,
    Opus,
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

impl AudioCodec {
    /// From an `a=rtpmap` encoding name (any case).
    pub fn from_encoding_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "mpeg4-generic" => Some(Self::Aac),
            "opus" => Some(Self::Opus),
            "pcmu" => Some(Self::Pcmu),
            "pcma" => Some(Self::Pcma),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aac => "aac",
            Self::Opus => "opus",
            Self::Pcmu => "pcmu",
            Self::Pcma => "pcma",
        }
    }
}

/// What the decoder needs to know about an audio stream, from its SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioStreamInfo {
    pub codec: AudioCodec,
    /// The RTP timestamp clock (`a=rtpmap`).
    pub clock_rate: u32,
    /// Decoded sample rate in Hz (for AAC, from the AudioSpecificConfig).
    pub sample_rate: u32,
    pub channels: u16,
    /// For AAC the AudioSpecificConfig (ISO 14496-3 §1.6.2.1) from the fmtp `config`, which
    /// FFmpeg takes as extradata; empty for the other codecs.
    pub extradata: Vec<u8>,
}

/// One codec frame, ready for the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    pub rtp_timestamp: u32,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AudioDepacketizeError {
    #[error("audio encoding {0:?} is not supported")]
    UnsupportedEncoding(String),
    #[error("mpeg4-generic mode {0:?} is not supported (only AAC-hbr and AAC-lbr)")]
    UnsupportedMode(String),
    #[error("fmtp parameter {name}={value:?} is not valid")]
    BadParameter { name: &'static str, value: String },
    #[error("fmtp parameter {0} is missing")]
    MissingParameter(&'static str),
    #[error("empty RTP payload (sequence number {0})")]
    Empty(u16),
    #[error("truncated {what} in the packet with sequence number {sequence_number}")]
    Truncated {
        what: &'static str,
        sequence_number: u16,
    },
    #[error(
        "AAC access unit of {size} bytes does not match its fragments \
         (sequence number {sequence_number})"
    )]
    BadFragment { size: usize, sequence_number: u16 },
}

/// The RFC 3640 §3.2.1 AU header layout, from the fmtp parameters (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AuHeaderLayout {
    size_length: u32,
    index_length: u32,
    index_delta_length: u32,
    cts_delta_length: u32,
    dts_delta_length: u32,
    random_access_indication: bool,
    stream_state_indication: u32,
    auxiliary_data_size_length: u32,
    /// RTP clock ticks per access unit.
    frame_duration: u32,
}

impl AuHeaderLayout {
    /// Whether packets carry an AU header section at all (§3.2.1: absent when every AU header
    /// field is absent).
    fn has_headers(&self) -> bool {
        self.size_length
            + self.index_length
            + self.index_delta_length
            + self.cts_delta_length
            + self.dts_delta_length
            + self.stream_state_indication
            > 0
            || self.random_access_indication
    }
}

/// An AAC access unit arriving in several packets (RFC 3640 §3.2.3.1).
#[derive(Debug)]
struct Fragment {
    ts_in_clock_rate: u32,
    /// The AU-size every fragment's header repeats; `None` without AU headers, where only the
    /// marker bit ends the access unit.
    size: Option<usize>,
    data: Vec<u8>,
}

#[derive(Debug)]
enum Format {
    Aac {
        layout: AuHeaderLayout,
        fragment: Option<Fragment>,
    },
    /// Opus and G.711: the payload is one frame.
    WholePayload,
}

/// Turns RTP packets of one audio stream into [`AudioFrame`]s.
#[derive(Debug)]
pub struct AudioDepacketizer {
    info: AudioStreamInfo,
    format: Format,
    seq: SeqTracker,
    ready: VecDeque<AudioFrame>,
    /// Packets lost, counted from sequence number gaps.
    pub packets_lost: u64,
}

impl AudioDepacketizer {
    /// From the stream's SDP: the `a=rtpmap` encoding name, clock rate and channel count (if
    /// given), and the `a=fmtp` parameters.
    pub fn new(
        encoding_name: &str,
        clock_rate: u32,
        channels: Option<u16>,
        fmtp: &[(String, String)],
    ) -> Result<Self, AudioDepacketizeError> {
        let codec = AudioCodec::from_encoding_name(encoding_name)
            .ok_or_else(|| AudioDepacketizeError::UnsupportedEncoding(encoding_name.into()))?;
        let param = |name: &str| {
            fmtp.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        };
        let channels = channels.filter(|&c| c > 0);
        let (info, format) = match codec {
            AudioCodec::Aac => {
                let (info, layout) = aac_setup(clock_rate, channels, &param)?;
                (
                    info,
                    Format::Aac {
                        layout,
                        fragment: None,
                    },
                )
            }
            AudioCodec::Opus => {
                // RFC 7587 §7: the rtpmap always says 48000/2; `sprop-stereo` tells whether
                // the sender actually sends stereo.
                let channels = if param("sprop-stereo") == Some("1") {
                    2
                } else {
                    1
                };
                let info = AudioStreamInfo {
                    codec,
                    clock_rate: 48_000,
                    sample_rate: 48_000,
                    channels,
                    extradata: Vec::new(),
                };
                (info, Format::WholePayload)
            }
            AudioCodec::Pcmu | AudioCodec::Pcma => {
                let rate = if clock_rate == 0 { 8000 } else { clock_rate };
                let info = AudioStreamInfo {
                    codec,
                    clock_rate: rate,
                    sample_rate: rate,
                    channels: channels.unwrap_or(1),
                    extradata: Vec::new(),
                };
                (info, Format::WholePayload)
            }
        };
        Ok(Self {
            info,
            format,
            seq: SeqTracker::default(),
            ready: VecDeque::new(),
            packets_lost: 0,
        })
    }

    pub fn info(&self) -> &AudioStreamInfo {
        &self.info
    }

    /// Feeds one RTP packet. Completed frames are then available from [`Self::pull`]. An
    /// error drops this packet (and any access unit it was part of), never the stream.
    pub fn push(
        &mut self,
        rtp: &RtpPacketInfo,
        payload: &[u8],
    ) -> Result<(), AudioDepacketizeError> {
        match self.seq.step(rtp) {
            SeqStep::Next => {}
            step @ (SeqStep::Gap(_) | SeqStep::Restart) => {
                self.packets_lost += u64::from(step.missing());
                // A fragmented access unit with a hole in it is useless.
                if let Format::Aac { fragment, .. } = &mut self.format {
                    *fragment = None;
                }
            }
            // Late or duplicate: its frame has already gone to the decoder (or is lost).
            SeqStep::Stale => return Ok(()),
        }
        if payload.is_empty() {
            return Err(AudioDepacketizeError::Empty(rtp.sequence_number));
        }
        match &mut self.format {
            Format::WholePayload => {
                self.ready.push_back(AudioFrame {
                    rtp_timestamp: rtp.ts_in_clock_rate,
                    data: payload.to_vec(),
                });
                Ok(())
            }
            Format::Aac { layout, fragment } => {
                push_aac(*layout, fragment, &mut self.ready, rtp, payload)
            }
        }
    }

    /// The next completed frame, oldest first.
    pub fn pull(&mut self) -> Option<AudioFrame> {
        self.ready.pop_front()
    }
}

/// Reads the `mpeg4-generic` fmtp parameters (RFC 3640 §4.1) and the AudioSpecificConfig.
fn aac_setup<'a>(
    clock_rate: u32,
    sdp_channels: Option<u16>,
    param: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<(AudioStreamInfo, AuHeaderLayout), AudioDepacketizeError> {
    let mode = param("mode").unwrap_or("AAC-hbr");
    // §3.3.5 and §3.3.6 fix these per mode; the fmtp must repeat them but some cameras don't.
    let (size_default, index_default) = if mode.eq_ignore_ascii_case("aac-hbr") {
        (13, 3)
    } else if mode.eq_ignore_ascii_case("aac-lbr") {
        (6, 2)
    } else {
        return Err(AudioDepacketizeError::UnsupportedMode(mode.into()));
    };
    let number = |name: &'static str, default: u32, max: u32| match param(name) {
        None | Some("") => Ok(default),
        Some(v) => v.parse::<u32>().ok().filter(|&n| n <= max).ok_or_else(|| {
            AudioDepacketizeError::BadParameter {
                name,
                value: v.into(),
            }
        }),
    };
    let config_hex = param("config").ok_or(AudioDepacketizeError::MissingParameter("config"))?;
    let bad_config = || AudioDepacketizeError::BadParameter {
        name: "config",
        value: config_hex.into(),
    };
    let extradata = hex_decode(config_hex).ok_or_else(bad_config)?;
    let asc = parse_audio_specific_config(&extradata).ok_or_else(bad_config)?;
    let layout = AuHeaderLayout {
        size_length: number("sizelength", size_default, 32)?,
        index_length: number("indexlength", index_default, 32)?,
        index_delta_length: number("indexdeltalength", index_default, 32)?,
        cts_delta_length: number("ctsdeltalength", 0, 32)?,
        dts_delta_length: number("dtsdeltalength", 0, 32)?,
        random_access_indication: number("randomaccessindication", 0, 1)? == 1,
        stream_state_indication: number("streamstateindication", 0, 32)?,
        auxiliary_data_size_length: number("auxiliarydatasizelength", 0, 32)?,
        frame_duration: number("constantduration", 0, u32::MAX)?,
    };
    let layout = AuHeaderLayout {
        frame_duration: match layout.frame_duration {
            0 => asc.samples_per_frame,
            d => d,
        },
        ..layout
    };
    let info = AudioStreamInfo {
        codec: AudioCodec::Aac,
        clock_rate: if clock_rate == 0 {
            asc.sample_rate
        } else {
            clock_rate
        },
        sample_rate: asc.sample_rate,
        channels: asc.channels.or(sdp_channels).unwrap_or(1),
        extradata,
    };
    Ok((info, layout))
}

/// One AU header (RFC 3640 §3.2.1.1), the fields we use.
#[derive(Debug, Clone, Copy)]
struct AuHeader {
    size: usize,
    /// AU-Index for the first header, AU-Index-delta for the others.
    index: u32,
}

fn push_aac(
    layout: AuHeaderLayout,
    fragment: &mut Option<Fragment>,
    ready: &mut VecDeque<AudioFrame>,
    rtp: &RtpPacketInfo,
    payload: &[u8],
) -> Result<(), AudioDepacketizeError> {
    let seq = rtp.sequence_number;
    let truncated = |what| AudioDepacketizeError::Truncated {
        what,
        sequence_number: seq,
    };
    if fragment
        .as_ref()
        .is_some_and(|f| f.ts_in_clock_rate != rtp.ts_in_clock_rate)
    {
        // A new access unit began before the last fragment of the previous one (lost, or a
        // sender that never sets the marker): the previous one is incomplete.
        *fragment = None;
    }

    if !layout.has_headers() {
        // Without AU headers a packet holds one access unit or a piece of one, ended by the
        // marker bit (§3.2.3.1).
        let f = fragment.get_or_insert_with(|| Fragment {
            ts_in_clock_rate: rtp.ts_in_clock_rate,
            size: None,
            data: Vec::new(),
        });
        if f.data.len() + payload.len() > MAX_FRAME_BYTES {
            *fragment = None;
            return Err(AudioDepacketizeError::BadFragment {
                size: MAX_FRAME_BYTES,
                sequence_number: seq,
            });
        }
        f.data.extend_from_slice(payload);
        if rtp.marker {
            if let Some(f) = fragment.take() {
                ready.push_back(AudioFrame {
                    rtp_timestamp: f.ts_in_clock_rate,
                    data: f.data,
                });
            }
        }
        return Ok(());
    }

    let Some((headers, data)) = parse_au_headers(layout, payload) else {
        *fragment = None;
        return Err(truncated("AU header section"));
    };

    if let Some(f) = fragment.as_mut() {
        // A continuation carries one AU header repeating the full AU-size (§3.2.3.1).
        let size = match headers.as_slice() {
            [h] if Some(h.size) == f.size => h.size,
            _ => {
                let size = f.size.unwrap_or(0);
                *fragment = None;
                return Err(AudioDepacketizeError::BadFragment {
                    size,
                    sequence_number: seq,
                });
            }
        };
        f.data.extend_from_slice(data);
        if f.data.len() > size || (rtp.marker && f.data.len() < size) {
            *fragment = None;
            return Err(AudioDepacketizeError::BadFragment {
                size,
                sequence_number: seq,
            });
        }
        if f.data.len() == size {
            if let Some(f) = fragment.take() {
                ready.push_back(AudioFrame {
                    rtp_timestamp: f.ts_in_clock_rate,
                    data: f.data,
                });
            }
        }
        return Ok(());
    }

    if let [h] = headers.as_slice() {
        if h.size > data.len() {
            // The first fragment of an access unit larger than one packet.
            if rtp.marker || h.size > MAX_FRAME_BYTES {
                return Err(AudioDepacketizeError::BadFragment {
                    size: h.size,
                    sequence_number: seq,
                });
            }
            let mut buf = Vec::with_capacity(h.size);
            buf.extend_from_slice(data);
            *fragment = Some(Fragment {
                ts_in_clock_rate: rtp.ts_in_clock_rate,
                size: Some(h.size),
                data: buf,
            });
            return Ok(());
        }
    }

    // One or more complete access units, back to back (§3.2.2). The first is at the packet's
    // timestamp; each next one is AU-Index-delta + 1 frames later (§3.2.1.1).
    let mut rest = data;
    let mut frames_after_first: u32 = 0;
    for (i, h) in headers.iter().enumerate() {
        if i > 0 {
            frames_after_first = frames_after_first.wrapping_add(h.index.wrapping_add(1));
        }
        let au = rest
            .get(..h.size)
            .ok_or_else(|| truncated("AAC access unit"))?;
        rest = rest.get(h.size..).unwrap_or_default();
        if au.is_empty() {
            continue;
        }
        ready.push_back(AudioFrame {
            rtp_timestamp: rtp
                .ts_in_clock_rate
                .wrapping_add(frames_after_first.wrapping_mul(layout.frame_duration)),
            data: au.to_vec(),
        });
    }
    Ok(())
}

/// Splits a payload into its AU headers and the data after the AU header and auxiliary
/// sections (RFC 3640 §3.2.1–§3.2.2). `None` when a section runs past the payload.
fn parse_au_headers(layout: AuHeaderLayout, payload: &[u8]) -> Option<(Vec<AuHeader>, &[u8])> {
    let headers_bits = usize::from(u16::from_be_bytes([*payload.first()?, *payload.get(1)?]));
    let headers_bytes = headers_bits.div_ceil(8);
    let section = payload.get(2..2 + headers_bytes)?;
    let mut bits = BitReader::new(section);
    let mut headers = Vec::new();
    while bits.position() < headers_bits {
        let index_length = if headers.is_empty() {
            layout.index_length
        } else {
            layout.index_delta_length
        };
        let size = bits.read(layout.size_length)?;
        let index = bits.read(index_length)?;
        if layout.cts_delta_length > 0 && bits.read(1)? == 1 {
            bits.read(layout.cts_delta_length)?;
        }
        if layout.dts_delta_length > 0 && bits.read(1)? == 1 {
            bits.read(layout.dts_delta_length)?;
        }
        if layout.random_access_indication {
            bits.read(1)?;
        }
        bits.read(layout.stream_state_indication)?;
        if bits.position() > headers_bits {
            return None;
        }
        headers.push(AuHeader {
            size: usize::try_from(size).ok()?,
            index,
        });
    }
    let mut data = payload.get(2 + headers_bytes..)?;
    if layout.auxiliary_data_size_length > 0 {
        // §3.2.2: auxiliary-data-size (in bits), the data, padding to a byte: all skipped.
        let mut aux = BitReader::new(data);
        let aux_bits = usize::try_from(aux.read(layout.auxiliary_data_size_length)?).ok()?;
        let total = (layout.auxiliary_data_size_length as usize).checked_add(aux_bits)?;
        data = data.get(total.div_ceil(8)..)?;
    }
    Some((headers, data))
}

/// What the stream's AudioSpecificConfig says (ISO 14496-3 §1.6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AudioSpecificConfig {
    sample_rate: u32,
    /// `None` for channelConfiguration 0 (the layout is in a program config element).
    channels: Option<u16>,
    samples_per_frame: u32,
}

fn parse_audio_specific_config(asc: &[u8]) -> Option<AudioSpecificConfig> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let mut bits = BitReader::new(asc);
    let object_type = |bits: &mut BitReader| -> Option<u32> {
        match bits.read(5)? {
            31 => Some(32 + bits.read(6)?),
            t => Some(t),
        }
    };
    let sample_rate = |bits: &mut BitReader| -> Option<u32> {
        match bits.read(4)? {
            15 => bits.read(24),
            i => RATES.get(i as usize).copied(),
        }
    };
    let mut aot = object_type(&mut bits)?;
    let mut rate = sample_rate(&mut bits)?;
    let channel_config = bits.read(4)?;
    if aot == 5 || aot == 29 {
        // Explicit SBR/PS signalling: the output rate, then the core object type.
        rate = sample_rate(&mut bits)?;
        aot = object_type(&mut bits)?;
    }
    // GASpecificConfig's frameLengthFlag: 960-sample frames instead of 1024.
    let short_frames = matches!(aot, 1..=4 | 6 | 7 | 17 | 19..=23) && bits.read(1)? == 1;
    let channels = match channel_config {
        0 => None,
        1..=6 => Some(channel_config as u16),
        7 => Some(8),
        _ => return None,
    };
    (rate > 0).then_some(AudioSpecificConfig {
        sample_rate: rate,
        channels,
        samples_per_frame: if short_frames { 960 } else { 1024 },
    })
}

fn hex_decode(hex: &str) -> Option<Vec<u8>> {
    let hex = hex.as_bytes();
    if hex.is_empty() || !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.chunks(2)
        .map(|pair| {
            let digit = |c: &u8| char::from(*c).to_digit(16);
            match pair {
                [high, low] => Some((digit(high)? * 16 + digit(low)?) as u8),
                _ => None,
            }
        })
        .collect()
}

/// Big-endian bit reader over a byte slice.
struct BitReader<'a> {
    data: &'a [u8],
    bit: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, bit: 0 }
    }

    fn position(&self) -> usize {
        self.bit
    }

    /// The next `n` (at most 32) bits; `None` past the end.
    fn read(&mut self, n: u32) -> Option<u32> {
        if n > 32 {
            return None;
        }
        let mut value: u64 = 0;
        for _ in 0..n {
            let byte = *self.data.get(self.bit / 8)?;
            let b = (byte >> (7 - self.bit % 8)) & 1;
            value = (value << 1) | u64::from(b);
            self.bit += 1;
        }
        u32::try_from(value).ok()
    }
}

/// Feeds arbitrary bytes (RTP packets separated by 0xA5) to a depacketizer of each codec;
/// returns the number of frames. For the fuzz target and its smoke test.
pub fn fuzz_depacketize(data: &[u8]) -> usize {
    let fmtp = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let setups = [
        (
            "mpeg4-generic",
            fmtp(&[
                ("mode", "AAC-hbr"),
                ("sizelength", "13"),
                ("indexlength", "3"),
                ("indexdeltalength", "3"),
                ("config", "1210"),
            ]),
        ),
        (
            "mpeg4-generic",
            fmtp(&[
                ("mode", "AAC-lbr"),
                ("config", "1190"),
                ("ctsdeltalength", "4"),
                ("dtsdeltalength", "4"),
                ("randomaccessindication", "1"),
                ("streamstateindication", "2"),
                ("auxiliarydatasizelength", "7"),
            ]),
        ),
        (
            "mpeg4-generic",
            fmtp(&[
                ("mode", "AAC-hbr"),
                ("sizelength", "0"),
                ("indexlength", "0"),
                ("indexdeltalength", "0"),
                ("config", "1210"),
            ]),
        ),
        ("opus", Vec::new()),
        ("pcmu", Vec::new()),
    ];
    let mut frames = 0;
    for (name, params) in &setups {
        let Ok(mut depacketizer) = AudioDepacketizer::new(name, 8000, None, params) else {
            continue;
        };
        frames += super::fuzz_packets(data, |info, payload| {
            let _ = depacketizer.push(info, payload);
            std::iter::from_fn(|| depacketizer.pull()).count()
        });
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16, ts: u32, marker: bool) -> RtpPacketInfo {
        RtpPacketInfo {
            sequence_number: seq,
            ts_in_clock_rate: ts,
            ssrc: 1,
            marker,
            payload_type: 97,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A typical camera's AAC-LC 16 kHz mono fmtp.
    fn aac_hbr() -> AudioDepacketizer {
        let fmtp = params(&[
            ("streamtype", "5"),
            ("profile-level-id", "15"),
            ("mode", "AAC-hbr"),
            ("config", "1408"),
            ("SizeLength", "13"),
            ("IndexLength", "3"),
            ("IndexDeltaLength", "3"),
        ]);
        AudioDepacketizer::new("MPEG4-GENERIC", 16000, Some(1), &fmtp).unwrap()
    }

    /// AAC-hbr AU headers: 13 bits of size, 3 bits of index (delta), packed in 16 bits.
    fn hbr_payload(sizes: &[usize], data: &[u8]) -> Vec<u8> {
        let bits = (sizes.len() * 16) as u16;
        let mut p = bits.to_be_bytes().to_vec();
        for &s in sizes {
            p.extend_from_slice(&((s as u16) << 3).to_be_bytes());
        }
        p.extend_from_slice(data);
        p
    }

    #[test]
    fn aac_stream_info_from_fmtp() {
        let d = aac_hbr();
        assert_eq!(
            d.info(),
            &AudioStreamInfo {
                codec: AudioCodec::Aac,
                clock_rate: 16000,
                sample_rate: 16000,
                channels: 1,
                extradata: vec![0x14, 0x08],
            }
        );
    }

    #[test]
    fn aac_two_access_units_in_one_packet() {
        let mut d = aac_hbr();
        let au1 = [1u8; 5];
        let au2 = [2u8; 7];
        let payload = hbr_payload(&[5, 7], &[&au1[..], &au2[..]].concat());
        d.push(&rtp(10, 5000, true), &payload).unwrap();
        assert_eq!(
            d.pull(),
            Some(AudioFrame {
                rtp_timestamp: 5000,
                data: au1.to_vec()
            })
        );
        assert_eq!(
            d.pull(),
            Some(AudioFrame {
                rtp_timestamp: 6024,
                data: au2.to_vec()
            })
        );
        assert_eq!(d.pull(), None);
    }

    #[test]
    fn aac_access_unit_fragmented_over_two_packets() {
        let mut d = aac_hbr();
        let au: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        d.push(&rtp(1, 700, false), &hbr_payload(&[300], &au[..200]))
            .unwrap();
        assert_eq!(d.pull(), None, "incomplete until the last fragment");
        d.push(&rtp(2, 700, true), &hbr_payload(&[300], &au[200..]))
            .unwrap();
        assert_eq!(
            d.pull(),
            Some(AudioFrame {
                rtp_timestamp: 700,
                data: au
            })
        );
    }

    #[test]
    fn aac_fragment_with_a_lost_packet_is_dropped() {
        let mut d = aac_hbr();
        let au = vec![9u8; 300];
        d.push(&rtp(1, 700, false), &hbr_payload(&[300], &au[..100]))
            .unwrap();
        // Sequence number 2 lost.
        let _ = d.push(&rtp(3, 700, true), &hbr_payload(&[300], &au[200..]));
        assert_eq!(d.pull(), None);
        assert_eq!(d.packets_lost, 1);
        // The stream goes on.
        d.push(&rtp(4, 1724, true), &hbr_payload(&[3], &[1, 2, 3]))
            .unwrap();
        assert_eq!(d.pull().map(|f| f.rtp_timestamp), Some(1724));
    }

    #[test]
    fn aac_truncated_access_unit_is_an_error() {
        let mut d = aac_hbr();
        let payload = hbr_payload(&[5, 7], &[0u8; 8]);
        assert_eq!(
            d.push(&rtp(1, 0, true), &payload),
            Err(AudioDepacketizeError::Truncated {
                what: "AAC access unit",
                sequence_number: 1
            })
        );
        assert_eq!(d.pull().map(|f| f.data.len()), Some(5));
        assert_eq!(d.pull(), None);
    }

    #[test]
    fn aac_lbr_defaults_and_missing_config() {
        let d = AudioDepacketizer::new(
            "mpeg4-generic",
            8000,
            None,
            &params(&[("mode", "AAC-lbr"), ("config", "1588")]),
        )
        .unwrap();
        assert_eq!((d.info().sample_rate, d.info().channels), (8000, 1));
        // AAC-lbr: 6 bits of size, 2 of index.
        let mut d = d;
        let payload = [0x00, 0x08, 3 << 2, 7, 8, 9];
        d.push(&rtp(1, 0, true), &payload).unwrap();
        assert_eq!(d.pull().map(|f| f.data), Some(vec![7, 8, 9]));

        assert_eq!(
            AudioDepacketizer::new("mpeg4-generic", 8000, None, &params(&[("mode", "AAC-hbr")]))
                .err(),
            Some(AudioDepacketizeError::MissingParameter("config"))
        );
        assert!(matches!(
            AudioDepacketizer::new(
                "mpeg4-generic",
                8000,
                None,
                &params(&[("mode", "CELP-cbr"), ("config", "1588")])
            ),
            Err(AudioDepacketizeError::UnsupportedMode(_))
        ));
    }

    #[test]
    fn audio_specific_config_variants() {
        // AAC-LC, 44.1 kHz, stereo.
        assert_eq!(
            parse_audio_specific_config(&[0x12, 0x10]),
            Some(AudioSpecificConfig {
                sample_rate: 44100,
                channels: Some(2),
                samples_per_frame: 1024
            })
        );
        // AAC-LC, 48 kHz, mono, 960-sample frames.
        assert_eq!(
            parse_audio_specific_config(&[0x11, 0x8c]).map(|c| c.samples_per_frame),
            Some(960)
        );
        // HE-AAC explicit: object type 5, 24 kHz core, stereo, 48 kHz output, AAC-LC core.
        assert_eq!(
            parse_audio_specific_config(&[0x2b, 0x11, 0x88, 0x00]).map(|c| c.sample_rate),
            Some(48000)
        );
        assert_eq!(parse_audio_specific_config(&[0x12]), None);
        assert_eq!(hex_decode("1210"), Some(vec![0x12, 0x10]));
        assert_eq!(hex_decode("12g0"), None);
        assert_eq!(hex_decode("121"), None);
    }

    #[test]
    fn opus_packet_is_one_frame() {
        let mut d =
            AudioDepacketizer::new("opus", 48000, Some(2), &params(&[("sprop-stereo", "1")]))
                .unwrap();
        assert_eq!(
            (d.info().codec, d.info().sample_rate, d.info().channels),
            (AudioCodec::Opus, 48000, 2)
        );
        d.push(&rtp(1, 960, true), &[0xfc, 1, 2]).unwrap();
        d.push(&rtp(2, 1920, true), &[0xfc, 3]).unwrap();
        assert_eq!(
            d.pull(),
            Some(AudioFrame {
                rtp_timestamp: 960,
                data: vec![0xfc, 1, 2]
            })
        );
        assert_eq!(d.pull().map(|f| f.rtp_timestamp), Some(1920));
        assert_eq!(
            d.push(&rtp(3, 2880, true), &[]),
            Err(AudioDepacketizeError::Empty(3))
        );
    }

    #[test]
    fn g711_payload_is_the_samples() {
        for (name, codec) in [("PCMU", AudioCodec::Pcmu), ("pcma", AudioCodec::Pcma)] {
            let mut d = AudioDepacketizer::new(name, 8000, None, &[]).unwrap();
            assert_eq!(
                (d.info().codec, d.info().sample_rate, d.info().channels),
                (codec, 8000, 1)
            );
            let samples: Vec<u8> = (0..160).map(|i| i as u8).collect();
            d.push(&rtp(100, 160, false), &samples).unwrap();
            assert_eq!(
                d.pull(),
                Some(AudioFrame {
                    rtp_timestamp: 160,
                    data: samples
                })
            );
        }
        assert_eq!(
            AudioDepacketizer::new("G726-32", 8000, None, &[]).err(),
            Some(AudioDepacketizeError::UnsupportedEncoding("G726-32".into()))
        );
    }

    #[test]
    fn duplicate_packets_are_ignored() {
        let mut d = AudioDepacketizer::new("pcmu", 8000, None, &[]).unwrap();
        d.push(&rtp(5, 0, false), &[1]).unwrap();
        d.push(&rtp(5, 0, false), &[1]).unwrap();
        d.push(&rtp(4, 0, false), &[1]).unwrap();
        assert_eq!(d.pull().map(|f| f.data), Some(vec![1]));
        assert_eq!(d.pull(), None);
        assert_eq!(d.packets_lost, 0);
    }

    #[test]
    fn garbage_never_panics() {
        // Every AAC layout the fuzz target uses, on short and long random payloads.
        let mut seed = 7u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) as u8
        };
        let mut d = aac_hbr();
        for len in 0..2000 {
            let payload: Vec<u8> = (0..len % 300).map(|_| next()).collect();
            let _ = d.push(
                &rtp(len as u16, (len / 3) as u32, next() & 1 == 1),
                &payload,
            );
            while d.pull().is_some() {}
        }
        for len in 0..3000 {
            let data: Vec<u8> = (0..len % 500)
                .map(|i| if i % 40 == 0 { 0x80 } else { next() })
                .collect();
            fuzz_depacketize(&data);
        }
    }
}
