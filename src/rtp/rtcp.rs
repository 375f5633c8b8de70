//! RTCP (RFC 3550 §6) for a receiver, sans-I/O: per-source receive statistics (sequence
//! validation, loss and interarrival jitter, Appendix A.1, A.3 and A.8), parsing of the compound
//! packets a camera sends, and building the RR + SDES packet we send back.
//!
//! Time is always passed in as an [`Instant`], never read, so the numbers are reproducible in
//! tests. The parser and the writer are hand-written: SR, RR, SDES and BYE are a few fixed
//! fields, and this way every failure carries the byte offset it happened at and the writer
//! cannot fail. The tests check both against the `rtcp-types` crate.

use std::time::{Duration, Instant};

use super::MAX_MISORDER;

/// RFC 3550 A.1: packets in a row needed before a new source counts as valid.
const MIN_SEQUENTIAL: u8 = 2;
/// RFC 3550 A.1: the largest forward sequence jump still taken as loss rather than a restart.
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: the number of distinct sequence numbers.
const RTP_SEQ_MOD: u32 = 1 << 16;

/// RTCP packet types (RFC 3550 §12.1).
const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
const PT_BYE: u8 = 203;
/// SDES item type of the canonical name (RFC 3550 §6.5.1).
const SDES_CNAME: u8 = 1;
/// An RR or SR holds at most this many report blocks (the 5-bit count field).
const MAX_BLOCKS_PER_PACKET: usize = 31;
/// The cumulative-lost field is a 24-bit signed integer (RFC 3550 §6.4.1).
const CUMULATIVE_LOST_MAX: i64 = 0x7f_ffff;
const CUMULATIVE_LOST_MIN: i64 = -0x80_0000;

/// What [`ReceiverStats::on_rtp`] made of a packet. Every verdict but [`PacketVerdict::SeqJump`]
/// and [`PacketVerdict::Probation`] means the packet was counted as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketVerdict {
    /// The next packet, or one further ahead (the packets in between count as lost for now).
    InOrder,
    /// Behind the highest sequence number and not seen before: it fills an earlier gap.
    Reordered,
    /// A sequence number already received.
    Duplicate,
    /// The source is not valid yet (A.1 probation), or the packet is of another SSRC that is
    /// on probation to replace the current source; not counted.
    Probation,
    /// A jump of more than `MAX_DROPOUT` ahead or `MAX_MISORDER` behind; not counted. If the
    /// next packet follows it, the source restarts there.
    SeqJump,
    /// Counting starts over at this packet: a new SSRC that this packet brought through
    /// probation, or a sequence jump confirmed by the packet after it (A.1 `bad_seq`).
    Restart,
}

/// The sender-info part of a sender report (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    pub ssrc: u32,
    /// NTP timestamp, 32.32 fixed point seconds since 1900.
    pub ntp_timestamp: u64,
    /// The RTP timestamp of the same instant as `ntp_timestamp`.
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

/// One report block of an RR or SR (RFC 3550 §6.4.1), in wire units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Packets lost in the interval since the previous report, out of 256.
    pub fraction_lost: u8,
    /// Packets lost since the source started; a 24-bit signed value (negative with duplicates).
    pub cumulative_lost: i32,
    /// Cycles of the sequence number in the high 16 bits, the highest sequence number below.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR, 0 if none.
    pub last_sr: u32,
    /// Time from receiving that SR to this report in 1/65536 s, 0 if none.
    pub delay_since_last_sr: u32,
}

/// The last sender report of a source, as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastSenderReport {
    pub ssrc: u32,
    /// 32.32 fixed point NTP time.
    pub ntp_timestamp: u64,
    pub rtp_timestamp: u32,
    pub arrival: Instant,
}

/// Plain-data view of [`ReceiverStats`] for display.
///
/// The RFC counters (`packets_*`, `fraction_lost_cumulative`, `ext_highest_seq`, `jitter`)
/// start over when the source restarts; `reordered`, `duplicates`, `seq_jumps`, `restarts` and
/// `bytes_received` never go back, so a rate is their difference over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceiverSnapshot {
    /// The current source, `None` before the first packet.
    pub ssrc: Option<u32>,
    /// Whether the source passed probation; until then the packet counters are 0.
    pub valid: bool,
    pub packets_expected: u64,
    /// Counted packets, duplicates included (as RFC 3550 A.3 counts them).
    pub packets_received: u64,
    /// Expected minus received; negative when duplicates outnumber losses.
    pub packets_lost: i64,
    /// `packets_lost / packets_expected`, clamped to 0..=1.
    pub fraction_lost_cumulative: f64,
    /// The fraction lost of the last report interval (see [`ReceiverStats::report_block`]), 0..=1.
    pub last_fraction_lost: f64,
    /// Packets expected and lost (negative with duplicates) in that interval.
    pub last_interval_expected: u64,
    pub last_interval_lost: i64,
    /// Interarrival jitter in timestamp units.
    pub jitter: f64,
    pub jitter_ms: f64,
    pub ext_highest_seq: u32,
    pub reordered: u64,
    pub duplicates: u64,
    pub seq_jumps: u64,
    pub restarts: u64,
    /// RTP payload bytes of every packet given to [`ReceiverStats::on_rtp`].
    pub bytes_received: u64,
    /// The last sender report of the current source: after an SSRC change, a report of the
    /// old source maps the new source's RTP timestamps to the wrong wallclock.
    pub last_sr: Option<LastSenderReport>,
}

/// RFC 3550 A.1 `source`, plus the A.8 jitter state, for one SSRC.
#[derive(Debug, Clone)]
struct Source {
    ssrc: u32,
    max_seq: u16,
    /// Wraps of the sequence number so far (A.1 keeps it shifted by 16; we shift when reporting).
    cycles: u64,
    base_seq: u16,
    /// The sequence number that would confirm a jump (A.1 `bad_seq`).
    bad_seq: Option<u16>,
    probation: u8,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Bit `k` is set when `max_seq - k` was received; tells duplicates from reordered packets.
    seen: u128,
    /// Arrival and RTP timestamp of the previous counted packet, for A.8.
    prev_arrival: Option<(Instant, u32)>,
    /// A.8 `J`, in timestamp units.
    jitter: f64,
    last_fraction_lost: u8,
    /// Expected and lost packets of the last report interval.
    last_interval: (u64, i64),
}

impl Source {
    /// A.1: a new source starts on probation, as if `seq - 1` had been its last packet.
    fn new(ssrc: u32, seq: u16) -> Self {
        let mut source = Self {
            ssrc,
            max_seq: seq,
            cycles: 0,
            base_seq: seq,
            bad_seq: None,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            seen: 1,
            prev_arrival: None,
            jitter: 0.0,
            last_fraction_lost: 0,
            last_interval: (0, 0),
        };
        source.init_seq(seq);
        source.max_seq = seq.wrapping_sub(1);
        source
    }

    /// A.1 `init_seq`. The previous arrival is dropped too: across a jump the RTP timestamps
    /// are unrelated, and one bogus transit difference would dominate the jitter for a while.
    fn init_seq(&mut self, seq: u16) {
        self.base_seq = seq;
        self.max_seq = seq;
        self.bad_seq = None;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
        self.seen = 1;
        self.prev_arrival = None;
    }

    /// A.1 `update_seq`, also telling reordered packets from duplicates.
    fn update_seq(&mut self, seq: u16) -> PacketVerdict {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return PacketVerdict::InOrder;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return PacketVerdict::Probation;
        }
        let verdict = if udelta == 0 {
            // A.1 takes this branch as "in order"; it is the newest packet again.
            PacketVerdict::Duplicate
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += 1;
            }
            self.seen = self.seen.checked_shl(u32::from(udelta)).unwrap_or(0) | 1;
            self.max_seq = seq;
            PacketVerdict::InOrder
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            // MAX_MISORDER or more behind (A.1 compares the same way).
            if self.bad_seq == Some(seq) {
                // Two packets in a row after the jump: the sender restarted its numbering.
                self.init_seq(seq);
                PacketVerdict::Restart
            } else {
                self.bad_seq = Some(seq.wrapping_add(1));
                return PacketVerdict::SeqJump;
            }
        } else {
            // 1..MAX_MISORDER behind the highest sequence number.
            let bit = 1u128 << self.max_seq.wrapping_sub(seq);
            if self.seen & bit != 0 {
                PacketVerdict::Duplicate
            } else {
                self.seen |= bit;
                PacketVerdict::Reordered
            }
        };
        self.received += 1;
        verdict
    }

    /// A.8: `D(i-1,i) = (Rj - Ri) - (Sj - Si)` with arrival times in timestamp units, then
    /// `J += (|D| - J) / 16`, for each counted packet in arrival order.
    fn update_jitter(&mut self, rtp_ts: u32, arrival: Instant, clock_rate: u32) {
        if let Some((prev_arrival, prev_ts)) = self.prev_arrival {
            let arrival_delta = signed_ticks(arrival, prev_arrival, clock_rate);
            // Signed, so a timestamp that wrapped past 2^32 is a small step.
            let ts_delta = f64::from(rtp_ts.wrapping_sub(prev_ts) as i32);
            let d = arrival_delta - ts_delta;
            self.jitter += (d.abs() - self.jitter) / 16.0;
        }
        self.prev_arrival = Some((arrival, rtp_ts));
    }

    fn ext_max(&self) -> u64 {
        (self.cycles << 16) + u64::from(self.max_seq)
    }

    /// A.3 `expected`. `ext_max` never goes below `base_seq`: both start equal and only
    /// `ext_max` moves, forward.
    fn expected(&self) -> u64 {
        (self.ext_max() + 1).saturating_sub(u64::from(self.base_seq))
    }

    fn lost(&self) -> i64 {
        i64::try_from(self.expected()).unwrap_or(i64::MAX)
            - i64::try_from(self.received).unwrap_or(i64::MAX)
    }
}

/// `(later - earlier)` in units of `clock_rate`, negative if `later` is before `earlier`.
fn signed_ticks(later: Instant, earlier: Instant, clock_rate: u32) -> f64 {
    let ticks = |d: Duration| (d.as_nanos() * u128::from(clock_rate)) as f64 / 1e9;
    match later.checked_duration_since(earlier) {
        Some(d) => ticks(d),
        None => -ticks(earlier.saturating_duration_since(later)),
    }
}

/// Per-source receive statistics, RFC 3550 Appendix A.1 (sequence validation with probation,
/// cycles, `bad_seq` resync), A.3 (loss) and A.8 (interarrival jitter), for one RTP stream.
/// Time is passed in, never read.
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    clock_rate: u32,
    source: Option<Source>,
    /// Another SSRC on probation to replace `source` (A.1: `MIN_SEQUENTIAL` packets in
    /// sequence); dropped when a packet of `source` comes first.
    candidate: Option<Source>,
    last_sr: Option<LastSenderReport>,
    reordered: u64,
    duplicates: u64,
    seq_jumps: u64,
    restarts: u64,
    bytes_received: u64,
}

impl ReceiverStats {
    /// `clock_rate` is the RTP timestamp rate of the stream (90 000 for video).
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            source: None,
            candidate: None,
            last_sr: None,
            reordered: 0,
            duplicates: 0,
            seq_jumps: 0,
            restarts: 0,
            bytes_received: 0,
        }
    }

    /// Call for every RTP packet in arrival order (before any reordering); returns what the
    /// packet was. A new SSRC (RFC 3550 §8.2 allows a sender to change it) replaces a valid
    /// source only once it passed probation (A.1: `MIN_SEQUENTIAL` packets in sequence);
    /// meanwhile the current source goes on being counted, so a stray packet of another SSRC
    /// changes nothing.
    pub fn on_rtp(
        &mut self,
        ssrc: u32,
        seq: u16,
        rtp_ts: u32,
        payload_len: usize,
        arrival: Instant,
    ) -> PacketVerdict {
        self.bytes_received = self
            .bytes_received
            .saturating_add(u64::try_from(payload_len).unwrap_or(u64::MAX));
        let source = match &mut self.source {
            Some(source) if source.ssrc == ssrc => source,
            Some(source) if source.probation == 0 => {
                return self.on_rtp_of_candidate(ssrc, seq, rtp_ts, arrival);
            }
            other => {
                // No source yet, or one that never became valid: nothing counted to keep.
                let mut source = Source::new(ssrc, seq);
                source.update_seq(seq);
                *other = Some(source);
                return PacketVerdict::Probation;
            }
        };
        self.candidate = None;
        let verdict = source.update_seq(seq);
        match verdict {
            PacketVerdict::Probation => return verdict,
            PacketVerdict::SeqJump => {
                self.seq_jumps += 1;
                return verdict;
            }
            PacketVerdict::Reordered => self.reordered += 1,
            PacketVerdict::Duplicate => self.duplicates += 1,
            PacketVerdict::Restart => self.restarts += 1,
            PacketVerdict::InOrder => {}
        }
        source.update_jitter(rtp_ts, arrival, self.clock_rate);
        verdict
    }

    /// A packet of an SSRC other than the valid current source: probation of the candidate,
    /// which replaces the source when it passes.
    fn on_rtp_of_candidate(
        &mut self,
        ssrc: u32,
        seq: u16,
        rtp_ts: u32,
        arrival: Instant,
    ) -> PacketVerdict {
        let candidate = match &mut self.candidate {
            Some(candidate) if candidate.ssrc == ssrc => candidate,
            other => {
                let mut candidate = Source::new(ssrc, seq);
                candidate.update_seq(seq);
                *other = Some(candidate);
                return PacketVerdict::Probation;
            }
        };
        if candidate.update_seq(seq) == PacketVerdict::Probation {
            return PacketVerdict::Probation;
        }
        // Passed probation, and this packet is counted as its first.
        let Some(mut source) = self.candidate.take() else {
            return PacketVerdict::Probation;
        };
        source.update_jitter(rtp_ts, arrival, self.clock_rate);
        self.source = Some(source);
        self.restarts += 1;
        PacketVerdict::Restart
    }

    /// Keeps the sender report for the LSR/DLSR fields of our next report and for
    /// [`Self::ntp_from_rtp`]. It applies to the source whose SSRC it carries.
    pub fn on_sender_report(&mut self, sr: &SenderInfo, arrival: Instant) {
        self.last_sr = Some(LastSenderReport {
            ssrc: sr.ssrc,
            ntp_timestamp: sr.ntp_timestamp,
            rtp_timestamp: sr.rtp_timestamp,
            arrival,
        });
    }

    /// The report block for the interval since the previous call (RFC 3550 A.3, §6.4.1), and
    /// starts a new interval. `None` until the source is valid.
    pub fn report_block(&mut self, now: Instant) -> Option<ReportBlock> {
        let last_sr = self.last_sr_of_source();
        let source = self.source.as_mut().filter(|s| s.probation == 0)?;
        let expected = source.expected();
        let expected_interval = expected.saturating_sub(source.expected_prior);
        let received_interval = source.received.saturating_sub(source.received_prior);
        source.expected_prior = expected;
        source.received_prior = source.received;
        let lost_interval = i128::from(expected_interval) - i128::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            // lost_interval <= expected_interval, so this is at most 256; 256 itself would
            // mean "all lost", which cannot happen once a packet was received.
            u8::try_from((lost_interval << 8) / i128::from(expected_interval)).unwrap_or(u8::MAX)
        };
        source.last_fraction_lost = fraction_lost;
        source.last_interval = (
            expected_interval,
            i64::try_from(lost_interval).unwrap_or(i64::MAX),
        );
        let cumulative_lost = source
            .lost()
            .clamp(CUMULATIVE_LOST_MIN, CUMULATIVE_LOST_MAX) as i32;
        let (last_sr, delay_since_last_sr) = match last_sr {
            Some(sr) => {
                let delay = now.saturating_duration_since(sr.arrival);
                let in_65536ths = delay.as_nanos() * 65536 / 1_000_000_000;
                (
                    (sr.ntp_timestamp >> 16) as u32,
                    u32::try_from(in_65536ths).unwrap_or(u32::MAX),
                )
            }
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc: source.ssrc,
            fraction_lost,
            cumulative_lost,
            // The wire field is 32 bits: after 65536 wraps it wraps too.
            extended_highest_seq: source.ext_max() as u32,
            jitter: source.jitter as u32,
            last_sr,
            delay_since_last_sr,
        })
    }

    pub fn snapshot(&self) -> ReceiverSnapshot {
        let valid = self.source.as_ref().is_some_and(|s| s.probation == 0);
        let counted = self.source.as_ref().filter(|_| valid);
        let packets_expected = counted.map_or(0, Source::expected);
        let packets_lost = counted.map_or(0, Source::lost);
        let jitter = self.source.as_ref().map_or(0.0, |s| s.jitter);
        ReceiverSnapshot {
            ssrc: self.source.as_ref().map(|s| s.ssrc),
            valid,
            packets_expected,
            packets_received: counted.map_or(0, |s| s.received),
            packets_lost,
            fraction_lost_cumulative: if packets_expected == 0 {
                0.0
            } else {
                (packets_lost as f64 / packets_expected as f64).clamp(0.0, 1.0)
            },
            last_fraction_lost: f64::from(counted.map_or(0, |s| s.last_fraction_lost)) / 256.0,
            last_interval_expected: counted.map_or(0, |s| s.last_interval.0),
            last_interval_lost: counted.map_or(0, |s| s.last_interval.1),
            jitter,
            jitter_ms: if self.clock_rate == 0 {
                0.0
            } else {
                jitter * 1000.0 / f64::from(self.clock_rate)
            },
            ext_highest_seq: counted.map_or(0, |s| s.ext_max() as u32),
            reordered: self.reordered,
            duplicates: self.duplicates,
            seq_jumps: self.seq_jumps,
            restarts: self.restarts,
            bytes_received: self.bytes_received,
            last_sr: self.last_sr_of_source(),
        }
    }

    /// The NTP time (32.32 fixed point) of an RTP timestamp of the current source, from the
    /// mapping in its last sender report. `None` without such a report. The RTP timestamp is
    /// taken as the nearer of the two directions from the report's, so it is valid within
    /// ±2^31 ticks (6.6 hours at 90 kHz); the result is truncated to the NTP resolution.
    pub fn ntp_from_rtp(&self, rtp_ts: u32) -> Option<u64> {
        let sr = self.last_sr_of_source()?;
        if self.clock_rate == 0 {
            return None;
        }
        let ticks = i128::from(rtp_ts.wrapping_sub(sr.rtp_timestamp) as i32);
        let ntp_delta = (ticks << 32) / i128::from(self.clock_rate);
        u64::try_from(i128::from(sr.ntp_timestamp) + ntp_delta).ok()
    }

    /// The last SR, if it came from the current source.
    fn last_sr_of_source(&self) -> Option<LastSenderReport> {
        let ssrc = self.source.as_ref()?.ssrc;
        self.last_sr.filter(|sr| sr.ssrc == ssrc)
    }
}

/// One packet of a compound RTCP packet, as far as a receiver cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpItem {
    /// The sender info of an SR; its report blocks are about streams we send, so not kept.
    SenderReport(SenderInfo),
    ReceiverReport {
        ssrc: u32,
        blocks: Vec<ReportBlock>,
    },
    /// One item per SSRC named in a BYE packet.
    Bye(u32),
    /// SDES, APP, feedback and any other type, skipped.
    Other {
        packet_type: u8,
    },
}

/// Why an RTCP packet could not be parsed. Offsets count from the start of the datagram (or
/// interleaved frame), so the packet can be found in a capture.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RtcpError {
    #[error("empty RTCP packet")]
    Empty,
    #[error("RTCP packet at byte {offset}: version {version}, expected 2")]
    UnsupportedVersion { offset: usize, version: u8 },
    #[error("RTCP packet at byte {offset}: needs {needed} bytes, {available} left")]
    Truncated {
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("RTCP packet at byte {offset}: padding of {padding} bytes does not fit")]
    InvalidPadding { offset: usize, padding: u8 },
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

fn read_u64(data: &[u8], at: usize) -> Option<u64> {
    let bytes = data.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Parses a report block (RFC 3550 §6.4.1) at `at`.
fn read_report_block(data: &[u8], at: usize) -> Option<ReportBlock> {
    let lost_word = read_u32(data, at + 4)?;
    Some(ReportBlock {
        ssrc: read_u32(data, at)?,
        fraction_lost: (lost_word >> 24) as u8,
        // Sign-extend the 24-bit field.
        cumulative_lost: ((lost_word << 8) as i32) >> 8,
        extended_highest_seq: read_u32(data, at + 8)?,
        jitter: read_u32(data, at + 12)?,
        last_sr: read_u32(data, at + 16)?,
        delay_since_last_sr: read_u32(data, at + 20)?,
    })
}

/// Parses one RTCP packet whose padding is already removed; `offset` is only for errors.
fn parse_packet(
    packet: &[u8],
    packet_type: u8,
    count: usize,
    offset: usize,
) -> Result<Vec<RtcpItem>, RtcpError> {
    let truncated = |needed: usize| RtcpError::Truncated {
        offset,
        needed,
        available: packet.len(),
    };
    match packet_type {
        PT_SR => {
            let needed = 28 + 24 * count;
            let read = || {
                Some(SenderInfo {
                    ssrc: read_u32(packet, 4)?,
                    ntp_timestamp: read_u64(packet, 8)?,
                    rtp_timestamp: read_u32(packet, 16)?,
                    packet_count: read_u32(packet, 20)?,
                    octet_count: read_u32(packet, 24)?,
                })
            };
            match read() {
                Some(info) if packet.len() >= needed => Ok(vec![RtcpItem::SenderReport(info)]),
                _ => Err(truncated(needed)),
            }
        }
        PT_RR => {
            let needed = 8 + 24 * count;
            let ssrc = read_u32(packet, 4).ok_or_else(|| truncated(needed))?;
            let blocks = (0..count)
                .map(|i| read_report_block(packet, 8 + 24 * i))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| truncated(needed))?;
            Ok(vec![RtcpItem::ReceiverReport { ssrc, blocks }])
        }
        PT_BYE => (0..count)
            .map(|i| read_u32(packet, 4 + 4 * i).map(RtcpItem::Bye))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| truncated(4 + 4 * count)),
        _ => Ok(vec![RtcpItem::Other { packet_type }]),
    }
}

/// Parses a (compound) RTCP packet (RFC 3550 §6.1) into its sender reports, receiver reports
/// and BYEs; other packet types become [`RtcpItem::Other`]. Never panics. All or nothing: see
/// [`parse_rtcp_items`] for the items before an error.
///
/// Laxer than the RFC's validity check (A.2) where cameras are sloppy and nothing is lost by
/// it: the first packet need not be an SR or RR, and padding is accepted on any packet.
pub fn parse_rtcp(data: &[u8]) -> Result<Vec<RtcpItem>, RtcpError> {
    match parse_rtcp_items(data) {
        (items, None) => Ok(items),
        (_, Some(error)) => Err(error),
    }
}

/// Like [`parse_rtcp`], but keeps the items of the packets before the first error, with that
/// error: a valid sender report followed by a damaged SDES still gives its NTP↔RTP mapping.
pub fn parse_rtcp_items(data: &[u8]) -> (Vec<RtcpItem>, Option<RtcpError>) {
    let mut items = Vec::new();
    let error = parse_rtcp_into(data, &mut items).err();
    (items, error)
}

/// The parser of [`parse_rtcp_items`]: appends the items of each packet until one fails.
fn parse_rtcp_into(data: &[u8], items: &mut Vec<RtcpItem>) -> Result<(), RtcpError> {
    if data.is_empty() {
        return Err(RtcpError::Empty);
    }
    let mut offset = 0;
    while offset < data.len() {
        let rest = data.get(offset..).unwrap_or_default();
        let header = read_u32(rest, 0).ok_or(RtcpError::Truncated {
            offset,
            needed: 4,
            available: rest.len(),
        })?;
        let version = (header >> 30) as u8;
        if version != 2 {
            return Err(RtcpError::UnsupportedVersion { offset, version });
        }
        let has_padding = header & (1 << 29) != 0;
        let count = ((header >> 24) & 0x1f) as usize;
        let packet_type = (header >> 16) as u8;
        // The length field counts 32-bit words minus one, header included.
        let len = ((header & 0xffff) as usize + 1) * 4;
        let packet = rest.get(..len).ok_or(RtcpError::Truncated {
            offset,
            needed: len,
            available: rest.len(),
        })?;
        let packet = if has_padding {
            // RFC 3550 §6.4.1: the last octet counts the padding octets, itself included.
            let padding = packet.last().copied().unwrap_or(0);
            let unpadded = len
                .checked_sub(usize::from(padding))
                .filter(|&n| padding > 0 && n >= 4)
                .ok_or(RtcpError::InvalidPadding { offset, padding })?;
            packet.get(..unpadded).unwrap_or_default()
        } else {
            packet
        };
        items.extend(parse_packet(packet, packet_type, count, offset)?);
        offset += len;
    }
    Ok(())
}

fn push_header(out: &mut Vec<u8>, count: usize, packet_type: u8, len_in_bytes: usize) {
    out.push(0x80 | (count as u8 & 0x1f));
    out.push(packet_type);
    out.extend_from_slice(&((len_in_bytes / 4 - 1) as u16).to_be_bytes());
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a character boundary.
fn truncate_at_char(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// A compound RR + SDES(CNAME) packet as RFC 3550 §6.1 requires: RR first, even with no report
/// blocks. More than 31 blocks go into further RR packets. A CNAME longer than an SDES item
/// allows (255 bytes) is cut at a character boundary.
pub fn build_receiver_report(our_ssrc: u32, cname: &str, blocks: &[ReportBlock]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 24 * blocks.len() + 12 + cname.len());
    let mut chunks: Vec<&[ReportBlock]> = blocks.chunks(MAX_BLOCKS_PER_PACKET).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    for chunk in chunks {
        push_header(&mut out, chunk.len(), PT_RR, 8 + 24 * chunk.len());
        out.extend_from_slice(&our_ssrc.to_be_bytes());
        for block in chunk {
            let lost = (block.cumulative_lost as u32) & 0xff_ffff;
            out.extend_from_slice(&block.ssrc.to_be_bytes());
            out.extend_from_slice(&((u32::from(block.fraction_lost) << 24) | lost).to_be_bytes());
            out.extend_from_slice(&block.extended_highest_seq.to_be_bytes());
            out.extend_from_slice(&block.jitter.to_be_bytes());
            out.extend_from_slice(&block.last_sr.to_be_bytes());
            out.extend_from_slice(&block.delay_since_last_sr.to_be_bytes());
        }
    }
    // SDES with one chunk: SSRC, the CNAME item, then at least one null octet ending the item
    // list, padded with nulls to a 32-bit boundary (RFC 3550 §6.5).
    let cname = truncate_at_char(cname, usize::from(u8::MAX));
    let chunk_len = (4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    push_header(&mut out, 1, PT_SDES, 4 + chunk_len);
    out.extend_from_slice(&our_ssrc.to_be_bytes());
    out.push(SDES_CNAME);
    out.push(cname.len() as u8);
    out.extend_from_slice(cname.as_bytes());
    out.resize(out.len() + chunk_len - 4 - 2 - cname.len(), 0);
    out
}

/// The compound packet a receiver sends when it leaves (RFC 3550 §6.3.7): the receiver report
/// and SDES of [`build_receiver_report`], then a BYE of our SSRC.
pub fn build_goodbye(our_ssrc: u32, cname: &str, blocks: &[ReportBlock]) -> Vec<u8> {
    let mut out = build_receiver_report(our_ssrc, cname, blocks);
    push_header(&mut out, 1, PT_BYE, 8);
    out.extend_from_slice(&our_ssrc.to_be_bytes());
    out
}

/// Drives RTCP parsing over arbitrary bytes for the fuzz target (the items before an error
/// too, as the client takes them), and checks that every receiver report parsed survives a
/// build/parse round trip. Returns the number of items.
pub fn fuzz_parse(data: &[u8]) -> usize {
    let (items, _) = parse_rtcp_items(data);
    let mut stats = ReceiverStats::new(90_000);
    let now = Instant::now();
    for item in &items {
        match item {
            RtcpItem::SenderReport(info) => {
                stats.on_sender_report(info, now);
                stats.on_rtp(info.ssrc, 0, info.rtp_timestamp, 0, now);
                let _ = stats.ntp_from_rtp(info.rtp_timestamp.wrapping_add(1));
            }
            RtcpItem::ReceiverReport { ssrc, blocks } => {
                let rebuilt = parse_rtcp(&build_receiver_report(*ssrc, "fuzz", blocks));
                let first = rebuilt.ok().and_then(|items| items.into_iter().next());
                // A parsed RR holds at most 31 blocks, so it rebuilds into one RR packet.
                assert!(
                    first.as_ref() == Some(item),
                    "RR round trip changed {item:?} into {first:?}"
                );
            }
            RtcpItem::Bye(_) | RtcpItem::Other { .. } => {}
        }
    }
    items.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtcp_types::{RtcpPacketParser, RtcpPacketWriterExt};

    const CLOCK: u32 = 90_000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds `seqs` as packets 3000 ticks and 33 ms apart; returns the verdicts.
    fn feed(stats: &mut ReceiverStats, t0: Instant, ssrc: u32, seqs: &[u16]) -> Vec<PacketVerdict> {
        seqs.iter()
            .enumerate()
            .map(|(i, &seq)| {
                let i = i as u32;
                stats.on_rtp(ssrc, seq, 3000 * i, 100, t0 + ms(33 * u64::from(i)))
            })
            .collect()
    }

    #[test]
    fn jitter_matches_rfc_formula() {
        let t0 = Instant::now();
        // 90 kHz, one packet every 3000 ticks; arrival offsets in ms (1 ms = 90 ticks exactly).
        let arrivals_ms: [u64; 8] = [0, 35, 66, 100, 140, 166, 199, 240];
        let mut stats = ReceiverStats::new(CLOCK);
        for (i, &a) in (0u16..).zip(&arrivals_ms) {
            stats.on_rtp(7, 1000 + i, 5000 + 3000 * u32::from(i), 1000, t0 + ms(a));
        }
        // Packet 0 is probation (not counted); the source becomes valid at packet 1, so the
        // first difference is between packets 1 and 2.
        let mut j = 0.0f64;
        for w in arrivals_ms[1..].windows(2) {
            let d = (w[1] as f64 - w[0] as f64) * 90.0 - 3000.0;
            j += (d.abs() - j) / 16.0;
        }
        let snap = stats.snapshot();
        assert!((snap.jitter - j).abs() < 1e-9, "{} vs {j}", snap.jitter);
        assert!((snap.jitter_ms - j / 90.0).abs() < 1e-9);
        let block = stats.report_block(t0 + ms(300)).expect("valid source");
        assert_eq!(block.jitter, j as u32);
        assert!(
            j > 100.0,
            "the pattern should give a visible jitter, got {j}"
        );
    }

    #[test]
    fn jitter_handles_rtp_timestamp_wrap() {
        let t0 = Instant::now();
        let mut stats = ReceiverStats::new(CLOCK);
        for i in 0..10u32 {
            let ts = (u32::MAX - 10_000).wrapping_add(3000 * i);
            stats.on_rtp(
                1,
                i as u16,
                ts,
                10,
                t0 + Duration::from_nanos(u64::from(i) * 33_333_333),
            );
        }
        assert!(stats.snapshot().jitter < 1.0);
    }

    #[test]
    fn sequence_wrap_is_not_loss() {
        let mut stats = ReceiverStats::new(CLOCK);
        let seqs: Vec<u16> = (0..10u16).map(|i| 65530u16.wrapping_add(i)).collect();
        let verdicts = feed(&mut stats, Instant::now(), 1, &seqs);
        assert_eq!(verdicts[0], PacketVerdict::Probation);
        assert!(verdicts[1..].iter().all(|v| *v == PacketVerdict::InOrder));
        let snap = stats.snapshot();
        assert_eq!(snap.packets_expected, 9);
        assert_eq!(snap.packets_received, 9);
        assert_eq!(snap.packets_lost, 0);
        assert_eq!(snap.ext_highest_seq, 0x1_0003);
    }

    #[test]
    fn reordered_packets_are_not_lost() {
        let mut stats = ReceiverStats::new(CLOCK);
        let verdicts = feed(&mut stats, Instant::now(), 1, &[10, 11, 13, 12, 14, 16, 15]);
        assert_eq!(verdicts[3], PacketVerdict::Reordered);
        assert_eq!(verdicts[6], PacketVerdict::Reordered);
        let snap = stats.snapshot();
        assert_eq!(snap.reordered, 2);
        assert_eq!(snap.packets_lost, 0);
        assert_eq!(snap.packets_expected, 6);
        assert_eq!(snap.ext_highest_seq, 16);
    }

    #[test]
    fn duplicates_are_counted() {
        let mut stats = ReceiverStats::new(CLOCK);
        let verdicts = feed(&mut stats, Instant::now(), 1, &[10, 11, 12, 12, 13, 11]);
        assert_eq!(verdicts[3], PacketVerdict::Duplicate);
        assert_eq!(verdicts[5], PacketVerdict::Duplicate);
        let snap = stats.snapshot();
        assert_eq!(snap.duplicates, 2);
        assert_eq!(snap.packets_expected, 3);
        // RFC 3550 A.3 counts duplicates as received, so loss goes negative.
        assert_eq!(snap.packets_received, 5);
        assert_eq!(snap.packets_lost, -2);
        assert_eq!(snap.fraction_lost_cumulative, 0.0);
        let block = stats.report_block(Instant::now()).expect("valid");
        assert_eq!(block.cumulative_lost, -2);
        assert_eq!(block.fraction_lost, 0);
    }

    #[test]
    fn ssrc_change_restarts_the_source_after_probation() {
        let t0 = Instant::now();
        let mut stats = ReceiverStats::new(CLOCK);
        feed(&mut stats, t0, 1, &[100, 101, 102, 110]);
        assert_eq!(stats.snapshot().packets_lost, 7);
        assert_eq!(
            stats.on_rtp(2, 5000, 0, 10, t0 + ms(200)),
            PacketVerdict::Probation
        );
        // Still the old source until the new one passed probation.
        let snap = stats.snapshot();
        assert_eq!((snap.ssrc, snap.valid, snap.restarts), (Some(1), true, 0));
        assert_eq!(snap.packets_lost, 7);
        assert_eq!(
            stats.on_rtp(2, 5001, 3000, 10, t0 + ms(233)),
            PacketVerdict::Restart
        );
        let snap = stats.snapshot();
        assert_eq!((snap.ssrc, snap.valid, snap.restarts), (Some(2), true, 1));
        assert_eq!((snap.packets_expected, snap.packets_lost), (1, 0));
        assert_eq!(snap.jitter, 0.0);
        assert_eq!(
            stats.on_rtp(2, 5002, 6000, 10, t0 + ms(266)),
            PacketVerdict::InOrder
        );
        assert_eq!(stats.snapshot().packets_expected, 2);
    }

    /// RFC 3550 A.1: one packet of another SSRC is not a new source; the current one goes on
    /// being counted, without a restart (before, it was two: to SSRC 2 and back).
    #[test]
    fn a_stray_packet_of_another_ssrc_changes_nothing() {
        let t0 = Instant::now();
        let mut stats = ReceiverStats::new(CLOCK);
        let seqs: Vec<u16> = (10..=20).collect();
        feed(&mut stats, t0, 1, &seqs);
        assert_eq!(
            stats.on_rtp(2, 40_000, 0, 10, t0 + ms(400)),
            PacketVerdict::Probation
        );
        let verdicts = feed(
            &mut stats,
            t0 + ms(500),
            1,
            &(21..=30).collect::<Vec<u16>>(),
        );
        assert!(verdicts.iter().all(|v| *v == PacketVerdict::InOrder));
        let snap = stats.snapshot();
        // 10 was probation; 11..=30 counted.
        assert_eq!(snap.ssrc, Some(1));
        assert_eq!(
            (
                snap.packets_expected,
                snap.packets_received,
                snap.packets_lost
            ),
            (20, 20, 0)
        );
        assert_eq!(snap.restarts, 0);
        // A packet of the candidate SSRC after the current source went on starts probation
        // over: the stray and this one are not "in a row".
        assert_eq!(
            stats.on_rtp(2, 40_001, 0, 10, t0 + ms(900)),
            PacketVerdict::Probation
        );
        assert_eq!(stats.snapshot().ssrc, Some(1));
    }

    #[test]
    fn large_jump_resyncs_after_two_sequential_packets() {
        let mut stats = ReceiverStats::new(CLOCK);
        let verdicts = feed(
            &mut stats,
            Instant::now(),
            1,
            &[10, 11, 12, 40000, 40001, 40002],
        );
        assert_eq!(
            verdicts[3..],
            [
                PacketVerdict::SeqJump,
                PacketVerdict::Restart,
                PacketVerdict::InOrder
            ]
        );
        let snap = stats.snapshot();
        assert_eq!(snap.seq_jumps, 1);
        assert_eq!(snap.restarts, 1);
        assert_eq!((snap.packets_expected, snap.packets_lost), (2, 0));
        assert_eq!(snap.ext_highest_seq, 40002);
    }

    #[test]
    fn lone_jump_is_ignored() {
        let mut stats = ReceiverStats::new(CLOCK);
        let verdicts = feed(&mut stats, Instant::now(), 1, &[10, 11, 12, 40000, 13, 14]);
        assert_eq!(verdicts[3], PacketVerdict::SeqJump);
        assert_eq!(
            verdicts[4..],
            [PacketVerdict::InOrder, PacketVerdict::InOrder]
        );
        let snap = stats.snapshot();
        assert_eq!((snap.packets_expected, snap.packets_lost), (4, 0));
        // Far behind is a jump too, not a reordered packet.
        assert_eq!(
            stats.on_rtp(1, 14u16.wrapping_sub(200), 0, 1, Instant::now()),
            PacketVerdict::SeqJump
        );
    }

    /// RFC 3550 A.1: `udelta <= RTP_SEQ_MOD - MAX_MISORDER` is a jump, so exactly 100 behind
    /// is one and 99 behind is a reordered packet.
    #[test]
    fn exactly_max_misorder_behind_is_a_jump() {
        let mut stats = ReceiverStats::new(CLOCK);
        let verdicts = feed(&mut stats, Instant::now(), 1, &[0, 1, 200, 101, 100, 102]);
        assert_eq!(
            verdicts[3..],
            [
                PacketVerdict::Reordered,
                PacketVerdict::SeqJump,
                PacketVerdict::Reordered
            ]
        );
        let snap = stats.snapshot();
        assert_eq!((snap.reordered, snap.seq_jumps, snap.restarts), (2, 1, 0));
    }

    #[test]
    fn fraction_lost_of_an_interval() {
        let t0 = Instant::now();
        let mut stats = ReceiverStats::new(CLOCK);
        // Probation packet, then 100 expected (1000..=1099) of which 5 are missing.
        let missing = [1010, 1020, 1030, 1040, 1050];
        let mut seqs = vec![999u16];
        seqs.extend((1000..1100).filter(|s| !missing.contains(s)));
        feed(&mut stats, t0, 1, &seqs);
        let block = stats.report_block(t0 + ms(5000)).expect("valid");
        assert_eq!(block.fraction_lost, 12); // (5 << 8) / 100
        assert_eq!(block.cumulative_lost, 5);
        assert_eq!(block.extended_highest_seq, 1099);
        assert!((stats.snapshot().last_fraction_lost - 12.0 / 256.0).abs() < 1e-12);
        assert!((stats.snapshot().fraction_lost_cumulative - 0.05).abs() < 1e-12);
        let snap = stats.snapshot();
        assert_eq!(
            (snap.last_interval_expected, snap.last_interval_lost),
            (100, 5)
        );

        // Next interval: 1100..=1149 with none missing.
        let next: Vec<u16> = (1100..1150).collect();
        for (i, &seq) in next.iter().enumerate() {
            stats.on_rtp(1, seq, 0, 1, t0 + ms(6000 + i as u64));
        }
        let block = stats.report_block(t0 + ms(7000)).expect("valid");
        assert_eq!(block.fraction_lost, 0);
        assert_eq!(block.cumulative_lost, 5);
        let snap = stats.snapshot();
        assert_eq!(
            (snap.last_interval_expected, snap.last_interval_lost),
            (50, 0)
        );
    }

    #[test]
    fn cumulative_lost_is_clamped_to_24_bits() {
        let t0 = Instant::now();
        let mut stats = ReceiverStats::new(CLOCK);
        feed(&mut stats, t0, 1, &[0, 1]);
        // Skip ahead in steps of 2999 for 3000 packets: ~9 million lost.
        let mut seq = 1u16;
        for i in 0..3000 {
            seq = seq.wrapping_add(2999);
            stats.on_rtp(1, seq, 0, 1, t0 + ms(i));
        }
        assert!(stats.snapshot().packets_lost > 0x7f_ffff);
        let block = stats.report_block(t0).expect("valid");
        assert_eq!(block.cumulative_lost, 0x7f_ffff);
        let parsed = parse_rtcp(&build_receiver_report(1, "x", &[block])).expect("parses");
        assert!(
            matches!(&parsed[0], RtcpItem::ReceiverReport { blocks, .. } if blocks[0] == block)
        );
    }

    #[test]
    fn lsr_and_dlsr() {
        let t0 = Instant::now();
        let mut stats = ReceiverStats::new(CLOCK);
        feed(&mut stats, t0, 0x1234, &[1, 2, 3]);
        let sr = SenderInfo {
            ssrc: 0x1234,
            ntp_timestamp: 0xaabb_ccdd_eeff_0011,
            rtp_timestamp: 90_000,
            packet_count: 3,
            octet_count: 300,
        };
        stats.on_sender_report(&sr, t0 + ms(1000));
        let block = stats.report_block(t0 + ms(1000) + ms(1500)).expect("valid");
        assert_eq!(block.last_sr, 0xccdd_eeff);
        assert_eq!(block.delay_since_last_sr, 98_304); // 1.5 s * 65536
                                                       // A report from another SSRC does not apply to this source.
        stats.on_sender_report(&SenderInfo { ssrc: 9, ..sr }, t0);
        let block = stats.report_block(t0 + ms(3000)).expect("valid");
        assert_eq!((block.last_sr, block.delay_since_last_sr), (0, 0));
        assert_eq!(stats.ntp_from_rtp(0), None);
    }

    #[test]
    fn snapshot_keeps_no_sender_report_of_a_previous_source() {
        let t0 = Instant::now();
        let mut stats = ReceiverStats::new(CLOCK);
        feed(&mut stats, t0, 1, &[10, 11, 12]);
        let sr = SenderInfo {
            ssrc: 1,
            ntp_timestamp: 3_900_000_000u64 << 32,
            rtp_timestamp: 6000,
            packet_count: 3,
            octet_count: 300,
        };
        stats.on_sender_report(&sr, t0 + ms(100));
        assert_eq!(stats.snapshot().last_sr.map(|sr| sr.ssrc), Some(1));
        feed(&mut stats, t0 + ms(200), 2, &[500, 501, 502]);
        assert_eq!(stats.snapshot().ssrc, Some(2));
        assert_eq!(stats.snapshot().last_sr, None);
    }

    #[test]
    fn ntp_from_rtp_uses_the_last_sr() {
        let t0 = Instant::now();
        let mut stats = ReceiverStats::new(CLOCK);
        assert_eq!(stats.ntp_from_rtp(0), None);
        feed(&mut stats, t0, 5, &[1, 2]);
        let ntp = 3_900_000_000u64 << 32;
        let sr = SenderInfo {
            ssrc: 5,
            ntp_timestamp: ntp,
            rtp_timestamp: u32::MAX - 44_999,
            packet_count: 0,
            octet_count: 0,
        };
        stats.on_sender_report(&sr, t0);
        // Half a second later, across the RTP timestamp wrap.
        assert_eq!(stats.ntp_from_rtp(0), Some(ntp + (1 << 31)));
        // One second earlier.
        assert_eq!(
            stats.ntp_from_rtp(u32::MAX - 134_999),
            Some(ntp - (1 << 32))
        );
    }

    #[test]
    fn rr_round_trips_through_rtcp_types_and_our_parser() {
        let block = ReportBlock {
            ssrc: 0xdead_beef,
            fraction_lost: 12,
            cumulative_lost: -3,
            extended_highest_seq: 0x0002_0010,
            jitter: 345,
            last_sr: 0xccdd_eeff,
            delay_since_last_sr: 98_304,
        };
        let bytes = build_receiver_report(0x0102_0304, "vedette@host", &[block]);
        assert_eq!(bytes.len() % 4, 0);

        let mut compound = rtcp_types::Compound::parse(&bytes).expect("rtcp-types parses it");
        let rr = match compound.next() {
            Some(Ok(rtcp_types::Packet::Rr(rr))) => rr,
            other => panic!("RR first, got {other:?}"),
        };
        assert_eq!(rr.ssrc(), 0x0102_0304);
        let blocks: Vec<_> = rr.report_blocks().collect();
        assert_eq!(blocks.len(), 1);
        let b = &blocks[0];
        assert_eq!(b.ssrc(), 0xdead_beef);
        assert_eq!(b.fraction_lost(), 12);
        assert_eq!(b.cumulative_lost(), 0xff_fffd); // -3 in 24 bits
        assert_eq!(b.extended_sequence_number(), 0x0002_0010);
        assert_eq!(b.interarrival_jitter(), 345);
        assert_eq!(b.last_sender_report_timestamp(), 0xccdd_eeff);
        assert_eq!(b.delay_since_last_sender_report_timestamp(), 98_304);
        let sdes = match compound.next() {
            Some(Ok(rtcp_types::Packet::Sdes(sdes))) => sdes,
            other => panic!("SDES second, got {other:?}"),
        };
        let chunk = sdes.chunks().next().expect("one chunk");
        assert_eq!(chunk.ssrc(), 0x0102_0304);
        let item = chunk.items().next().expect("one item");
        assert_eq!(item.type_(), SDES_CNAME);
        assert_eq!(item.value(), b"vedette@host");
        assert!(compound.next().is_none());

        let parsed = parse_rtcp(&bytes).expect("our parser");
        assert_eq!(
            parsed,
            [
                RtcpItem::ReceiverReport {
                    ssrc: 0x0102_0304,
                    blocks: vec![block]
                },
                RtcpItem::Other {
                    packet_type: PT_SDES
                }
            ]
        );
    }

    #[test]
    fn goodbye_is_rr_sdes_and_bye_of_our_ssrc() {
        let bytes = build_goodbye(0x0102_0304, "vedette@host", &[]);
        let packets: Vec<_> = rtcp_types::Compound::parse(&bytes)
            .expect("rtcp-types parses it")
            .map(|p| p.expect("a valid packet"))
            .collect();
        let [rtcp_types::Packet::Rr(rr), rtcp_types::Packet::Sdes(_), rtcp_types::Packet::Bye(bye)] =
            &packets[..]
        else {
            panic!("RR, SDES and BYE expected, got {packets:?}");
        };
        assert_eq!(rr.ssrc(), 0x0102_0304);
        assert_eq!(bye.ssrcs().collect::<Vec<_>>(), [0x0102_0304]);
        assert_eq!(
            parse_rtcp(&bytes).expect("our parser").last(),
            Some(&RtcpItem::Bye(0x0102_0304))
        );
    }

    #[test]
    fn empty_rr_and_long_cname() {
        let cname = "é".repeat(200); // 400 bytes
        let bytes = build_receiver_report(7, &cname, &[]);
        // Header + SSRC, then SDES header + SSRC + type + len + 254 bytes + null.
        assert_eq!(&bytes[..8], &[0x80, 201, 0, 1, 0, 0, 0, 7]);
        let mut compound = rtcp_types::Compound::parse(&bytes).expect("parses");
        assert!(
            matches!(compound.next(), Some(Ok(rtcp_types::Packet::Rr(rr))) if rr.n_reports() == 0)
        );
        let Some(Ok(rtcp_types::Packet::Sdes(sdes))) = compound.next() else {
            panic!("SDES second");
        };
        let chunk = sdes.chunks().next().expect("chunk");
        let item = chunk.items().next().expect("item");
        assert_eq!(item.value(), "é".repeat(127).as_bytes());
    }

    #[test]
    fn many_blocks_split_into_several_rr_packets() {
        let block = |ssrc| ReportBlock {
            ssrc,
            fraction_lost: 0,
            cumulative_lost: 0,
            extended_highest_seq: 0,
            jitter: 0,
            last_sr: 0,
            delay_since_last_sr: 0,
        };
        let blocks: Vec<_> = (0..40).map(block).collect();
        let parsed = parse_rtcp(&build_receiver_report(1, "c", &blocks)).expect("parses");
        let counts: Vec<usize> = parsed
            .iter()
            .filter_map(|item| match item {
                RtcpItem::ReceiverReport { blocks, .. } => Some(blocks.len()),
                _ => None,
            })
            .collect();
        assert_eq!(counts, [31, 9]);
    }

    #[test]
    fn sender_report_from_known_bytes() {
        #[rustfmt::skip]
        let bytes = [
            // SR: V=2, P=0, RC=0, PT=200, length 6 (28 bytes)
            0x80, 200, 0x00, 0x06,
            0x11, 0x22, 0x33, 0x44, // SSRC
            0xe8, 0xf1, 0x2a, 0x3b, 0x80, 0x00, 0x00, 0x00, // NTP
            0x00, 0x01, 0x5f, 0x90, // RTP timestamp 90000
            0x00, 0x00, 0x01, 0x2c, // packet count 300
            0x00, 0x04, 0x93, 0xe0, // octet count 300000
            // SDES: SC=1, PT=202, length 3; CNAME "cam" and a null
            0x81, 202, 0x00, 0x03,
            0x11, 0x22, 0x33, 0x44,
            0x01, 0x03, b'c', b'a', b'm', 0x00, 0x00, 0x00,
            // BYE with padding: SC=1, PT=203, length 2, one SSRC, 4 bytes of padding
            0xa1, 203, 0x00, 0x02,
            0x11, 0x22, 0x33, 0x44,
            0x00, 0x00, 0x00, 0x04,
        ];
        let items = parse_rtcp(&bytes).expect("parses");
        assert_eq!(
            items,
            [
                RtcpItem::SenderReport(SenderInfo {
                    ssrc: 0x1122_3344,
                    ntp_timestamp: 0xe8f1_2a3b_8000_0000,
                    rtp_timestamp: 90_000,
                    packet_count: 300,
                    octet_count: 300_000,
                }),
                RtcpItem::Other {
                    packet_type: PT_SDES
                },
                RtcpItem::Bye(0x1122_3344),
            ]
        );
    }

    #[test]
    fn sender_report_written_by_rtcp_types() {
        let rb = rtcp_types::ReportBlock::builder(9)
            .fraction_lost(3)
            .cumulative_lost(0xff_ffff);
        let sr = rtcp_types::SenderReport::builder(0xabcd)
            .ntp_timestamp(0x0102_0304_0506_0708)
            .rtp_timestamp(77)
            .packet_count(5)
            .octet_count(6)
            .add_report_block(rb);
        let mut buf = vec![0; 256];
        let len = sr.write_into(&mut buf).expect("writes");
        let items = parse_rtcp(&buf[..len]).expect("parses");
        assert_eq!(
            items,
            [RtcpItem::SenderReport(SenderInfo {
                ssrc: 0xabcd,
                ntp_timestamp: 0x0102_0304_0506_0708,
                rtp_timestamp: 77,
                packet_count: 5,
                octet_count: 6,
            })]
        );
        let rr = rtcp_types::ReceiverReport::builder(1).add_report_block(
            rtcp_types::ReportBlock::builder(9)
                .cumulative_lost(0xff_ffff)
                .fraction_lost(1),
        );
        let len = rr.write_into(&mut buf).expect("writes");
        let items = parse_rtcp(&buf[..len]).expect("parses");
        let RtcpItem::ReceiverReport { blocks, .. } = &items[0] else {
            panic!("RR expected, got {items:?}");
        };
        assert_eq!(
            (blocks[0].cumulative_lost, blocks[0].fraction_lost),
            (-1, 1)
        );
        // The bytes also parse with rtcp-types itself.
        assert!(rtcp_types::ReceiverReport::parse(&buf[..len]).is_ok());
    }

    #[test]
    fn malformed_packets_are_errors_with_offsets() {
        assert_eq!(parse_rtcp(&[]), Err(RtcpError::Empty));
        assert_eq!(
            parse_rtcp(&[0x40, 200, 0, 0]),
            Err(RtcpError::UnsupportedVersion {
                offset: 0,
                version: 1
            })
        );
        // A good empty RR, then a header whose length runs past the end.
        assert_eq!(
            parse_rtcp(&[0x80, 201, 0, 1, 0, 0, 0, 1, 0x80, 200, 0, 6, 0, 0, 0, 0]),
            Err(RtcpError::Truncated {
                offset: 8,
                needed: 28,
                available: 8
            })
        );
        // An SR whose length is too short for its fields.
        assert!(matches!(
            parse_rtcp(&[0x80, 200, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::Truncated { offset: 0, .. })
        ));
        // An RR claiming a block it does not have.
        assert!(matches!(
            parse_rtcp(&[0x81, 201, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::Truncated {
                offset: 0,
                needed: 32,
                available: 8
            })
        ));
        // Padding larger than the packet, and zero padding.
        assert_eq!(
            parse_rtcp(&[0xa0, 201, 0, 1, 0, 0, 0, 9]),
            Err(RtcpError::InvalidPadding {
                offset: 0,
                padding: 9
            })
        );
        assert_eq!(
            parse_rtcp(&[0xa0, 201, 0, 1, 0, 0, 0, 0]),
            Err(RtcpError::InvalidPadding {
                offset: 0,
                padding: 0
            })
        );
        assert!(parse_rtcp(&[0x80, 201, 0]).is_err());
    }

    /// A valid SR followed by an SDES whose length runs past the end: the SR is kept.
    #[test]
    fn items_before_an_error_are_kept() {
        let sr = rtcp_types::SenderReport::builder(0x1122_3344)
            .ntp_timestamp(0xe8f1_2a3b_8000_0000)
            .rtp_timestamp(90_000);
        let mut bytes = vec![0; 28];
        assert_eq!(sr.write_into(&mut bytes).expect("writes"), 28);
        bytes.extend_from_slice(&[0x81, 202, 0, 5, 0x11, 0x22, 0x33, 0x44]);
        let (items, error) = parse_rtcp_items(&bytes);
        assert_eq!(
            items,
            [RtcpItem::SenderReport(SenderInfo {
                ssrc: 0x1122_3344,
                ntp_timestamp: 0xe8f1_2a3b_8000_0000,
                rtp_timestamp: 90_000,
                packet_count: 0,
                octet_count: 0,
            })]
        );
        let truncated = RtcpError::Truncated {
            offset: 28,
            needed: 24,
            available: 8,
        };
        assert_eq!(error, Some(truncated.clone()));
        assert_eq!(parse_rtcp(&bytes), Err(truncated));
        assert_eq!(fuzz_parse(&bytes), 1);
        assert_eq!(parse_rtcp_items(&[]), (Vec::new(), Some(RtcpError::Empty)));
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // A small xorshift so the test needs no dependency and is reproducible.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 80) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(first) = data.first_mut() {
                *first = 0x80 | (*first & 0x3f); // mostly version 2, to get past the header
            }
            fuzz_parse(&data);
        }
        let t0 = Instant::now();
        let mut stats = ReceiverStats::new(CLOCK);
        for i in 0..50_000u64 {
            let r = next();
            let ssrc = u32::from(r % 1000 == 0);
            let seq = (r >> 16) as u16;
            stats.on_rtp(ssrc, seq, (r >> 32) as u32, (r % 1500) as usize, t0 + ms(i));
            if r % 97 == 0 {
                let _ = stats.report_block(t0 + ms(i));
            }
        }
        let _ = stats.snapshot();
    }
}
