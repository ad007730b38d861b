//! The scan pool: a fixed number of workers (rayon, built per run, not the
//! global pool) that run jobs and the jobs they fan out to. A job's children go
//! on the running worker's own deque, where idle workers steal them, so one
//! big directory keeps every core busy. Admission from the bounded queue is
//! capped: at most `in_flight` queued items are being worked on at once, so the
//! queue fills (and sources feel backpressure) when the pool falls behind.
//! The pool knows nothing of what jobs mean.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::engine::queue::QueueReceiver;

/// What the pool runs. `run` does one job and pushes any jobs it fans out to.
pub trait JobRunner: Sync {
    type Job: Send;

    fn run(&self, job: Self::Job, spawn: &mut Vec<Self::Job>);
}

/// A fixed-size work-stealing pool.
pub struct ScanPool {
    pool: rayon::ThreadPool,
    threads: usize,
    /// Workers that have ended, counted by rayon's exit handler: rayon has no
    /// join, so `join` waits on this instead.
    exited: Arc<(Mutex<usize>, Condvar)>,
}

impl ScanPool {
    /// A pool of `threads` workers (at least 1).
    pub fn new(threads: usize) -> io::Result<Self> {
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
            exited,
        })
    }

    /// Shuts the pool down and waits, at most `bound`, until every worker
    /// thread has ended. Returns whether they all did.
    pub fn join(self, bound: Duration) -> bool {
        let ScanPool {
            pool,
            threads,
            exited,
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
        self.pool.in_place_scope(|scope| {
            while let Some(item) = queue.recv() {
                if quit.load(Ordering::Relaxed) {
                    continue; // drain without running
                }
                // Blocks while `in_flight` items are being worked on.
                if permit_tx.send(()).is_err() {
                    break;
                }
                let job = R::Job::from(item);
                let permit_rx = &permit_rx;
                scope.spawn(move |s| {
                    let _permit = Permit(permit_rx);
                    execute(s, runner, job, quit);
                });
            }
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

fn execute<'s, R: JobRunner>(
    scope: &rayon::Scope<'s>,
    runner: &'s R,
    job: R::Job,
    quit: &'s AtomicBool,
) {
    if quit.load(Ordering::Relaxed) {
        return;
    }
    let guard = QuitOnPanic(quit);
    let mut children = Vec::new();
    runner.run(job, &mut children);
    drop(guard);
    for child in children {
        scope.spawn(move |s| execute(s, runner, child, quit));
    }
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
        let pool = ScanPool::new(4).unwrap();
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
        let pool = ScanPool::new(2).unwrap();
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
