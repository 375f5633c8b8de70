//! Where tiles go, sans UI: the order of the cameras (kept as camera ids), pages when there are
//! more cameras than the grid holds, and the tour that turns the pages.

use std::ops::Range;
use std::time::{Duration, Instant};

/// Seconds per page in tour mode when none were chosen.
pub const DEFAULT_TOUR_SECONDS: u32 = 10;

/// The display order of cameras whose ids are `ids` (`None`: a camera without one, e.g. a demo
/// camera), following `order` (saved ids): the listed ones first, in that order, then the rest
/// in their own order. Returns indices into `ids`.
pub fn ordered(ids: &[Option<&str>], order: &[String]) -> Vec<usize> {
    let listed = order
        .iter()
        .filter_map(|want| ids.iter().position(|id| *id == Some(want.as_str())));
    let mut result: Vec<usize> = Vec::with_capacity(ids.len());
    for index in listed.chain(0..ids.len()) {
        if !result.contains(&index) {
            result.push(index);
        }
    }
    result
}

/// How many pages `count` tiles fill with `per_page` on a page (at least one).
pub fn page_count(count: usize, per_page: usize) -> usize {
    count.div_ceil(per_page.max(1)).max(1)
}

/// The tiles on `page` (clamped to the last page).
pub fn page_range(page: usize, count: usize, per_page: usize) -> Range<usize> {
    let per_page = per_page.max(1);
    let page = page.min(page_count(count, per_page) - 1);
    let start = page * per_page;
    start..(start + per_page).min(count)
}

/// `page` moved by `delta`, wrapping around.
pub fn turn_page(page: usize, delta: isize, pages: usize) -> usize {
    let pages = pages.max(1) as isize;
    (page as isize + delta).rem_euclid(pages) as usize
}

/// Tour mode's clock: when the page last changed.
#[derive(Debug, Clone, Copy)]
pub struct Tour {
    since: Instant,
}

impl Tour {
    pub fn new(now: Instant) -> Self {
        Self { since: now }
    }

    /// The page was changed by hand (or the tour started): the full interval starts again.
    pub fn restart(&mut self, now: Instant) {
        self.since = now;
    }

    /// Whether the page is due to turn at `now`; when it is, the interval starts again. The
    /// second value is how long until the next turn (for a repaint request).
    pub fn tick(&mut self, now: Instant, every: Duration) -> (bool, Duration) {
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed >= every {
            self.since = now;
            (true, every)
        } else {
            (false, every - elapsed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_order_first_then_the_rest() {
        let ids = [Some("a"), None, Some("b"), Some("c")];
        assert_eq!(ordered(&ids, &[]), [0, 1, 2, 3]);
        let order = [
            "c".to_owned(),
            "gone".to_owned(),
            "a".to_owned(),
            "c".to_owned(),
        ];
        assert_eq!(ordered(&ids, &order), [3, 0, 1, 2]);
    }

    #[test]
    fn pages_hold_the_grid_and_the_last_one_the_rest() {
        assert_eq!(page_count(0, 4), 1);
        assert_eq!(page_count(4, 4), 1);
        assert_eq!(page_count(9, 4), 3);
        assert_eq!(page_range(0, 9, 4), 0..4);
        assert_eq!(page_range(2, 9, 4), 8..9);
        assert_eq!(page_range(7, 9, 4), 8..9, "clamped to the last page");
        assert_eq!(page_range(0, 0, 4), 0..0);
        assert_eq!(turn_page(2, 1, 3), 0);
        assert_eq!(turn_page(0, -1, 3), 2);
        assert_eq!(turn_page(0, 1, 1), 0);
    }

    #[test]
    fn the_tour_turns_every_interval() {
        let t0 = Instant::now();
        let every = Duration::from_secs(10);
        let mut tour = Tour::new(t0);
        assert_eq!(
            tour.tick(t0 + Duration::from_secs(4), every),
            (false, Duration::from_secs(6))
        );
        assert!(tour.tick(t0 + Duration::from_secs(10), every).0);
        assert!(!tour.tick(t0 + Duration::from_secs(15), every).0);
        tour.restart(t0 + Duration::from_secs(19));
        assert!(!tour.tick(t0 + Duration::from_secs(21), every).0);
        assert!(tour.tick(t0 + Duration::from_secs(29), every).0);
    }
}
