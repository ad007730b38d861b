//! Control requests in flight: how a `SCAN` that went through the shared
//! queue and pool finds its way back to the connection that asked.
//!
//! A path scan is admitted as `ScanRequest::Control { path, id }`; every job
//! it fans out to carries `Origin::Control(id)`. `Router` (the daemon's sink)
//! sends the verdicts of such jobs to the request's reply channel, and
//! `Routed` (around the engine) counts the request's jobs, so that the
//! request is known to be complete when its last job has run, and skips the
//! jobs of a request that was cancelled (SCAN's first detection, a client
//! that went away, a daemon that is stopping).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::protocol::{self, ScanKind};
use crate::engine::job::Job;
use crate::engine::pool::JobRunner;
use crate::report::{Event, Sink, Summary};
use crate::source::{Origin, RequestId};

/// Reply lines that may wait for a slow client before its request is
/// cancelled: the pool never waits on a client.
const REPLY_BACKLOG: usize = 4096;

/// What a request sends back to its connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// One reply line's body (`PATH: NAME FOUND`, `PATH: REASON ERROR`).
    Line(String),
    /// The request is complete; `ok` says whether to end with `PATH: OK`;
    /// `dropped` that replies were lost to a client that read too slowly.
    Done { ok: bool, dropped: bool },
}

/// Where a request's replies arrive: lines as they are found, and the end
/// on a channel of its own, so that sending it never waits (a pool worker
/// never waits on a client). When `done` has arrived, every line is already
/// in `lines`.
pub struct Replies {
    pub lines: Receiver<Reply>,
    pub done: Receiver<Reply>,
}

/// One path scan in flight.
pub struct Pending {
    kind: ScanKind,
    tx: Sender<Reply>,
    done_tx: Sender<Reply>,
    /// Jobs admitted or fanned out and not yet run; the request is complete
    /// when it falls to 0.
    outstanding: AtomicI64,
    files: AtomicU64,
    detections: AtomicU64,
    errors: AtomicU64,
    /// Set to skip the rest of the request's jobs and drop its verdicts.
    cancelled: AtomicBool,
    /// A reply did not fit in the backlog.
    dropped: AtomicBool,
}

impl Pending {
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    fn send(&self, line: String) {
        match self.tx.try_send(Reply::Line(line)) {
            Ok(()) => {}
            // The client reads too slowly (or is gone): give up on it.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.store(true, Ordering::Relaxed);
                self.cancel();
            }
        }
    }

    /// A verdict of one of this request's jobs.
    fn event(&self, event: &Event<'_>) {
        if self.is_cancelled() {
            return;
        }
        let path = match event {
            Event::Detection(d) => d.path,
            Event::Clean { path } | Event::Error { path, .. } => path,
        };
        match event {
            Event::Detection(d) => {
                // SCAN stops at the first detection: only one worker, the
                // first to cancel, reports one.
                if self.kind == ScanKind::Scan && self.cancelled.swap(true, Ordering::AcqRel) {
                    return;
                }
                self.files.fetch_add(1, Ordering::Relaxed);
                self.detections.fetch_add(1, Ordering::Relaxed);
                self.send(protocol::found(&protocol::display_path(path), d.signature));
            }
            Event::Clean { .. } => {
                self.files.fetch_add(1, Ordering::Relaxed);
            }
            Event::Error { reason, .. } => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                self.send(protocol::error(&protocol::display_path(path), reason));
            }
        }
    }

    /// One job ran (or was skipped) and fanned out to `spawned` more.
    /// Returns true if that completed the request.
    fn job_done(&self, spawned: usize) -> bool {
        let before = self
            .outstanding
            .fetch_add(spawned as i64 - 1, Ordering::AcqRel);
        before + spawned as i64 - 1 == 0
    }

    /// Tells the connection the request is complete. As clamd: `PATH: OK`
    /// when nothing was found and not everything examined was an error.
    fn finish(&self) {
        let detections = self.detections.load(Ordering::Relaxed);
        let errors = self.errors.load(Ordering::Relaxed);
        let total = self.files.load(Ordering::Relaxed) + errors;
        let ok = detections == 0 && errors < total && !self.is_cancelled();
        let dropped = self.dropped.load(Ordering::Relaxed);
        let _ = self.done_tx.try_send(Reply::Done { ok, dropped });
    }
}

/// Every control request in flight, by id.
#[derive(Default)]
pub struct Routes {
    next: AtomicU64,
    live: RwLock<HashMap<RequestId, Arc<Pending>>>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new request: its id, its state, and where its replies
    /// come. It counts as one outstanding job (the request itself) until
    /// it is admitted and run.
    pub fn register(&self, kind: ScanKind) -> (RequestId, Arc<Pending>, Replies) {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, lines) = crossbeam_channel::bounded(REPLY_BACKLOG);
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let pending = Arc::new(Pending {
            kind,
            tx,
            done_tx,
            outstanding: AtomicI64::new(1),
            files: AtomicU64::new(0),
            detections: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            cancelled: AtomicBool::new(false),
            dropped: AtomicBool::new(false),
        });
        self.write().insert(id, pending.clone());
        (id, pending, Replies { lines, done })
    }

    /// Forgets a request (its connection is done with it). Jobs of it that
    /// are still queued are then dropped unrun.
    pub fn remove(&self, id: RequestId) {
        if let Some(p) = self.write().remove(&id) {
            p.cancel();
        }
    }

    /// Cancels every request (the daemon is stopping).
    pub fn cancel_all(&self) {
        for p in self.read().values() {
            p.cancel();
        }
    }

    /// Requests in flight.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, id: RequestId) -> Option<Arc<Pending>> {
        self.read().get(&id).cloned()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<RequestId, Arc<Pending>>> {
        self.live.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<RequestId, Arc<Pending>>> {
        self.live.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The daemon's sink: verdicts of control requests go to their connection
/// as well; everything goes on to `inner` (the event log).
pub struct Router<'a, S> {
    pub inner: S,
    pub routes: &'a Routes,
}

impl<S: Sink> Sink for Router<'_, S> {
    fn event(&self, event: &Event<'_>) {
        self.inner.event(event);
    }

    fn event_from(&self, origin: Origin, event: &Event<'_>) {
        if let Origin::Control(id) = origin {
            if let Some(p) = self.routes.get(id) {
                p.event(event);
            }
        }
        self.inner.event_from(origin, event);
    }

    fn summary(&self, summary: &Summary) {
        self.inner.summary(summary);
    }

    fn flush(&self) {
        self.inner.flush();
    }

    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

/// Runs jobs with `inner`, keeping count of each control request's jobs and
/// skipping those of cancelled (or forgotten) requests.
pub struct Routed<'a, R> {
    pub inner: R,
    pub routes: &'a Routes,
}

impl<R: JobRunner<Job = Job>> JobRunner for Routed<'_, R> {
    type Job = Job;

    fn run(&self, job: Job, spawn: &mut Vec<Job>) {
        let Origin::Control(id) = job.origin() else {
            return self.inner.run(job, spawn);
        };
        let Some(pending) = self.routes.get(id) else {
            return; // the connection is gone: drop the job
        };
        if !pending.is_cancelled() {
            self.inner.run(job, spawn);
        }
        if pending.job_done(spawn.len()) {
            pending.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, Algorithm};
    use crate::report::Detection;
    use crate::source::ScanRequest;
    use std::path::PathBuf;

    /// A runner that fans `n` out into `n - 1` until 0, reporting a
    /// detection at each job of an odd `n`.
    struct Countdown<'a>(&'a Router<'a, Quiet>);

    struct Quiet;
    impl Sink for Quiet {
        fn event(&self, _: &Event<'_>) {}
        fn summary(&self, _: &Summary) {}
        fn flush(&self) {}
        fn is_closed(&self) -> bool {
            false
        }
    }

    impl JobRunner for Countdown<'_> {
        type Job = Job;
        fn run(&self, job: Job, spawn: &mut Vec<Job>) {
            let origin = job.origin();
            let Job::Request(ScanRequest::Control { path, id, .. }) = job else {
                panic!("unexpected job")
            };
            let n: u32 = path.to_str().unwrap()[1..].parse().unwrap();
            let digest = hash_bytes(Algorithm::Md5, b"x");
            let p = PathBuf::from(format!("/{n}"));
            if n % 2 == 1 {
                self.0.event_from(
                    origin,
                    &Event::Detection(Detection {
                        path: &p,
                        size: 1,
                        signature: "Sig",
                        digest: &digest,
                        moved: None,
                        member: &[],
                    }),
                );
            } else {
                self.0.event_from(origin, &Event::Clean { path: &p });
            }
            for _ in 0..n.min(2) {
                spawn.push(Job::Request(ScanRequest::Control {
                    path: format!("/{}", n - 1).into(),
                    id,
                    confine: None,
                }));
            }
        }
    }

    fn collect(r: &Replies) -> Vec<Reply> {
        r.lines.try_iter().chain(r.done.try_iter()).collect()
    }

    /// Runs the request `id` for `path`, and every job it spawns, through a
    /// `Routed` `Countdown` that reports to `routes`.
    fn run_request(routes: &Routes, id: RequestId, path: &str) {
        let router = Router {
            inner: Quiet,
            routes,
        };
        let runner = Routed {
            inner: Countdown(&router),
            routes,
        };
        run_all(
            &runner,
            Job::Request(ScanRequest::Control {
                path: path.into(),
                id,
                confine: None,
            }),
        );
    }

    fn run_all(runner: &impl JobRunner<Job = Job>, first: Job) {
        let mut work = vec![first];
        while let Some(job) = work.pop() {
            let mut spawn = Vec::new();
            runner.run(job, &mut spawn);
            work.extend(spawn);
        }
    }

    #[test]
    fn a_request_completes_when_its_last_job_has_run() {
        let routes = Routes::new();
        let (id, _, rx) = routes.register(ScanKind::ContScan);
        run_request(&routes, id, "/3");
        let replies = collect(&rx);
        // 3 → 2 2, each 2 → 1 1, each 1 → 0: detections at /3 and four /1.
        let found = replies
            .iter()
            .filter(|r| matches!(r, Reply::Line(_)))
            .count();
        assert_eq!(found, 5);
        assert_eq!(
            replies.last(),
            Some(&Reply::Done {
                ok: false,
                dropped: false
            })
        );
        assert!(matches!(&replies[0], Reply::Line(l) if l == "/3: Sig FOUND"));
    }

    #[test]
    fn a_client_that_reads_too_slowly_has_its_request_cancelled() {
        let routes = Routes::new();
        let (_, pending, rx) = routes.register(ScanKind::ContScan);
        let digest = hash_bytes(Algorithm::Md5, b"x");
        for i in 0..REPLY_BACKLOG + 10 {
            let p = PathBuf::from(format!("/{i}"));
            pending.event(&Event::Detection(Detection {
                path: &p,
                size: 1,
                signature: "Sig",
                digest: &digest,
                moved: None,
                member: &[],
            }));
        }
        assert!(pending.is_cancelled());
        assert!(pending.job_done(0));
        pending.finish();
        let replies = collect(&rx);
        assert_eq!(replies.len(), REPLY_BACKLOG + 1);
        assert_eq!(
            replies.last(),
            Some(&Reply::Done {
                ok: false,
                dropped: true
            })
        );
    }

    #[test]
    fn scan_stops_at_the_first_detection_and_a_clean_tree_is_ok() {
        let routes = Routes::new();
        let (id, _, rx) = routes.register(ScanKind::Scan);
        run_request(&routes, id, "/3");
        let replies = collect(&rx);
        assert_eq!(
            replies,
            vec![
                Reply::Line("/3: Sig FOUND".into()),
                Reply::Done {
                    ok: false,
                    dropped: false
                }
            ]
        );
        let (id, _, rx) = routes.register(ScanKind::Scan);
        run_request(&routes, id, "/0");
        assert_eq!(
            collect(&rx),
            vec![Reply::Done {
                ok: true,
                dropped: false
            }]
        );
        // A forgotten request's jobs are dropped.
        let (id, _, rx) = routes.register(ScanKind::Scan);
        routes.remove(id);
        run_request(&routes, id, "/5");
        assert!(collect(&rx).is_empty());
    }
}
