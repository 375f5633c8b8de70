//! What the video depacketizers share: cutting a stream of RTP packets into pictures.
//!
//! [`Framing`] holds the rules every payload format follows (RFC 3550 with RFC 6184 §5.1,
//! RFC 7798 §4.1 and RFC 2435 §3.1): all packets of one picture carry its timestamp, the
//! marker bit is set on the last one, a new timestamp closes a picture whose marked packet
//! never came, and a gap in sequence numbers damages the picture it falls in (or, between
//! pictures, the next one). [`NalAssembler`] adds what H.264 and H.265 share on top: NAL units
//! in Annex B form, and fragmentation units rebuilt across packets.

use std::collections::VecDeque;
use std::marker::PhantomData;

use super::h264::{AccessUnit, DepacketizeError, START_CODE};
use super::{sequence_step, RtpPacketInfo, SeqStep};

/// A picture being assembled, as [`Framing`] sees it.
pub(crate) trait Picture {
    fn new(ts_in_90khz: u32) -> Self;
    fn ts_in_90khz(&self) -> u32;
    /// A packet of this picture is missing, or could not be used.
    fn mark_loss(&mut self);
}

/// What [`Framing::begin_packet`] says about a packet.
pub(crate) enum Begin<P> {
    /// Late or duplicate: it belongs to a picture already handed on. Drop it.
    Stale,
    Go {
        /// Packets are missing just before this one.
        gap: bool,
        /// The previous picture, closed by this packet's new timestamp.
        closed: Option<P>,
    },
}

/// Sequence numbers, timestamps and the marker bit: where pictures begin and end.
#[derive(Debug)]
pub(crate) struct Framing<P> {
    pending: Option<P>,
    last_seq: Option<u16>,
    /// Whether loss seen between pictures damages the next one: yes where pictures refer
    /// to earlier ones (H.264, H.265), no where each stands alone (JPEG).
    carries_loss: bool,
    /// Loss seen while no picture was pending; goes onto the next one.
    loss_carry: bool,
    /// Packets lost, counted from sequence number gaps.
    packets_lost: u64,
}

impl<P: Picture> Framing<P> {
    pub fn new(carries_loss: bool) -> Self {
        Self {
            pending: None,
            last_seq: None,
            carries_loss,
            loss_carry: false,
            packets_lost: 0,
        }
    }

    /// The first step for every packet, before its payload is read.
    pub fn begin_packet(&mut self, rtp: &RtpPacketInfo) -> Begin<P> {
        let gap = match sequence_step(&mut self.last_seq, rtp.sequence_number) {
            SeqStep::Next => false,
            SeqStep::Gap(missing) => {
                self.packets_lost += u64::from(missing);
                self.mark_loss();
                true
            }
            SeqStep::Stale => return Begin::Stale,
        };
        // A new timestamp without the marker on the previous picture (the marked packet was
        // lost, or the sender never sets it): the previous picture is complete.
        let closed = if self
            .pending
            .as_ref()
            .is_some_and(|p| p.ts_in_90khz() != rtp.ts_in_clock_rate)
        {
            self.pending.take()
        } else {
            None
        };
        Begin::Go { gap, closed }
    }

    /// The picture with timestamp `ts_in_90khz`, started if none is pending.
    pub fn pending_for(&mut self, ts_in_90khz: u32) -> &mut P {
        let carry = std::mem::take(&mut self.loss_carry);
        self.pending.get_or_insert_with(|| {
            let mut picture = P::new(ts_in_90khz);
            if carry {
                picture.mark_loss();
            }
            picture
        })
    }

    /// Damages the pending picture, or if none is pending and loss carries, the next one.
    pub fn mark_loss(&mut self) {
        match &mut self.pending {
            Some(p) => p.mark_loss(),
            None => self.loss_carry = self.carries_loss,
        }
    }

    /// A picture that ends up with nothing in it passes its loss on to the next one.
    pub fn carry_loss(&mut self) {
        self.loss_carry = self.carries_loss;
    }

    /// The pending picture, closed (after the packet with the marker bit).
    pub fn take(&mut self) -> Option<P> {
        self.pending.take()
    }

    pub fn packets_lost(&self) -> u64 {
        self.packets_lost
    }
}

/// A payload format of NAL units: how it marks random access, and how a payload becomes
/// NAL units (H.264: RFC 6184, H.265: RFC 7798).
pub trait NalFormat {
    fn is_random_access(nal: &[u8]) -> bool;
    /// Reads one packet's payload into `au`. An error drops only this packet.
    fn push_payload(au: &mut NalAssembler, ts: u32, payload: &[u8])
        -> Result<(), DepacketizeError>;
}

/// Reassembles RTP packets of a NAL-unit payload format into [`AccessUnit`]s.
#[derive(Debug)]
pub struct NalDepacketizer<F> {
    au: NalAssembler,
    format: PhantomData<F>,
}

impl<F: NalFormat> Default for NalDepacketizer<F> {
    fn default() -> Self {
        Self {
            au: NalAssembler::new(F::is_random_access),
            format: PhantomData,
        }
    }
}

impl<F: NalFormat> NalDepacketizer<F> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one RTP packet. Completed access units are then available from [`Self::pull`].
    /// An error drops only this packet (and marks the access unit as damaged).
    pub fn push(&mut self, rtp: &RtpPacketInfo, payload: &[u8]) -> Result<(), DepacketizeError> {
        if !self.au.begin_packet(rtp) {
            return Ok(());
        }
        let result = F::push_payload(&mut self.au, rtp.ts_in_clock_rate, payload);
        self.au.end_packet(rtp, result.is_err());
        result
    }

    /// The next completed access unit, oldest first.
    pub fn pull(&mut self) -> Option<AccessUnit> {
        self.au.pull()
    }

    /// Packets lost, counted from sequence number gaps.
    pub fn packets_lost(&self) -> u64 {
        self.au.packets_lost()
    }

    /// Feeds arbitrary bytes, cut into pseudo-packets at each 0xA5, through a depacketizer;
    /// returns the access units it made (the fuzz targets' body).
    pub fn fuzz(data: &[u8]) -> usize {
        let mut depacketizer = Self::new();
        let mut units = 0;
        for chunk in data.split(|&b| b == 0xA5) {
            if let Ok((info, payload)) = super::parse_rtp(chunk) {
                let _ = depacketizer.push(&info, payload);
            }
            while depacketizer.pull().is_some() {
                units += 1;
            }
        }
        units
    }
}

#[derive(Debug)]
pub(crate) struct PendingAccessUnit {
    ts_in_90khz: u32,
    data: Vec<u8>,
    is_idr: bool,
    loss: bool,
    packets: u32,
}

impl Picture for PendingAccessUnit {
    fn new(ts_in_90khz: u32) -> Self {
        Self {
            ts_in_90khz,
            data: Vec::new(),
            is_idr: false,
            loss: false,
            packets: 0,
        }
    }

    fn ts_in_90khz(&self) -> u32 {
        self.ts_in_90khz
    }

    fn mark_loss(&mut self) {
        self.loss = true;
    }
}

/// Access units of NAL units (H.264, H.265): single NAL units and aggregates are appended as
/// they come, fragmentation units are rebuilt first. The payload format's own parsing stays
/// with the depacketizer; this holds what it builds.
#[derive(Debug)]
pub struct NalAssembler {
    framing: Framing<PendingAccessUnit>,
    /// The NAL unit of a fragmentation unit in progress, its header rebuilt.
    fragment: Option<Vec<u8>>,
    ready: VecDeque<AccessUnit>,
    /// Whether a NAL unit starts a picture decoding can (re)start at (IDR, IRAP).
    is_random_access: fn(&[u8]) -> bool,
}

impl NalAssembler {
    pub fn new(is_random_access: fn(&[u8]) -> bool) -> Self {
        Self {
            framing: Framing::new(true),
            fragment: None,
            ready: VecDeque::new(),
            is_random_access,
        }
    }

    /// Starts on one packet; false for a late or duplicate one, which is to be dropped.
    pub fn begin_packet(&mut self, rtp: &RtpPacketInfo) -> bool {
        match self.framing.begin_packet(rtp) {
            Begin::Stale => false,
            Begin::Go { gap, closed } => {
                if gap {
                    // The fragments already collected miss a piece: never hand them on.
                    self.fragment = None;
                }
                if let Some(au) = closed {
                    self.finish(au);
                }
                self.framing.pending_for(rtp.ts_in_clock_rate).packets += 1;
                true
            }
        }
    }

    /// Ends a packet begun with [`Self::begin_packet`]: a payload that could not be read
    /// damages its access unit, and the marker bit closes it.
    pub fn end_packet(&mut self, rtp: &RtpPacketInfo, payload_failed: bool) {
        if payload_failed {
            self.framing.mark_loss();
        }
        if rtp.marker {
            if let Some(au) = self.framing.take() {
                self.finish(au);
            }
        }
    }

    /// Appends one whole NAL unit to the access unit with timestamp `ts_in_90khz`.
    pub fn append_nal(&mut self, ts_in_90khz: u32, nal: &[u8]) {
        if nal.is_empty() {
            return;
        }
        let is_random_access = (self.is_random_access)(nal);
        let au = self.framing.pending_for(ts_in_90khz);
        au.is_idr |= is_random_access;
        au.data.extend_from_slice(&START_CODE);
        au.data.extend_from_slice(nal);
    }

    /// Drops a fragmentation unit whose end never came: its NAL unit is lost.
    pub fn drop_fragment(&mut self) {
        if self.fragment.take().is_some() {
            self.framing.mark_loss();
        }
    }

    /// The first fragment of a NAL unit: `nal` holds its rebuilt header and first bytes.
    pub fn start_fragment(&mut self, nal: Vec<u8>) {
        // A new start before the previous end: the previous NAL unit is lost.
        self.drop_fragment();
        self.fragment = Some(nal);
    }

    /// A middle or end fragment; `end` completes the NAL unit and appends it.
    pub fn continue_fragment(&mut self, ts_in_90khz: u32, data: &[u8], end: bool) {
        let Some(nal) = &mut self.fragment else {
            // A fragment whose start we never saw: lost.
            self.framing.mark_loss();
            return;
        };
        nal.extend_from_slice(data);
        if end {
            self.end_fragment(ts_in_90khz);
        }
    }

    /// Appends the fragmented NAL unit in progress, now complete.
    pub fn end_fragment(&mut self, ts_in_90khz: u32) {
        if let Some(nal) = self.fragment.take() {
            self.append_nal(ts_in_90khz, &nal);
        }
    }

    /// The next completed access unit, oldest first.
    pub fn pull(&mut self) -> Option<AccessUnit> {
        self.ready.pop_front()
    }

    pub fn packets_lost(&self) -> u64 {
        self.framing.packets_lost()
    }

    fn finish(&mut self, au: PendingAccessUnit) {
        // An unfinished fragment belongs to the access unit being closed: it is lost.
        if self.fragment.take().is_some() {
            self.ready_or_carry(PendingAccessUnit { loss: true, ..au });
        } else {
            self.ready_or_carry(au);
        }
    }

    fn ready_or_carry(&mut self, au: PendingAccessUnit) {
        if au.data.is_empty() {
            if au.loss {
                self.framing.carry_loss();
            }
            return;
        }
        self.ready.push_back(AccessUnit {
            ts_in_90khz: au.ts_in_90khz,
            data: au.data,
            is_idr: au.is_idr,
            loss: au.loss,
            packets: au.packets,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Frame {
        ts: u32,
        damaged: bool,
    }

    impl Picture for Frame {
        fn new(ts_in_90khz: u32) -> Self {
            Self {
                ts: ts_in_90khz,
                damaged: false,
            }
        }

        fn ts_in_90khz(&self) -> u32 {
            self.ts
        }

        fn mark_loss(&mut self) {
            self.damaged = true;
        }
    }

    fn packet(seq: u16, ts: u32, marker: bool) -> RtpPacketInfo {
        RtpPacketInfo {
            sequence_number: seq,
            ts_in_clock_rate: ts,
            ssrc: 1,
            marker,
            payload_type: 96,
        }
    }

    /// Feeds one packet the way the depacketizers do; returns the pictures it closed.
    fn feed(f: &mut Framing<Frame>, rtp: &RtpPacketInfo) -> Vec<Frame> {
        let mut closed_pictures = Vec::new();
        match f.begin_packet(rtp) {
            Begin::Stale => return closed_pictures,
            Begin::Go { closed, .. } => closed_pictures.extend(closed),
        }
        f.pending_for(rtp.ts_in_clock_rate);
        if rtp.marker {
            closed_pictures.extend(f.take());
        }
        closed_pictures
    }

    #[test]
    fn a_whole_lost_picture_damages_the_next_only_where_loss_carries() {
        for carries in [true, false] {
            let mut f = Framing::new(carries);
            let first = feed(&mut f, &packet(10, 0, true));
            assert!(!first[0].damaged);
            // Packets 11 and 12 (the picture at 3000) never arrive.
            let next = feed(&mut f, &packet(13, 6000, true));
            assert_eq!(next.len(), 1);
            assert_eq!(next[0].damaged, carries, "carries_loss = {carries}");
            assert_eq!(f.packets_lost(), 2);
        }
    }

    #[test]
    fn a_gap_inside_a_picture_damages_it_and_a_new_timestamp_closes_it() {
        let mut f = Framing::new(false);
        assert!(feed(&mut f, &packet(65_535, 0, false)).is_empty());
        // 0 is lost; 1 is the unmarked end of the picture at 0 (the marked packet was lost).
        assert!(feed(&mut f, &packet(1, 0, false)).is_empty());
        let closed = feed(&mut f, &packet(2, 3000, false));
        assert_eq!(closed.len(), 1);
        assert_eq!((closed[0].ts, closed[0].damaged), (0, true));
        // A duplicate of a packet already handed on is stale and changes nothing.
        assert!(matches!(f.begin_packet(&packet(1, 0, false)), Begin::Stale));
        let last = feed(&mut f, &packet(3, 3000, true));
        assert_eq!((last[0].ts, last[0].damaged), (3000, false));
        assert_eq!(f.packets_lost(), 1);
    }
}
