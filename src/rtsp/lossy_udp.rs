//! `transport = auto`: UDP that keeps losing packets gives way to TCP.
//!
//! Over UDP a lost packet is gone. FFmpeg conceals what an H.264 picture lost, but a keyframe
//! of a hundred packets arrives whole only a third of the time at 1 % loss, and FFmpeg's HEVC
//! decoder conceals nothing: an H.265 camera on such a link stays on its last good picture for
//! as long as the loss lasts. TCP retransmits instead, at the price of latency when the
//! network stalls. So `auto` starts on UDP and moves the session to TCP, once and for good,
//! when the receiver reports (every 2–3 s) show steady loss: [`LOSSY_INTERVALS`] intervals in
//! a row that each lost at least [`LOSSY_FRACTION`] of their packets, and at least
//! [`MIN_LOST`] of them (one packet in a quiet interval is not a trend). Sans I/O: fed each
//! interval's RFC 3550 counts (those its receiver report blocks were made from), it says when
//! to switch.

/// Loss, as a fraction of the packets expected in a report interval, that counts as lossy.
pub const LOSSY_FRACTION: f64 = 0.01;
/// Packets an interval must lose to count as lossy, however few it expected.
pub const MIN_LOST: i64 = 2;
/// Lossy intervals in a row before the switch: 4–6 s of steady loss.
pub const LOSSY_INTERVALS: u32 = 2;

/// Watches a UDP session's loss, report interval by report interval.
#[derive(Debug, Default, Clone)]
pub struct LossyUdpWatch {
    lossy_in_a_row: u32,
}

impl LossyUdpWatch {
    /// The end of a report interval, with the packets expected and lost in it (RFC 3550 A.3,
    /// summed over the session's streams). Returns the interval's loss as a fraction when UDP
    /// has now been lossy for [`LOSSY_INTERVALS`] intervals in a row: time to switch.
    pub fn on_interval(&mut self, expected_interval: u64, lost_interval: i64) -> Option<f64> {
        let fraction = if expected_interval == 0 {
            0.0
        } else {
            lost_interval as f64 / expected_interval as f64
        };
        if lost_interval >= MIN_LOST && fraction >= LOSSY_FRACTION {
            self.lossy_in_a_row += 1;
        } else {
            self.lossy_in_a_row = 0;
        }
        (self.lossy_in_a_row >= LOSSY_INTERVALS).then_some(fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds intervals of `(expected, lost)` and returns what each one said.
    fn run(intervals: &[(u64, i64)]) -> Vec<Option<f64>> {
        let mut watch = LossyUdpWatch::default();
        intervals
            .iter()
            .map(|&(expected, lost)| watch.on_interval(expected, lost))
            .collect()
    }

    #[test]
    fn steady_loss_switches_after_two_intervals() {
        let said = run(&[(1000, 50), (1000, 50), (1000, 50)]);
        assert_eq!(said[0], None);
        assert_eq!(said[1], Some(0.05));
        assert_eq!(said[2], Some(0.05));
    }

    #[test]
    fn a_burst_or_a_clean_interval_between_resets_the_count() {
        // One bad interval (a Wi-Fi hiccup) and clean ones around it: stay on UDP.
        assert_eq!(
            run(&[(1000, 80), (1000, 0), (1000, 30), (1000, 3)]),
            [None; 4]
        );
    }

    #[test]
    fn loss_below_one_percent_or_a_single_packet_is_not_lossy() {
        // 0.5 % over many packets; one packet of 60 (1.7 %) in a quiet stream.
        assert_eq!(run(&[(2000, 10), (2000, 10), (2000, 10)]), [None; 3]);
        assert_eq!(run(&[(60, 1), (60, 1), (60, 1)]), [None; 3]);
        // Two of 60 is both over 1 % and more than one packet.
        assert_eq!(run(&[(60, 2), (60, 2)])[1], Some(2.0 / 60.0));
    }

    #[test]
    fn silence_and_duplicates_do_not_count_as_loss() {
        // Paused (nothing expected), then duplicates pushing the lost count down.
        assert_eq!(run(&[(0, 0), (0, 0), (500, -3), (500, 0)]), [None; 4]);
    }
}
