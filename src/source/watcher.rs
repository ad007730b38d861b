//! The daemon's watcher source: notify (inotify on Linux) watches every root
//! recursively, and its callback turns events into changes in the dirty set
//! (`coordinator::Shared`). The callback never blocks on the scan queue and
//! never scans.
//!
//! - Reads are not changes. notify 8 puts `IN_OPEN` in its inotify mask, so
//!   every file the daemon (or anyone) opens under a root comes back as an
//!   `Access` event; those, and every other `Access` event but
//!   close-after-write, are dropped first thing in the callback. Attribute
//!   changes (`chmod`, `touch`) are dropped too: the content did not change.
//! - Created, written, closed-after-write and moved-in paths are marked dirty;
//!   a new or moved-in folder is walked once it settles, after notify has
//!   added its watch, so files made in it before the watch existed are seen.
//! - A kernel queue overflow (notify's `Rescan` flag) schedules a rescan of
//!   every root.
//! - Hitting `fs.inotify.max_user_watches` at start is an error naming the
//!   sysctl and the path (the daemon refuses to start); later, for a new
//!   folder, it is logged the same way and that folder's root is walked on a
//!   timer (`poll_interval`) from then on: never a silent gap.
//! - Folders that cannot be listed are reported at start; the rest of the
//!   tree is still watched. notify gives up on a whole recursive watch when
//!   one folder in it refuses a watch (`EACCES`), so such a tree is watched
//!   piece by piece instead: each folder on the way down to the refusing one
//!   on its own, every other subtree recursively. A folder that appears in a
//!   folder watched on its own gets its watch from the coordinator thread.
//! - A root that is removed or moved away is watched again, and rescanned,
//!   when it reappears (checked every second, only while a root is missing).
//! - A reload may change the roots (`Fault::Roots`): roots no longer listed
//!   are unwatched, new ones watched (and walked, with `initial_scan`).

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};

use super::coordinator::{Fault, Shared};
use super::dirty::{deepest_root, Change};
use crate::engine::request::Origin;
use crate::engine::walk::Walker;

/// How often a missing root is looked for.
const MISSING_ROOT_CHECK: Duration = Duration::from_secs(1);

/// A fatal watcher error: the daemon does not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(
        "cannot watch {}: the inotify watch limit is reached (fs.inotify.max_user_watches = {limit}); \
         raise it, e.g. `sysctl fs.inotify.max_user_watches=1048576`, or watch fewer folders",
        path.display()
    )]
    Limit { path: PathBuf, limit: String },
    #[error("cannot start the file watcher: {0}")]
    Start(#[source] notify::Error),
    #[error("cannot start the fanotify watcher (watch_backend = \"fanotify\" needs CAP_SYS_ADMIN): {}", crate::error::io_reason(.0))]
    StartFanotify(#[source] io::Error),
    #[error("cannot watch {} with fanotify: {}", path.display(), crate::error::io_reason(source))]
    WatchFanotify {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot watch {}: {source}", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
}

/// The current value of the watch-limit sysctl, as text, with the limit of
/// this user namespace when that is lower.
pub fn max_user_watches() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    let global = read("/proc/sys/fs/inotify/max_user_watches");
    let userns = read("/proc/sys/user/max_inotify_watches");
    match (global, userns) {
        (Some(g), Some(u)) if u < g => format!("{g}; {u} in this user namespace"),
        (Some(g), _) => g.to_string(),
        (None, _) => "unknown".into(),
    }
}

/// What `watch_roots` found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WatchReport {
    /// Folders watched (one inotify watch each).
    pub folders: u64,
    /// Folders that could not be listed (reported, not watched).
    pub unreadable: u64,
    /// Roots that do not exist (yet): watched once they appear.
    pub missing: u64,
}

/// Counters for statistics, readable from any thread.
#[derive(Debug, Default)]
pub struct WatcherCounts {
    /// Times the watch limit stopped a watch from being added.
    pub watch_limit_hits: AtomicU64,
    /// Roots that came back after being removed (each rescanned).
    pub roots_reappeared: AtomicU64,
    /// Walks of roots that could not be fully watched.
    pub polls: AtomicU64,
    /// Folders found under the roots when they were first watched (one
    /// inotify watch each).
    pub watched_folders: AtomicU64,
}

/// The notify watcher and the housekeeping around it. Owned by the
/// coordinator thread once started.
pub struct Watcher {
    inner: Option<RecommendedWatcher>,
    /// The fanotify backend instead of notify's (`watch_backend`).
    fan: Option<super::fanwatch::FanWatch>,
    shared: Arc<Shared>,
    /// The roots; shared with the callback, replaced whole on reload.
    roots: Arc<ArcSwap<Vec<PathBuf>>>,
    follow_symlinks: bool,
    /// Roots that are gone, waiting to reappear.
    missing: BTreeSet<PathBuf>,
    /// Roots that could not be fully watched, walked every `poll_interval`.
    polled: BTreeSet<PathBuf>,
    poll_interval: Duration,
    next_poll: Option<Instant>,
    counts: Arc<WatcherCounts>,
    /// Folders watched on their own, because a folder below them refused a
    /// watch; shared with the callback, which reports folders appearing in them.
    single: Arc<SingleWatched>,
    /// Disconnected when notify's event-loop thread has dropped the callback,
    /// i.e. has finished: how shutdown knows that thread is gone.
    loop_done: crossbeam_channel::Receiver<()>,
}

/// What the callback needs: where to put changes, and which paths to ignore.
struct Callback {
    shared: Arc<Shared>,
    walker: Walker,
    roots: Arc<ArcSwap<Vec<PathBuf>>>,
    /// Folders watched on their own (see `Watcher::single`).
    single: Arc<SingleWatched>,
    /// Dropped with the callback, when notify's thread ends.
    _alive: crossbeam_channel::Sender<()>,
}

impl Watcher {
    /// Starts notify's thread; nothing is watched yet.
    pub fn start(
        shared: Arc<Shared>,
        roots: Vec<PathBuf>,
        walker: Walker,
        follow_symlinks: bool,
        poll_interval: Duration,
    ) -> Result<Self, WatchError> {
        let (alive, loop_done) = crossbeam_channel::bounded(0);
        let roots = Arc::new(ArcSwap::from_pointee(roots));
        let single = Arc::new(SingleWatched::default());
        let mut callback = Callback {
            shared: shared.clone(),
            walker,
            roots: roots.clone(),
            single: single.clone(),
            _alive: alive,
        };
        let config = notify::Config::default().with_follow_symlinks(follow_symlinks);
        let inner = RecommendedWatcher::new(move |res| callback.handle(res), config)
            .map_err(WatchError::Start)?;
        Ok(Watcher {
            inner: Some(inner),
            fan: None,
            shared,
            roots,
            follow_symlinks,
            missing: BTreeSet::new(),
            polled: BTreeSet::new(),
            poll_interval,
            next_poll: None,
            counts: Arc::default(),
            single,
            loop_done,
        })
    }

    /// Like `start`, with the fanotify backend (see `fanwatch`): one mark
    /// per filesystem, no watch per folder.
    pub fn start_fanotify(
        shared: Arc<Shared>,
        roots: Vec<PathBuf>,
        walker: Walker,
        poll_interval: Duration,
    ) -> Result<Self, WatchError> {
        let (alive, loop_done) = crossbeam_channel::bounded(0);
        let roots = Arc::new(ArcSwap::from_pointee(roots));
        let fan = super::fanwatch::FanWatch::start(shared.clone(), roots.clone(), walker, alive)
            .map_err(WatchError::StartFanotify)?;
        Ok(Watcher {
            inner: None,
            fan: Some(fan),
            shared,
            roots,
            follow_symlinks: false,
            missing: BTreeSet::new(),
            polled: BTreeSet::new(),
            poll_interval,
            next_poll: None,
            counts: Arc::default(),
            single: Arc::default(),
            loop_done,
        })
    }

    pub fn counts(&self) -> Arc<WatcherCounts> {
        self.counts.clone()
    }

    /// Watches every root. A missing root is waited for; the watch limit or
    /// another watch error is fatal. Folders that cannot be listed are
    /// reported (and counted).
    pub fn watch_roots(&mut self) -> Result<WatchReport, WatchError> {
        let mut report = WatchReport::default();
        for root in self.roots.load().iter().cloned() {
            if !root.is_dir() {
                tracing::warn!(root = %root.display(), "watched folder does not exist (yet); it will be watched when it appears");
                self.missing.insert(root);
                report.missing += 1;
                continue;
            }
            self.watch(&root)?;
            if self.fan.is_some() {
                continue; // nothing per folder to count
            }
            let (folders, unreadable) = survey(&root, self.follow_symlinks);
            report.folders += folders;
            report.unreadable += unreadable;
        }
        (self.counts.watched_folders).store(report.folders, Ordering::Relaxed);
        Ok(report)
    }

    /// Watches `root` recursively; if a folder in it refuses a watch, watches
    /// the tree piece by piece so that everything else is still watched.
    fn watch(&mut self, root: &Path) -> Result<(), WatchError> {
        if let Some(fan) = &self.fan {
            return fan.watch(root).map_err(|source| WatchError::WatchFanotify {
                path: root.to_path_buf(),
                source,
            });
        }
        match self.watch_one(root, RecursiveMode::Recursive) {
            Err(WatchError::Watch { source, .. }) if is_refused(&source) => {
                self.unwatch_quietly(root);
                self.watch_piecewise(root)
            }
            other => other,
        }
    }

    /// Watches `dir` on its own and each folder in it recursively, going
    /// piecewise again below any folder that refuses a recursive watch. A
    /// folder that refuses even a watch of its own is left out (`survey`
    /// reports it).
    fn watch_piecewise(&mut self, dir: &Path) -> Result<(), WatchError> {
        match self.watch_one(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {}
            Err(WatchError::Watch { source, .. }) if is_refused(&source) => return Ok(()),
            Err(e) => return Err(e),
        }
        self.single.insert(dir.to_path_buf());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let is_dir = match entry.file_type() {
                Ok(t) if t.is_symlink() && self.follow_symlinks => entry.path().is_dir(),
                Ok(t) => t.is_dir(),
                Err(_) => false,
            };
            if is_dir {
                self.watch(&entry.path())?;
            }
        }
        Ok(())
    }

    fn watch_one(&mut self, path: &Path, mode: RecursiveMode) -> Result<(), WatchError> {
        let inner = self.inner.as_mut().expect("watcher is running");
        inner.watch(path, mode).map_err(|e| match e.kind {
            notify::ErrorKind::MaxFilesWatch => WatchError::Limit {
                path: e
                    .paths
                    .first()
                    .cloned()
                    .unwrap_or_else(|| path.to_path_buf()),
                limit: max_user_watches(),
            },
            _ => WatchError::Watch {
                path: path.to_path_buf(),
                source: e,
            },
        })
    }

    /// Stops watching `root` and everything below it, including a tree that
    /// was watched piece by piece (each piece, and each folder in a piece,
    /// has a watch of its own).
    fn unwatch_tree(&mut self, root: &Path) {
        self.unwatch_quietly(root);
        for piece in &self.single.take_below(root) {
            self.unwatch_quietly(piece);
            for entry in std::fs::read_dir(piece).into_iter().flatten().flatten() {
                self.unwatch_quietly(&entry.path());
            }
        }
    }

    /// Drops whatever a failed recursive watch left behind under `path`.
    fn unwatch_quietly(&mut self, path: &Path) {
        if let Some(inner) = self.inner.as_mut() {
            let _ = inner.unwatch(path);
        }
    }

    /// Handles faults from the callback and the timers (missing roots,
    /// polled roots). Returns when it next wants to run.
    pub fn housekeeping(&mut self, faults: Vec<Fault>) -> Option<Instant> {
        let now = Instant::now();
        for fault in faults {
            match fault {
                Fault::WatchLimit(paths) => self.watch_limit_hit(&paths, now),
                Fault::RootGone(root) => {
                    if self.missing.insert(root.clone()) {
                        tracing::warn!(root = %root.display(), "watched folder is gone; it will be watched again when it reappears");
                        self.unwatch_tree(&root);
                        self.shared.forget(&root);
                    }
                }
                Fault::UnwatchedFolder(dir) => {
                    if let Err(e) = self.watch(&dir) {
                        let root = self.shared.root_of(&dir).unwrap_or(dir);
                        self.poll_instead(&e, root, now);
                    }
                }
                Fault::Other(text) => tracing::warn!("file watcher: {text}"),
                Fault::Roots {
                    roots,
                    initial_scan,
                } => self.set_roots(roots, initial_scan, now),
            }
        }
        for root in self.missing.clone() {
            if !root.is_dir() {
                continue;
            }
            match self.watch(&root) {
                Ok(()) => {
                    self.missing.remove(&root);
                    self.counts.roots_reappeared.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(root = %root.display(), "watched folder is back; rescanning it");
                    survey(&root, self.follow_symlinks);
                    self.shared.schedule(&root, Origin::Rescan, false);
                }
                Err(e @ WatchError::Limit { .. }) => {
                    self.missing.remove(&root);
                    self.poll_instead(&e, root, now);
                }
                Err(e) => tracing::debug!("{e}; will retry"),
            }
        }
        if self.next_poll.is_some_and(|t| t <= now) {
            for root in &self.polled {
                self.counts.polls.fetch_add(1, Ordering::Relaxed);
                self.shared.schedule(root, Origin::Poll, true);
            }
            self.next_poll = Some(now + self.poll_interval);
        }
        let missing_check = (!self.missing.is_empty()).then(|| now + MISSING_ROOT_CHECK);
        match (missing_check, self.next_poll) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A reload changed the roots: stops watching those gone and watches
    /// (and, with `initial_scan`, walks) the new ones.
    fn set_roots(&mut self, roots: Vec<PathBuf>, initial_scan: bool, now: Instant) {
        let old = self.roots.swap(Arc::new(roots.clone()));
        for root in old.iter().filter(|r| !roots.contains(r)) {
            tracing::info!(root = %root.display(), "no longer watching {}", root.display());
            self.missing.remove(root);
            self.polled.remove(root);
            // A root inside another still watched keeps its watches.
            if roots.iter().any(|r| root.starts_with(r)) {
                continue;
            }
            self.unwatch_tree(root);
            // Unwatching is recursive: roots below it are watched again.
            for inner_root in roots.iter().filter(|r| r.starts_with(root)) {
                if old.contains(inner_root) && !self.missing.contains(inner_root) {
                    if let Err(e) = self.watch(inner_root) {
                        tracing::error!("{e}");
                    }
                }
            }
        }
        for root in roots.iter().filter(|r| !old.contains(r)) {
            if !root.is_dir() {
                tracing::warn!(root = %root.display(), "watched folder does not exist (yet); it will be watched when it appears");
                self.missing.insert(root.clone());
                continue;
            }
            match self.watch(root) {
                Ok(()) => {
                    let (folders, unreadable) = survey(root, self.follow_symlinks);
                    (self.counts.watched_folders).fetch_add(folders, Ordering::Relaxed);
                    tracing::info!(root = %root.display(), folders, unreadable, "now watching {}", root.display());
                    if initial_scan {
                        self.shared.schedule(root, Origin::Initial, true);
                    }
                }
                Err(e @ WatchError::Limit { .. }) => self.poll_instead(&e, root.clone(), now),
                Err(e) => {
                    tracing::error!("{e}; will retry");
                    self.missing.insert(root.clone());
                }
            }
        }
    }

    fn watch_limit_hit(&mut self, paths: &[PathBuf], now: Instant) {
        let path = paths.first().cloned().unwrap_or_default();
        let root = self.shared.root_of(&path).unwrap_or_else(|| path.clone());
        let e = WatchError::Limit {
            path,
            limit: max_user_watches(),
        };
        self.poll_instead(&e, root, now);
    }

    /// A watch under `root` failed after start: says so, and walks `root`
    /// every `poll_interval` from now on.
    fn poll_instead(&mut self, e: &WatchError, root: PathBuf, now: Instant) {
        if matches!(e, WatchError::Limit { .. }) {
            self.counts.watch_limit_hits.fetch_add(1, Ordering::Relaxed);
        }
        tracing::error!(
            root = %root.display(),
            "{e}; until restart, {} is walked every {:?} instead",
            root.display(),
            self.poll_interval
        );
        self.poll(root, now);
    }

    fn poll(&mut self, root: PathBuf, now: Instant) {
        self.shared.schedule(&root, Origin::Poll, true);
        self.polled.insert(root);
        if self.next_poll.is_none() {
            self.next_poll = Some(now + self.poll_interval);
        }
    }

    /// Stops notify's thread and waits (up to `bound`) until it has ended.
    pub fn shutdown(mut self, bound: Duration) -> bool {
        drop(self.inner.take());
        if let Some(fan) = self.fan.take() {
            fan.stop();
        }
        matches!(
            self.loop_done.recv_timeout(bound),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        )
    }
}

/// The folders watched on their own. Almost always empty: `any` lets the
/// callback, which asks on every event, skip the lock then.
#[derive(Default)]
struct SingleWatched {
    set: Mutex<BTreeSet<PathBuf>>,
    any: AtomicBool,
}

impl SingleWatched {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<PathBuf>> {
        self.set.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(&self, dir: PathBuf) {
        let mut set = self.lock();
        set.insert(dir);
        self.any.store(true, Ordering::Release);
    }

    /// Removes and returns the folders at or below `root`.
    fn take_below(&self, root: &Path) -> Vec<PathBuf> {
        let mut set = self.lock();
        let below = set
            .iter()
            .filter(|p| p.starts_with(root))
            .cloned()
            .collect();
        set.retain(|p| !p.starts_with(root));
        self.any.store(!set.is_empty(), Ordering::Release);
        below
    }

    fn contains(&self, dir: &Path) -> bool {
        self.any.load(Ordering::Acquire) && self.lock().contains(dir)
    }
}

/// A watch refused for lack of permission (`EACCES`).
fn is_refused(e: &notify::Error) -> bool {
    matches!(&e.kind, notify::ErrorKind::Io(io) if io.kind() == io::ErrorKind::PermissionDenied)
}

/// Walks the folders under a root (as notify does to watch them) and
/// reports those that cannot be listed: nothing below them is watched.
/// Returns (folders, unreadable).
fn survey(root: &Path, follow_symlinks: bool) -> (u64, u64) {
    let mut folders = 0;
    let mut unreadable = 0;
    let walk = walkdir::WalkDir::new(root).follow_links(follow_symlinks);
    for entry in walk {
        match entry {
            Ok(e) if e.file_type().is_dir() => folders += 1,
            Ok(_) => {}
            Err(e) => {
                let path = e.path().unwrap_or(root).display().to_string();
                let reason = e
                    .io_error()
                    .map(crate::error::io_reason)
                    .unwrap_or_else(|| e.to_string());
                if e.io_error().map(io::Error::kind) == Some(io::ErrorKind::NotFound) {
                    continue; // removed while we looked
                }
                unreadable += 1;
                tracing::error!(path = %path, "cannot watch {path}: {reason}; changes below it will not be seen");
            }
        }
    }
    (folders, unreadable)
}

impl Callback {
    fn handle(&mut self, res: notify::Result<notify::Event>) {
        let event = match res {
            Ok(event) => event,
            Err(e) => {
                let fault = match e.kind {
                    notify::ErrorKind::MaxFilesWatch => Fault::WatchLimit(e.paths),
                    _ => Fault::Other(e.to_string()),
                };
                self.shared.fault(fault);
                return;
            }
        };
        if event.need_rescan() {
            self.shared.overflowed();
            return;
        }
        let (change, is_dir) = match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => (Change::Closed, false),
            // Opens and reads, ours above all: not changes.
            EventKind::Access(_) => return,
            EventKind::Create(CreateKind::Folder) => (Change::Appeared, true),
            EventKind::Create(_) => (Change::Written, false),
            EventKind::Modify(ModifyKind::Metadata(_)) => return,
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
                for path in &event.paths {
                    self.gone(path);
                }
                return;
            }
            // notify also reports a rename as `To` on the new name: enough.
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => return,
            EventKind::Modify(ModifyKind::Name(_)) => (Change::Appeared, false),
            EventKind::Modify(_) => (Change::Written, false),
            EventKind::Remove(_) => {
                for path in &event.paths {
                    self.gone(path);
                }
                return;
            }
            EventKind::Any | EventKind::Other => return,
        };
        for path in &event.paths {
            if !self.is_excluded(path, is_dir) {
                self.shared.touch(path, change);
                self.watch_if_unwatched(path, is_dir);
            }
        }
    }

    /// A folder that appears (made or moved in) in a folder watched on its
    /// own has no watch yet: ask the coordinator thread to add one (notify
    /// cannot be called from its own callback).
    fn watch_if_unwatched(&self, path: &Path, is_dir: bool) {
        let Some(parent) = path.parent() else { return };
        if self.single.contains(parent) && (is_dir || path.is_dir()) {
            self.shared
                .fault(Fault::UnwatchedFolder(path.to_path_buf()));
        }
    }

    fn gone(&self, path: &Path) {
        if self.roots.load().iter().any(|r| r == path) {
            self.shared.fault(Fault::RootGone(path.to_path_buf()));
        } else {
            self.shared.forget(path);
        }
    }

    fn is_excluded(&self, path: &Path, is_dir: bool) -> bool {
        let roots = self.roots.load();
        match deepest_root(&roots, path) {
            Some(root) => self.walker.is_excluded_below(root, path, is_dir),
            None => true,
        }
    }
}
