//! Work the UI starts and must not wait for (keychain, config file, file dialogs, probes,
//! snapshots): it runs on the tokio runtime, and the UI polls its result once per frame.

use std::future::Future;
use std::sync::mpsc;
use std::sync::Arc;

type Repaint = Arc<dyn Fn() + Send + Sync>;

/// The result of background work, polled from the UI thread without blocking.
pub struct Job<T> {
    result: mpsc::Receiver<T>,
}

/// What [`Job::poll`] found.
pub enum Poll<T> {
    Pending,
    Done(T),
    /// The work ended without a result (it panicked).
    Lost,
}

impl<T: Send + 'static> Job<T> {
    /// Runs blocking `work` (keychain, files, a modal file dialog) on the runtime's blocking
    /// threads; asks for a repaint when it is done.
    pub fn blocking(
        runtime: &tokio::runtime::Handle,
        repaint: &Repaint,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Self {
        let (tx, result) = mpsc::channel();
        let repaint = repaint.clone();
        runtime.spawn_blocking(move || {
            let _ = tx.send(work());
            repaint();
        });
        Self { result }
    }

    /// Runs `work` (network) on the runtime; asks for a repaint when it is done.
    pub fn spawn(
        runtime: &tokio::runtime::Handle,
        repaint: &Repaint,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Self {
        let (tx, result) = mpsc::channel();
        let repaint = repaint.clone();
        runtime.spawn(async move {
            let _ = tx.send(work.await);
            repaint();
        });
        Self { result }
    }

    pub fn poll(&self) -> Poll<T> {
        match self.result.try_recv() {
            Ok(value) => Poll::Done(value),
            Err(mpsc::TryRecvError::Empty) => Poll::Pending,
            Err(mpsc::TryRecvError::Disconnected) => Poll::Lost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls until the job is no longer pending (at most 5 s).
    fn wait<T: Send + 'static>(job: &Job<T>) -> Poll<T> {
        for _ in 0..500 {
            match job.poll() {
                Poll::Pending => std::thread::sleep(std::time::Duration::from_millis(10)),
                other => return other,
            }
        }
        Poll::Pending
    }

    #[test]
    fn results_arrive_without_blocking_and_a_panic_is_lost() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let repaint: Repaint = Arc::new(|| {});
        let job = Job::blocking(runtime.handle(), &repaint, || 42);
        let spawned = Job::spawn(runtime.handle(), &repaint, async { "done" });
        assert!(matches!(wait(&job), Poll::Done(42)));
        assert!(matches!(wait(&spawned), Poll::Done("done")));
        let lost: Job<u8> = Job::blocking(runtime.handle(), &repaint, || panic!("test"));
        assert!(matches!(wait(&lost), Poll::Lost));
    }
}
