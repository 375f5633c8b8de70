//! RTP (RFC 3550) packet handling shared by the client and the demo server. Packet parsing and
//! building are `rtp-types`; this module holds the payload formats.

pub mod audio;
pub mod h264;
pub mod h265;
pub mod jpeg;
pub mod nal;
pub mod reorder;
pub mod rtcp;

/// What a packet's sequence number says about the packets before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqStep {
    /// The next packet (or the first one).
    Next,
    /// This many packets are missing before this one.
    Gap(u16),
    /// The numbering started over: a new SSRC (the server set the stream up anew, e.g. when
    /// `auto` moves a session from UDP to TCP), or a jump back that the next packet confirmed
    /// (RFC 3550 §A.1). What came before is cut off, by an unknown number of packets.
    Restart,
    /// Late or duplicate: older than what was already handed on (up to half the sequence
    /// space back, RFC 3550 §A.1's reasoning); the depacketizer drops it.
    Stale,
}

impl SeqStep {
    /// Packets known to be missing: those of a gap (a restart's are unknown).
    pub fn missing(self) -> u16 {
        match self {
            SeqStep::Gap(missing) => missing,
            SeqStep::Next | SeqStep::Restart | SeqStep::Stale => 0,
        }
    }
}

/// RFC 3550 §A.1's MAX_MISORDER: a packet this far back or further is not merely late (A.1:
/// `udelta <= RTP_SEQ_MOD - MAX_MISORDER`); if the next packet follows on from it, the source
/// has started its numbering over. Shared by the depacketizers, the receiver statistics and
/// the reorder buffer.
pub(crate) const MAX_MISORDER: u16 = 100;

/// The sequence position every depacketizer keeps; each decides itself what a gap damages.
#[derive(Debug, Default, Clone)]
pub struct SeqTracker {
    /// SSRC and sequence number of the last packet handed on.
    last: Option<(u32, u16)>,
    /// After a packet far behind: the number that, arriving next, confirms a restart.
    restart_at: Option<u16>,
}

impl SeqTracker {
    /// Steps to `rtp`'s sequence number unless the packet is stale.
    pub fn step(&mut self, rtp: &RtpPacketInfo) -> SeqStep {
        let (ssrc, seq) = (rtp.ssrc, rtp.sequence_number);
        let Some((last_ssrc, previous)) = self.last else {
            self.last = Some((ssrc, seq));
            return SeqStep::Next;
        };
        if ssrc != last_ssrc || self.restart_at == Some(seq) {
            self.last = Some((ssrc, seq));
            self.restart_at = None;
            return SeqStep::Restart;
        }
        let gap = seq.wrapping_sub(previous.wrapping_add(1));
        if gap >= 0x8000 {
            if previous.wrapping_sub(seq) >= MAX_MISORDER {
                self.restart_at = Some(seq.wrapping_add(1));
            }
            return SeqStep::Stale;
        }
        self.restart_at = None;
        self.last = Some((ssrc, seq));
        if gap == 0 {
            SeqStep::Next
        } else {
            SeqStep::Gap(gap)
        }
    }
}

/// Whether a packet that came on an RTP port or channel is RTCP: its second byte is an RTCP
/// packet type (SR 200 … APP 204), which reads as RTP payload type 72–76 with the marker bit.
/// RFC 3551 §6 keeps those payload types free so RTCP can share the RTP port (RFC 5761 §4);
/// taken as RTP, a sender report would count as a packet of a bogus SSRC.
pub fn is_rtcp_on_rtp_port(data: &[u8]) -> bool {
    data.get(1)
        .is_some_and(|&byte| (72..=76).contains(&(byte & 0x7f)))
}

/// The parts of an RTP packet the depacketizers need, detached from the receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacketInfo {
    pub sequence_number: u16,
    pub ts_in_clock_rate: u32,
    pub ssrc: u32,
    pub marker: bool,
    pub payload_type: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RtpError {
    #[error("not an RTP packet ({0})")]
    Malformed(String),
}

/// Parses an RTP packet into its header fields and payload slice.
pub fn parse_rtp(data: &[u8]) -> Result<(RtpPacketInfo, &[u8]), RtpError> {
    let packet =
        rtp_types::RtpPacket::parse(data).map_err(|e| RtpError::Malformed(format!("{e:?}")))?;
    let info = RtpPacketInfo {
        sequence_number: packet.sequence_number(),
        ts_in_clock_rate: packet.timestamp(),
        ssrc: packet.ssrc(),
        marker: packet.marker_bit(),
        payload_type: packet.payload_type(),
    };
    let offset = packet.payload_offset();
    let payload = data
        .get(offset..offset + packet.payload_len())
        .ok_or_else(|| RtpError::Malformed("payload out of bounds".into()))?;
    Ok((info, payload))
}

/// The fuzz targets' packet stream, shared by every depacketizer: `data` cut at each 0xA5 byte
/// into RTP packets; each one that parses goes to `feed`, which pushes it and returns how many
/// outputs it then pulled. Returns the total (so the work cannot be optimised away).
pub fn fuzz_packets(data: &[u8], mut feed: impl FnMut(&RtpPacketInfo, &[u8]) -> usize) -> usize {
    data.split(|&b| b == 0xA5)
        .filter_map(|chunk| parse_rtp(chunk).ok())
        .map(|(info, payload)| feed(&info, payload))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(ssrc: u32, seq: u16) -> RtpPacketInfo {
        RtpPacketInfo {
            sequence_number: seq,
            ts_in_clock_rate: 0,
            ssrc,
            marker: false,
            payload_type: 96,
        }
    }

    #[test]
    fn sequence_steps_across_the_wrap_with_gaps_and_stale_packets() {
        let mut seq = SeqTracker::default();
        let mut step = |n| seq.step(&packet(7, n));
        assert_eq!(step(65534), SeqStep::Next);
        assert_eq!(step(65535), SeqStep::Next);
        assert_eq!(step(0), SeqStep::Next, "wrap-around is not loss");
        assert_eq!(step(3), SeqStep::Gap(2));
        assert_eq!(step(2), SeqStep::Stale);
        assert_eq!(step(3), SeqStep::Stale, "duplicate");
        assert_eq!(
            step(4),
            SeqStep::Next,
            "a stale packet does not move the sequence back"
        );
        assert_eq!(SeqStep::Gap(2).missing() + SeqStep::Restart.missing(), 2);
    }

    #[test]
    fn a_new_ssrc_starts_the_numbering_over() {
        let mut seq = SeqTracker::default();
        assert_eq!(seq.step(&packet(7, 40_000)), SeqStep::Next);
        // The same session set up anew (UDP → TCP): new SSRC, numbering behind the old one,
        // which would otherwise make every packet "stale" for up to 32768 packets.
        assert_eq!(seq.step(&packet(9, 1_000)), SeqStep::Restart);
        assert_eq!(seq.step(&packet(9, 1_001)), SeqStep::Next);
        assert_eq!(seq.step(&packet(7, 40_001)), SeqStep::Restart, "and back");
    }

    /// RFC 3550 A.1: exactly MAX_MISORDER behind is far enough to start a restart; one less
    /// is merely late.
    #[test]
    fn exactly_max_misorder_behind_can_start_a_restart() {
        let mut seq = SeqTracker::default();
        assert_eq!(seq.step(&packet(7, 5_000)), SeqStep::Next);
        assert_eq!(seq.step(&packet(7, 4_900)), SeqStep::Stale);
        assert_eq!(seq.step(&packet(7, 4_901)), SeqStep::Restart);
        let mut seq = SeqTracker::default();
        assert_eq!(seq.step(&packet(7, 5_000)), SeqStep::Next);
        assert_eq!(seq.step(&packet(7, 4_901)), SeqStep::Stale);
        assert_eq!(seq.step(&packet(7, 4_902)), SeqStep::Stale);
    }

    #[test]
    fn rtcp_on_the_rtp_port_is_told_from_rtp() {
        // A sender report (RTCP type 200) and a BYE (203).
        assert!(is_rtcp_on_rtp_port(&[0x80, 200, 0, 6]));
        assert!(is_rtcp_on_rtp_port(&[0x81, 203, 0, 1]));
        // Payload types around the range, with and without the marker bit, are RTP.
        for byte in [96u8, 96 | 0x80, 71 | 0x80, 77 | 0x80, 0, 0x80] {
            assert!(!is_rtcp_on_rtp_port(&[0x80, byte]), "{byte}");
        }
        assert!(!is_rtcp_on_rtp_port(&[0x80]));
    }

    #[test]
    fn a_jump_back_is_a_restart_once_the_next_packet_follows_it() {
        let mut seq = SeqTracker::default();
        assert_eq!(seq.step(&packet(7, 5_000)), SeqStep::Next);
        // Far behind: dropped, but remembered (RFC 3550 §A.1's bad_seq).
        assert_eq!(seq.step(&packet(7, 10)), SeqStep::Stale);
        assert_eq!(seq.step(&packet(7, 11)), SeqStep::Restart);
        assert_eq!(seq.step(&packet(7, 12)), SeqStep::Next);
        // A stray old packet followed by the sequence going on is no restart.
        assert_eq!(seq.step(&packet(7, 3)), SeqStep::Stale);
        assert_eq!(seq.step(&packet(7, 13)), SeqStep::Next);
        assert_eq!(seq.step(&packet(7, 4)), SeqStep::Stale);
        // Merely late (within MAX_MISORDER): dropped, never a restart.
        assert_eq!(seq.step(&packet(7, 14)), SeqStep::Next);
        assert_eq!(seq.step(&packet(7, 12)), SeqStep::Stale);
        assert_eq!(seq.step(&packet(7, 13)), SeqStep::Stale);
        assert_eq!(seq.step(&packet(7, 15)), SeqStep::Next);
    }
}
