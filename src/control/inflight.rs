//! Control requests in flight: how a `SCAN` that went through the shared
//! queue and pool finds its way back to the connection that asked.
//!
//! A path scan is admitted as `ScanRequest::Control { path, id }`; every job
//! it fans out to carries `Origin::Control(id)`. The engine hands such jobs,
//! and only those, to `InFlight` (as its `engine::job::ReplyTo`): their
//! verdicts go to the request's reply channel, and their jobs are counted,
//! so that the request is known to be complete when its last job has run,
//! and skipped once the request was cancelled (SCAN's first detection, a
//! client that went away, a daemon that is stopping). A watched file's
//! verdict never comes here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::protocol::{self, ScanKind};
use crate::engine::inspect::FileError;
use crate::engine::job::ReplyTo;
use crate::engine::request::RequestId;
use crate::report::Event;

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
                let name = protocol::display_path(path);
                self.send(protocol::found(&name, d.signature));
                // ALLMATCHSCAN: a line for every signature the file matches.
                if self.kind == ScanKind::AllMatchScan {
                    for other in d.also {
                        self.send(protocol::found(&name, other));
                    }
                }
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
    /// when nothing was found and not everything examined was an error (an
    /// empty folder is `OK`).
    fn finish(&self) {
        let detections = self.detections.load(Ordering::Relaxed);
        let errors = self.errors.load(Ordering::Relaxed);
        let total = self.files.load(Ordering::Relaxed) + errors;
        let ok = detections == 0 && (errors < total || total == 0) && !self.is_cancelled();
        let dropped = self.dropped.load(Ordering::Relaxed);
        let _ = self.done_tx.try_send(Reply::Done { ok, dropped });
    }
}

/// Every control request in flight, by id.
#[derive(Default)]
pub struct InFlight {
    next: AtomicU64,
    live: RwLock<HashMap<RequestId, Arc<Pending>>>,
}

impl InFlight {
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

impl ReplyTo for InFlight {
    fn is_known(&self, id: RequestId) -> bool {
        self.get(id).is_some()
    }

    fn is_cancelled(&self, id: RequestId) -> bool {
        !matches!(self.get(id), Some(p) if !p.is_cancelled())
    }

    fn all_matches(&self, id: RequestId) -> bool {
        matches!(self.get(id), Some(p) if p.kind == ScanKind::AllMatchScan)
    }

    fn job_done(&self, id: RequestId, spawned: usize) {
        if let Some(p) = self.get(id) {
            if p.job_done(spawned) {
                p.finish();
            }
        }
    }

    fn verdict(&self, id: RequestId, event: &Event<'_>) {
        if let Some(p) = self.get(id) {
            p.event(event);
        }
    }

    fn root_error(&self, id: RequestId, path: &std::path::Path, e: &FileError) {
        if let Some(p) = self.get(id) {
            if !p.is_cancelled() {
                p.errors.fetch_add(1, Ordering::Relaxed);
                let reason = protocol::path_check_failure(&e.reason);
                p.send(protocol::error(&protocol::display_path(path), &reason));
            }
        }
    }

    fn unsupported(&self, id: RequestId, path: &std::path::Path) {
        if let Some(p) = self.get(id) {
            if !p.is_cancelled() {
                p.send(protocol::error(
                    &protocol::display_path(path),
                    protocol::NOT_SUPPORTED,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, Algorithm, Digest};
    use crate::report::Detection;
    use std::path::{Path, PathBuf};

    /// A one-byte detection of `path` by "Sig".
    fn detection<'a>(path: &'a Path, digest: &'a Digest) -> Detection<'a> {
        Detection {
            official: false,
            also: &[],
            path,
            size: 1,
            signature: "Sig",
            digest,
            moved: None,
            member: &[],
        }
    }

    /// One job of a countdown: `n` fans out into two `n - 1` until 0,
    /// reporting a detection at each odd `n` and a clean file otherwise.
    fn countdown(inflight: &InFlight, id: RequestId, n: u32, spawn: &mut Vec<u32>) {
        let digest = hash_bytes(Algorithm::Md5, b"x");
        let p = PathBuf::from(format!("/{n}"));
        if n % 2 == 1 {
            inflight.verdict(id, &Event::Detection(detection(&p, &digest)));
        } else {
            inflight.verdict(id, &Event::Clean { path: &p });
        }
        for _ in 0..n.min(2) {
            spawn.push(n - 1);
        }
    }

    fn collect(r: &Replies) -> Vec<Reply> {
        r.lines.try_iter().chain(r.done.try_iter()).collect()
    }

    /// Runs the request `id` for `/n`, and every job it spawns, as the
    /// engine runs a control request's jobs.
    fn run_request(inflight: &InFlight, id: RequestId, path: &str) {
        let mut work = vec![path[1..].parse::<u32>().unwrap()];
        while let Some(n) = work.pop() {
            if !inflight.is_known(id) {
                continue;
            }
            let mut spawn = Vec::new();
            if !inflight.is_cancelled(id) {
                countdown(inflight, id, n, &mut spawn);
            }
            inflight.job_done(id, spawn.len());
            work.extend(spawn);
        }
    }

    #[test]
    fn a_request_completes_when_its_last_job_has_run() {
        let in_flight = InFlight::new();
        let (id, _, rx) = in_flight.register(ScanKind::ContScan);
        run_request(&in_flight, id, "/3");
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
        let in_flight = InFlight::new();
        let (_, pending, rx) = in_flight.register(ScanKind::ContScan);
        let digest = hash_bytes(Algorithm::Md5, b"x");
        for i in 0..REPLY_BACKLOG + 10 {
            let p = PathBuf::from(format!("/{i}"));
            pending.event(&Event::Detection(detection(&p, &digest)));
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
        let in_flight = InFlight::new();
        let (id, _, rx) = in_flight.register(ScanKind::Scan);
        run_request(&in_flight, id, "/3");
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
        let (id, _, rx) = in_flight.register(ScanKind::Scan);
        run_request(&in_flight, id, "/0");
        assert_eq!(
            collect(&rx),
            vec![Reply::Done {
                ok: true,
                dropped: false
            }]
        );
        // A forgotten request's jobs are dropped.
        let (id, _, rx) = in_flight.register(ScanKind::Scan);
        in_flight.remove(id);
        run_request(&in_flight, id, "/5");
        assert!(collect(&rx).is_empty());
    }
}
