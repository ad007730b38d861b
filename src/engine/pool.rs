//! The scan pool: a fixed number of workers (rayon, built per run, not the
//! global pool) that run jobs and the jobs they fan out to. A job's children go
//! on the running worker's own deque, where idle workers steal them, so one
//! big directory keeps every core busy. Admission from the bounded queue is
//! capped: at most `in_flight` queued items are being worked on at once, so the
//! queue fills (and sources feel backpressure) when the pool falls behind.
//!
//! Work that mostly waits on the disk (what `JobRunner::is_io` says) can run
//! on a second set of threads, the I/O workers, so that waiting for the disk
//! never leaves a core idle: the scan workers, one per core, then only get
//! the work that needs a core. The pool knows nothing of what jobs mean.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::engine::queue::QueueReceiver;

/// What the pool runs. `run` does one job and pushes any jobs it fans out to.
pub trait JobRunner: Sync {
    type Job: Send;

    fn run(&self, job: Self::Job, spawn: &mut Vec<Self::Job>);

    /// Whether `job` mostly waits on the disk, and belongs on the I/O
    /// workers when the pool has any.
    fn is_io(&self, job: &Self::Job) -> bool {
        let _ = job;
        false
    }
}

/// A fixed-size work-stealing pool.
pub struct ScanPool {
    /// The scan workers.
    pool: rayon::ThreadPool,
    threads: usize,
    /// The I/O workers, if any: they run the jobs `JobRunner::is_io` picks.
    io: Option<rayon::ThreadPool>,
    io_threads: usize,
    /// Workers that have ended, counted by rayon's exit handler: rayon has no
    /// join, so `join` waits on this instead.
    exited: Arc<(Mutex<usize>, Condvar)>,
}

impl ScanPool {
    /// A pool of `threads` scan workers (at least 1) and `io_threads` I/O
    /// workers (none: every job runs on the scan workers).
    pub fn new(threads: usize, io_threads: usize) -> io::Result<Self> {
        let threads = threads.max(1);
        let exited = Arc::new((Mutex::new(0), Condvar::new()));
        let build = |threads: usize, name: &'static str| {
            let on_exit = exited.clone();
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(move |i| format!("vigil-{name}-{i}"))
                .exit_handler(move |_| {
                    let (count, cv) = &*on_exit;
                    *count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                    cv.notify_all();
                })
                .build()
                .map_err(io::Error::other)
        };
        let pool = build(threads, "scan")?;
        let io = match io_threads {
            0 => None,
            n => Some(build(n, "io")?),
        };
        Ok(ScanPool {
            pool,
            threads,
            io,
            io_threads,
            exited,
        })
    }

    /// Shuts the pool down and waits, at most `bound`, until every worker
    /// thread has ended. Returns whether they all did.
    pub fn join(self, bound: Duration) -> bool {
        let ScanPool {
            pool,
            threads,
            io,
            io_threads,
            exited,
        } = self;
        drop(pool);
        drop(io);
        let all = threads + io_threads;
        let (count, cv) = &*exited;
        let guard = count.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = cv
            .wait_timeout_while(guard, bound, |n| *n < all)
            .unwrap_or_else(|p| p.into_inner());
        *guard >= all
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// I/O workers (0: none, every job runs on the scan workers).
    pub fn io_threads(&self) -> usize {
        self.io_threads
    }

    /// Takes items from `queue` until it is closed and empty, running each
    /// (and everything it fans out to) on the pool, with at most `in_flight`
    /// queued items admitted at once. Returns when all of it is done. Once
    /// `quit` is set, queued and fanned-out jobs are dropped unrun.
    pub fn run<Q, R>(
        &self,
        queue: &QueueReceiver<Q>,
        runner: &R,
        quit: &AtomicBool,
        in_flight: usize,
    ) where
        Q: Send,
        R: JobRunner,
        R::Job: From<Q>,
    {
        let (permit_tx, permit_rx) = crossbeam_channel::bounded::<()>(in_flight.max(1));
        self.pool.in_place_scope(|scan| match &self.io {
            None => {
                let lanes = Lanes { scan, io: None };
                admit(queue, &lanes, runner, quit, &permit_tx, &permit_rx);
            }
            // The I/O workers' scope is inside the scan workers', so that
            // their jobs can hand work to the scan workers until the end.
            Some(io_pool) => io_pool.in_place_scope(|io| {
                let lanes = Lanes { scan, io: Some(io) };
                admit(queue, &lanes, runner, quit, &permit_tx, &permit_rx);
            }),
        });
    }
}

/// Where jobs go: the scan workers' scope, and the I/O workers' if any.
struct Lanes<'a, 'b, 's, 'i> {
    scan: &'a rayon::Scope<'s>,
    io: Option<&'b rayon::Scope<'i>>,
}

/// Takes items from `queue` and spawns each, holding an admission permit
/// while it runs.
fn admit<'s, 'i, Q, R>(
    queue: &QueueReceiver<Q>,
    lanes: &Lanes<'i, '_, 's, 'i>,
    runner: &'s R,
    quit: &'s AtomicBool,
    permit_tx: &crossbeam_channel::Sender<()>,
    permit_rx: &'s crossbeam_channel::Receiver<()>,
) where
    's: 'i,
    Q: Send,
    R: JobRunner,
    R::Job: From<Q>,
{
    while let Some(item) = queue.recv() {
        if quit.load(Ordering::Relaxed) {
            continue; // drain without running
        }
        // Blocks while `in_flight` items are being worked on.
        if permit_tx.send(()).is_err() {
            break;
        }
        let job = R::Job::from(item);
        let permit = Permit(permit_rx);
        lanes.spawn(runner, job, quit, Some(permit));
    }
}

impl<'a, 's, 'i> Lanes<'a, '_, 's, 'i>
where
    's: 'i,
    'a: 'i,
{
    /// Runs `job` on the lane it belongs to; the jobs it fans out go the
    /// same way.
    fn spawn<R: JobRunner>(
        &self,
        runner: &'s R,
        job: R::Job,
        quit: &'s AtomicBool,
        permit: Option<Permit<'s>>,
    ) {
        match self.io {
            Some(io) if runner.is_io(&job) => {
                let scan = self.scan;
                io.spawn(move |io| {
                    let _permit = permit;
                    let lanes = Lanes { scan, io: Some(io) };
                    for child in execute(runner, job, quit) {
                        lanes.spawn(runner, child, quit, None);
                    }
                });
            }
            _ => self.scan.spawn(move |scan| {
                let _permit = permit;
                // Scan jobs hand nothing to the I/O workers.
                let lanes = Lanes { scan, io: None };
                for child in execute(runner, job, quit) {
                    lanes.spawn(runner, child, quit, None);
                }
            }),
        }
    }
}

/// Returns an admission slot when the admitted job finishes (or panics).
struct Permit<'a>(&'a crossbeam_channel::Receiver<()>);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let _ = self.0.try_recv();
    }
}

/// Sets `quit` if a job panics, so the rest of the pool stops early.
struct QuitOnPanic<'a>(&'a AtomicBool);

impl Drop for QuitOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs one job (unless `quit` is set) and returns the jobs it fans out to.
fn execute<R: JobRunner>(runner: &R, job: R::Job, quit: &AtomicBool) -> Vec<R::Job> {
    let mut children = Vec::new();
    if quit.load(Ordering::Relaxed) {
        return children;
    }
    let guard = QuitOnPanic(quit);
    runner.run(job, &mut children);
    drop(guard);
    children
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::queue;
    use std::collections::HashSet;
    use std::sync::Mutex;

    /// Job n fans out to 2n+1 and 2n+2 below a limit: a binary tree of jobs.
    struct Tree {
        limit: u64,
        seen: Mutex<Vec<u64>>,
        threads: Mutex<HashSet<usize>>,
    }

    impl JobRunner for Tree {
        type Job = u64;
        fn run(&self, n: u64, spawn: &mut Vec<u64>) {
            self.seen.lock().unwrap().push(n);
            self.threads
                .lock()
                .unwrap()
                .insert(rayon::current_thread_index().unwrap());
            for c in [2 * n + 1, 2 * n + 2] {
                if c < self.limit {
                    spawn.push(c);
                }
            }
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }

    #[test]
    fn every_fanned_out_job_runs_once_across_workers() {
        let pool = ScanPool::new(4, 0).unwrap();
        let tree = Tree {
            limit: 2000,
            seen: Mutex::new(Vec::new()),
            threads: Mutex::new(HashSet::new()),
        };
        let (tx, rx) = queue::bounded(2);
        tx.send(0u64).unwrap();
        drop(tx);
        let quit = AtomicBool::new(false);
        pool.run(&rx, &tree, &quit, 1);
        let mut seen = tree.seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, (0..2000).collect::<Vec<_>>());
        // One root fanned out to every worker: stealing happened.
        assert!(tree.threads.into_inner().unwrap().len() > 1);
    }

    #[test]
    fn quit_drops_remaining_work() {
        let pool = ScanPool::new(2, 0).unwrap();
        let tree = Tree {
            limit: 1 << 20,
            seen: Mutex::new(Vec::new()),
            threads: Mutex::new(HashSet::new()),
        };
        let (tx, rx) = queue::bounded(4);
        tx.send(0u64).unwrap();
        drop(tx);
        let quit = AtomicBool::new(true);
        pool.run(&rx, &tree, &quit, 4);
        assert!(tree.seen.into_inner().unwrap().is_empty());
        assert!(pool.join(Duration::from_secs(10)), "every worker ended");
    }
}
