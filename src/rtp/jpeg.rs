//! Motion JPEG over RTP (RFC 2435): a depacketizer that turns packets into complete JPEG
//! images for the decoder. Sans-I/O.
//!
//! An RTP JPEG packet carries only the entropy-coded scan and a few numbers (type, Q,
//! dimensions, restart interval, sometimes quantization tables); the receiver rebuilds the
//! JPEG headers from them (RFC 2435 Appendix A and B). Every picture is a key frame, so a
//! picture that lost a fragment is dropped outright rather than decoded damaged: the next
//! one repairs the view.

use std::collections::{HashMap, VecDeque};

use super::h264::AccessUnit;
use super::{RtpPacketInfo, SeqStep, SeqTracker};

/// Bytes in one 8-bit quantization table.
const QUANT_TABLE_LEN: usize = 64;

/// Q values from this one up mean the tables travel in band (RFC 2435 §3.1.4).
const FIRST_IN_BAND_Q: u8 = 128;

/// Q 255: in-band tables that may change every frame, so they are never cached (RFC 2435
/// §3.1.8).
const DYNAMIC_Q: u8 = 255;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JpegDepacketizeError {
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("JPEG type {0} is not supported (only 0, 1, 64 and 65)")]
    UnsupportedType(u8),
    #[error("Q value {0} is reserved")]
    ReservedQ(u8),
    #[error("16-bit quantization tables (precision {0:#04x}) are not allowed in baseline JPEG")]
    UnsupportedPrecision(u8),
    #[error("quantization table length {0} is not a whole number of 64-byte tables")]
    BadQuantTableLength(u16),
    #[error("no quantization tables for Q {0}: none in band and none received before")]
    MissingQuantTables(u8),
    #[error("picture {0} is zero")]
    ZeroDimension(&'static str),
}

/// Quantization tables in zigzag order, as DQT carries them: luma, then chroma. A single table
/// serves all three components.
#[derive(Debug, Clone, PartialEq, Eq)]
struct QuantTables(Vec<[u8; QUANT_TABLE_LEN]>);

impl QuantTables {
    /// Tables from the quantization table header (RFC 2435 §3.1.8). Types 0 and 1 use two;
    /// more are ignored.
    fn from_in_band(precision: u8, bytes: &[u8]) -> Result<Self, JpegDepacketizeError> {
        // Baseline JPEG with 8-bit samples requires 8-bit tables (T.81 §B.2.4.1).
        if precision != 0 {
            return Err(JpegDepacketizeError::UnsupportedPrecision(precision));
        }
        let (tables, rest) = bytes.as_chunks::<QUANT_TABLE_LEN>();
        if tables.is_empty() || !rest.is_empty() {
            let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
            return Err(JpegDepacketizeError::BadQuantTableLength(len));
        }
        Ok(Self(tables.iter().take(2).copied().collect()))
    }

    /// RFC 2435 Appendix A `MakeTables`: the example tables of the JPEG standard (T.81 Annex
    /// K.1 and K.2) scaled for Q 1–99 the way the IJG library scales them for its quality
    /// setting.
    fn for_q(q: u8) -> Self {
        let factor = u32::from(q.clamp(1, 99));
        let scale = if factor < 50 {
            5000 / factor
        } else {
            200 - factor * 2
        };
        let scaled = |natural: &[u8; QUANT_TABLE_LEN]| {
            ZIGZAG.map(|i| {
                let q = (u32::from(natural[usize::from(i)]) * scale + 50) / 100;
                q.clamp(1, 255) as u8
            })
        };
        Self(vec![scaled(&LUMA_QUANTIZER), scaled(&CHROMA_QUANTIZER)])
    }
}

/// What the first packet of a frame says about the whole picture.
#[derive(Debug, Clone)]
struct FrameHeader {
    kind: u8,
    width: u16,
    height: u16,
    restart_interval: u16,
    tables: QuantTables,
}

/// The headers of one RTP JPEG payload, and its piece of the scan.
#[derive(Debug)]
struct Fragment<'a> {
    offset: usize,
    kind: u8,
    q: u8,
    width: u16,
    height: u16,
    restart_interval: u16,
    /// Quantization table header (first packet, Q ≥ 128): precision and table bytes.
    in_band_tables: Option<(u8, &'a [u8])>,
    data: &'a [u8],
}

fn parse_fragment(payload: &[u8]) -> Result<Fragment<'_>, JpegDepacketizeError> {
    use JpegDepacketizeError::Truncated;
    // RFC 2435 §3.1: type-specific, fragment offset (24 bits), type, Q, width / 8, height / 8.
    let (main, mut rest) = payload
        .split_first_chunk::<8>()
        .ok_or(Truncated("main JPEG header"))?;
    let offset = usize::from(main[1]) << 16 | usize::from(main[2]) << 8 | usize::from(main[3]);
    let (kind, q) = (main[4], main[5]);
    let restart_interval = match kind {
        0 | 1 => 0,
        // §3.1.7: restart interval (16 bits), F, L, restart count. F, L and the count let a
        // receiver decode part of a damaged frame; we drop damaged frames instead.
        64 | 65 => {
            let (restart, after) = rest
                .split_first_chunk::<4>()
                .ok_or(Truncated("restart marker header"))?;
            rest = after;
            u16::from_be_bytes([restart[0], restart[1]])
        }
        other => return Err(JpegDepacketizeError::UnsupportedType(other)),
    };
    // §3.1.8: the quantization table header is only in the first packet of a frame.
    let in_band_tables = if q >= FIRST_IN_BAND_Q && offset == 0 {
        let (header, after) = rest
            .split_first_chunk::<4>()
            .ok_or(Truncated("quantization table header"))?;
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let tables = after.get(..len).ok_or(Truncated("quantization tables"))?;
        rest = after.get(len..).unwrap_or_default();
        Some((header[1], tables))
    } else {
        None
    };
    Ok(Fragment {
        offset,
        kind,
        q,
        width: u16::from(main[6]) * 8,
        height: u16::from(main[7]) * 8,
        restart_interval,
        in_band_tables,
        data: rest,
    })
}

#[derive(Debug)]
struct PendingFrame {
    ts_in_90khz: u32,
    /// From the packet at offset 0.
    header: Option<FrameHeader>,
    scan: Vec<u8>,
    packets: u32,
    /// A fragment is missing or unusable: the frame will be dropped.
    damaged: bool,
}

/// Reassembles RTP JPEG packets into complete JPEG images, as [`AccessUnit`]s.
#[derive(Debug, Default)]
pub struct JpegDepacketizer {
    pending: Option<PendingFrame>,
    seq: SeqTracker,
    /// In-band tables by Q (128–254): a sender may send them once and then omit them
    /// (RFC 2435 §3.1.8, length 0).
    cached_tables: HashMap<u8, QuantTables>,
    ready: VecDeque<AccessUnit>,
    /// Packets lost, counted from sequence number gaps.
    pub packets_lost: u64,
    /// Frames not emitted because a fragment was missing or could not be used.
    pub frames_dropped: u64,
}

impl JpegDepacketizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one RTP packet. Completed images are then available from [`Self::pull`]. An
    /// error drops the frame this packet belongs to.
    pub fn push(
        &mut self,
        rtp: &RtpPacketInfo,
        payload: &[u8],
    ) -> Result<(), JpegDepacketizeError> {
        match self.seq.step(rtp) {
            SeqStep::Next => {}
            step @ (SeqStep::Gap(_) | SeqStep::Restart) => {
                self.packets_lost += u64::from(step.missing());
                // The lost packets were the rest of the pending frame or the start of the
                // next one; a next frame that lost its start fails the offset check.
                if let Some(p) = &mut self.pending {
                    p.damaged = true;
                }
            }
            // Late or duplicate packet: its frame was already handed on or dropped.
            SeqStep::Stale => return Ok(()),
        }

        if let Some(p) = &self.pending {
            if p.ts_in_90khz != rtp.ts_in_clock_rate {
                // New timestamp without the marker on the previous frame (the camera never
                // sets it; a lost marked packet already damaged the frame above).
                self.finish_pending();
            }
        }
        let result = self.push_payload(rtp, payload);
        if result.is_err() {
            self.pending_for(rtp.ts_in_clock_rate).damaged = true;
        }
        if rtp.marker {
            self.finish_pending();
        }
        result
    }

    /// The next completed image, oldest first.
    pub fn pull(&mut self) -> Option<AccessUnit> {
        self.ready.pop_front()
    }

    fn pending_for(&mut self, ts_in_90khz: u32) -> &mut PendingFrame {
        self.pending.get_or_insert_with(|| PendingFrame {
            ts_in_90khz,
            header: None,
            scan: Vec::new(),
            packets: 0,
            damaged: false,
        })
    }

    fn push_payload(
        &mut self,
        rtp: &RtpPacketInfo,
        payload: &[u8],
    ) -> Result<(), JpegDepacketizeError> {
        self.pending_for(rtp.ts_in_clock_rate).packets += 1;
        let fragment = parse_fragment(payload)?;
        let header = if fragment.offset == 0 {
            Some(self.frame_header(&fragment)?)
        } else {
            None
        };
        let frame = self.pending_for(rtp.ts_in_clock_rate);
        // Fragments must follow each other without a hole (RFC 2435 §3.1.2); a hole is a
        // lost packet, which the sequence check has usually seen already.
        if frame.damaged || fragment.offset != frame.scan.len() {
            frame.damaged = true;
            return Ok(());
        }
        if header.is_some() {
            frame.header = header;
        }
        frame.scan.extend_from_slice(fragment.data);
        Ok(())
    }

    /// The picture's header from the frame's first packet, with its quantization tables.
    fn frame_header(&mut self, first: &Fragment) -> Result<FrameHeader, JpegDepacketizeError> {
        if first.width == 0 {
            return Err(JpegDepacketizeError::ZeroDimension("width"));
        }
        if first.height == 0 {
            return Err(JpegDepacketizeError::ZeroDimension("height"));
        }
        let q = first.q;
        let tables = match (q, first.in_band_tables) {
            // RFC 2435 §3.1.4: Q 0 and 100–127 are reserved.
            (0 | 100..=127, _) => return Err(JpegDepacketizeError::ReservedQ(q)),
            (1..=99, _) => QuantTables::for_q(q),
            (_, Some((precision, bytes))) if !bytes.is_empty() => {
                let tables = QuantTables::from_in_band(precision, bytes)?;
                if q != DYNAMIC_Q {
                    self.cached_tables.insert(q, tables.clone());
                }
                tables
            }
            _ if q == DYNAMIC_Q => return Err(JpegDepacketizeError::MissingQuantTables(q)),
            _ => self
                .cached_tables
                .get(&q)
                .cloned()
                .ok_or(JpegDepacketizeError::MissingQuantTables(q))?,
        };
        Ok(FrameHeader {
            kind: first.kind,
            width: first.width,
            height: first.height,
            restart_interval: first.restart_interval,
            tables,
        })
    }

    fn finish_pending(&mut self) {
        let Some(frame) = self.pending.take() else {
            return;
        };
        match frame.header {
            Some(header) if !frame.damaged => self.ready.push_back(AccessUnit {
                ts_in_90khz: frame.ts_in_90khz,
                data: jpeg_image(&header, &frame.scan),
                is_idr: true,
                loss: false,
                packets: frame.packets,
            }),
            _ => self.frames_dropped += 1,
        }
    }
}

/// JPEG markers (T.81 Table B.1).
mod marker {
    pub const SOI: u8 = 0xd8;
    pub const EOI: u8 = 0xd9;
    pub const DQT: u8 = 0xdb;
    pub const DRI: u8 = 0xdd;
    pub const SOF0: u8 = 0xc0;
    pub const DHT: u8 = 0xc4;
    pub const SOS: u8 = 0xda;
}

/// Appends a marker segment: marker, 16-bit length (counting itself), body.
fn put_segment(out: &mut Vec<u8>, marker: u8, body: &[&[u8]]) {
    let len = 2 + body.iter().map(|b| b.len()).sum::<usize>();
    out.extend_from_slice(&[0xff, marker]);
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    for part in body {
        out.extend_from_slice(part);
    }
}

/// A complete baseline JPEG around `scan`: the headers of RFC 2435 Appendix B `MakeHeaders`
/// (DQT, DRI, SOF0, DHT with the standard Huffman tables, SOS), the scan, EOI.
fn jpeg_image(header: &FrameHeader, scan: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(scan.len() + 700);
    out.extend_from_slice(&[0xff, marker::SOI]);
    for (id, table) in (0u8..).zip(&header.tables.0) {
        put_segment(&mut out, marker::DQT, &[&[id], table]);
    }
    if header.restart_interval != 0 {
        put_segment(
            &mut out,
            marker::DRI,
            &[&header.restart_interval.to_be_bytes()],
        );
    }
    // Types 0 and 64 are 4:2:2 (luma sampled 2×1), types 1 and 65 are 4:2:0 (2×2); chroma
    // uses the second table when there is one (RFC 2435 §4.1).
    let luma_sampling = if header.kind & 0x3f == 0 { 0x21 } else { 0x22 };
    let chroma_table = u8::from(header.tables.0.len() > 1);
    let [h_hi, h_lo] = header.height.to_be_bytes();
    let [w_hi, w_lo] = header.width.to_be_bytes();
    put_segment(
        &mut out,
        marker::SOF0,
        &[&[
            8,
            h_hi,
            h_lo,
            w_hi,
            w_lo,
            3,
            0,
            luma_sampling,
            0,
            1,
            0x11,
            chroma_table,
            2,
            0x11,
            chroma_table,
        ]],
    );
    for (class_and_id, code_lengths, symbols) in HUFFMAN_TABLES {
        put_segment(
            &mut out,
            marker::DHT,
            &[&[class_and_id], code_lengths, symbols],
        );
    }
    // Components 0, 1, 2 with Huffman tables 0/0, 1/1, 1/1; spectral selection 0–63, no
    // successive approximation.
    put_segment(
        &mut out,
        marker::SOS,
        &[&[3, 0, 0x00, 1, 0x11, 2, 0x11, 0, 63, 0]],
    );
    out.extend_from_slice(scan);
    if !scan.ends_with(&[0xff, marker::EOI]) {
        out.extend_from_slice(&[0xff, marker::EOI]);
    }
    out
}

/// Feeds arbitrary bytes, cut into pseudo-packets, through the depacketizer (fuzz target).
pub fn fuzz_depacketize(data: &[u8]) -> usize {
    let mut depacketizer = JpegDepacketizer::new();
    super::fuzz_packets(data, |info, payload| {
        let _ = depacketizer.push(info, payload);
        std::iter::from_fn(|| depacketizer.pull()).count()
    })
}

/// Natural (row-major) index of each coefficient in zigzag order (T.81 Figure A.6).
const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// T.81 Table K.1, luminance quantization, in natural order.
#[rustfmt::skip]
const LUMA_QUANTIZER: [u8; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
];

/// T.81 Table K.2, chrominance quantization, in natural order.
#[rustfmt::skip]
const CHROMA_QUANTIZER: [u8; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
];

/// The standard Huffman tables (T.81 Annex K.3, as listed in RFC 2435 Appendix B): table
/// class and id, number of codes of each length 1–16, symbols.
const HUFFMAN_TABLES: [(u8, &[u8; 16], &[u8]); 4] = [
    (0x00, &LUMA_DC_CODE_LENGTHS, &DC_SYMBOLS),
    (0x10, &LUMA_AC_CODE_LENGTHS, &LUMA_AC_SYMBOLS),
    (0x01, &CHROMA_DC_CODE_LENGTHS, &DC_SYMBOLS),
    (0x11, &CHROMA_AC_CODE_LENGTHS, &CHROMA_AC_SYMBOLS),
];

const LUMA_DC_CODE_LENGTHS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const CHROMA_DC_CODE_LENGTHS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_SYMBOLS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

const LUMA_AC_CODE_LENGTHS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
#[rustfmt::skip]
const LUMA_AC_SYMBOLS: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12,
    0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08,
    0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16,
    0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
    0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
    0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79,
    0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
    0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
    0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4,
    0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea,
    0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

const CHROMA_AC_CODE_LENGTHS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
#[rustfmt::skip]
const CHROMA_AC_SYMBOLS: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21,
    0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91,
    0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34,
    0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38,
    0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
    0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78,
    0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
    0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2,
    0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9,
    0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

#[cfg(test)]
mod tests {
    use super::*;
    use ffmpeg_next as ffmpeg;

    /// What a sender puts into the headers of one frame.
    #[derive(Debug, Clone)]
    struct TestFrame {
        kind: u8,
        q: u8,
        width: u16,
        height: u16,
        restart_interval: u16,
        /// Quantization table bytes for Q ≥ 128 (empty: length 0, "as before").
        in_band_tables: Vec<u8>,
        scan: Vec<u8>,
    }

    impl TestFrame {
        fn new(kind: u8, q: u8, scan: Vec<u8>) -> Self {
            Self {
                kind,
                q,
                width: 64,
                height: 48,
                restart_interval: 0,
                in_band_tables: Vec::new(),
                scan,
            }
        }
    }

    /// An RFC 2435 packetizer: splits the scan into fragments of at most `max_data` bytes.
    fn packetize(
        frame: &TestFrame,
        max_data: usize,
        ts: u32,
        first_seq: u16,
    ) -> Vec<(RtpPacketInfo, Vec<u8>)> {
        let chunks: Vec<&[u8]> = frame.scan.chunks(max_data).collect();
        let mut offset = 0usize;
        chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                let mut p = vec![0];
                p.extend_from_slice(&(offset as u32).to_be_bytes()[1..]);
                p.extend_from_slice(&[
                    frame.kind,
                    frame.q,
                    (frame.width / 8) as u8,
                    (frame.height / 8) as u8,
                ]);
                if frame.kind >= 64 {
                    // Restart interval; F = L = 1, count 0x3fff: the whole frame.
                    p.extend_from_slice(&frame.restart_interval.to_be_bytes());
                    p.extend_from_slice(&[0xff, 0xff]);
                }
                if offset == 0 && frame.q >= 128 {
                    p.extend_from_slice(&[0, 0]);
                    p.extend_from_slice(&(frame.in_band_tables.len() as u16).to_be_bytes());
                    p.extend_from_slice(&frame.in_band_tables);
                }
                p.extend_from_slice(chunk);
                offset += chunk.len();
                let info = RtpPacketInfo {
                    sequence_number: first_seq.wrapping_add(i as u16),
                    ts_in_clock_rate: ts,
                    ssrc: 1,
                    marker: i + 1 == chunks.len(),
                    payload_type: 26,
                };
                (info, p)
            })
            .collect()
    }

    fn depacketize_all(
        packets: &[(RtpPacketInfo, Vec<u8>)],
    ) -> (Vec<AccessUnit>, JpegDepacketizer) {
        let mut d = JpegDepacketizer::new();
        let mut out = Vec::new();
        for (info, payload) in packets {
            d.push(info, payload).unwrap();
            while let Some(image) = d.pull() {
                out.push(image);
            }
        }
        (out, d)
    }

    /// Header segments of a JPEG image (up to and including SOS) as (marker, body).
    fn segments(jpeg: &[u8]) -> Vec<(u8, &[u8])> {
        assert_eq!(&jpeg[..2], &[0xff, marker::SOI]);
        let mut pos = 2;
        let mut out = Vec::new();
        loop {
            assert_eq!(jpeg[pos], 0xff, "marker at {pos}");
            let m = jpeg[pos + 1];
            let len = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
            out.push((m, &jpeg[pos + 4..pos + 2 + len]));
            pos += 2 + len;
            if m == marker::SOS {
                return out;
            }
        }
    }

    fn segment(jpeg: &[u8], m: u8) -> Option<&[u8]> {
        segments(jpeg)
            .into_iter()
            .find(|&(found, _)| found == m)
            .map(|(_, body)| body)
    }

    fn fake_scan(len: usize) -> Vec<u8> {
        // Entropy-coded data never holds 0xff unstuffed; keep it out of the way.
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn three_fragments_reassemble_into_a_jpeg() {
        let scan = fake_scan(300);
        let packets = packetize(&TestFrame::new(1, 50, scan.clone()), 100, 9000, 65534);
        assert_eq!(packets.len(), 3);
        let (images, d) = depacketize_all(&packets);
        assert_eq!(images.len(), 1);
        let image = &images[0];
        assert_eq!((image.ts_in_90khz, image.packets), (9000, 3));
        assert!(image.is_idr && !image.loss);
        let jpeg = &image.data;
        assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
        assert!(jpeg.ends_with(&[0xff, 0xd9]));
        let sof = segment(jpeg, marker::SOF0).unwrap();
        // Precision 8, height 48, width 64, 3 components, luma 2×2 (type 1: 4:2:0).
        assert_eq!(&sof[..8], &[8, 0, 48, 0, 64, 3, 0, 0x22]);
        assert_eq!(&jpeg[jpeg.len() - 302..jpeg.len() - 2], scan.as_slice());
        assert!(segment(jpeg, marker::DRI).is_none());
        assert_eq!(
            segments(jpeg).iter().filter(|s| s.0 == marker::DQT).count(),
            2
        );
        assert_eq!(
            segments(jpeg).iter().filter(|s| s.0 == marker::DHT).count(),
            4
        );
        assert_eq!(
            (d.packets_lost, d.frames_dropped),
            (0, 0),
            "sequence wrap is not loss"
        );

        // Type 0 is 4:2:2; a scan that already ends in EOI gets no second one.
        let mut scan = fake_scan(50);
        scan.extend_from_slice(&[0xff, 0xd9]);
        let (images, _) = depacketize_all(&packetize(&TestFrame::new(0, 50, scan), 20, 0, 0));
        let jpeg = &images[0].data;
        assert_eq!(segment(jpeg, marker::SOF0).unwrap()[7], 0x21);
        assert!(
            jpeg.ends_with(&[0x31, 0xff, 0xd9]),
            "{:x?}",
            &jpeg[jpeg.len() - 4..]
        );
    }

    #[test]
    fn q_tables_follow_rfc_2435_make_tables() {
        // Q 50 is the JPEG standard's tables unscaled, in zigzag order.
        let q50 = QuantTables::for_q(50).0;
        assert_eq!(&q50[0][..6], &[16, 11, 12, 14, 12, 10]);
        assert_eq!(&q50[1][..4], &[17, 18, 18, 24]);
        assert_eq!(q50[0][63], 99);
        // Q 75: scale 50 (rounded); Q 10: scale 500, capped at 255; Q 99: scale 2, floor 1.
        let q75 = QuantTables::for_q(75).0;
        assert_eq!((q75[0][0], q75[0][1], q75[1][0]), (8, 6, 9));
        let q10 = QuantTables::for_q(10).0;
        assert_eq!((q10[0][0], q10[0][1], q10[0][63]), (80, 55, 255));
        assert_eq!(QuantTables::for_q(99).0[0][1], 1);

        let (images, _) =
            depacketize_all(&packetize(&TestFrame::new(1, 75, fake_scan(10)), 100, 0, 0));
        let dqts: Vec<&[u8]> = segments(&images[0].data)
            .into_iter()
            .filter(|s| s.0 == marker::DQT)
            .map(|s| s.1)
            .collect();
        assert_eq!(dqts[0][0], 0, "8-bit table 0");
        assert_eq!(&dqts[0][1..], &q75[0]);
        assert_eq!(dqts[1][0], 1);
        assert_eq!(&dqts[1][1..], &q75[1]);
    }

    #[test]
    fn in_band_tables_are_used_verbatim_and_cached_below_255() {
        let tables: Vec<u8> = (1..=128).collect();
        let mut frame = TestFrame::new(1, 200, fake_scan(40));
        frame.in_band_tables = tables.clone();
        let mut packets = packetize(&frame, 30, 0, 10);
        // Next frame with the same Q omits the tables (length 0): the cached ones apply.
        frame.in_band_tables.clear();
        packets.extend(packetize(&frame, 30, 3000, 12));
        let (images, _) = depacketize_all(&packets);
        assert_eq!(images.len(), 2);
        for image in &images {
            let dqts: Vec<&[u8]> = segments(&image.data)
                .into_iter()
                .filter(|s| s.0 == marker::DQT)
                .map(|s| s.1)
                .collect();
            assert_eq!(&dqts[0][1..], &tables[..64]);
            assert_eq!(&dqts[1][1..], &tables[64..]);
            // Chroma components use table 1.
            assert_eq!(segment(&image.data, marker::SOF0).unwrap()[14], 1);
        }

        // Q 255 never relies on earlier tables.
        let mut d = JpegDepacketizer::new();
        let mut frame = TestFrame::new(1, 255, fake_scan(10));
        frame.in_band_tables = tables.clone();
        for (info, p) in packetize(&frame, 100, 0, 0) {
            d.push(&info, &p).unwrap();
        }
        assert!(d.pull().is_some());
        frame.in_band_tables.clear();
        for (info, p) in packetize(&frame, 100, 3000, 1) {
            assert_eq!(
                d.push(&info, &p),
                Err(JpegDepacketizeError::MissingQuantTables(255))
            );
        }
        assert!(d.pull().is_none());
        assert_eq!(d.frames_dropped, 1);

        // One table serves all components.
        frame.in_band_tables = tables[..64].to_vec();
        for (info, p) in packetize(&frame, 100, 6000, 2) {
            d.push(&info, &p).unwrap();
        }
        let image = d.pull().unwrap();
        assert_eq!(
            segments(&image.data)
                .iter()
                .filter(|s| s.0 == marker::DQT)
                .count(),
            1
        );
        assert_eq!(segment(&image.data, marker::SOF0).unwrap()[14], 0);
    }

    #[test]
    fn missing_middle_fragment_drops_the_frame() {
        let frame = TestFrame::new(1, 50, fake_scan(300));
        let mut packets = packetize(&frame, 100, 0, 100);
        packets.extend(packetize(&frame, 100, 3000, 103));
        packets.remove(1);
        let (images, d) = depacketize_all(&packets);
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].ts_in_90khz, 3000);
        assert_eq!((d.packets_lost, d.frames_dropped), (1, 1));

        // A hole in the offsets without a sequence gap (a broken sender) drops it too.
        let mut packets = packetize(&frame, 100, 0, 0);
        packets.remove(1);
        packets[1].0.sequence_number = 1;
        let (images, d) = depacketize_all(&packets);
        assert!(images.is_empty());
        assert_eq!((d.packets_lost, d.frames_dropped), (0, 1));

        // Losing the first packet (the one with the tables) of a frame drops it.
        let mut packets = packetize(&frame, 100, 0, 0);
        packets.extend(packetize(&frame, 100, 3000, 3));
        packets.remove(3);
        let (images, d) = depacketize_all(&packets);
        assert_eq!(images.len(), 1);
        assert_eq!((d.packets_lost, d.frames_dropped), (1, 1));
    }

    #[test]
    fn late_duplicate_and_unmarked_frames() {
        let frame = TestFrame::new(1, 50, fake_scan(200));
        let mut packets = packetize(&frame, 100, 0, 0);
        // A duplicate of the first packet after the frame is complete is ignored.
        packets.push(packets[0].clone());
        // A frame whose last packet lacks the marker is complete when the timestamp changes.
        let mut unmarked = packetize(&frame, 100, 3000, 2);
        unmarked[1].0.marker = false;
        packets.extend(unmarked);
        packets.extend(packetize(&frame, 100, 6000, 4));
        let (images, d) = depacketize_all(&packets);
        let times: Vec<u32> = images.iter().map(|i| i.ts_in_90khz).collect();
        assert_eq!(times, vec![0, 3000, 6000]);
        assert_eq!((d.packets_lost, d.frames_dropped), (0, 0));
    }

    #[test]
    fn restart_marker_type_65_emits_dri() {
        let mut frame = TestFrame::new(65, 50, fake_scan(150));
        frame.restart_interval = 4;
        let (images, _) = depacketize_all(&packetize(&frame, 50, 0, 0));
        assert_eq!(images.len(), 1);
        let jpeg = &images[0].data;
        assert_eq!(segment(jpeg, marker::DRI), Some(&[0, 4][..]));
        assert_eq!(segment(jpeg, marker::SOF0).unwrap()[7], 0x22);
        assert_eq!(
            &jpeg[jpeg.len() - 152..jpeg.len() - 2],
            frame.scan.as_slice()
        );

        frame.kind = 64;
        let (images, _) = depacketize_all(&packetize(&frame, 50, 0, 0));
        assert_eq!(segment(&images[0].data, marker::SOF0).unwrap()[7], 0x21);
    }

    #[test]
    fn bad_headers_are_errors_that_drop_the_frame() {
        let mut d = JpegDepacketizer::new();
        let packets = packetize(&TestFrame::new(2, 50, fake_scan(100)), 60, 0, 0);
        for (info, p) in &packets {
            assert_eq!(
                d.push(info, p),
                Err(JpegDepacketizeError::UnsupportedType(2))
            );
        }
        assert!(d.pull().is_none());
        assert_eq!(d.frames_dropped, 1);

        let cases = [
            (
                TestFrame::new(1, 0, fake_scan(10)),
                JpegDepacketizeError::ReservedQ(0),
            ),
            (
                TestFrame::new(1, 110, fake_scan(10)),
                JpegDepacketizeError::ReservedQ(110),
            ),
            (
                TestFrame {
                    width: 0,
                    ..TestFrame::new(1, 50, fake_scan(10))
                },
                JpegDepacketizeError::ZeroDimension("width"),
            ),
            (
                TestFrame {
                    in_band_tables: vec![1; 100],
                    ..TestFrame::new(1, 255, fake_scan(10))
                },
                JpegDepacketizeError::BadQuantTableLength(100),
            ),
        ];
        for (n, (frame, error)) in cases.into_iter().enumerate() {
            let (info, p) = &packetize(&frame, 100, 1 + n as u32, 10 + n as u16)[0];
            assert_eq!(d.push(info, p), Err(error));
        }
        assert!(d.pull().is_none());
        assert_eq!(d.frames_dropped, 5);

        let info = RtpPacketInfo {
            sequence_number: 50,
            ts_in_clock_rate: 99,
            ssrc: 1,
            marker: true,
            payload_type: 26,
        };
        assert_eq!(
            d.push(&info, &[0, 0, 0, 0, 1]),
            Err(JpegDepacketizeError::Truncated("main JPEG header"))
        );
        let info = RtpPacketInfo {
            sequence_number: 51,
            ..info
        };
        assert_eq!(
            d.push(&info, &[0, 0, 0, 0, 65, 50, 8, 6, 0]),
            Err(JpegDepacketizeError::Truncated("restart marker header"))
        );
        let info = RtpPacketInfo {
            sequence_number: 52,
            ..info
        };
        assert_eq!(
            d.push(&info, &[0, 0, 0, 0, 1, 255, 8, 6, 0, 0, 0, 128, 1, 2]),
            Err(JpegDepacketizeError::Truncated("quantization tables"))
        );
    }

    /// The parts of a baseline JPEG an RTP sender uses: size, luma sampling, the quantization
    /// tables of luma and chroma, the Huffman tables (class and id, code lengths, symbols),
    /// and the scan up to EOI.
    struct SplitJpeg {
        width: u16,
        height: u16,
        luma_sampling: u8,
        tables: Vec<u8>,
        huffman: Vec<(u8, Vec<u8>, Vec<u8>)>,
        scan: Vec<u8>,
    }

    fn split_baseline_jpeg(jpeg: &[u8]) -> SplitJpeg {
        let mut quant = std::collections::HashMap::new();
        let mut huffman = Vec::new();
        let mut sof = None;
        for (m, body) in segments(jpeg) {
            match m {
                marker::DQT => {
                    for table in body.chunks(65) {
                        assert_eq!(table[0] >> 4, 0, "8-bit tables");
                        quant.insert(table[0], table[1..].to_vec());
                    }
                }
                marker::DHT => {
                    let mut rest = body;
                    while !rest.is_empty() {
                        let lengths = rest[1..17].to_vec();
                        let count = lengths.iter().map(|&n| usize::from(n)).sum::<usize>();
                        huffman.push((rest[0], lengths, rest[17..17 + count].to_vec()));
                        rest = &rest[17 + count..];
                    }
                }
                marker::SOF0 => sof = Some(body.to_vec()),
                _ => {}
            }
        }
        let sof = sof.expect("baseline SOF0");
        let header_len: usize = 2 + segments(jpeg).iter().map(|s| 4 + s.1.len()).sum::<usize>();
        let scan = jpeg[header_len..jpeg.len() - 2].to_vec();
        assert!(jpeg.ends_with(&[0xff, 0xd9]));
        huffman.sort();
        let mut tables = quant[&sof[8]].clone();
        tables.extend_from_slice(&quant[&sof[11]]);
        SplitJpeg {
            height: u16::from_be_bytes([sof[1], sof[2]]),
            width: u16::from_be_bytes([sof[3], sof[4]]),
            luma_sampling: sof[7],
            tables,
            huffman,
            scan,
        }
    }

    /// A small 4:2:0 picture (full-range, as JPEG has it): smooth gradients and a bright square.
    fn test_picture(width: u32, height: u32) -> ffmpeg::frame::Video {
        let mut picture = ffmpeg::frame::Video::new(ffmpeg::format::Pixel::YUVJ420P, width, height);
        for plane in 0..3 {
            let stride = picture.stride(plane);
            let (w, h) = (
                picture.plane_width(plane) as usize,
                picture.plane_height(plane) as usize,
            );
            let data = picture.data_mut(plane);
            for y in 0..h {
                for x in 0..w {
                    data[y * stride + x] = match plane {
                        0 if (8..24).contains(&x) && (8..24).contains(&y) => 235,
                        0 => (40 + 2 * x + y) as u8,
                        1 => (100 + x) as u8,
                        _ => (160 - y) as u8,
                    };
                }
            }
        }
        picture.set_pts(Some(0));
        picture
    }

    fn encode_with_ffmpeg(picture: &ffmpeg::frame::Video) -> Vec<u8> {
        let codec = ffmpeg::encoder::find(ffmpeg::codec::Id::MJPEG).expect("MJPEG encoder");
        let mut encoder = ffmpeg::codec::Context::new_with_codec(codec)
            .encoder()
            .video()
            .unwrap();
        encoder.set_width(picture.width());
        encoder.set_height(picture.height());
        encoder.set_format(picture.format());
        encoder.set_time_base((1, 25));
        let mut options = ffmpeg::Dictionary::new();
        // RFC 2435 cannot carry Huffman tables: the scan must use the standard ones, not
        // FFmpeg's default per-picture optimal tables.
        options.set("huffman", "default");
        let mut encoder = encoder.open_with(options).unwrap();
        encoder.send_frame(picture).unwrap();
        encoder.send_eof().unwrap();
        let mut packet = ffmpeg::Packet::empty();
        encoder.receive_packet(&mut packet).unwrap();
        packet.data().unwrap().to_vec()
    }

    /// Decodes a JPEG with FFmpeg's MJPEG decoder: pixel format and luma rows.
    fn decode_with_ffmpeg(jpeg: &[u8]) -> (ffmpeg::format::Pixel, Vec<Vec<u8>>) {
        let codec = ffmpeg::decoder::find(ffmpeg::codec::Id::MJPEG).expect("MJPEG decoder");
        let mut decoder = ffmpeg::codec::Context::new_with_codec(codec)
            .decoder()
            .video()
            .unwrap();
        decoder.send_packet(&ffmpeg::Packet::copy(jpeg)).unwrap();
        decoder.send_eof().unwrap();
        let mut picture = ffmpeg::frame::Video::empty();
        decoder.receive_frame(&mut picture).unwrap();
        (picture.format(), luma_rows(&picture))
    }

    fn luma_rows(picture: &ffmpeg::frame::Video) -> Vec<Vec<u8>> {
        let (w, stride) = (picture.width() as usize, picture.stride(0));
        picture
            .data(0)
            .chunks(stride)
            .take(picture.height() as usize)
            .map(|row| row[..w].to_vec())
            .collect()
    }

    /// The strongest check: a real baseline JPEG from FFmpeg's encoder, stripped to what
    /// an RFC 2435 sender transmits (Q 255, in-band tables), packetized, depacketized and
    /// decoded again by FFmpeg.
    #[test]
    fn ffmpeg_decodes_a_reassembled_picture() {
        crate::decode::init_ffmpeg();
        let source = test_picture(64, 48);
        let encoded = encode_with_ffmpeg(&source);
        let split = split_baseline_jpeg(&encoded);
        assert_eq!(
            (split.width, split.height, split.luma_sampling),
            (64, 48, 0x22)
        );
        let mut frame = TestFrame::new(1, 255, split.scan.clone());
        frame.in_band_tables = split.tables.clone();
        let packets = packetize(&frame, 100, 1234, 0);
        assert!(packets.len() >= 3, "{} packets", packets.len());
        let (images, _) = depacketize_all(&packets);
        assert_eq!(images.len(), 1);
        let rebuilt = &images[0].data;

        // Our standard Huffman tables are the ones FFmpeg encoded with.
        assert_eq!(split_baseline_jpeg(rebuilt).huffman, split.huffman);

        let (format, luma) = decode_with_ffmpeg(rebuilt);
        assert_eq!(format, ffmpeg::format::Pixel::YUVJ420P);
        let (_, luma_of_encoded) = decode_with_ffmpeg(&encoded);
        assert_eq!(luma, luma_of_encoded, "same picture as FFmpeg's own JPEG");
        let expected = luma_rows(&source);
        assert_eq!((luma.len(), luma[0].len()), (48, 64));
        let diffs: Vec<u32> = luma
            .iter()
            .flatten()
            .zip(expected.iter().flatten())
            .map(|(&a, &b)| u32::from(a.abs_diff(b)))
            .collect();
        let mean = diffs.iter().sum::<u32>() as f64 / diffs.len() as f64;
        let max = diffs.iter().copied().max().unwrap_or(0);
        assert!(mean < 3.0 && max < 40, "mean {mean}, max {max}");
    }

    #[test]
    fn fuzz_smoke() {
        let mut seed = 7u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) as u8
        };
        for len in 0..3000 {
            let data: Vec<u8> = (0..len % 500)
                .map(|i| if i % 40 == 0 { 0x80 } else { next() })
                .collect();
            fuzz_depacketize(&data);
        }
        // Valid packets with random bytes flipped, fed straight in.
        let mut frame = TestFrame::new(65, 255, fake_scan(400));
        frame.in_band_tables = (0..128).collect();
        frame.restart_interval = 2;
        let packets = packetize(&frame, 64, 0, 0);
        let mut d = JpegDepacketizer::new();
        for round in 0..2000u32 {
            for (info, p) in &packets {
                let mut p = p.clone();
                for _ in 0..(round % 4) {
                    let at = usize::from(next()) % p.len();
                    p[at] = next();
                }
                let cut = p.len() - usize::from(next()) % p.len().min(20);
                let info = RtpPacketInfo {
                    sequence_number: info.sequence_number.wrapping_add(round as u16 * 7),
                    ts_in_clock_rate: round,
                    marker: next() & 1 == 0,
                    ..info.clone()
                };
                let _ = d.push(&info, &p[..cut]);
                while d.pull().is_some() {}
            }
        }
    }
}
