//! How many images are decoded at once. Decoding is CPU work, and a picture at the pixel limit
//! (64 Mi pixels) takes about 200 MB while it is decoded, so uploads and DICOM re-renders take a
//! slot first: at most `decoders` run, at most `queue` wait, and past that a request gets 503
//! with `Retry-After` at once instead of an ever longer wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{AppError, Result};

#[derive(Debug)]
pub struct DecodeSlots {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

/// Counts a waiting request, also when its client goes away while it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl DecodeSlots {
    pub fn new(decoders: usize, queue: usize) -> DecodeSlots {
        DecodeSlots {
            permits: Arc::new(Semaphore::new(decoders.max(1))),
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// A slot, held until the returned permit is dropped (move it into the blocking task).
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        if ahead >= self.queue {
            return Err(AppError::Unavailable(
                "the server is busy decoding other images; try again in a few seconds".into(),
            ));
        }
        self.permits.clone().acquire_owned().await.map_err(|e| AppError::Internal(e.into()))
    }

    /// Runs `job` on a blocking thread once a slot is free; the slot is held until it ends.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let slot = self.acquire().await?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            job()
        })
        .await
        .map_err(anyhow::Error::from)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn beyond_the_decoders_and_the_queue_a_request_is_refused_at_once() {
        let slots = Arc::new(DecodeSlots::new(1, 1));
        let held = slots.acquire().await.unwrap();
        let waiter = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire().await.map(drop) }
        });
        while slots.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(slots.acquire().await, Err(AppError::Unavailable(_))), "the queue is full");
        drop(held);
        waiter.await.unwrap().unwrap();
        assert_eq!(slots.waiting.load(Ordering::SeqCst), 0);
        let _again = slots.acquire().await.unwrap();
    }
}
