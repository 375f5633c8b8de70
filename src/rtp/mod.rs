//! RTP (RFC 3550) packet handling shared by the client and the demo server. Packet parsing and
//! building are `rtp-types`; this module holds the payload formats.

pub mod audio;
pub mod h264;
pub mod h265;
pub mod jpeg;
pub mod reorder;
pub mod rtcp;

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
