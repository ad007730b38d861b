//! The watcher's set of dirty paths: what changed and has not been handed to
//! the scan queue yet. It is plain data with time passed in, so that its rules
//! can be tested without a clock; `coordinator` shares it between threads.
//!
//! The rules:
//! - A path is pending at most once. Another change to it restarts its quiet
//!   period (`settle`) instead of adding it again.
//! - A path is due once it has been quiet for `settle` and is not open for
//!   writing (a write or a create was seen with no close-after-write since),
//!   or, whatever happens, `hold` after its first change, so that a file
//!   written forever (a log) is still scanned now and then.
//! - A folder that is pending (new, moved in, or being rescanned) covers
//!   everything below it: changes below it restart its quiet period, and
//!   pending paths below it are dropped when it is added.
//! - A due path is not queued again while a request for it, or for a folder
//!   above it, waits in the queue and has not started: that request will read
//!   the settled content anyway.
//! - At most `max_pending` paths are kept. Past that, the root of a new path
//!   is scheduled for a rescan instead, which drops everything pending below it,
//!   so memory stays bounded however many files change while the queue is full.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::engine::request::{Origin, ScanRequest};

/// How long to wait before a changed path is scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settle {
    /// Quiet time after the last change.
    pub quiet: Duration,
    /// Longest wait after the first change, open for writing or not.
    pub hold: Duration,
}

impl Settle {
    /// The hold time for a quiet time: ten times it, at least two seconds.
    pub fn from_quiet(quiet: Duration) -> Self {
        Settle {
            quiet,
            hold: (quiet * 10).max(Duration::from_secs(2)),
        }
    }
}

/// What the watcher saw happen to a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Written or created: probably still open for writing.
    Written,
    /// Closed after writing: complete, for now.
    Closed,
    /// Appeared without a writer: moved in, a new folder, a link.
    Appeared,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    first: Instant,
    last: Instant,
    /// Open for writing, as far as the events tell.
    writing: bool,
    /// Due at once (the initial scan), not after a quiet time.
    urgent: bool,
    origin: Origin,
}

impl Pending {
    fn due_at(&self, t: &Settle) -> Instant {
        let held = self.first + t.hold;
        if self.urgent {
            self.first
        } else if self.writing {
            held
        } else {
            (self.last + t.quiet).min(held)
        }
    }
}

/// Counts kept by the set, for statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirtyCounts {
    /// Changes noted.
    pub changes: u64,
    /// Changes merged into a path (or a folder above it) already pending.
    pub coalesced: u64,
    /// Settled paths not queued because a queued request already covers them.
    pub covered: u64,
    /// Roots rescheduled for a rescan because too many paths were pending.
    pub rescans_full: u64,
}

/// Pending paths and queued, not yet started, requests.
#[derive(Debug)]
pub struct DirtySet {
    /// Ordered by path, so that everything below a folder is one range.
    pending: BTreeMap<PathBuf, Pending>,
    /// Requests handed to the queue that no worker has started.
    queued: HashSet<PathBuf>,
    roots: Vec<PathBuf>,
    settle: Settle,
    max_pending: usize,
    counts: DirtyCounts,
}

impl DirtySet {
    pub fn new(roots: Vec<PathBuf>, settle: Settle, max_pending: usize) -> Self {
        DirtySet {
            pending: BTreeMap::new(),
            queued: HashSet::new(),
            roots,
            settle,
            max_pending: max_pending.max(1),
            counts: DirtyCounts::default(),
        }
    }

    pub fn counts(&self) -> DirtyCounts {
        self.counts
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub fn queued_len(&self) -> usize {
        self.queued.len()
    }

    pub fn settle(&self) -> Settle {
        self.settle
    }

    pub fn set_settle(&mut self, settle: Settle) {
        self.settle = settle;
    }

    /// The pending paths, in order (for tests and for what shutdown abandons).
    pub fn pending_paths(&self) -> Vec<PathBuf> {
        self.pending.keys().cloned().collect()
    }

    /// The watched root that `path` is in (the deepest one).
    pub fn root_of(&self, path: &Path) -> Option<&Path> {
        deepest_root(&self.roots, path)
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Replaces the roots (a reload). What is pending outside every new root
    /// is forgotten.
    pub fn set_roots(&mut self, roots: Vec<PathBuf>) {
        self.pending
            .retain(|path, _| roots.iter().any(|r| path.starts_with(r)));
        self.roots = roots;
    }

    /// Notes a change. Returns when the path (or the folder covering it)
    /// will be due.
    pub fn touch(&mut self, path: &Path, change: Change, now: Instant) -> Instant {
        self.counts.changes += 1;
        if let Some(due) = self.extend_ancestor(path, now) {
            return due;
        }
        if let Some(p) = self.pending.get_mut(path) {
            self.counts.coalesced += 1;
            p.last = now;
            match change {
                Change::Written => p.writing = true,
                Change::Closed => p.writing = false,
                Change::Appeared => {}
            }
            return p.due_at(&self.settle);
        }
        if self.pending.len() >= self.max_pending {
            if let Some(root) = self.root_of(path).map(Path::to_path_buf) {
                self.counts.rescans_full += 1;
                return self.schedule(&root, Origin::Rescan, false, now);
            }
        }
        self.drop_below(path);
        let p = Pending {
            first: now,
            last: now,
            writing: change == Change::Written,
            urgent: false,
            origin: Origin::Watch,
        };
        self.pending.insert(path.to_path_buf(), p);
        p.due_at(&self.settle)
    }

    /// Schedules a folder (or file) to be walked again: after a quiet time,
    /// or at once if `urgent`. It covers everything pending below it.
    pub fn schedule(&mut self, path: &Path, origin: Origin, urgent: bool, now: Instant) -> Instant {
        if let Some(due) = self.extend_ancestor(path, now) {
            return due;
        }
        self.drop_below(path);
        let settle = self.settle;
        let p = self.pending.entry(path.to_path_buf()).or_insert(Pending {
            first: now,
            last: now,
            writing: false,
            urgent,
            origin,
        });
        p.last = now;
        p.writing = false;
        p.urgent |= urgent;
        if origin != Origin::Watch {
            p.origin = origin;
        }
        p.due_at(&settle)
    }

    /// Forgets a path that was removed or moved away, and everything below it.
    pub fn forget(&mut self, path: &Path) {
        self.pending.remove(path);
        self.drop_below(path);
    }

    /// Moves every due path into `out` (as a request, marked queued) and
    /// returns when the next pending path will be due.
    pub fn take_due(&mut self, now: Instant, out: &mut Vec<ScanRequest>) -> Option<Instant> {
        let settle = self.settle;
        let mut next: Option<Instant> = None;
        let mut due = Vec::new();
        self.pending.retain(|path, p| {
            let at = p.due_at(&settle);
            if at <= now {
                due.push((path.clone(), p.origin));
                false
            } else {
                next = Some(next.map_or(at, |n| n.min(at)));
                true
            }
        });
        for (path, origin) in due {
            if self.is_queued(&path) {
                self.counts.covered += 1;
                continue;
            }
            self.queued.insert(path.clone());
            out.push(ScanRequest::Watched { path, origin });
        }
        next
    }

    /// A worker has started the request for `path`: later changes need a scan
    /// of their own.
    pub fn started(&mut self, path: &Path) {
        self.queued.remove(path);
    }

    /// `path`, or a folder above it, waits in the queue unstarted.
    fn is_queued(&self, path: &Path) -> bool {
        !self.queued.is_empty() && path.ancestors().any(|a| self.queued.contains(a))
    }

    /// If a folder above `path` is pending, restarts its quiet time and
    /// returns when it will be due.
    fn extend_ancestor(&mut self, path: &Path, now: Instant) -> Option<Instant> {
        let settle = self.settle;
        for a in path.ancestors().skip(1) {
            if let Some(p) = self.pending.get_mut(a) {
                self.counts.coalesced += 1;
                p.last = now;
                return Some(p.due_at(&settle));
            }
        }
        None
    }

    /// Drops pending paths strictly below `path`. With paths ordered by
    /// component, they directly follow `path`.
    fn drop_below(&mut self, path: &Path) {
        let below: Vec<PathBuf> = self
            .pending
            .range::<Path, _>((std::ops::Bound::Excluded(path), std::ops::Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(path))
            .cloned()
            .collect();
        for k in below {
            self.pending.remove(&k);
        }
    }
}

/// The deepest of `roots` that `path` is in (roots may nest).
pub fn deepest_root<'r>(roots: &'r [PathBuf], path: &Path) -> Option<&'r Path> {
    roots
        .iter()
        .filter(|r| path.starts_with(r))
        .max_by_key(|r| r.as_os_str().len())
        .map(PathBuf::as_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn set() -> (DirtySet, Instant) {
        let settle = Settle {
            quiet: 100 * MS,
            hold: 1000 * MS,
        };
        (
            DirtySet::new(vec!["/w".into()], settle, 100),
            Instant::now(),
        )
    }

    fn due(d: &mut DirtySet, at: Instant) -> Vec<(String, Origin)> {
        let mut out = Vec::new();
        d.take_due(at, &mut out);
        out.into_iter()
            .map(|r| match r {
                ScanRequest::Watched { path, origin } => (path.display().to_string(), origin),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_path_is_due_once_after_it_is_quiet_and_closed() {
        let (mut d, t0) = set();
        let p = Path::new("/w/a");
        d.touch(p, Change::Written, t0);
        d.touch(p, Change::Written, t0 + 50 * MS);
        assert!(
            due(&mut d, t0 + 400 * MS).is_empty(),
            "still open for writing"
        );
        let at = d.touch(p, Change::Closed, t0 + 500 * MS);
        assert_eq!(at, t0 + 600 * MS);
        assert!(due(&mut d, t0 + 599 * MS).is_empty());
        assert_eq!(
            due(&mut d, t0 + 600 * MS),
            vec![("/w/a".into(), Origin::Watch)]
        );
        assert!(due(&mut d, t0 + 2000 * MS).is_empty());
        assert_eq!(d.counts().coalesced, 2);
    }

    #[test]
    fn a_file_written_forever_is_still_scanned_after_hold() {
        let (mut d, t0) = set();
        let p = Path::new("/w/log");
        let mut t = t0;
        while t < t0 + 999 * MS {
            d.touch(p, Change::Written, t);
            assert!(due(&mut d, t).is_empty());
            t += 50 * MS;
        }
        assert_eq!(due(&mut d, t0 + 1000 * MS).len(), 1);
    }

    #[test]
    fn a_pending_folder_covers_what_is_below_it() {
        let (mut d, t0) = set();
        d.touch(Path::new("/w/new/x"), Change::Closed, t0);
        d.touch(Path::new("/w/new"), Change::Appeared, t0);
        let at = d.touch(Path::new("/w/new/deep/y"), Change::Written, t0 + 80 * MS);
        assert_eq!(at, t0 + 180 * MS, "the folder's quiet time restarted");
        assert_eq!(d.pending_paths(), vec![PathBuf::from("/w/new")]);
        d.touch(Path::new("/w/new.txt"), Change::Closed, t0);
        assert_eq!(
            d.pending_len(),
            2,
            "a sibling with a longer name is not below it"
        );
        let got = due(&mut d, t0 + 200 * MS);
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn a_queued_request_covers_later_changes_until_it_starts() {
        let (mut d, t0) = set();
        d.schedule(Path::new("/w"), Origin::Initial, true, t0);
        assert_eq!(due(&mut d, t0), vec![("/w".into(), Origin::Initial)]);
        d.touch(Path::new("/w/a"), Change::Closed, t0);
        assert!(
            due(&mut d, t0 + 200 * MS).is_empty(),
            "covered by the queued walk"
        );
        assert_eq!(d.counts().covered, 1);
        d.started(Path::new("/w"));
        d.touch(Path::new("/w/a"), Change::Closed, t0 + 200 * MS);
        assert_eq!(due(&mut d, t0 + 300 * MS).len(), 1);
        d.touch(Path::new("/w/a"), Change::Closed, t0 + 300 * MS);
        assert!(
            due(&mut d, t0 + 400 * MS).is_empty(),
            "its own request is still queued"
        );
    }

    #[test]
    fn too_many_pending_paths_become_a_rescan_of_their_root() {
        let settle = Settle::from_quiet(100 * MS);
        let mut d = DirtySet::new(vec!["/w".into(), "/v".into()], settle, 3);
        let t0 = Instant::now();
        d.touch(Path::new("/v/keep"), Change::Closed, t0);
        for name in ["a", "b", "c", "d"] {
            d.touch(&Path::new("/w").join(name), Change::Closed, t0);
        }
        assert_eq!(
            d.pending_paths(),
            vec![PathBuf::from("/v/keep"), PathBuf::from("/w")]
        );
        assert_eq!(d.counts().rescans_full, 1);
        let got = due(&mut d, t0 + settle.quiet);
        assert!(got.contains(&("/w".into(), Origin::Rescan)));
    }

    #[test]
    fn removed_paths_are_forgotten_with_what_is_below_them() {
        let (mut d, t0) = set();
        d.touch(Path::new("/w/d/a"), Change::Closed, t0);
        d.touch(Path::new("/w/d/b/c"), Change::Closed, t0);
        d.touch(Path::new("/w/e"), Change::Closed, t0);
        d.forget(Path::new("/w/d"));
        assert_eq!(d.pending_paths(), vec![PathBuf::from("/w/e")]);
    }

    #[test]
    fn changed_roots_forget_what_is_pending_only_outside_them() {
        let (mut d, t0) = set();
        d.set_roots(vec!["/w".into(), "/x".into(), "/x/in".into()]);
        for p in ["/w/a", "/x/b", "/x/in/c"] {
            d.touch(Path::new(p), Change::Closed, t0);
        }
        d.set_roots(vec!["/w".into(), "/x/in".into()]);
        assert_eq!(d.root_of(Path::new("/x/in/c")), Some(Path::new("/x/in")));
        assert_eq!(d.pending_paths(), [PathBuf::from("/w/a"), "/x/in/c".into()]);
        d.set_roots(vec!["/".into()]);
        assert_eq!(d.pending_paths().len(), 2, "still below a root");
    }
}
