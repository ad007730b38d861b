//! The scan pool: a fixed number of workers (rayon, built per run, not the
//! global pool) that run jobs and the jobs they fan out to. A job's children go
//! on the running worker's own deque, where idle workers steal them, so one
//! big directory keeps every core busy. Admission from the bounded queue is
//! capped: at most `in_flight` queued items are being worked on at once, so the
//! queue fills (and sources feel backpressure) when the pool falls behind.
//!
//! Work that mostly waits on the disk (what `JobRunner::is_io` says, asked
//! when a job is spawned and again when a scan worker picks it up) can run
//! on a second set of threads, the I/O workers, so that waiting for the disk
//! never leaves a core idle: the scan workers, one per core, then only get
//! the work that needs a core. Jobs go both ways: an I/O worker's job hands
//! its children to the scan workers, a scan worker's job hands its children
//! to the I/O workers, each as `is_io` says at the time. An I/O worker that
//! has nothing to do sleeps on its queue and costs nothing. The pool knows
//! nothing of what jobs mean.

use std::any::Any;
use std::cell::Cell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::engine::queue::QueueReceiver;

/// What the pool runs. `run` does one job and pushes any jobs it fans out to.
pub trait JobRunner: Sync {
    type Job: Send;

    fn run(&self, job: Self::Job, spawn: &mut Vec<Self::Job>);

    /// Whether `job` mostly waits on the disk, and belongs on the I/O
    /// workers when the pool has any. Asked when the job is spawned and
    /// again when a scan worker is about to run it, so the answer may
    /// change while a scan runs.
    fn is_io(&self, job: &Self::Job) -> bool {
        let _ = job;
        false
    }
}

thread_local! {
    /// Set on the pool's I/O workers.
    static IO_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is one of a pool's I/O workers.
pub fn on_io_worker() -> bool {
    IO_WORKER.with(Cell::get)
}

/// A fixed-size work-stealing pool.
pub struct ScanPool {
    /// The scan workers.
    pool: rayon::ThreadPool,
    threads: usize,
    /// I/O workers started for each `run` (0: every job runs on the scan
    /// workers).
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
        let on_exit = exited.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("vigil-scan-{i}"))
            .exit_handler(move |_| {
                let (count, cv) = &*on_exit;
                *count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                cv.notify_all();
            })
            .build()
            .map_err(io::Error::other)?;
        Ok(ScanPool {
            pool,
            threads,
            io_threads,
            exited,
        })
    }

    /// Shuts the pool down and waits, at most `bound`, until every worker
    /// thread has ended. Returns whether they all did. (The I/O workers end
    /// with each `run`.)
    pub fn join(self, bound: Duration) -> bool {
        let ScanPool {
            pool,
            threads,
            exited,
            ..
        } = self;
        drop(pool);
        let (count, cv) = &*exited;
        let guard = count.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = cv
            .wait_timeout_while(guard, bound, |n| *n < threads)
            .unwrap_or_else(|p| p.into_inner());
        *guard >= threads
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
        if self.io_threads == 0 {
            self.pool.in_place_scope(|scan| {
                let lanes = Lanes { scan, io: None };
                admit(queue, &lanes, runner, quit, &permit_tx, &permit_rx);
            });
            return;
        }
        let io = IoLane::new();
        self.pool.in_place_scope(|scan| {
            std::thread::scope(|threads| {
                let mut started = 0;
                for i in 0..self.io_threads {
                    let (io, quit) = (&io, quit);
                    let spawned = std::thread::Builder::new()
                        .name(format!("vigil-io-{i}"))
                        .spawn_scoped(threads, move || io.work(scan, runner, quit));
                    started += usize::from(spawned.is_ok());
                }
                // Without a single I/O worker every job runs on the scan
                // workers.
                let lanes = Lanes {
                    scan,
                    io: (started > 0).then_some(&io),
                };
                admit(queue, &lanes, runner, quit, &permit_tx, &permit_rx);
                io.wait_idle();
                io.stop();
            });
        });
        let panicked = io.panicked.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(payload) = panicked {
            std::panic::resume_unwind(payload);
        }
    }
}

/// The I/O workers' jobs: the newest is taken first, as a rayon worker
/// takes from its own deque, so that the walk goes deep before it goes wide
/// and a folder's batches are started soon after it is listed.
struct IoJobs<'p, J> {
    stack: Vec<(J, Option<Permit<'p>>)>,
    /// Every job is done: the workers end.
    stop: bool,
}

/// The I/O workers' jobs, and the count of jobs not yet done in either
/// lane, which tells when they may stop.
struct IoLane<'p, J> {
    jobs: Mutex<IoJobs<'p, J>>,
    /// Signalled when a job is added, or on `stop`.
    added: Condvar,
    /// Jobs spawned (on either lane) and not yet done.
    live: AtomicUsize,
    idle: Mutex<()>,
    /// Signalled when `live` falls to 0.
    became_idle: Condvar,
    /// The first panic of a job run on an I/O worker, raised again by `run`.
    panicked: Mutex<Option<Box<dyn Any + Send>>>,
}

impl<'p, J: Send> IoLane<'p, J> {
    fn new() -> Self {
        IoLane {
            jobs: Mutex::new(IoJobs {
                stack: Vec::new(),
                stop: false,
            }),
            added: Condvar::new(),
            live: AtomicUsize::new(0),
            idle: Mutex::new(()),
            became_idle: Condvar::new(),
            panicked: Mutex::new(None),
        }
    }

    fn send(&self, job: J, permit: Option<Permit<'p>>) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.stack.push((job, permit));
        drop(jobs);
        self.added.notify_one();
    }

    /// Ends the workers once they are idle.
    fn stop(&self) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.stop = true;
        drop(jobs);
        self.added.notify_all();
    }

    /// The next job, waiting for one; `None` once stopped.
    fn next(&self) -> Option<(J, Option<Permit<'p>>)> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(job) = jobs.stack.pop() {
                return Some(job);
            }
            if jobs.stop {
                return None;
            }
            jobs = self.added.wait(jobs).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn done(&self) {
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _guard = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            self.became_idle.notify_all();
        }
    }

    /// Waits until no job is left in either lane.
    fn wait_idle(&self) {
        let mut guard = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while self.live.load(Ordering::Acquire) != 0 {
            guard = self
                .became_idle
                .wait(guard)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// One I/O worker: runs what it is sent until told to stop. A job that
    /// panics stops the scan (`quit`) and is raised again when `run` ends.
    fn work<'s, R>(&'s self, scan: &rayon::Scope<'s>, runner: &'s R, quit: &'s AtomicBool)
    where
        'p: 's,
        R: JobRunner<Job = J>,
    {
        IO_WORKER.with(|w| w.set(true));
        let lanes = Lanes {
            scan,
            io: Some(self),
        };
        while let Some((job, permit)) = self.next() {
            match catch_unwind(AssertUnwindSafe(|| execute(runner, job, quit))) {
                Ok(children) => {
                    for child in children {
                        lanes.spawn(runner, child, quit, None);
                    }
                    drop(permit);
                }
                Err(payload) => {
                    drop(permit);
                    quit.store(true, Ordering::Relaxed);
                    let mut first = self.panicked.lock().unwrap_or_else(|p| p.into_inner());
                    first.get_or_insert(payload);
                }
            }
            self.done();
        }
    }
}

/// Marks a job done in the I/O lane's count when dropped (also when the job
/// panics).
struct Done<'a, 'p, J: Send>(Option<&'a IoLane<'p, J>>);

impl<J: Send> Drop for Done<'_, '_, J> {
    fn drop(&mut self) {
        if let Some(io) = self.0 {
            io.done();
        }
    }
}

/// Where jobs go: the scan workers' scope, and the I/O workers if any.
struct Lanes<'a, 's, 'p, J> {
    scan: &'a rayon::Scope<'s>,
    io: Option<&'s IoLane<'p, J>>,
}

/// Takes items from `queue` and spawns each, holding an admission permit
/// while it runs.
fn admit<'s, 'p: 's, Q, R>(
    queue: &QueueReceiver<Q>,
    lanes: &Lanes<'_, 's, 'p, R::Job>,
    runner: &'s R,
    quit: &'s AtomicBool,
    permit_tx: &crossbeam_channel::Sender<()>,
    permit_rx: &'p crossbeam_channel::Receiver<()>,
) where
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

impl<'s, 'p: 's, J: Send> Lanes<'_, 's, 'p, J> {
    /// Runs `job` on the lane it belongs to; the jobs it fans out go where
    /// they belong in turn.
    fn spawn<R: JobRunner<Job = J>>(
        &self,
        runner: &'s R,
        job: J,
        quit: &'s AtomicBool,
        permit: Option<Permit<'p>>,
    ) {
        let io = self.io;
        if let Some(io) = io {
            io.live.fetch_add(1, Ordering::AcqRel);
            if runner.is_io(&job) {
                io.send(job, permit);
                return;
            }
        }
        self.scan.spawn(move |scan| {
            if let Some(io) = io {
                // What it needs may have changed since it was spawned.
                if runner.is_io(&job) {
                    io.send(job, permit);
                    return;
                }
            }
            let _done = Done(io);
            let lanes = Lanes { scan, io };
            for child in execute(runner, job, quit) {
                lanes.spawn(runner, child, quit, None);
            }
            drop(permit);
        });
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

    /// Jobs whose number is a multiple of 3 wait on the disk; job `panic_at`
    /// panics. Records which lane ran each job.
    struct TwoLanes {
        limit: u64,
        panic_at: Option<u64>,
        ran: Mutex<Vec<(u64, bool)>>,
    }

    impl JobRunner for TwoLanes {
        type Job = u64;
        fn run(&self, n: u64, spawn: &mut Vec<u64>) {
            assert_ne!(Some(n), self.panic_at, "job {n} panics");
            let on_scan = rayon::current_thread_index().is_some();
            assert_eq!(on_io_worker(), !on_scan);
            self.ran.lock().unwrap().push((n, on_io_worker()));
            spawn.extend(
                [2 * n + 1, 2 * n + 2]
                    .into_iter()
                    .filter(|c| *c < self.limit),
            );
        }
        fn is_io(&self, n: &u64) -> bool {
            n % 3 == 0
        }
    }

    #[test]
    fn jobs_go_back_and_forth_between_the_lanes_and_each_runs_once() {
        let pool = ScanPool::new(2, 3).unwrap();
        let runner = TwoLanes {
            limit: 3000,
            panic_at: None,
            ran: Mutex::new(Vec::new()),
        };
        let (tx, rx) = queue::bounded(4);
        tx.send(0u64).unwrap();
        drop(tx);
        pool.run(&rx, &runner, &AtomicBool::new(false), 2);
        let ran = runner.ran.into_inner().unwrap();
        assert!(ran.iter().all(|&(n, io)| io == (n % 3 == 0)));
        let mut numbers: Vec<u64> = ran.iter().map(|r| r.0).collect();
        numbers.sort();
        assert_eq!(numbers, (0..3000).collect::<Vec<_>>());
        assert!(pool.join(Duration::from_secs(10)), "every worker ended");
    }

    #[test]
    fn a_job_that_panics_on_an_io_worker_stops_the_run_and_is_raised() {
        let pool = ScanPool::new(2, 2).unwrap();
        let runner = TwoLanes {
            limit: 1 << 20,
            panic_at: Some(6),
            ran: Mutex::new(Vec::new()),
        };
        let (tx, rx) = queue::bounded(1);
        tx.send(0u64).unwrap();
        drop(tx);
        let quit = AtomicBool::new(false);
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| pool.run(&rx, &runner, &quit, 1)));
        let payload = run.expect_err("the panic is raised");
        let message = payload.downcast_ref::<String>().unwrap();
        assert!(message.contains("job 6 panics"), "{message}");
        assert!(quit.load(Ordering::Relaxed), "the rest was dropped");
        assert!(runner.ran.into_inner().unwrap().len() < 1 << 20);
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
