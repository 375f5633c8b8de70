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
    /// Late or duplicate: older than what was already handed on (up to half the sequence
    /// space back, RFC 3550 §A.1's reasoning); the depacketizer drops it.
    Stale,
}

/// Steps `last` to `seq` unless the packet is stale; shared by every depacketizer, which
/// decides itself what a gap damages.
pub fn sequence_step(last: &mut Option<u16>, seq: u16) -> SeqStep {
    let Some(previous) = *last else {
        *last = Some(seq);
        return SeqStep::Next;
    };
    let gap = seq.wrapping_sub(previous.wrapping_add(1));
    if gap >= 0x8000 {
        return SeqStep::Stale;
    }
    *last = Some(seq);
    if gap == 0 {
        SeqStep::Next
    } else {
        SeqStep::Gap(gap)
    }
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

    #[test]
    fn sequence_steps_across_the_wrap_with_gaps_and_stale_packets() {
        let mut last = None;
        assert_eq!(sequence_step(&mut last, 65534), SeqStep::Next);
        assert_eq!(sequence_step(&mut last, 65535), SeqStep::Next);
        assert_eq!(
            sequence_step(&mut last, 0),
            SeqStep::Next,
            "wrap-around is not loss"
        );
        assert_eq!(sequence_step(&mut last, 3), SeqStep::Gap(2));
        assert_eq!(sequence_step(&mut last, 2), SeqStep::Stale);
        assert_eq!(sequence_step(&mut last, 3), SeqStep::Stale, "duplicate");
        assert_eq!(
            last,
            Some(3),
            "a stale packet does not move the sequence back"
        );
        assert_eq!(sequence_step(&mut last, 4), SeqStep::Next);
    }
}
