//! The scan engine, in data-flow order: `request`s enter the bounded
//! `queue`, the work-stealing `pool` runs `job`s, a job `walk`s folders and
//! `inspect`s files, and verdicts go out to a `report::Sink`.
//!
//! `Pipeline` is all of it wired once: a command's configuration builds one
//! (`ScanConfig::pipeline`, `DaemonConfig::pipeline`), its sources send
//! requests through `Pipeline::admission`, and `Pipeline::run` works until
//! every admission is dropped and the queue is empty.

pub mod inspect;
pub mod job;
pub mod pool;
pub mod prefetch;
pub mod queue;
pub mod request;
pub mod walk;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::quarantine::Quarantine;
use crate::report::Sink;
use crate::stats::Stats;
use inspect::Inspector;
use job::{Engine, ReplyTo};
use pool::ScanPool;
use prefetch::ReadAhead;
use queue::{QueueReceiver, QueueSender};
use request::{Admit, ScanRequest};
use walk::Walker;

/// Queue slots per worker between the sources and the pool, unless the
/// configuration says otherwise.
pub const QUEUE_PER_THREAD: usize = 16;

/// What a pipeline is built from.
pub struct PipelineParts {
    /// Scan workers (at least 1).
    pub threads: usize,
    /// Requests that may wait in the queue; `None`: `QUEUE_PER_THREAD` per worker.
    pub queue_capacity: Option<usize>,
    /// Files opened and read ahead of the scan workers at most (0: none, and
    /// no I/O workers: the scan workers walk and read as they go); `None`:
    /// automatic (`prefetch::auto_depth`).
    pub io_depth: Option<usize>,
    pub walker: Walker,
    pub inspector: Inspector,
    /// Where detected files are moved; `None` leaves them in place.
    pub quarantine: Option<Quarantine>,
}

/// Jobs in the system and jobs done, for a watchdog and statistics.
#[derive(Debug, Default)]
struct Progress {
    /// Requests admitted to the queue plus jobs fanned out, not yet run.
    outstanding: AtomicI64,
    /// Jobs run.
    finished: AtomicU64,
}

/// The queue, the pool and what its jobs run with, built once.
pub struct Pipeline {
    /// The work-stealing workers.
    pool: ScanPool,
    /// Counters, a slot per worker, read by summaries and STATS.
    stats: Stats,
    /// Set to drop the remaining work: output that went away, a drain that
    /// ran over its bound.
    quit: AtomicBool,
    /// Kept apart from `stats` because the daemon's watchdog reads it on
    /// every tick and it counts jobs, not files.
    progress: Progress,
    /// The queue's receiving end, read only by `run`.
    rx: QueueReceiver<ScanRequest>,
    /// The queue's sending end until `admission` hands it out: the queue
    /// closes when the last `Admission` is dropped, so the pipeline must not
    /// keep one itself.
    tx: Mutex<Option<QueueSender<ScanRequest>>>,
    /// Queued requests worked on at once: enough to keep every worker busy,
    /// few enough that a full queue still pushes back on the sources.
    in_flight: usize,
    walker: Walker,
    inspector: Inspector,
    read_ahead: ReadAhead,
    quarantine: Option<Quarantine>,
}

/// What a run adds to the jobs: where verdicts go and who else follows them.
#[derive(Clone, Copy)]
pub struct Outputs<'a> {
    /// Every verdict.
    pub sink: &'a dyn Sink,
    /// The control requests in flight, which get their own verdicts back;
    /// jobs of other origins never look at it.
    pub replies: Option<&'a dyn ReplyTo>,
    /// Called before a watched path is scanned (the coordinator's "it
    /// started", so that a change from now on schedules it again).
    pub on_watched: Option<&'a (dyn Fn(&Path) + Sync)>,
}

impl<'a> Outputs<'a> {
    /// Verdicts to `sink` only.
    pub fn sink(sink: &'a dyn Sink) -> Self {
        Outputs {
            sink,
            replies: None,
            on_watched: None,
        }
    }
}

impl Pipeline {
    pub fn new(parts: PipelineParts) -> io::Result<Self> {
        let depth = parts.io_depth.unwrap_or_else(prefetch::auto_depth);
        let pool = ScanPool::new(parts.threads, prefetch::io_threads(parts.threads, depth))?;
        let threads = pool.threads();
        let capacity = (parts.queue_capacity).unwrap_or(threads * QUEUE_PER_THREAD);
        let (tx, rx) = queue::bounded(capacity);
        Ok(Pipeline {
            stats: Stats::new(threads),
            quit: AtomicBool::new(false),
            progress: Progress::default(),
            rx,
            tx: Mutex::new(Some(tx)),
            in_flight: threads * 2,
            walker: parts.walker,
            inspector: parts.inspector,
            read_ahead: ReadAhead::new(depth),
            quarantine: parts.quarantine,
            pool,
        })
    }

    /// The way into the queue, counted as outstanding work. There is one;
    /// clone it for more sources. The queue closes, and `run` returns once it
    /// is empty, when every clone is dropped.
    ///
    /// # Panics
    /// If called twice.
    pub fn admission(&self) -> Admission<'_> {
        let tx = (self.tx.lock().unwrap_or_else(|p| p.into_inner()))
            .take()
            .expect("the pipeline's admission is taken once");
        Admission {
            tx,
            progress: &self.progress,
        }
    }

    /// Runs queued requests, and everything they fan out to, until the queue
    /// is closed and empty, or `quit` is set.
    pub fn run(&self, outputs: Outputs<'_>) {
        let engine = Engine {
            walker: &self.walker,
            inspector: &self.inspector,
            read_ahead: &self.read_ahead,
            quarantine: self.quarantine.as_ref(),
            stats: &self.stats,
            quit: &self.quit,
            outputs,
            outstanding: &self.progress.outstanding,
            finished: &self.progress.finished,
        };
        self.pool.run(&self.rx, &engine, &self.quit, self.in_flight);
    }

    /// Drops the work left: queued requests are taken and not run, running
    /// jobs end after their current file.
    pub fn quit(&self) {
        self.quit.store(true, Ordering::Relaxed);
    }

    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Files opened and read ahead of the scan workers at most (0: none).
    pub fn io_depth(&self) -> usize {
        self.read_ahead.depth()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The inspector jobs run with (the control socket's streams use it too).
    pub fn inspector(&self) -> &Inspector {
        &self.inspector
    }

    /// Requests waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        self.rx.depth()
    }

    /// Times a source found the queue full.
    pub fn queue_full(&self) -> u64 {
        self.rx.metrics().full.load(Ordering::Relaxed)
    }

    /// Requests admitted plus jobs fanned out, not yet run.
    pub fn outstanding(&self) -> i64 {
        self.progress.outstanding.load(Ordering::Relaxed)
    }

    /// Jobs run so far.
    pub fn finished(&self) -> u64 {
        self.progress.finished.load(Ordering::Relaxed)
    }

    /// Shuts the workers down and waits at most `bound` for them to end.
    /// Returns whether they all did.
    pub fn join(self, bound: Duration) -> bool {
        self.pool.join(bound)
    }
}

/// A source's way into the pipeline's queue, counting what it admits.
#[derive(Clone)]
pub struct Admission<'p> {
    tx: QueueSender<ScanRequest>,
    progress: &'p Progress,
}

impl Admit for Admission<'_> {
    fn admit(&self, request: ScanRequest) -> bool {
        let outstanding = &self.progress.outstanding;
        outstanding.fetch_add(1, Ordering::Relaxed);
        let ok = self.tx.send(request).is_ok();
        if !ok {
            outstanding.fetch_sub(1, Ordering::Relaxed);
        }
        ok
    }
}
