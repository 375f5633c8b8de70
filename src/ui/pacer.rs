//! How soon the UI redraws for a new picture. Every camera's decode thread asks for a redraw
//! when it publishes a picture: sixteen cameras at 30 fps are 480 requests a second, and with
//! vsync off (pictures are shown as they arrive) each would be a whole frame drawn. The pacer
//! lets a request through at once when the last redraw began at least one display interval
//! ago, and otherwise defers it to the end of that interval, so a wall redraws at most at the
//! display's rate and a picture waits at most one interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The display interval assumed: 60 Hz.
pub const INTERVAL: Duration = Duration::from_nanos(16_666_667);

/// egui answers a zero delay with two passes (to let layouts settle); a picture needs one,
/// which any non-zero delay asks for.
const AT_ONCE: Duration = Duration::from_micros(1);

#[derive(Debug)]
pub struct RepaintPacer {
    base: Instant,
    /// When the last pass began, in nanoseconds after `base`; 0: none yet.
    last_pass_ns: AtomicU64,
    interval: Duration,
}

impl RepaintPacer {
    pub fn new(interval: Duration) -> Self {
        Self {
            base: Instant::now(),
            last_pass_ns: AtomicU64::new(0),
            interval,
        }
    }

    /// A UI pass begins at `now`.
    pub fn pass_began(&self, now: Instant) {
        let ns = now.saturating_duration_since(self.base).as_nanos();
        self.last_pass_ns.store(
            u64::try_from(ns).unwrap_or(u64::MAX).max(1),
            Ordering::Relaxed,
        );
    }

    /// How long a redraw asked for at `now` should wait.
    pub fn delay(&self, now: Instant) -> Duration {
        let last = self.last_pass_ns.load(Ordering::Relaxed);
        if last == 0 {
            return AT_ONCE;
        }
        let next = self.base + Duration::from_nanos(last) + self.interval;
        next.saturating_duration_since(now).max(AT_ONCE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_long_after_the_last_pass_goes_through_at_once() {
        let pacer = RepaintPacer::new(INTERVAL);
        let t0 = Instant::now();
        assert_eq!(pacer.delay(t0), AT_ONCE, "no pass yet");
        pacer.pass_began(t0);
        assert_eq!(pacer.delay(t0 + Duration::from_millis(40)), AT_ONCE);
        assert_eq!(pacer.delay(t0 + INTERVAL), AT_ONCE);
    }

    #[test]
    fn requests_within_an_interval_wait_for_its_end() {
        let pacer = RepaintPacer::new(Duration::from_millis(16));
        let t0 = Instant::now() + Duration::from_secs(1);
        pacer.pass_began(t0);
        let delay = pacer.delay(t0 + Duration::from_millis(4));
        assert!(
            delay.abs_diff(Duration::from_millis(12)) < Duration::from_micros(10),
            "{delay:?}"
        );
        // However many cameras ask, the next pass is at the same moment.
        let other = pacer.delay(t0 + Duration::from_millis(10));
        assert!(
            (t0 + Duration::from_millis(10) + other)
                .saturating_duration_since(t0 + Duration::from_millis(4) + delay)
                < Duration::from_micros(10)
        );
    }
}
