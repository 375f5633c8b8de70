//! What the H.264 and H.265 depacketizers share, sans-I/O: packets into access units (a change
//! of RTP timestamp or the marker bit closes one), loss flags from sequence gaps, and the one
//! fragmented NAL unit in progress. Each codec module reads its own payload structures (STAP-A
//! and FU-A, AP and FU) and hands whole NAL units and fragments to a [`NalAssembler`].

use std::collections::VecDeque;

use super::h264::{AccessUnit, DepacketizeError, START_CODE};
use super::{RtpPacketInfo, SeqStep, SeqTracker};

/// A NAL-unit codec's RTP payload format.
pub trait NalFormat {
    /// What a fragmented NAL unit that lost a packet is worth to the decoder.
    const TRUNCATED: TruncatedFragment;
    /// Whether decoding can (re)start at this NAL unit.
    fn is_keyframe(nal: &[u8]) -> bool;
    /// One packet's payload into calls of [`NalAssembler::push_nal`] and the fragment methods.
    fn read_payload(
        assembler: &mut NalAssembler,
        ts_in_90khz: u32,
        payload: &[u8],
    ) -> Result<(), DepacketizeError>;
}

/// The largest access unit gathered: a 4K keyframe at a high bitrate is a few MiB. A server
/// that never ends a picture (no marker bit, one timestamp for ever) would otherwise grow one
/// without bound.
pub const MAX_ACCESS_UNIT_LEN: usize = 32 << 20;

/// Reassembles RTP packets of format `F` into [`AccessUnit`]s.
#[derive(Debug)]
pub struct NalDepacketizer<F> {
    assembler: NalAssembler,
    format: std::marker::PhantomData<F>,
}

impl<F: NalFormat> Default for NalDepacketizer<F> {
    fn default() -> Self {
        Self {
            assembler: NalAssembler::new(F::is_keyframe, F::TRUNCATED),
            format: std::marker::PhantomData,
        }
    }
}

impl<F: NalFormat> NalDepacketizer<F> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Packets lost, counted from sequence number gaps.
    pub fn packets_lost(&self) -> u64 {
        self.assembler.packets_lost()
    }

    /// Feeds one RTP packet. Completed access units are then available from [`Self::pull`].
    /// An error drops only this packet (and marks the access unit as damaged).
    pub fn push(&mut self, rtp: &RtpPacketInfo, payload: &[u8]) -> Result<(), DepacketizeError> {
        self.assembler.push(rtp, payload, F::read_payload)
    }

    /// The next completed access unit, oldest first.
    pub fn pull(&mut self) -> Option<AccessUnit> {
        self.assembler.pull()
    }

    /// Feeds arbitrary bytes, cut into pseudo-packets at each 0xA5, through a depacketizer;
    /// returns the access units it made (the fuzz targets' body).
    pub fn fuzz(data: &[u8]) -> usize {
        let mut depacketizer = Self::new();
        super::fuzz_packets(data, |info, payload| {
            let _ = depacketizer.push(info, payload);
            std::iter::from_fn(|| depacketizer.pull()).count()
        })
    }
}

/// What a fragmented NAL unit that lost a packet becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruncatedFragment {
    /// Its bytes before the gap are handed on: the decoder decodes them and conceals the rest
    /// (FFmpeg's H.264 decoder does). A keyframe then still starts decoding.
    Keep,
    /// Dropped: the decoder would show the missing part as garbage (FFmpeg's HEVC decoder
    /// leaves it green, and later pictures copy it).
    Drop,
}

#[derive(Debug, Default)]
struct PendingAccessUnit {
    ts_in_90khz: u32,
    data: Vec<u8>,
    is_idr: bool,
    loss: bool,
    packets: u32,
}

/// Builds access units from the NAL units and fragments a [`NalFormat`] reads from packets.
#[derive(Debug)]
pub struct NalAssembler {
    is_keyframe: fn(&[u8]) -> bool,
    truncated: TruncatedFragment,
    pending: Option<PendingAccessUnit>,
    /// Where the fragmentation unit in progress starts (its start code) in the pending access
    /// unit's data: fragments are gathered in place, not copied twice.
    fragment: Option<usize>,
    /// The size of the last access unit, to size the next one's buffer up front.
    last_len: usize,
    seq: SeqTracker,
    /// Loss seen while no access unit was pending; goes onto the next one.
    loss_carry: bool,
    ready: VecDeque<AccessUnit>,
    /// Packets lost, counted from sequence number gaps.
    packets_lost: u64,
}

impl NalAssembler {
    fn new(is_keyframe: fn(&[u8]) -> bool, truncated: TruncatedFragment) -> Self {
        Self {
            is_keyframe,
            truncated,
            pending: None,
            fragment: None,
            last_len: 0,
            seq: SeqTracker::default(),
            loss_carry: false,
            ready: VecDeque::new(),
            packets_lost: 0,
        }
    }

    fn packets_lost(&self) -> u64 {
        self.packets_lost
    }

    fn pull(&mut self) -> Option<AccessUnit> {
        self.ready.pop_front()
    }

    /// Feeds one RTP packet, whose payload `read_payload` (the codec's) turns into calls of
    /// [`Self::push_nal`] and the fragment methods, given the picture's timestamp. An error
    /// drops only this packet and marks its access unit as damaged.
    fn push(
        &mut self,
        rtp: &RtpPacketInfo,
        payload: &[u8],
        read_payload: impl FnOnce(&mut Self, u32, &[u8]) -> Result<(), DepacketizeError>,
    ) -> Result<(), DepacketizeError> {
        if !self.begin_packet(rtp) {
            return Ok(());
        }
        let result = read_payload(self, rtp.ts_in_clock_rate, payload);
        self.end_packet(rtp, result.is_ok());
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.data.len() > MAX_ACCESS_UNIT_LEN)
        {
            self.pending = None;
            self.fragment = None;
            self.loss_carry = true;
            return Err(DepacketizeError::TooLarge(MAX_ACCESS_UNIT_LEN));
        }
        result
    }

    /// Before a packet's payload: the sequence check (a gap marks loss and ends the fragment
    /// in progress) and the timestamp boundary. False for a late or duplicate packet, which
    /// belongs to data already handed on and is skipped.
    fn begin_packet(&mut self, rtp: &RtpPacketInfo) -> bool {
        match self.seq.step(rtp) {
            SeqStep::Next => {}
            step @ (SeqStep::Gap(_) | SeqStep::Restart) => {
                self.packets_lost += u64::from(step.missing());
                self.mark_loss();
                self.end_truncated_fragment();
            }
            SeqStep::Stale => return false,
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.ts_in_90khz != rtp.ts_in_clock_rate)
        {
            // New timestamp without the marker on the previous picture (the marked packet
            // was lost, or the camera never sets it): the previous picture is complete.
            self.finish_pending();
        }
        self.pending_for(rtp.ts_in_clock_rate).packets += 1;
        true
    }

    /// After a packet's payload: a payload that could not be read damages its access unit,
    /// and the marker bit closes it.
    fn end_packet(&mut self, rtp: &RtpPacketInfo, payload_ok: bool) {
        if !payload_ok {
            self.mark_loss();
        }
        if rtp.marker {
            self.finish_pending();
        }
    }

    /// Marks the pending access unit (or the next one) as damaged.
    pub fn mark_loss(&mut self) {
        match &mut self.pending {
            Some(p) => p.loss = true,
            None => self.loss_carry = true,
        }
    }

    /// A whole NAL unit of the picture at `ts_in_90khz`. A fragment in progress ends here.
    pub fn push_nal(&mut self, ts_in_90khz: u32, nal: &[u8]) {
        self.end_truncated_fragment();
        self.append_nal(ts_in_90khz, nal);
    }

    /// The first fragment of a NAL unit: `header` is its rebuilt NAL unit header.
    pub fn start_fragment(&mut self, ts_in_90khz: u32, header: &[u8]) {
        // A new start before the previous end: the previous NAL unit lost its end.
        self.end_truncated_fragment();
        let au = self.pending_for(ts_in_90khz);
        let start = au.data.len();
        au.data.extend_from_slice(&START_CODE);
        au.data.extend_from_slice(header);
        self.fragment = Some(start);
    }

    /// Fragment data; `end` completes the NAL unit. A fragment whose start never came cannot
    /// be used: it only marks loss.
    pub fn continue_fragment(&mut self, data: &[u8], end: bool) {
        let (Some(start), Some(au)) = (self.fragment, self.pending.as_mut()) else {
            self.fragment = None;
            self.mark_loss();
            return;
        };
        au.data.extend_from_slice(data);
        if end {
            self.fragment = None;
            self.complete_nal_at(start);
        }
    }

    /// A fragment in progress that will never get its end: lost, and kept or dropped as the
    /// codec says (see [`TruncatedFragment`]).
    fn end_truncated_fragment(&mut self) {
        let Some(start) = self.fragment.take() else {
            return;
        };
        self.mark_loss();
        match self.truncated {
            TruncatedFragment::Keep => self.complete_nal_at(start),
            TruncatedFragment::Drop => {
                if let Some(au) = &mut self.pending {
                    au.data.truncate(start);
                }
            }
        }
    }

    /// The NAL unit whose start code is at `start` in the pending data is complete.
    fn complete_nal_at(&mut self, start: usize) {
        let is_keyframe = self.is_keyframe;
        if let Some(au) = &mut self.pending {
            let nal = au.data.get(start + START_CODE.len()..).unwrap_or_default();
            au.is_idr |= is_keyframe(nal);
        }
    }

    fn pending_for(&mut self, ts_in_90khz: u32) -> &mut PendingAccessUnit {
        let carry = std::mem::take(&mut self.loss_carry);
        let capacity = self.last_len;
        self.pending.get_or_insert_with(|| PendingAccessUnit {
            ts_in_90khz,
            data: Vec::with_capacity(capacity),
            loss: carry,
            ..Default::default()
        })
    }

    fn append_nal(&mut self, ts_in_90khz: u32, nal: &[u8]) {
        if nal.is_empty() {
            return;
        }
        let is_keyframe = (self.is_keyframe)(nal);
        let au = self.pending_for(ts_in_90khz);
        au.is_idr |= is_keyframe;
        au.data.extend_from_slice(&START_CODE);
        au.data.extend_from_slice(nal);
    }

    fn finish_pending(&mut self) {
        // An unfinished fragment belongs to the picture being closed: its end is lost.
        self.end_truncated_fragment();
        if let Some(p) = self.pending.take() {
            if p.data.is_empty() {
                self.loss_carry |= p.loss;
                return;
            }
            // A little more than the last one: pictures of a stream are of similar size, and a
            // keyframe grows the buffer once.
            self.last_len = p.data.len() + p.data.len() / 4;
            self.ready.push_back(AccessUnit {
                ts_in_90khz: p.ts_in_90khz,
                data: p.data,
                is_idr: p.is_idr,
                loss: p.loss,
                packets: p.packets,
            });
        }
    }
}
