//! The bounded queue between sources and the scan pool: the one admission
//! point. A source that finds it full either waits (`send`, the walker) or is
//! told so at once (`try_send`, the watcher, which must never block). Depth
//! and full-queue counts are kept for statistics. Nothing here spawns threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};

/// Counters shared by both ends of a queue.
#[derive(Debug, Default)]
pub struct QueueMetrics {
    /// Items accepted.
    pub enqueued: AtomicU64,
    /// Times a producer found the queue full.
    pub full: AtomicU64,
}

/// The producing end. Cloning makes another producer; the queue closes when
/// every producer is dropped.
#[derive(Debug)]
pub struct QueueSender<T> {
    tx: Sender<T>,
    metrics: Arc<QueueMetrics>,
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        QueueSender {
            tx: self.tx.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// The consuming end, read by the pool.
#[derive(Debug)]
pub struct QueueReceiver<T> {
    rx: Receiver<T>,
    metrics: Arc<QueueMetrics>,
}

/// The consumer has gone: nothing more will be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the scan queue is closed")]
pub struct Closed;

/// Why `try_send` did not enqueue; the item is handed back.
#[derive(Debug)]
pub enum TryEnqueueError<T> {
    Full(T),
    Closed(T),
}

/// A queue holding at most `capacity` items (at least 1).
pub fn bounded<T>(capacity: usize) -> (QueueSender<T>, QueueReceiver<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    let metrics = Arc::new(QueueMetrics::default());
    (
        QueueSender {
            tx,
            metrics: metrics.clone(),
        },
        QueueReceiver { rx, metrics },
    )
}

impl<T> QueueSender<T> {
    /// Enqueues, waiting while the queue is full (backpressure).
    pub fn send(&self, item: T) -> Result<(), Closed> {
        let item = match self.tx.try_send(item) {
            Ok(()) => {
                self.metrics.enqueued.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(TrySendError::Disconnected(_)) => return Err(Closed),
            Err(TrySendError::Full(item)) => item,
        };
        self.metrics.full.fetch_add(1, Ordering::Relaxed);
        self.tx.send(item).map_err(|_| Closed)?;
        self.metrics.enqueued.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Enqueues only if there is room now; never blocks.
    pub fn try_send(&self, item: T) -> Result<(), TryEnqueueError<T>> {
        match self.tx.try_send(item) {
            Ok(()) => {
                self.metrics.enqueued.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(item)) => {
                self.metrics.full.fetch_add(1, Ordering::Relaxed);
                Err(TryEnqueueError::Full(item))
            }
            Err(TrySendError::Disconnected(item)) => Err(TryEnqueueError::Closed(item)),
        }
    }
}

impl<T> QueueReceiver<T> {
    /// Takes the next item, waiting; `None` once the queue is closed and empty.
    pub fn recv(&self) -> Option<T> {
        self.rx.recv().ok()
    }

    /// Items waiting now.
    pub fn depth(&self) -> usize {
        self.rx.len()
    }

    pub fn metrics(&self) -> &QueueMetrics {
        &self.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_refuses_try_send_and_counts_it() {
        let (tx, rx) = bounded(1);
        tx.send(1).unwrap();
        assert!(matches!(tx.try_send(2), Err(TryEnqueueError::Full(2))));
        assert_eq!(rx.metrics().full.load(Ordering::Relaxed), 1);
        assert_eq!(rx.depth(), 1);
        assert_eq!(rx.recv(), Some(1));
        drop(tx);
        assert_eq!(rx.recv(), None);
    }

    #[test]
    fn send_waits_for_room() {
        let (tx, rx) = bounded(1);
        tx.send(1).unwrap();
        let producer = std::thread::spawn(move || tx.send(2));
        assert_eq!(rx.recv(), Some(1));
        assert_eq!(rx.recv(), Some(2));
        assert_eq!(producer.join().unwrap(), Ok(()));
        assert_eq!(rx.recv(), None);
    }
}
