//! H.264 over RTP (RFC 6184): a depacketizer that turns packets into access units for the
//! decoder, and a packetizer for the demo server. Both are sans-I/O.
//!
//! Access units are delimited by the RTP marker bit and by a change of RTP timestamp
//! (RFC 6184 §5.1): every NAL unit with the same timestamp belongs to the same picture. We
//! deliberately do *not* start a new access unit when an SPS/PPS arrives after a slice, as
//! H.264 §7.4.1.2.3 would suggest for a byte stream: some cameras (and GStreamer's
//! `rtph264pay config-interval=-1` with a multi-slice encoder) repeat SPS/PPS between the
//! slices of one IDR picture, and splitting there would cut that picture in two.

use super::nal::{NalAssembler, NalDepacketizer, NalFormat, TruncatedFragment};

/// Annex B start code used when we assemble access units.
pub const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// NAL unit types (H.264 Table 7-1) that matter here.
pub mod nal_type {
    pub const SLICE: u8 = 1;
    pub const IDR: u8 = 5;
    pub const SEI: u8 = 6;
    pub const SPS: u8 = 7;
    pub const PPS: u8 = 8;
    pub const AUD: u8 = 9;
    /// RFC 6184 aggregation and fragmentation units.
    pub const STAP_A: u8 = 24;
    pub const STAP_B: u8 = 25;
    pub const MTAP16: u8 = 26;
    pub const MTAP24: u8 = 27;
    pub const FU_A: u8 = 28;
    pub const FU_B: u8 = 29;
}

/// The type of a NAL unit from its first byte.
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1f)
}

/// One coded picture, in Annex B form, with what the decoder needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    pub ts_in_90khz: u32,
    /// NAL units, each preceded by a 4-byte start code.
    pub data: Vec<u8>,
    /// Contains an IDR slice: decoding can (re)start here.
    pub is_idr: bool,
    /// Packets were lost since the previous access unit or inside this one: the picture (and
    /// pictures that reference it) may be corrupt until the next IDR.
    pub loss: bool,
    /// Number of RTP packets that made up this access unit.
    pub packets: u32,
}

impl AccessUnit {
    /// The NAL units without start codes.
    pub fn nal_units(&self) -> Vec<&[u8]> {
        split_annex_b(&self.data)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DepacketizeError {
    #[error("empty RTP payload")]
    Empty,
    #[error("NAL unit type {0} (interleaved packetization-mode 2) is not supported")]
    UnsupportedNalType(u8),
    #[error("truncated {0} packet")]
    Truncated(&'static str),
    #[error("a picture grew past {} MiB without ending (no marker bit, no new timestamp): dropped", .0 >> 20)]
    TooLarge(usize),
}

/// Reassembles H.264 RTP packets into [`AccessUnit`]s.
pub type H264Depacketizer = NalDepacketizer<H264Format>;

/// RFC 6184 payloads, for [`NalDepacketizer`].
#[derive(Debug)]
pub struct H264Format;

impl NalFormat for H264Format {
    // A fragmented NAL unit that lost a packet keeps its bytes before the gap: FFmpeg's
    // H.264 decoder decodes them and conceals the rest. A large keyframe spans a hundred
    // packets or more, so under steady loss of a few percent hardly any arrives whole;
    // dropping the damaged ones left the tile without a picture for as long as the loss
    // lasted.
    const TRUNCATED: TruncatedFragment = TruncatedFragment::Keep;

    fn is_keyframe(nal: &[u8]) -> bool {
        nal_unit_type(nal) == Some(nal_type::IDR)
    }

    fn read_payload(
        assembler: &mut NalAssembler,
        ts: u32,
        payload: &[u8],
    ) -> Result<(), DepacketizeError> {
        let header = *payload.first().ok_or(DepacketizeError::Empty)?;
        match header & 0x1f {
            1..=23 => assembler.push_nal(ts, payload),
            nal_type::STAP_A => {
                // RFC 6184 §5.7.1: 16-bit size, NAL unit, repeated.
                let mut rest = payload.get(1..).unwrap_or_default();
                while !rest.is_empty() {
                    let size_bytes = rest.get(..2).ok_or(DepacketizeError::Truncated("STAP-A"))?;
                    let size = usize::from(u16::from_be_bytes([size_bytes[0], size_bytes[1]]));
                    let nal = rest
                        .get(2..2 + size)
                        .ok_or(DepacketizeError::Truncated("STAP-A"))?;
                    assembler.push_nal(ts, nal);
                    rest = rest.get(2 + size..).unwrap_or_default();
                }
            }
            nal_type::FU_A => {
                // RFC 6184 §5.8: FU indicator, FU header (S, E, R, type), fragment.
                let fu_header = *payload.get(1).ok_or(DepacketizeError::Truncated("FU-A"))?;
                let fragment = payload.get(2..).unwrap_or_default();
                let end = fu_header & 0x40 != 0;
                if fu_header & 0x80 != 0 {
                    assembler.start_fragment(ts, &[(header & 0xe0) | (fu_header & 0x1f)]);
                }
                assembler.continue_fragment(fragment, end);
            }
            t @ (nal_type::STAP_B | nal_type::MTAP16 | nal_type::MTAP24 | nal_type::FU_B) => {
                return Err(DepacketizeError::UnsupportedNalType(t));
            }
            other => return Err(DepacketizeError::UnsupportedNalType(other)),
        }
        Ok(())
    }
}

/// Splits Annex B data into NAL units (without start codes). Tolerates 3- and 4-byte start
/// codes and junk before the first one.
pub fn split_annex_b(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (n, &start) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(data.len(), |&next| next - 3);
        // Trailing zero bytes belong to the next 4-byte start code (or are trailing_zero_8bits).
        while end > start && data[end - 1] == 0 {
            end -= 1;
        }
        if end > start {
            nals.push(&data[start..end]);
        }
    }
    nals
}

/// Splits access units into RTP packets (RFC 6184 packetization-mode 1: single NAL unit
/// packets, FU-A for NAL units larger than the MTU). Used by the demo server.
#[derive(Debug)]
pub struct H264Packetizer {
    payload_type: u8,
    ssrc: u32,
    next_seq: u16,
    max_payload: usize,
}

impl H264Packetizer {
    pub fn new(payload_type: u8, ssrc: u32, initial_seq: u16, max_payload: usize) -> Self {
        Self {
            payload_type,
            ssrc,
            next_seq: initial_seq,
            max_payload: max_payload.max(16),
        }
    }

    /// The sequence number the next packet will carry.
    pub fn next_sequence_number(&self) -> u16 {
        self.next_seq
    }

    /// Packetizes one access unit; the last packet carries the marker bit.
    pub fn packetize(&mut self, ts_in_90khz: u32, nal_units: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut payloads: Vec<Vec<u8>> = Vec::new();
        for nal in nal_units.iter().filter(|n| !n.is_empty()) {
            if nal.len() <= self.max_payload {
                payloads.push(nal.to_vec());
                continue;
            }
            let indicator = (nal[0] & 0xe0) | nal_type::FU_A;
            let kind = nal[0] & 0x1f;
            let body = &nal[1..];
            let chunk = self.max_payload - 2;
            let count = body.len().div_ceil(chunk);
            for (i, part) in body.chunks(chunk).enumerate() {
                let mut fu_header = kind;
                if i == 0 {
                    fu_header |= 0x80;
                }
                if i + 1 == count {
                    fu_header |= 0x40;
                }
                let mut p = Vec::with_capacity(part.len() + 2);
                p.push(indicator);
                p.push(fu_header);
                p.extend_from_slice(part);
                payloads.push(p);
            }
        }
        let last = payloads.len().saturating_sub(1);
        payloads
            .iter()
            .enumerate()
            .map(|(i, payload)| {
                let seq = self.next_seq;
                self.next_seq = self.next_seq.wrapping_add(1);
                rtp_types::RtpPacketBuilder::<&[u8], &[u8]>::new()
                    .payload_type(self.payload_type)
                    .sequence_number(seq)
                    .timestamp(ts_in_90khz)
                    .ssrc(self.ssrc)
                    .marker_bit(i == last)
                    .payload(payload.as_slice())
                    .write_vec_unchecked()
            })
            .collect()
    }
}

/// Feeds arbitrary bytes, cut into pseudo-packets, through the depacketizer (fuzz target).
pub fn fuzz_depacketize(data: &[u8]) -> usize {
    H264Depacketizer::fuzz(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::parse_rtp;
    use crate::rtp::RtpPacketInfo;

    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1f, 0xd9];
    const PPS: &[u8] = &[0x68, 0xcb, 0x83, 0xcb, 0x20];

    fn idr(len: usize, tag: u8) -> Vec<u8> {
        let mut v = vec![0x65, 0x88];
        v.extend((0..len).map(|i| (i as u8) ^ tag | 1));
        v
    }

    fn non_idr(len: usize) -> Vec<u8> {
        let mut v = vec![0x41, 0x9a];
        v.extend((0..len).map(|i| (i as u8) | 1));
        v
    }

    fn depacketize_all(packets: &[Vec<u8>]) -> (Vec<AccessUnit>, H264Depacketizer) {
        let mut d = H264Depacketizer::new();
        let mut out = Vec::new();
        for p in packets {
            let (info, payload) = parse_rtp(p).unwrap();
            d.push(&info, payload).unwrap();
            while let Some(au) = d.pull() {
                out.push(au);
            }
        }
        (out, d)
    }

    #[test]
    fn round_trip_single_fu_a_and_marker() {
        let mut pk = H264Packetizer::new(96, 7, 65530, 100);
        let big = idr(1000, 3);
        let small = non_idr(50);
        let mut packets = pk.packetize(0, &[SPS, PPS, &big]);
        assert!(packets.len() > 10, "FU-A used");
        packets.extend(pk.packetize(3000, &[&small]));
        let (aus, d) = depacketize_all(&packets);
        assert_eq!(aus.len(), 2);
        assert_eq!(aus[0].nal_units(), vec![SPS, PPS, big.as_slice()]);
        assert!(aus[0].is_idr && !aus[0].loss);
        assert_eq!(aus[1].nal_units(), vec![small.as_slice()]);
        assert!(!aus[1].is_idr);
        assert_eq!(aus[1].ts_in_90khz, 3000);
        assert_eq!(d.packets_lost(), 0, "sequence wrap is not loss");
    }

    #[test]
    fn parameter_sets_between_slices_stay_in_one_access_unit() {
        // What x264 with sliced threads + rtph264pay config-interval=-1 sends.
        let (s1, s2) = (idr(300, 1), idr(300, 2));
        let mut pk = H264Packetizer::new(96, 1, 0, 1400);
        let packets = pk.packetize(9000, &[SPS, PPS, &s1, SPS, PPS, &s2]);
        let (aus, _) = depacketize_all(&packets);
        assert_eq!(aus.len(), 1);
        assert_eq!(aus[0].nal_units().len(), 6);
    }

    #[test]
    fn stap_a() {
        let mut payload = vec![nal_type::STAP_A];
        for nal in [SPS, PPS] {
            payload.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            payload.extend_from_slice(nal);
        }
        let stap = rtp_types::RtpPacketBuilder::<&[u8], &[u8]>::new()
            .payload_type(96)
            .sequence_number(1)
            .timestamp(10)
            .payload(payload.as_slice())
            .write_vec_unchecked();
        let mut pk = H264Packetizer::new(96, 0, 2, 1400);
        let mut packets = vec![stap];
        packets.extend(pk.packetize(10, &[&idr(10, 0)]));
        let (aus, _) = depacketize_all(&packets);
        assert_eq!(aus.len(), 1);
        assert_eq!(aus[0].nal_units().len(), 3);
        assert!(aus[0].is_idr);
    }

    #[test]
    fn truncated_stap_a_is_an_error_and_marks_loss() {
        let mut d = H264Depacketizer::new();
        let info = RtpPacketInfo {
            sequence_number: 1,
            ts_in_clock_rate: 5,
            ssrc: 0,
            marker: false,
            payload_type: 96,
        };
        assert_eq!(
            d.push(&info, &[24, 0, 50, 1, 2]),
            Err(DepacketizeError::Truncated("STAP-A"))
        );
        let info2 = RtpPacketInfo {
            sequence_number: 2,
            marker: true,
            ..info
        };
        d.push(&info2, &non_idr(4)).unwrap();
        assert!(d.pull().unwrap().loss);
    }

    /// A server that never ends a picture (no marker bit, one timestamp) cannot make the
    /// depacketizer buffer without bound: past the cap the picture is dropped, and the next
    /// one, which follows the drop, is marked damaged.
    #[test]
    fn a_picture_without_end_is_dropped_at_the_cap() {
        let mut d = H264Depacketizer::new();
        let slice = non_idr(60_000);
        let mut info = RtpPacketInfo {
            sequence_number: 0,
            ts_in_clock_rate: 0,
            ssrc: 1,
            marker: false,
            payload_type: 96,
        };
        let mut dropped_at = None;
        for n in 0..1000u32 {
            info.sequence_number = n as u16;
            if let Err(e) = d.push(&info, &slice) {
                assert_eq!(
                    e,
                    DepacketizeError::TooLarge(crate::rtp::nal::MAX_ACCESS_UNIT_LEN)
                );
                dropped_at = Some(n);
                break;
            }
            assert!(d.pull().is_none());
        }
        let n = dropped_at.expect("1000 packets of 60 kB were buffered as one picture");
        assert_eq!(n as usize, crate::rtp::nal::MAX_ACCESS_UNIT_LEN / 60_004);
        // The stream goes on: the next picture comes out, marked as following a loss.
        info.sequence_number += 1;
        info.ts_in_clock_rate = 3000;
        info.marker = true;
        d.push(&info, &non_idr(10)).unwrap();
        let next = d.pull().expect("the next picture");
        assert!(next.loss && next.ts_in_90khz == 3000);
    }

    #[test]
    fn lost_packet_marks_access_unit_and_timestamp_change_closes_it() {
        let mut pk = H264Packetizer::new(96, 1, 100, 200);
        let mut packets = pk.packetize(0, &[&idr(1000, 1)]);
        packets.extend(pk.packetize(3000, &[&non_idr(100)]));
        packets.extend(pk.packetize(6000, &[&non_idr(100)]));
        // Drop a middle FU-A fragment of the first picture.
        packets.remove(2);
        let (aus, d) = depacketize_all(&packets);
        assert_eq!(d.packets_lost(), 1);
        // The damaged IDR keeps what came before the gap, with its IDR mark and the loss flag;
        // the later pictures are whole.
        assert_eq!(aus.len(), 3);
        assert!(aus[0].is_idr && aus[0].loss);
        assert!(!aus[1].loss && !aus[2].loss);

        // Missing marker: the next timestamp completes the picture.
        let mut pk = H264Packetizer::new(96, 1, 0, 1400);
        let mut a = pk.packetize(0, &[&non_idr(10)]);
        let b = pk.packetize(3000, &[&non_idr(10)]);
        let mut first = a.remove(0);
        first[1] &= 0x7f; // clear marker
        let (aus, _) = depacketize_all(&[first, b[0].clone()]);
        assert_eq!(aus.len(), 2);
    }

    /// SPS, PPS and an IDR of 2002 bytes in FU-A fragments of 198, then a non-IDR picture.
    fn idr_fragments(tag: u8) -> (Vec<u8>, Vec<Vec<u8>>) {
        let slice = idr(2000, tag);
        let mut pk = H264Packetizer::new(96, 1, 40, 200);
        let mut packets = pk.packetize(0, &[SPS, PPS, &slice]);
        packets.extend(pk.packetize(3000, &[&non_idr(50)]));
        (slice, packets)
    }

    #[test]
    fn lost_fu_a_fragment_keeps_the_slice_up_to_the_gap() {
        let (slice, mut packets) = idr_fragments(3);
        // SPS, PPS, then the FU-A fragments, each 198 bytes of the slice after its header byte.
        assert_eq!(packets[2][12] & 0x1f, nal_type::FU_A);
        packets.remove(5); // The fourth fragment: bytes 1 + 3 * 198 .. 1 + 4 * 198.
        let (aus, d) = depacketize_all(&packets);
        assert_eq!(d.packets_lost(), 1);
        assert_eq!(aus.len(), 2);
        assert!(aus[0].is_idr, "a damaged keyframe is still a keyframe");
        assert!(aus[0].loss);
        let kept = 1 + 3 * 198;
        // Exactly the bytes before the gap: the fragments after it are not glued on.
        assert_eq!(aus[0].nal_units(), vec![SPS, PPS, &slice[..kept]]);
        assert!(!aus[1].is_idr && !aus[1].loss);
    }

    #[test]
    fn lost_fu_a_end_keeps_the_slice_and_the_next_timestamp_closes_it() {
        let (slice, mut packets) = idr_fragments(5);
        let last_fragment = packets.len() - 2;
        packets.remove(last_fragment); // The end fragment, which carried the marker.
        let (aus, d) = depacketize_all(&packets);
        assert_eq!(d.packets_lost(), 1);
        assert_eq!(aus.len(), 2);
        assert!(aus[0].is_idr && aus[0].loss);
        let units = aus[0].nal_units();
        assert!(slice.starts_with(units[2]) && units[2].len() < slice.len());
        assert!(!aus[1].loss);
    }

    #[test]
    fn lost_fu_a_start_drops_the_fragments_without_it() {
        let (_, mut packets) = idr_fragments(7);
        packets.remove(2); // The start fragment: nothing tells what the rest belongs to.
        let (aus, _) = depacketize_all(&packets);
        assert_eq!(aus[0].nal_units(), vec![SPS, PPS]);
        assert!(!aus[0].is_idr && aus[0].loss);
    }

    #[test]
    fn annex_b_split() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 0, 0, 1, 0x65, 0, 3,
        ];
        assert_eq!(
            split_annex_b(&data),
            vec![&[0x67, 1][..], &[0x68, 2][..], &[0x65, 0, 3][..]]
        );
        assert!(split_annex_b(&[1, 2, 3]).is_empty());
    }

    #[test]
    fn fuzz_smoke() {
        let mut seed = 99u32;
        for len in 0..3000 {
            let data: Vec<u8> = (0..len % 500)
                .map(|i| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    if i % 40 == 0 {
                        0x80
                    } else {
                        (seed >> 16) as u8
                    }
                })
                .collect();
            fuzz_depacketize(&data);
        }
    }
}
