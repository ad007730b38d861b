//! The coordinator: the one thread that moves settled paths from the dirty
//! set into the bounded scan queue. The watcher's callback only marks paths
//! dirty under a short lock and never waits for the queue; the coordinator
//! waits instead (backpressure), while further changes pile up, coalesced, in
//! the dirty set. It also runs the watcher's housekeeping (faults reported by
//! the callback, re-watching roots that came back, polling) outside the lock.
//!
//! Lock order: there is one lock, `Shared::state`. It is never held while
//! sending to the queue or calling into the watcher, whose thread may be
//! waiting for it in a callback.
//!
//! Under `--cfg loom` the lock, condition variable and flag are loom's, so
//! that `tests/loom_coordinator.rs` can check every interleaving of the
//! callback, the coordinator, the workers and shutdown.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[cfg(loom)]
use loom::sync::{
    atomic::{AtomicBool, Ordering},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Condvar, Mutex, MutexGuard,
};

use super::dirty::{Change, DirtyCounts, DirtySet, Settle};
pub use crate::engine::request::Admit;
use crate::engine::request::{Origin, ScanRequest};

/// Something the watcher's callback could not deal with itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The inotify watch limit was reached while adding watches for these paths.
    WatchLimit(Vec<PathBuf>),
    /// A watched root was removed or moved away.
    RootGone(PathBuf),
    /// A folder appeared in a folder that is watched on its own (not as part
    /// of a recursive watch), so nothing watches it yet.
    UnwatchedFolder(PathBuf),
    /// Any other watcher error, as text.
    Other(String),
    /// Not a fault: a reload changed the roots, and only the coordinator's
    /// thread calls into the watcher. New roots are walked if `initial_scan`.
    Roots {
        roots: Vec<PathBuf>,
        initial_scan: bool,
    },
}

/// Counters kept under the lock, for statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoordinatorCounts {
    pub dirty: DirtyCounts,
    /// Kernel event queue overflows (each schedules a rescan of every root).
    pub overflows: u64,
    /// Requests handed to the scan queue.
    pub admitted: u64,
    pub pending: usize,
    pub queued: usize,
}

struct State {
    dirty: DirtySet,
    faults: Vec<Fault>,
    overflows: u64,
    admitted: u64,
    /// When the coordinator will look again, if it is waiting: a change due
    /// earlier must wake it. `None` while it waits for any change at all.
    wake_at: Option<Instant>,
    /// The coordinator is not waiting (it is sending or housekeeping): no
    /// need to wake it, it will look before it waits again.
    busy: bool,
}

/// The state shared by the watcher's callback, the coordinator and the
/// scan workers.
pub struct Shared {
    state: Mutex<State>,
    /// Wakes the coordinator: a change due earlier than it planned to look,
    /// a fault, or stop.
    wake: Condvar,
    /// Set once to stop the coordinator; it then admits nothing more.
    stop: AtomicBool,
}

/// How much later than the first due path the coordinator may look, so that
/// paths due close together are taken in one go.
fn slack(settle: Settle) -> Duration {
    (settle.quiet / 10).clamp(Duration::from_millis(1), Duration::from_millis(50))
}

impl Shared {
    pub fn new(dirty: DirtySet) -> Self {
        Shared {
            state: Mutex::new(State {
                dirty,
                faults: Vec::new(),
                overflows: 0,
                admitted: 0,
                wake_at: None,
                busy: false,
            }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes the coordinator if something is due before it planned to look.
    fn wake_for(&self, st: &State, due: Instant) {
        if !st.busy && st.wake_at.map_or(true, |w| due < w) {
            self.wake.notify_one();
        }
    }

    /// Notes a change to `path` (called by the watcher's callback).
    pub fn touch(&self, path: &Path, change: Change) {
        let now = Instant::now();
        let mut st = self.lock();
        let due = st.dirty.touch(path, change, now);
        self.wake_for(&st, due);
    }

    /// Schedules a walk of `path`: at once if `urgent`, else after a quiet time.
    pub fn schedule(&self, path: &Path, origin: Origin, urgent: bool) {
        let now = Instant::now();
        let mut st = self.lock();
        let due = st.dirty.schedule(path, origin, urgent, now);
        self.wake_for(&st, due);
    }

    /// The kernel dropped events: every root is walked again once quiet.
    pub fn overflowed(&self) {
        let now = Instant::now();
        let mut st = self.lock();
        st.overflows += 1;
        let roots = st.dirty.roots().to_vec();
        for root in roots {
            let due = st.dirty.schedule(&root, Origin::Rescan, false, now);
            self.wake_for(&st, due);
        }
    }

    /// Forgets a removed path.
    pub fn forget(&self, path: &Path) {
        self.lock().dirty.forget(path);
    }

    /// Reports a fault for the coordinator's housekeeping.
    pub fn fault(&self, fault: Fault) {
        let mut st = self.lock();
        st.faults.push(fault);
        if !st.busy {
            self.wake.notify_one();
        }
    }

    /// Replaces the watched roots (a reload): in the dirty set at once, in
    /// the watcher at the coordinator's next housekeeping.
    pub fn set_roots(&self, roots: Vec<PathBuf>, initial_scan: bool) {
        let mut st = self.lock();
        st.dirty.set_roots(roots.clone());
        st.faults.push(Fault::Roots {
            roots,
            initial_scan,
        });
        if !st.busy {
            self.wake.notify_one();
        }
    }

    /// A worker started the request for `path`.
    pub fn started(&self, path: &Path) {
        self.lock().dirty.started(path);
    }

    /// The watched root that `path` is in.
    pub fn root_of(&self, path: &Path) -> Option<PathBuf> {
        self.lock().dirty.root_of(path).map(Path::to_path_buf)
    }

    pub fn set_settle(&self, settle: Settle) {
        let mut st = self.lock();
        st.dirty.set_settle(settle);
        if !st.busy {
            self.wake.notify_one();
        }
    }

    pub fn counts(&self) -> CoordinatorCounts {
        let st = self.lock();
        CoordinatorCounts {
            dirty: st.dirty.counts(),
            overflows: st.overflows,
            admitted: st.admitted,
            pending: st.dirty.pending_len(),
            queued: st.dirty.queued_len(),
        }
    }

    /// Paths still pending (abandoned, once stopped).
    pub fn pending_paths(&self) -> Vec<PathBuf> {
        self.lock().dirty.pending_paths()
    }

    /// Stops the coordinator: it returns as soon as it is not inside `admit`,
    /// and admits nothing more.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _st = self.lock();
        self.wake.notify_all();
    }

    fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The coordinator's loop: waits until paths are due (or a fault, or the
    /// housekeeping timer), hands them to `admit` outside the lock, and
    /// repeats until `stop`. `housekeeping` gets the faults and returns when it
    /// next wants to run. Returns the requests it took but did not admit.
    pub fn run(
        &self,
        admit: &dyn Admit,
        housekeeping: &mut dyn FnMut(Vec<Fault>) -> Option<Instant>,
    ) -> Vec<ScanRequest> {
        let mut batch = Vec::new();
        let mut timer: Option<Instant> = None;
        loop {
            let faults;
            let timer_due;
            {
                let mut st = self.lock();
                loop {
                    if self.is_stopped() {
                        st.busy = true;
                        return batch;
                    }
                    let now = Instant::now();
                    let next = st.dirty.take_due(now, &mut batch);
                    let timer_now = timer.is_some_and(|t| t <= now);
                    if !batch.is_empty() || !st.faults.is_empty() || timer_now {
                        st.busy = true;
                        st.admitted += batch.len() as u64;
                        faults = std::mem::take(&mut st.faults);
                        timer_due = timer_now;
                        break;
                    }
                    let look = next.map(|n| n + slack(st.dirty.settle()));
                    let wake_at = match (look, timer) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    st.wake_at = wake_at;
                    st.busy = false;
                    st = match wake_at {
                        None => self.wake.wait(st).unwrap_or_else(|p| p.into_inner()),
                        Some(at) => {
                            let wait = at.saturating_duration_since(now);
                            self.wake
                                .wait_timeout(st, wait)
                                .unwrap_or_else(|p| p.into_inner())
                                .0
                        }
                    };
                }
            }
            if !faults.is_empty() || timer_due {
                timer = housekeeping(faults);
            }
            let mut sent = 0;
            for request in batch.iter() {
                if self.is_stopped() || !admit.admit(request.clone()) {
                    break;
                }
                sent += 1;
            }
            batch.drain(..sent);
            if !batch.is_empty() {
                // Stopped, or the queue closed: what is left is abandoned.
                return batch;
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::engine::queue;
    use std::sync::Arc;

    #[test]
    fn settled_paths_reach_the_queue_once_and_stop_returns() {
        let settle = Settle {
            quiet: Duration::from_millis(20),
            hold: Duration::from_millis(500),
        };
        let shared = Arc::new(Shared::new(DirtySet::new(vec!["/w".into()], settle, 1000)));
        let (tx, rx) = queue::bounded(1);
        let coordinator = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                let left = shared.run(&tx, &mut |_| None);
                assert!(left.is_empty());
            })
        };
        for i in 0..50 {
            shared.touch(Path::new(&format!("/w/{}", i % 10)), Change::Written);
        }
        for i in 0..10 {
            shared.touch(Path::new(&format!("/w/{i}")), Change::Closed);
        }
        let mut got = Vec::new();
        while got.len() < 10 {
            match rx.recv() {
                Some(ScanRequest::Watched { path, origin }) => {
                    assert_eq!(origin, Origin::Watch);
                    shared.started(&path);
                    got.push(path);
                }
                other => panic!("{other:?}"),
            }
        }
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 10);
        shared.stop();
        coordinator.join().unwrap();
        assert_eq!(rx.recv(), None, "the coordinator dropped its sender");
        assert_eq!(shared.counts().dirty.coalesced, 50);
    }

    #[test]
    fn faults_reach_housekeeping() {
        let shared = Arc::new(Shared::new(DirtySet::new(
            vec!["/w".into()],
            Settle::from_quiet(Duration::from_millis(10)),
            10,
        )));
        let (tx, _rx) = queue::bounded(1);
        let (seen_tx, seen_rx) = crossbeam_channel::unbounded();
        let coordinator = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                shared.run(&tx, &mut |faults| {
                    seen_tx.send(faults).unwrap();
                    None
                })
            })
        };
        shared.fault(Fault::RootGone("/w".into()));
        assert_eq!(
            seen_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            vec![Fault::RootGone("/w".into())]
        );
        shared.stop();
        coordinator.join().unwrap();
    }
}
