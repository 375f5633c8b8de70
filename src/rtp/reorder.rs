//! A bounded reorder buffer for RTP over UDP, sans-I/O: packets that arrive out of order within
//! a window are released in sequence order; a gap that does not fill within the hold time (or
//! pushes past the window) is skipped, and the depacketizer then sees the loss as a sequence
//! gap. Over TCP-interleaved transport packets cannot reorder and this is not needed.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::MAX_MISORDER;

/// Farther ahead than this of the next sequence number to release, a packet is taken as a jump
/// of the sender's numbering rather than as loss (RFC 3550 A.1's `MAX_DROPOUT`). Behind, the
/// bound is [`MAX_MISORDER`]: a packet further back than that is no longer merely late (a
/// sender that restarted with lower numbers, RFC 3550 A.1).
const MAX_DROPOUT: i32 = 3000;

/// What [`ReorderBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushResult {
    /// Held for release in order.
    Accepted,
    /// Older than what was already released or skipped; dropped and counted in
    /// [`ReorderBuffer::late`].
    Late,
    /// The same sequence number is already held; dropped.
    Duplicate,
}

/// Bounded reorder buffer for UDP: packets within `window` sequence numbers of the next one to
/// release (and held at most `max_hold`) are released in order; a packet older than what was
/// already released is late and dropped (counted).
///
/// After each [`push`](Self::push), call [`pop`](Self::pop) until it returns `None`, then call
/// `pop` again at [`next_deadline`](Self::next_deadline).
///
/// A packet more than 3000 sequence numbers ahead, 100 or more behind the last one released,
/// or of another SSRC is held aside until the next packet confirms the jump by following it
/// (as RFC 3550 A.1 does with `bad_seq`); then everything held is released and numbering
/// continues from the jump (a sender that restarted, with a new SSRC or not, loses nothing). If
/// a packet in the old numbering is accepted instead, the stray packet is dropped and counted
/// late.
#[derive(Debug)]
pub struct ReorderBuffer<T> {
    window: u64,
    max_hold: Duration,
    /// Extended sequence number of the next packet to release; `None` before the first packet.
    next: Option<u64>,
    /// The SSRC the numbering belongs to (that of the first packet, or of a confirmed jump).
    ssrc: u32,
    /// Packets waiting, by extended sequence number (keys are at or after `next`).
    held: BTreeMap<u64, (T, Instant)>,
    /// Packets from before a confirmed jump, in order, released before anything in `held`.
    flushed: VecDeque<(u16, T, Instant)>,
    /// A packet after a jump (or of another SSRC), waiting for its successor.
    jump_candidate: Option<JumpCandidate<T>>,
    late: u64,
    /// Nothing released yet: the first packet to arrive may not be the first one sent (a
    /// keyframe's packets reordered), so earlier ones are still taken and the start waits
    /// for `max_hold`.
    starting: bool,
}

/// A packet that may start a new numbering, once the next packet follows it.
#[derive(Debug)]
struct JumpCandidate<T> {
    ssrc: u32,
    seq: u16,
    item: T,
    arrived: Instant,
}

/// Extended sequence numbers start this far up, so the start can move back below the first
/// packet that arrived.
const EXT_BASE: u64 = 1 << 32;

impl<T> ReorderBuffer<T> {
    /// `window` is how many sequence numbers ahead of a gap are held before it is skipped (at
    /// least 1; 1 means no reordering); `max_hold` is how long a gap may hold packets back.
    pub fn new(window: usize, max_hold: Duration) -> Self {
        Self {
            window: u64::try_from(window.max(1)).unwrap_or(u64::MAX),
            max_hold,
            next: None,
            ssrc: 0,
            held: BTreeMap::new(),
            flushed: VecDeque::new(),
            jump_candidate: None,
            late: 0,
            starting: true,
        }
    }

    /// Takes a packet of source `ssrc` with sequence number `seq`. See [`PushResult`].
    pub fn push(&mut self, ssrc: u32, seq: u16, item: T, now: Instant) -> PushResult {
        let Some(next) = self.next else {
            let ext = EXT_BASE + u64::from(seq);
            self.next = Some(ext);
            self.ssrc = ssrc;
            self.held.insert(ext, (item, now));
            return PushResult::Accepted;
        };
        if ssrc != self.ssrc {
            // A new source (the sender restarted) or a stray packet: its numbering is unrelated.
            return self.push_jump(ssrc, seq, item, now, next);
        }
        // Distance from the next sequence number to release, the short way round the wrap.
        let delta = i32::from(seq.wrapping_sub(next as u16) as i16);
        if (0..MAX_DROPOUT).contains(&delta) {
            if self.jump_candidate.take().is_some() {
                self.late += 1;
            }
            let ext = next + delta as u64;
            if self.held.contains_key(&ext) {
                return PushResult::Duplicate;
            }
            self.held.insert(ext, (item, now));
            return PushResult::Accepted;
        }
        if self.starting && delta < 0 && delta.unsigned_abs() as u64 <= self.window {
            // Sent before the first packet that arrived: the stream starts here instead.
            let ext = next - u64::from(delta.unsigned_abs());
            self.next = Some(ext);
            self.held.insert(ext, (item, now));
            return PushResult::Accepted;
        }
        // Up to MAX_MISORDER - 1 behind the last packet released (`next - 1`).
        if (-i32::from(MAX_MISORDER)..0).contains(&delta) {
            self.late += 1;
            return PushResult::Late;
        }
        self.push_jump(ssrc, seq, item, now, next)
    }

    /// A packet far from `next` or of another SSRC: held aside until the packet after it
    /// confirms the jump, then everything held before is released and numbering continues
    /// from it.
    fn push_jump(&mut self, ssrc: u32, seq: u16, item: T, now: Instant, next: u64) -> PushResult {
        match self.jump_candidate.take() {
            Some(candidate) if candidate.ssrc == ssrc && candidate.seq == seq => {
                self.jump_candidate = Some(candidate);
                PushResult::Duplicate
            }
            Some(candidate) if candidate.ssrc == ssrc && candidate.seq.wrapping_add(1) == seq => {
                self.flush_held();
                let next = self.next.unwrap_or(next);
                let base = next + u64::from(candidate.seq.wrapping_sub(next as u16));
                self.next = Some(base);
                self.ssrc = ssrc;
                self.held.insert(base, (candidate.item, candidate.arrived));
                self.held.insert(base + 1, (item, now));
                PushResult::Accepted
            }
            stray => {
                if stray.is_some() {
                    self.late += 1;
                }
                self.jump_candidate = Some(JumpCandidate {
                    ssrc,
                    seq,
                    item,
                    arrived: now,
                });
                PushResult::Accepted
            }
        }
    }

    /// Releases the next packet that is ready: the next in sequence at once; past a gap once
    /// the gap has held packets back for `max_hold` or the packets behind it span the window
    /// (the skipped sequence numbers are then the depacketizer's to see as loss).
    pub fn pop(&mut self, now: Instant) -> Option<(u16, T)> {
        self.pop_if(|buffer| buffer.next_deadline().is_some_and(|d| now >= d))
    }

    /// Like [`pop`](Self::pop), but never skips a gap for its hold time: only packets whose
    /// turn has come. A receiver calls this until its socket is drained, and `pop` when the
    /// deadline fires, so a packet waiting in the socket is not given up for lost.
    pub fn pop_ready(&mut self) -> Option<(u16, T)> {
        self.pop_if(|_| false)
    }

    fn pop_if(&mut self, deadline_passed: impl Fn(&Self) -> bool) -> Option<(u16, T)> {
        if let Some((seq, item, _)) = self.flushed.pop_front() {
            return Some((seq, item));
        }
        let ready = if self.starting {
            // At the start only the window or the hold time releases: an earlier packet of
            // the first picture may still come.
            self.window_is_full() || deadline_passed(self)
        } else {
            self.gap_is_due() || deadline_passed(self)
        };
        if !ready {
            return None;
        }
        let (ext, (item, _)) = self.held.pop_first()?;
        self.next = Some(ext + 1);
        self.starting = false;
        Some((ext as u16, item))
    }

    fn window_is_full(&self) -> bool {
        match (self.next, self.held.last_key_value()) {
            (Some(next), Some((&last, _))) => last - next >= self.window,
            _ => false,
        }
    }

    /// When [`pop`](Self::pop) will next release something without a new packet: the time a
    /// held gap runs out, or a past instant when something can be released now. `None` when
    /// nothing is waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        if let Some((_, _, arrived)) = self.flushed.front() {
            return Some(*arrived);
        }
        // The packet that has waited longest behind the gap sets the time.
        let oldest = self.held.values().map(|(_, arrived)| *arrived).min()?;
        if (!self.starting && self.gap_is_due()) || self.window_is_full() {
            Some(oldest)
        } else {
            Some(oldest + self.max_hold)
        }
    }

    /// Packets dropped as late so far.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Whether the first held packet can go without waiting: it is the next in sequence, or
    /// the held packets reach past the window.
    fn gap_is_due(&self) -> bool {
        let (Some(next), Some((&first, _)), Some((&last, _))) = (
            self.next,
            self.held.first_key_value(),
            self.held.last_key_value(),
        ) else {
            return false;
        };
        first == next || last - next >= self.window
    }

    /// Moves everything held, in order, to the release queue, skipping gaps.
    fn flush_held(&mut self) {
        while let Some((ext, (item, arrived))) = self.held.pop_first() {
            self.next = Some(ext + 1);
            self.flushed.push_back((ext as u16, item, arrived));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: Duration = Duration::from_millis(50);
    const SSRC: u32 = 0x1234;

    fn drain<T>(buffer: &mut ReorderBuffer<T>, now: Instant) -> Vec<u16> {
        std::iter::from_fn(|| buffer.pop(now))
            .map(|(seq, _)| seq)
            .collect()
    }

    /// Pushes the first packet and lets the start hold pass; returns the time after it.
    fn started<T>(buffer: &mut ReorderBuffer<T>, seq: u16, item: T) -> Instant {
        let t = Instant::now();
        buffer.push(SSRC, seq, item, t);
        assert!(
            buffer.pop(t).is_none(),
            "the start waits for earlier packets"
        );
        assert!(buffer.pop_ready().is_none());
        let after = t + HOLD;
        assert_eq!(buffer.pop(after).map(|(s, _)| s), Some(seq));
        after
    }

    #[test]
    fn packets_sent_before_the_first_arrival_are_taken_at_the_start() {
        let t0 = Instant::now();
        let mut buffer = ReorderBuffer::new(16, HOLD);
        // A keyframe's packets 3..=7 arrive as 5, 3, 7, 4, 6.
        for seq in [5u16, 3, 7, 4, 6] {
            assert_eq!(buffer.push(SSRC, seq, seq, t0), PushResult::Accepted);
            assert!(buffer.pop(t0).is_none());
        }
        assert_eq!(buffer.next_deadline(), Some(t0 + HOLD));
        assert_eq!(drain(&mut buffer, t0 + HOLD), [3, 4, 5, 6, 7]);
        assert_eq!(buffer.late(), 0);
        // After the start, an earlier packet is late as usual.
        assert_eq!(buffer.push(SSRC, 2, 2, t0 + HOLD), PushResult::Late);
    }

    #[test]
    fn pop_ready_never_skips_a_gap() {
        let mut buffer = ReorderBuffer::new(16, HOLD);
        let t0 = started(&mut buffer, 1, ());
        buffer.push(SSRC, 3, (), t0);
        let late = t0 + HOLD * 10;
        assert!(buffer.pop_ready().is_none(), "2 may still be in the socket");
        buffer.push(SSRC, 2, (), late);
        assert_eq!(buffer.pop_ready().map(|(s, _)| s), Some(2));
        assert_eq!(buffer.pop_ready().map(|(s, _)| s), Some(3));
        assert_eq!(buffer.late(), 0);
    }

    #[test]
    fn releases_reordered_packets_in_order() {
        let mut buffer = ReorderBuffer::new(16, HOLD);
        let t0 = started(&mut buffer, 1, 1);
        let mut released = vec![1];
        for seq in [3u16, 2, 4] {
            assert_eq!(buffer.push(SSRC, seq, seq, t0), PushResult::Accepted);
            released.extend(std::iter::from_fn(|| buffer.pop(t0)).map(|(s, item)| {
                assert_eq!(s, item);
                s
            }));
        }
        assert_eq!(released, [1, 2, 3, 4]);
        assert_eq!(buffer.late(), 0);
        assert_eq!(buffer.next_deadline(), None);
    }

    #[test]
    fn too_old_packet_is_late() {
        let mut buffer = ReorderBuffer::new(16, HOLD);
        let t0 = started(&mut buffer, 1, ());
        for seq in 2..=3 {
            buffer.push(SSRC, seq, (), t0);
        }
        assert_eq!(drain(&mut buffer, t0), [2, 3]);
        assert_eq!(buffer.push(SSRC, 2, (), t0), PushResult::Late);
        assert_eq!(buffer.push(SSRC, 3, (), t0), PushResult::Late);
        assert_eq!(buffer.late(), 2);
        assert_eq!(drain(&mut buffer, t0), Vec::<u16>::new());
    }

    #[test]
    fn duplicate_held_packet() {
        let mut buffer = ReorderBuffer::new(16, HOLD);
        let t0 = started(&mut buffer, 1, ());
        assert_eq!(buffer.push(SSRC, 3, (), t0), PushResult::Accepted);
        assert_eq!(buffer.push(SSRC, 3, (), t0), PushResult::Duplicate);
    }

    #[test]
    fn gap_is_skipped_after_max_hold() {
        let mut buffer = ReorderBuffer::new(16, HOLD);
        let t0 = started(&mut buffer, 1, ());
        let t1 = t0 + Duration::from_millis(10);
        buffer.push(SSRC, 3, (), t1);
        buffer.push(SSRC, 4, (), t1 + Duration::from_millis(5));
        assert_eq!(drain(&mut buffer, t1), Vec::<u16>::new());
        assert_eq!(buffer.next_deadline(), Some(t1 + HOLD));
        assert_eq!(
            drain(&mut buffer, t1 + HOLD - Duration::from_millis(1)),
            Vec::<u16>::new()
        );
        assert_eq!(drain(&mut buffer, t1 + HOLD), [3, 4]);
        // The skipped packet turning up afterwards is late.
        assert_eq!(buffer.push(SSRC, 2, (), t1 + HOLD), PushResult::Late);
        assert_eq!(buffer.late(), 1);
    }

    #[test]
    fn gap_is_skipped_when_the_window_is_full() {
        let mut buffer = ReorderBuffer::new(4, HOLD);
        let t0 = started(&mut buffer, 1, ());
        for seq in [3, 4, 5] {
            buffer.push(SSRC, seq, (), t0);
        }
        assert_eq!(drain(&mut buffer, t0), Vec::<u16>::new());
        buffer.push(SSRC, 6, (), t0);
        assert_eq!(drain(&mut buffer, t0), [3, 4, 5, 6]);
    }

    #[test]
    fn works_across_the_sequence_wrap() {
        let mut buffer = ReorderBuffer::new(16, HOLD);
        let t0 = started(&mut buffer, 65533, ());
        let mut released = vec![65533];
        for seq in [65535u16, 0, 65534, 2, 1] {
            assert_eq!(buffer.push(SSRC, seq, (), t0), PushResult::Accepted);
            released.extend(drain(&mut buffer, t0));
        }
        assert_eq!(released, [65533, 65534, 65535, 0, 1, 2]);
        assert_eq!(buffer.push(SSRC, 65535, (), t0), PushResult::Late);
        // A gap across the wrap is skipped after the hold time.
        buffer.push(SSRC, 4, (), t0);
        assert_eq!(drain(&mut buffer, t0 + HOLD), [4]);
    }

    #[test]
    fn confirmed_jump_flushes_and_continues() {
        let mut buffer = ReorderBuffer::new(16, HOLD);
        let t0 = started(&mut buffer, 1, ());
        buffer.push(SSRC, 3, (), t0);
        assert_eq!(drain(&mut buffer, t0), Vec::<u16>::new());
        assert_eq!(buffer.push(SSRC, 40000, (), t0), PushResult::Accepted);
        assert_eq!(drain(&mut buffer, t0), Vec::<u16>::new());
        assert_eq!(buffer.push(SSRC, 40001, (), t0), PushResult::Accepted);
        assert_eq!(drain(&mut buffer, t0), [3, 40000, 40001]);
        assert_eq!(buffer.push(SSRC, 40002, (), t0), PushResult::Accepted);
        assert_eq!(drain(&mut buffer, t0), [40002]);
        assert_eq!(buffer.late(), 0);
    }

    #[test]
    fn lone_stray_packet_is_dropped() {
        let t0 = Instant::now();
        let mut buffer = ReorderBuffer::new(16, HOLD);
        buffer.push(SSRC, 1, (), t0);
        buffer.push(SSRC, 40000, (), t0);
        buffer.push(SSRC, 2, (), t0);
        assert_eq!(drain(&mut buffer, t0 + HOLD), [1, 2]);
        assert_eq!(buffer.late(), 1);
    }

    /// A sender that restarts its numbering lower (RFC 3550 A.1: more than MAX_MISORDER back)
    /// is followed once the next packet confirms it, not dropped as late for 3000 packets.
    #[test]
    fn a_jump_back_is_delivered_in_order_once_confirmed() {
        let mut buffer = ReorderBuffer::new(16, HOLD);
        let t0 = started(&mut buffer, 5000, ());
        for seq in 5001..=5005 {
            buffer.push(SSRC, seq, (), t0);
        }
        assert_eq!(drain(&mut buffer, t0), [5001, 5002, 5003, 5004, 5005]);
        let mut released = Vec::new();
        for seq in 4000..=4004 {
            assert_eq!(buffer.push(SSRC, seq, (), t0), PushResult::Accepted);
            released.extend(drain(&mut buffer, t0));
        }
        assert_eq!(released, [4000, 4001, 4002, 4003, 4004]);
        assert_eq!(buffer.late(), 0);
        // Merely late (99 behind the last released) is still late.
        assert_eq!(buffer.push(SSRC, 4004 - 99, (), t0), PushResult::Late);
        assert_eq!(buffer.late(), 1);
    }

    /// A new SSRC starts the numbering over wherever it is, once its second packet follows
    /// the first; a straggler of the old source is dropped, not taken as a switch back.
    #[test]
    fn a_new_ssrc_starts_over_with_lower_numbers() {
        let mut buffer = ReorderBuffer::new(16, HOLD);
        let t0 = started(&mut buffer, 5000, ());
        buffer.push(SSRC, 5001, (), t0);
        assert_eq!(drain(&mut buffer, t0), [5001]);
        assert_eq!(buffer.push(SSRC + 1, 4990, (), t0), PushResult::Accepted);
        assert_eq!(drain(&mut buffer, t0), Vec::<u16>::new());
        assert_eq!(buffer.push(SSRC + 1, 4991, (), t0), PushResult::Accepted);
        assert_eq!(drain(&mut buffer, t0), [4990, 4991]);
        assert_eq!(buffer.push(SSRC, 5002, (), t0), PushResult::Accepted);
        assert_eq!(buffer.push(SSRC + 1, 4992, (), t0), PushResult::Accepted);
        assert_eq!(drain(&mut buffer, t0), [4992]);
        assert_eq!(buffer.late(), 1, "the straggler of the old source");
    }

    /// Random reordering within ±3, loss and (optionally) stray or jumped sequence numbers:
    /// never a panic, and without jumps every release is strictly after the one before.
    #[test]
    fn arbitrary_sequences_release_in_order() {
        for with_jumps in [false, true] {
            let mut state = 0x9e37_79b9_7f4a_7c15u64;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let t0 = Instant::now();
            let mut buffer = ReorderBuffer::new(32, HOLD);
            let mut seq = 60_000u16;
            let mut last_released: Option<u16> = None;
            for i in 0..50_000u64 {
                let r = next();
                seq = seq.wrapping_add(1);
                let pushed = if with_jumps && r % 500 == 0 {
                    (r >> 16) as u16
                } else {
                    seq.wrapping_add((r % 7) as u16).wrapping_sub(3)
                };
                if r % 50 == 1 {
                    continue; // lost
                }
                let now = t0 + Duration::from_millis(i);
                buffer.push(SSRC, pushed, (), now);
                while let Some((released, ())) = buffer.pop(now) {
                    if let (Some(prev), false) = (last_released, with_jumps) {
                        let step = released.wrapping_sub(prev);
                        assert!((1..3000).contains(&step), "{prev} then {released}");
                    }
                    last_released = Some(released);
                }
            }
            // Reordering within ±3 is well inside the window and the hold time, from the very
            // first packet on: nothing is late.
            assert!(
                with_jumps || buffer.late() == 0,
                "{} late packets",
                buffer.late()
            );
        }
    }
}
