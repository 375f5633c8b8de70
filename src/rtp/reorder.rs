//! A bounded reorder buffer for RTP over UDP, sans-I/O: packets that arrive out of order within
//! a window are released in sequence order; a gap that does not fill within the hold time (or
//! pushes past the window) is skipped, and the depacketizer then sees the loss as a sequence
//! gap. Over TCP-interleaved transport packets cannot reorder and this is not needed.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Farther than this from the next sequence number to release, in either direction, a packet
/// is taken as a jump of the sender's numbering rather than as loss or lateness (the same bound
/// as RFC 3550 A.1's `MAX_DROPOUT`).
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
/// A packet more than 3000 sequence numbers away is held aside until the next packet confirms
/// the jump by following it (as RFC 3550 A.1 does with `bad_seq`); then everything held is
/// released and numbering continues from the jump. If a packet in the old numbering is
/// accepted instead, the stray packet is dropped and counted late.
#[derive(Debug)]
pub struct ReorderBuffer<T> {
    window: u64,
    max_hold: Duration,
    /// Extended sequence number of the next packet to release; `None` before the first packet.
    next: Option<u64>,
    /// Packets waiting, by extended sequence number (keys are at or after `next`).
    held: BTreeMap<u64, (T, Instant)>,
    /// Packets from before a confirmed jump, in order, released before anything in `held`.
    flushed: VecDeque<(u16, T, Instant)>,
    /// A packet after a jump, waiting for its successor.
    jump_candidate: Option<(u16, T, Instant)>,
    late: u64,
}

impl<T> ReorderBuffer<T> {
    /// `window` is how many sequence numbers ahead of a gap are held before it is skipped (at
    /// least 1; 1 means no reordering); `max_hold` is how long a gap may hold packets back.
    pub fn new(window: usize, max_hold: Duration) -> Self {
        Self {
            window: u64::try_from(window.max(1)).unwrap_or(u64::MAX),
            max_hold,
            next: None,
            held: BTreeMap::new(),
            flushed: VecDeque::new(),
            jump_candidate: None,
            late: 0,
        }
    }

    pub fn push(&mut self, seq: u16, item: T, now: Instant) -> PushResult {
        let Some(next) = self.next else {
            self.next = Some(u64::from(seq));
            self.held.insert(u64::from(seq), (item, now));
            return PushResult::Accepted;
        };
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
        if (-MAX_DROPOUT..0).contains(&delta) {
            self.late += 1;
            return PushResult::Late;
        }
        match self.jump_candidate.take() {
            Some(candidate) if candidate.0 == seq => {
                self.jump_candidate = Some(candidate);
                PushResult::Duplicate
            }
            Some((candidate_seq, candidate, arrived)) if candidate_seq.wrapping_add(1) == seq => {
                self.flush_held();
                let next = self.next.unwrap_or(next);
                let base = next + u64::from(candidate_seq.wrapping_sub(next as u16));
                self.next = Some(base);
                self.held.insert(base, (candidate, arrived));
                self.held.insert(base + 1, (item, now));
                PushResult::Accepted
            }
            stray => {
                if stray.is_some() {
                    self.late += 1;
                }
                self.jump_candidate = Some((seq, item, now));
                PushResult::Accepted
            }
        }
    }

    /// Releases the next packet that is ready: the next in sequence at once; past a gap once
    /// the gap has held packets back for `max_hold` or the packets behind it span the window
    /// (the skipped sequence numbers are then the depacketizer's to see as loss).
    pub fn pop(&mut self, now: Instant) -> Option<(u16, T)> {
        if let Some((seq, item, _)) = self.flushed.pop_front() {
            return Some((seq, item));
        }
        let due = self.gap_is_due() || self.next_deadline().is_some_and(|d| now >= d);
        if !due {
            return None;
        }
        let (ext, (item, _)) = self.held.pop_first()?;
        self.next = Some(ext + 1);
        Some((ext as u16, item))
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
        if self.gap_is_due() {
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

    fn drain<T>(buffer: &mut ReorderBuffer<T>, now: Instant) -> Vec<u16> {
        std::iter::from_fn(|| buffer.pop(now))
            .map(|(seq, _)| seq)
            .collect()
    }

    #[test]
    fn releases_reordered_packets_in_order() {
        let t0 = Instant::now();
        let mut buffer = ReorderBuffer::new(16, HOLD);
        let mut released = Vec::new();
        for seq in [1u16, 3, 2, 4] {
            assert_eq!(buffer.push(seq, seq, t0), PushResult::Accepted);
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
        let t0 = Instant::now();
        let mut buffer = ReorderBuffer::new(16, HOLD);
        for seq in 1..=3 {
            buffer.push(seq, (), t0);
        }
        assert_eq!(drain(&mut buffer, t0), [1, 2, 3]);
        assert_eq!(buffer.push(2, (), t0), PushResult::Late);
        assert_eq!(buffer.push(3, (), t0), PushResult::Late);
        assert_eq!(buffer.late(), 2);
        assert_eq!(drain(&mut buffer, t0), Vec::<u16>::new());
    }

    #[test]
    fn duplicate_held_packet() {
        let t0 = Instant::now();
        let mut buffer = ReorderBuffer::new(16, HOLD);
        buffer.push(1, (), t0);
        drain(&mut buffer, t0);
        assert_eq!(buffer.push(3, (), t0), PushResult::Accepted);
        assert_eq!(buffer.push(3, (), t0), PushResult::Duplicate);
    }

    #[test]
    fn gap_is_skipped_after_max_hold() {
        let t0 = Instant::now();
        let mut buffer = ReorderBuffer::new(16, HOLD);
        buffer.push(1, (), t0);
        assert_eq!(drain(&mut buffer, t0), [1]);
        let t1 = t0 + Duration::from_millis(10);
        buffer.push(3, (), t1);
        buffer.push(4, (), t1 + Duration::from_millis(5));
        assert_eq!(drain(&mut buffer, t1), Vec::<u16>::new());
        assert_eq!(buffer.next_deadline(), Some(t1 + HOLD));
        assert_eq!(
            drain(&mut buffer, t1 + HOLD - Duration::from_millis(1)),
            Vec::<u16>::new()
        );
        assert_eq!(drain(&mut buffer, t1 + HOLD), [3, 4]);
        // The skipped packet turning up afterwards is late.
        assert_eq!(buffer.push(2, (), t1 + HOLD), PushResult::Late);
        assert_eq!(buffer.late(), 1);
    }

    #[test]
    fn gap_is_skipped_when_the_window_is_full() {
        let t0 = Instant::now();
        let mut buffer = ReorderBuffer::new(4, HOLD);
        buffer.push(1, (), t0);
        drain(&mut buffer, t0);
        for seq in [3, 4, 5] {
            buffer.push(seq, (), t0);
        }
        assert_eq!(drain(&mut buffer, t0), Vec::<u16>::new());
        buffer.push(6, (), t0);
        assert_eq!(drain(&mut buffer, t0), [3, 4, 5, 6]);
    }

    #[test]
    fn works_across_the_sequence_wrap() {
        let t0 = Instant::now();
        let mut buffer = ReorderBuffer::new(16, HOLD);
        let mut released = Vec::new();
        for seq in [65533u16, 65535, 0, 65534, 2, 1] {
            assert_eq!(buffer.push(seq, (), t0), PushResult::Accepted);
            released.extend(drain(&mut buffer, t0));
        }
        assert_eq!(released, [65533, 65534, 65535, 0, 1, 2]);
        assert_eq!(buffer.push(65535, (), t0), PushResult::Late);
        // A gap across the wrap is skipped after the hold time.
        buffer.push(4, (), t0);
        assert_eq!(drain(&mut buffer, t0 + HOLD), [4]);
    }

    #[test]
    fn confirmed_jump_flushes_and_continues() {
        let t0 = Instant::now();
        let mut buffer = ReorderBuffer::new(16, HOLD);
        buffer.push(1, (), t0);
        buffer.push(3, (), t0);
        assert_eq!(drain(&mut buffer, t0), [1]);
        assert_eq!(buffer.push(40000, (), t0), PushResult::Accepted);
        assert_eq!(drain(&mut buffer, t0), Vec::<u16>::new());
        assert_eq!(buffer.push(40001, (), t0), PushResult::Accepted);
        assert_eq!(drain(&mut buffer, t0), [3, 40000, 40001]);
        assert_eq!(buffer.push(40002, (), t0), PushResult::Accepted);
        assert_eq!(drain(&mut buffer, t0), [40002]);
        assert_eq!(buffer.late(), 0);
    }

    #[test]
    fn lone_stray_packet_is_dropped() {
        let t0 = Instant::now();
        let mut buffer = ReorderBuffer::new(16, HOLD);
        buffer.push(1, (), t0);
        buffer.push(40000, (), t0);
        buffer.push(2, (), t0);
        assert_eq!(drain(&mut buffer, t0 + HOLD), [1, 2]);
        assert_eq!(buffer.late(), 1);
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
                buffer.push(pushed, (), now);
                while let Some((released, ())) = buffer.pop(now) {
                    if let (Some(prev), false) = (last_released, with_jumps) {
                        let step = released.wrapping_sub(prev);
                        assert!((1..3000).contains(&step), "{prev} then {released}");
                    }
                    last_released = Some(released);
                }
            }
            assert!(
                with_jumps || buffer.late() > 0,
                "the pattern should make late packets"
            );
        }
    }
}
