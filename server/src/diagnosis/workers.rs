//! Inference runs on its own threads, never on the async runtime. Jobs wait in one bounded
//! queue: when it is full a caller is told to come back later (503 + Retry-After) instead of
//! memory growing without bound. A job whose caller has given up is skipped, not run.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

/// Why a job did not produce a result.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    #[error("the inference queue is full")]
    Busy,
    #[error("inference took longer than {0:?}")]
    TimedOut(Duration),
    #[error("the inference worker stopped")]
    Gone,
}

/// A fixed set of worker threads behind a bounded queue.
pub struct Pool {
    tx: SyncSender<Job>,
    timeout: Duration,
    workers: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("workers", &self.workers).field("timeout", &self.timeout).finish()
    }
}

impl Pool {
    /// Starts `workers` threads sharing a queue of `queue` waiting jobs; each job must finish
    /// within `timeout` of being submitted.
    pub fn new(workers: usize, queue: usize, timeout: Duration) -> Pool {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("inference-{i}"))
                .spawn(move || worker(&rx))
                .expect("spawning an inference thread");
        }
        Pool { tx, timeout, workers: workers.max(1) }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Queues `f` and waits (asynchronously) for its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let rx = self.submit(f)?;
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(PoolError::Gone),
            Err(_) => Err(PoolError::TimedOut(self.timeout)),
        }
    }

    /// Queues `f` without waiting; the receiver yields its result. Fails at once when full.
    pub fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<T>, PoolError> {
        let (done, rx) = tokio::sync::oneshot::channel();
        let deadline = Instant::now() + self.timeout;
        let job: Job = Box::new(move || {
            if done.is_closed() || Instant::now() > deadline {
                return; // nobody waits for it any more
            }
            let _ = done.send(f());
        });
        match self.tx.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(PoolError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(PoolError::Gone),
        }
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while taking a job, never while running one.
        let job = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // A panicking model must not take the worker with it.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            tracing::error!("an inference job panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_instead_of_growing() {
        let pool = Pool::new(1, 1, Duration::from_secs(5));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let first = pool.submit(move || wait.recv().ok()).unwrap();
        // Give the worker time to take the first job so the queue slot is free again.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = pool.submit(|| 2).unwrap();
        assert_eq!(pool.submit(|| 3).err(), Some(PoolError::Busy));
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Some(()));
        assert_eq!(second.await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_slow_job_times_out() {
        let pool = Pool::new(1, 4, Duration::from_millis(20));
        let r = pool.run(|| std::thread::sleep(Duration::from_millis(200))).await;
        assert_eq!(r, Err(PoolError::TimedOut(Duration::from_millis(20))));
    }
}
