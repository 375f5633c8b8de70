//! H.265 over RTP (RFC 7798): a sans-I/O depacketizer that turns packets into access units for
//! the decoder, and the decoding of the `sprop-vps/sps/pps` parameter sets from the SDP.
//!
//! Access units are delimited as for H.264 (see [`super::h264`]): by the RTP marker bit, set on
//! the last packet of an access unit, and by a change of RTP timestamp, which all packets of one
//! access unit share (RFC 7798 §4.1).
//!
//! Only the non-interleaved case is handled: `sprop-max-don-diff` absent or 0, so payloads carry
//! no DONL/DOND fields (RFC 7798 §4.4). A stream that announces more is refused by the caller,
//! see [`h265_uses_donl`]; its packets would otherwise be misread here.

use base64::Engine as _;

use super::h264::DepacketizeError;
use super::nal::{NalAssembler, NalDepacketizer, NalFormat, TruncatedFragment};

/// NAL unit types (H.265 Table 7-1, RFC 7798 §4.4) that matter here.
pub mod nal_type {
    /// Intra random access point pictures: BLA_W_LP ..= CRA_NUT (H.265 §7.4.2.2).
    pub const IRAP: std::ops::RangeInclusive<u8> = 16..=21;
    pub const IDR_W_RADL: u8 = 19;
    pub const VPS: u8 = 32;
    pub const SPS: u8 = 33;
    pub const PPS: u8 = 34;
    pub const AUD: u8 = 35;
    /// RFC 7798 §4.4.2 aggregation packet.
    pub const AP: u8 = 48;
    /// RFC 7798 §4.4.3 fragmentation unit.
    pub const FU: u8 = 49;
    /// RFC 7798 §4.4.4 payload content information.
    pub const PACI: u8 = 50;
}

/// The type of a NAL unit from the first byte of its 2-byte header (H.265 §7.3.1.2).
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| (b >> 1) & 0x3f)
}

/// The NAL unit header of an H.265 NAL unit is two bytes; anything shorter is not one.
const NAL_HEADER_LEN: usize = 2;

/// Reassembles H.265 RTP packets into [`AccessUnit`]s.
pub type H265Depacketizer = NalDepacketizer<H265Format>;

/// RFC 7798 payloads, for [`NalDepacketizer`].
#[derive(Debug)]
pub struct H265Format;

impl NalFormat for H265Format {
    // A fragmentation unit that lost a packet is dropped whole. (H.264 keeps the bytes
    // before the gap, because FFmpeg's H.264 decoder conceals the rest of the slice; its
    // HEVC decoder (5.1) has no concealment and leaves the missing blocks green, which
    // later pictures would then copy.)
    const TRUNCATED: TruncatedFragment = TruncatedFragment::Drop;

    fn is_keyframe(nal: &[u8]) -> bool {
        nal_unit_type(nal).is_some_and(|t| nal_type::IRAP.contains(&t))
    }

    fn read_payload(
        assembler: &mut NalAssembler,
        ts: u32,
        payload: &[u8],
    ) -> Result<(), DepacketizeError> {
        // RFC 7798 §4.4: every payload starts with a NAL unit header ("payload header").
        let (header, body) = match payload {
            [] => return Err(DepacketizeError::Empty),
            [h0, h1, body @ ..] => ([*h0, *h1], body),
            [_] => return Err(DepacketizeError::Truncated("payload header")),
        };
        match (header[0] >> 1) & 0x3f {
            // §4.4.1 single NAL unit packet: the payload is the NAL unit.
            0..=47 => assembler.push_nal(ts, payload),
            nal_type::AP => {
                // §4.4.2 without DONL/DOND: 16-bit size, NAL unit, repeated.
                let mut rest = body;
                while !rest.is_empty() {
                    let [hi, lo, after @ ..] = rest else {
                        return Err(DepacketizeError::Truncated("AP"));
                    };
                    let size = usize::from(u16::from_be_bytes([*hi, *lo]));
                    let nal = after
                        .get(..size)
                        .filter(|nal| nal.len() >= NAL_HEADER_LEN)
                        .ok_or(DepacketizeError::Truncated("AP"))?;
                    assembler.push_nal(ts, nal);
                    rest = after.get(size..).unwrap_or_default();
                }
            }
            nal_type::FU => {
                // §4.4.3 without DONL: payload header, FU header (S, E, FuType), fragment.
                let [fu_header, fragment @ ..] = body else {
                    return Err(DepacketizeError::Truncated("FU"));
                };
                let end = fu_header & 0x40 != 0;
                if fu_header & 0x80 != 0 {
                    // The NAL unit header is the payload header with its type replaced by
                    // FuType (F, LayerId and TID are copied).
                    let fu_type = fu_header & 0x3f;
                    assembler.start_fragment(ts, &[(header[0] & 0x81) | (fu_type << 1), header[1]]);
                }
                assembler.continue_fragment(fragment, end);
            }
            // PACI (§4.4.4) only repeats header information for MANE use, and 51..=63 are not
            // payload structures RFC 7798 defines: nothing for the decoder.
            _ => {}
        }
        Ok(())
    }
}

/// Some encoders write base64 without its `=` padding; accept both forms.
const SPROP_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// H.265 parameter sets from the `sprop-vps`, `sprop-sps` and `sprop-pps` fmtp parameters
/// (RFC 7798 §7.1), as raw NAL units in decoding order: VPS, then SPS, then PPS. Each parameter
/// may list several base64 NAL units separated by commas. Entries that are not valid base64
/// are skipped: a camera's bad hint must not stop playback when the parameter sets also arrive
/// in band.
pub fn h265_parameter_sets(fmtp: &[(String, String)]) -> Vec<Vec<u8>> {
    ["sprop-vps", "sprop-sps", "sprop-pps"]
        .iter()
        .filter_map(|name| fmtp_value(fmtp, name))
        .flat_map(|value| value.split(','))
        .filter_map(|b64| {
            SPROP_BASE64
                .decode(b64.trim())
                .ok()
                .filter(|nal| nal.len() >= NAL_HEADER_LEN)
        })
        .collect()
}

/// Whether the stream carries DONL/DOND fields (RFC 7798 §7.1: `sprop-max-don-diff` > 0), which
/// [`H265Depacketizer`] does not support; such a stream must not be fed to it.
pub fn h265_uses_donl(fmtp: &[(String, String)]) -> bool {
    fmtp_value(fmtp, "sprop-max-don-diff")
        .is_some_and(|v| !matches!(v.trim().parse::<u32>(), Ok(0)))
}

fn fmtp_value<'a>(fmtp: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fmtp.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Feeds arbitrary bytes, cut into pseudo-packets, through the depacketizer (fuzz target).
pub fn fuzz_depacketize(data: &[u8]) -> usize {
    H265Depacketizer::fuzz(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::h264::AccessUnit;
    use crate::rtp::RtpPacketInfo;

    const VPS: &[u8] = &[0x40, 0x01, 0x0c, 0x01, 0xff, 0xff];
    const SPS: &[u8] = &[0x42, 0x01, 0x01, 0x01, 0x60, 0x90];
    const PPS: &[u8] = &[0x44, 0x01, 0xc1, 0x72, 0xb4];

    /// A NAL unit of `nal_type` with TID 1 and `len` body bytes free of start-code patterns.
    fn nal(nal_type: u8, len: usize, tag: u8) -> Vec<u8> {
        let mut v = vec![nal_type << 1, 0x01];
        v.extend((0..len).map(|i| (i as u8) ^ tag | 1));
        v
    }

    fn idr(len: usize) -> Vec<u8> {
        nal(nal_type::IDR_W_RADL, len, 0x5a)
    }

    fn trail(len: usize) -> Vec<u8> {
        nal(1, len, 0x33)
    }

    type Packet = (RtpPacketInfo, Vec<u8>);

    /// RFC 7798 sender without DONL: single NAL unit packets, FUs for NAL units over the
    /// payload limit, marker on the last packet of each access unit.
    struct TestPacketizer {
        next_seq: u16,
        max_payload: usize,
    }

    impl TestPacketizer {
        fn new(initial_seq: u16, max_payload: usize) -> Self {
            Self {
                next_seq: initial_seq,
                max_payload,
            }
        }

        fn payloads(&self, nal_units: &[&[u8]]) -> Vec<Vec<u8>> {
            let mut payloads = Vec::new();
            for nal in nal_units {
                if nal.len() <= self.max_payload {
                    payloads.push(nal.to_vec());
                    continue;
                }
                let (header, body) = nal.split_at(2);
                let payload_header = [(header[0] & 0x81) | (nal_type::FU << 1), header[1]];
                let chunk = self.max_payload - 3;
                let count = body.len().div_ceil(chunk);
                for (i, part) in body.chunks(chunk).enumerate() {
                    let mut fu_header = (header[0] >> 1) & 0x3f;
                    if i == 0 {
                        fu_header |= 0x80;
                    }
                    if i + 1 == count {
                        fu_header |= 0x40;
                    }
                    let mut p = payload_header.to_vec();
                    p.push(fu_header);
                    p.extend_from_slice(part);
                    payloads.push(p);
                }
            }
            payloads
        }

        fn packets(&mut self, ts_in_90khz: u32, payloads: Vec<Vec<u8>>) -> Vec<Packet> {
            let last = payloads.len().saturating_sub(1);
            payloads
                .into_iter()
                .enumerate()
                .map(|(i, payload)| {
                    let info = RtpPacketInfo {
                        sequence_number: self.next_seq,
                        ts_in_clock_rate: ts_in_90khz,
                        ssrc: 7,
                        marker: i == last,
                        payload_type: 96,
                    };
                    self.next_seq = self.next_seq.wrapping_add(1);
                    (info, payload)
                })
                .collect()
        }

        fn packetize(&mut self, ts_in_90khz: u32, nal_units: &[&[u8]]) -> Vec<Packet> {
            let payloads = self.payloads(nal_units);
            self.packets(ts_in_90khz, payloads)
        }
    }

    fn aggregation_payload(nal_units: &[&[u8]]) -> Vec<u8> {
        // Payload header: F and LayerId 0, the lowest TID of the aggregated units (§4.4.2).
        let mut payload = vec![nal_type::AP << 1, 0x01];
        for nal in nal_units {
            payload.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            payload.extend_from_slice(nal);
        }
        payload
    }

    fn depacketize_all(packets: &[Packet]) -> (Vec<AccessUnit>, H265Depacketizer) {
        let mut d = H265Depacketizer::new();
        let mut out = Vec::new();
        for (info, payload) in packets {
            d.push(info, payload).unwrap();
            while let Some(au) = d.pull() {
                out.push(au);
            }
        }
        (out, d)
    }

    #[test]
    fn single_nal_unit_packets() {
        let mut pk = TestPacketizer::new(10, 1400);
        let slice = trail(40);
        let (aus, d) = depacketize_all(&pk.packetize(3000, &[VPS, SPS, PPS, &slice]));
        assert_eq!(aus.len(), 1);
        assert_eq!(aus[0].nal_units(), vec![VPS, SPS, PPS, slice.as_slice()]);
        assert_eq!(aus[0].ts_in_90khz, 3000);
        assert_eq!(aus[0].packets, 4);
        assert!(!aus[0].is_idr && !aus[0].loss);
        assert_eq!(d.packets_lost(), 0);
    }

    #[test]
    fn aggregation_packet_with_three_nal_units() {
        let mut pk = TestPacketizer::new(0, 1400);
        let slice = idr(100);
        let mut payloads = vec![aggregation_payload(&[VPS, SPS, PPS])];
        payloads.extend(pk.payloads(&[&slice]));
        let (aus, _) = depacketize_all(&pk.packets(0, payloads));
        assert_eq!(aus.len(), 1);
        assert_eq!(aus[0].nal_units(), vec![VPS, SPS, PPS, slice.as_slice()]);
        assert_eq!(aus[0].packets, 2);
        assert!(aus[0].is_idr);
    }

    #[test]
    fn fragmentation_unit_across_three_packets() {
        // LayerId 0, TID 3 in the header: the rebuilt header must keep it.
        let mut slice = idr(250);
        slice[1] = 0x03;
        let mut pk = TestPacketizer::new(500, 100);
        let packets = pk.packetize(9000, &[&slice]);
        assert_eq!(packets.len(), 3);
        assert_eq!(packets[0].1[2], 0x80 | nal_type::IDR_W_RADL, "start bit");
        assert_eq!(packets[2].1[2], 0x40 | nal_type::IDR_W_RADL, "end bit");
        let (aus, _) = depacketize_all(&packets);
        assert_eq!(aus.len(), 1);
        assert_eq!(aus[0].nal_units(), vec![slice.as_slice()]);
        assert!(aus[0].is_idr && !aus[0].loss);
        assert_eq!(aus[0].packets, 3);
    }

    #[test]
    fn lost_fu_middle_packet_marks_loss_and_emits_no_corrupt_nal() {
        let mut pk = TestPacketizer::new(100, 100);
        let (before, broken, after) = (trail(20), idr(250), trail(30));
        let mut packets = pk.packetize(0, &[&before, &broken, &after]);
        assert_eq!(packets.len(), 5);
        packets.remove(2); // The middle fragment of `broken`.
        packets.extend(pk.packetize(3000, &[&trail(10)]));
        let (aus, d) = depacketize_all(&packets);
        assert_eq!(d.packets_lost(), 1);
        assert_eq!(aus.len(), 2);
        assert_eq!(
            aus[0].nal_units(),
            vec![before.as_slice(), after.as_slice()]
        );
        assert!(aus[0].loss);
        assert!(!aus[0].is_idr, "the IRAP slice was dropped");
        assert!(!aus[1].loss);
    }

    #[test]
    fn fu_without_end_before_marker_marks_loss() {
        let mut pk = TestPacketizer::new(0, 100);
        let mut packets = pk.packetize(0, &[&trail(10), &idr(250)]);
        packets.remove(3); // The end fragment, which also carried the marker.
        packets.extend(pk.packetize(3000, &[&trail(10)]));
        let (aus, d) = depacketize_all(&packets);
        assert_eq!(d.packets_lost(), 1);
        assert_eq!(aus.len(), 2);
        assert_eq!(aus[0].nal_units().len(), 1);
        assert!(aus[0].loss && !aus[0].is_idr);
        assert!(!aus[1].loss);
    }

    #[test]
    fn sequence_wrap_is_not_loss() {
        let mut pk = TestPacketizer::new(65533, 100);
        let mut packets = pk.packetize(0, &[&idr(250)]);
        packets.extend(pk.packetize(3000, &[&trail(250)]));
        assert_eq!(packets[3].0.sequence_number, 0);
        let (aus, d) = depacketize_all(&packets);
        assert_eq!(aus.len(), 2);
        assert!(aus.iter().all(|au| !au.loss));
        assert_eq!(d.packets_lost(), 0);
    }

    #[test]
    fn timestamp_change_without_marker_closes_access_unit() {
        let mut pk = TestPacketizer::new(0, 1400);
        let mut packets = pk.packetize(0, &[&trail(10)]);
        packets.extend(pk.packetize(3000, &[&trail(11)]));
        packets[0].0.marker = false;
        let mut d = H265Depacketizer::new();
        d.push(&packets[0].0, &packets[0].1).unwrap();
        assert!(d.pull().is_none(), "no marker yet");
        d.push(&packets[1].0, &packets[1].1).unwrap();
        let first = d.pull().unwrap();
        assert_eq!(first.ts_in_90khz, 0);
        assert!(!first.loss);
        assert_eq!(d.pull().unwrap().ts_in_90khz, 3000);
    }

    #[test]
    fn irap_types_set_is_idr() {
        for t in 0..=40u8 {
            let mut pk = TestPacketizer::new(0, 1400);
            let (aus, _) = depacketize_all(&pk.packetize(0, &[&nal(t, 8, 1)]));
            assert_eq!(aus[0].is_idr, (16..=21).contains(&t), "type {t}");
        }
    }

    #[test]
    fn duplicate_and_late_packets_are_dropped() {
        let mut pk = TestPacketizer::new(0, 1400);
        let slice = trail(10);
        let mut packets = pk.packetize(0, &[VPS, &slice]);
        let dup = packets[0].clone();
        packets.insert(1, dup);
        let (aus, d) = depacketize_all(&packets);
        assert_eq!(aus[0].nal_units(), vec![VPS, slice.as_slice()]);
        assert_eq!(d.packets_lost(), 0);
    }

    #[test]
    fn truncated_aggregation_packet_is_an_error_and_marks_loss() {
        let mut pk = TestPacketizer::new(0, 1400);
        let mut ap = aggregation_payload(&[VPS, SPS]);
        ap.truncate(ap.len() - 2);
        let packets = pk.packets(0, vec![ap, trail(4)]);
        let mut d = H265Depacketizer::new();
        assert_eq!(
            d.push(&packets[0].0, &packets[0].1),
            Err(DepacketizeError::Truncated("AP"))
        );
        d.push(&packets[1].0, &packets[1].1).unwrap();
        assert!(d.pull().unwrap().loss);
    }

    #[test]
    fn short_payloads_are_errors() {
        let mut pk = TestPacketizer::new(0, 1400);
        let packets = pk.packets(0, vec![vec![], vec![0x02], vec![nal_type::FU << 1, 1]]);
        let mut d = H265Depacketizer::new();
        let errors: Vec<_> = packets
            .iter()
            .map(|(info, payload)| d.push(info, payload))
            .collect();
        assert_eq!(
            errors,
            vec![
                Err(DepacketizeError::Empty),
                Err(DepacketizeError::Truncated("payload header")),
                Err(DepacketizeError::Truncated("FU")),
            ]
        );
        assert!(d.pull().is_none());
    }

    #[test]
    fn paci_is_ignored() {
        let mut pk = TestPacketizer::new(0, 1400);
        let slice = trail(10);
        let paci = vec![nal_type::PACI << 1, 1, 0x02, 0x01, 0, 0xaa];
        let (aus, _) = depacketize_all(&pk.packets(0, vec![paci, slice.clone()]));
        assert_eq!(aus.len(), 1);
        assert_eq!(aus[0].nal_units(), vec![slice.as_slice()]);
        assert!(!aus[0].loss);
    }

    fn fmtp(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameter_sets_from_fmtp_vps_first() {
        let b64 = |nal: &[u8]| base64::engine::general_purpose::STANDARD.encode(nal);
        let sps2 = [0x42, 0x01, 0x02];
        let params = fmtp(&[
            ("profile-id", "1"),
            ("sprop-pps", &b64(PPS)),
            ("SPROP-SPS", &format!("{}, {}", b64(SPS), b64(&sps2))),
            ("sprop-vps", &format!("{},!!notbase64", b64(VPS))),
        ]);
        assert_eq!(
            h265_parameter_sets(&params),
            vec![VPS.to_vec(), SPS.to_vec(), sps2.to_vec(), PPS.to_vec()]
        );
        // Without padding, as some encoders write it.
        let unpadded = b64(PPS).trim_end_matches('=').to_string();
        assert_ne!(unpadded, b64(PPS));
        assert_eq!(
            h265_parameter_sets(&fmtp(&[("sprop-pps", &unpadded)])),
            vec![PPS.to_vec()]
        );
        assert!(h265_parameter_sets(&fmtp(&[("packetization-mode", "1")])).is_empty());
    }

    #[test]
    fn donl_is_detected_from_fmtp() {
        assert!(!h265_uses_donl(&fmtp(&[("sprop-vps", "QAE=")])));
        assert!(!h265_uses_donl(&fmtp(&[("sprop-max-don-diff", "0")])));
        assert!(h265_uses_donl(&fmtp(&[("sprop-max-don-diff", "2")])));
        assert!(h265_uses_donl(&fmtp(&[("sprop-max-don-diff", "junk")])));
    }

    #[test]
    fn garbage_payloads_never_panic() {
        let mut seed = 7u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) as u8
        };
        let mut d = H265Depacketizer::new();
        for n in 0..20_000u32 {
            let len = usize::from(next()) % 64;
            let mut payload: Vec<u8> = (0..len).map(|_| next()).collect();
            // Steer half the payloads to the AP/FU/PACI paths.
            if let (Some(b0), true) = (payload.first_mut(), n % 2 == 0) {
                *b0 = (*b0 & 0x81) | ((48 + next() % 3) << 1);
            }
            let info = RtpPacketInfo {
                sequence_number: (n as u16).wrapping_add(u16::from(next() % 3)),
                ts_in_clock_rate: n / 5,
                ssrc: 0,
                marker: next() % 4 == 0,
                payload_type: 96,
            };
            let _ = d.push(&info, &payload);
            while let Some(au) = d.pull() {
                assert!(au.data.starts_with(&crate::rtp::h264::START_CODE));
            }
        }
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
