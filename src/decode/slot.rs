//! The latest-frame slot: one decoded frame, replaced by each newer one (newest frame wins).

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::VideoFrame;

type Waker = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Inner {
    frame: Option<Arc<VideoFrame>>,
    generation: u64,
    /// Threads in `wait_newer`: without one, `publish` skips the condvar, whose notify is a
    /// system call even when nobody waits (the app and the bench never wait; tests do).
    waiters: usize,
}

/// Holds the newest frame. The decode thread publishes; readers take an `Arc` and never block
/// the writer for longer than a pointer swap.
#[derive(Default)]
pub struct FrameSlot {
    inner: Mutex<Inner>,
    changed: Condvar,
    waker: Mutex<Option<Waker>>,
}

impl std::fmt::Debug for FrameSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSlot")
            .field("generation", &self.generation())
            .finish()
    }
}

impl FrameSlot {
    /// Replaces the frame and wakes whoever waits (e.g. asks the UI to repaint).
    pub fn publish(&self, frame: Arc<VideoFrame>) {
        let waiting = match self.inner.lock() {
            Ok(mut inner) => {
                inner.frame = Some(frame);
                inner.generation += 1;
                inner.waiters > 0
            }
            Err(_) => false,
        };
        if waiting {
            self.changed.notify_all();
        }
        if let Ok(waker) = self.waker.lock() {
            if let Some(w) = waker.as_ref() {
                w();
            }
        }
    }

    /// The newest frame and its generation (incremented by every publish).
    pub fn latest(&self) -> (Option<Arc<VideoFrame>>, u64) {
        self.inner
            .lock()
            .map(|i| (i.frame.clone(), i.generation))
            .unwrap_or((None, 0))
    }

    pub fn generation(&self) -> u64 {
        self.inner.lock().map(|i| i.generation).unwrap_or(0)
    }

    /// Blocks until a frame newer than `generation` arrives or `timeout` passes. Not for the
    /// UI thread.
    pub fn wait_newer(&self, generation: u64, timeout: Duration) -> Option<(Arc<VideoFrame>, u64)> {
        let mut guard = self.inner.lock().ok()?;
        guard.waiters += 1;
        let (mut guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |i| i.generation <= generation)
            .ok()?;
        guard.waiters -= 1;
        if guard.generation <= generation {
            return None;
        }
        guard.frame.clone().map(|f| (f, guard.generation))
    }

    /// Registers a callback run after each publish (on the decode thread).
    pub fn set_waker(&self, waker: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut w) = self.waker.lock() {
            *w = Some(Box::new(waker));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{ColorMatrix, PixelLayout};
    use std::time::Instant;

    fn frame(ts: u32) -> Arc<VideoFrame> {
        Arc::new(VideoFrame {
            width: 2,
            height: 2,
            layout: PixelLayout::I420,
            matrix: ColorMatrix::Bt601,
            full_range: false,
            sample_aspect: (1, 1),
            planes: Vec::new(),
            ts_in_90khz: ts,
            decoded_at: Instant::now(),
            received_at: Instant::now(),
            capture_ms: None,
        })
    }

    #[test]
    fn newest_frame_wins() {
        let slot = FrameSlot::default();
        assert_eq!(slot.latest().1, 0);
        for ts in 1..=5 {
            slot.publish(frame(ts));
        }
        let (f, generation) = slot.latest();
        assert_eq!(f.unwrap().ts_in_90khz, 5);
        assert_eq!(generation, 5);
    }

    #[test]
    fn waits_across_threads_and_wakes() {
        let slot = Arc::new(FrameSlot::default());
        let woken = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let w = woken.clone();
        slot.set_waker(move || {
            w.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        let s = slot.clone();
        // Published while the main thread waits: the waiter must be woken, not time out.
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            s.publish(frame(9))
        });
        let started = Instant::now();
        let (f, g) = slot.wait_newer(0, Duration::from_secs(5)).unwrap();
        let waited = started.elapsed();
        t.join().unwrap();
        assert!(
            waited < Duration::from_secs(2),
            "woken only by the timeout: {waited:?}"
        );
        assert_eq!((f.ts_in_90khz, g), (9, 1));
        assert_eq!(woken.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(slot.wait_newer(1, Duration::from_millis(20)).is_none());
    }
}
