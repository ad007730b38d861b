//! The on-access guard: a process that opens (or executes) a file under a
//! guarded folder waits until vigil has decided, and a known-bad file is
//! refused with EPERM. It is a source like the watcher, except that its
//! requests carry a reply: the scan pool decides, the kernel is answered.
//!
//! It is built on fanotify permission events (`FAN_OPEN_PERM`,
//! `FAN_OPEN_EXEC_PERM`) on whole filesystems, so that it sees every open of
//! a guarded file whatever mount or mount namespace it came through, and
//! folders made later are covered at once. It fails safe: every open is
//! answered within `guard_timeout`, the daemon's own opens are let through
//! at once (it never waits on itself), and when the daemon dies the kernel
//! lets every waiting and later open through.
//!
//! - `group`: the fanotify group and the filesystem marks.
//! - `reader`: the thread that reads events and answers what needs no
//!   reading (the daemon's own opens, files outside the guarded folders,
//!   sizes no signature can match), and the timeouts.
//! - `reply`: one waiting open, answered exactly once (by its verdict, a
//!   timeout, or the guard's stop).
//! - `marks`: the ignore marks that let the kernel remember clean files.
//! - `feeder`: admits waiting opens to the pool, with at most workers − 1
//!   large files at once so that small ones keep moving.

mod feeder;
mod group;
mod marks;
mod reader;
mod reply;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use nix::sys::fanotify::Fanotify;

use crate::signature::SignatureSet;

pub use feeder::{feed, ToPool};
pub use group::GuardError;

/// How long an open may wait for its verdict unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Ignore marks kept at most unless configured (see `marks`).
pub const DEFAULT_MAX_MARKS: usize = 65_536;

/// What an open that waited `timeout` for its verdict is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnTimeout {
    /// Let it through (the default: a slow scan never breaks the system).
    #[default]
    Allow,
    /// Refuse it (EPERM).
    Deny,
}

/// What the guard is told; replaced whole on reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardSettings {
    /// The guarded folders, absolute and with symlinks resolved (the paths
    /// the kernel reports are).
    pub dirs: Vec<PathBuf>,
    pub timeout: Duration,
    pub on_timeout: OnTimeout,
    /// Ignore marks added before all of them are dropped and rebuilt.
    pub max_marks: usize,
}

impl GuardSettings {
    /// Whether `path` is under a guarded folder.
    fn guards(&self, path: &Path) -> bool {
        self.dirs.iter().any(|d| path.starts_with(d))
    }
}

/// What the guard has done, for statistics.
#[derive(Debug, Default)]
pub struct GuardCounts {
    /// Opens answered by the reader without reading the file.
    pub allowed_at_once: AtomicU64,
    /// Opens sent to the pool.
    pub decided: AtomicU64,
    /// Opens refused because the file matched.
    pub blocked: AtomicU64,
    /// Opens answered by `guard_timeout`.
    pub timed_out: AtomicU64,
    /// Ignore marks added.
    pub marks: AtomicU64,
    /// Times every ignore mark was dropped (reload, or `max_marks` reached).
    pub flushes: AtomicU64,
}

/// What the reader thread, the replies and the daemon share.
struct Shared {
    group: Fanotify,
    marks: marks::IgnoreMarks,
    settings: ArcSwap<GuardSettings>,
    sigs: Arc<ArcSwap<SignatureSet>>,
    /// Set by `stop`: every open is let through from then on.
    stopping: AtomicBool,
    /// This process: its own opens are never held (it would wait on itself).
    own_pid: i32,
    counts: GuardCounts,
}

/// A running guard: its fanotify group and marks. The reader thread runs
/// `read_events`; a feeder thread runs `feed`.
#[derive(Clone)]
pub struct Guard {
    shared: Arc<Shared>,
}

impl Guard {
    /// Opens the fanotify group and marks the filesystems of `settings.dirs`.
    /// Needs CAP_SYS_ADMIN. Events wait in the kernel until `read_events`
    /// runs, so start it at once.
    pub fn start(
        settings: GuardSettings,
        sigs: Arc<ArcSwap<SignatureSet>>,
    ) -> Result<Self, GuardError> {
        let group = group::open()?;
        for dir in &settings.dirs {
            group::mark_filesystem(&group, dir)?;
        }
        let marks = marks::IgnoreMarks::new(settings.max_marks);
        Ok(Guard {
            shared: Arc::new(Shared {
                group,
                marks,
                settings: ArcSwap::from_pointee(settings),
                sigs,
                stopping: AtomicBool::new(false),
                own_pid: std::process::id() as i32,
                counts: GuardCounts::default(),
            }),
        })
    }

    /// The reader: reads and answers events until `stop`, sending the opens
    /// that need a verdict to `to_pool` (see `feed`).
    pub fn read_events(&self, to_pool: crossbeam_channel::Sender<ToPool>) {
        reader::run(&self.shared, &to_pool);
    }

    /// Takes new settings (marking any new filesystem), and drops every
    /// ignore mark: call it after a new signature set is in place, so that
    /// a file allowed before is decided again.
    pub fn reload(&self, settings: GuardSettings) -> Result<(), GuardError> {
        for dir in &settings.dirs {
            group::mark_filesystem(&self.shared.group, dir)?;
        }
        self.shared.marks.set_max(settings.max_marks);
        self.shared.settings.store(Arc::new(settings));
        self.forget();
        Ok(())
    }

    /// Drops every ignore mark, and every verdict still being reached from
    /// now on will not add one.
    pub fn forget(&self) {
        let s = &self.shared;
        s.marks.invalidate(&s.group);
        s.counts.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// Lets every open through from now on and removes the marks; the reader
    /// answers what waits and ends.
    pub fn stop(&self) {
        let s = &self.shared;
        s.stopping.store(true, Ordering::Relaxed);
        group::unmark_all(&s.group);
    }

    pub fn counts(&self) -> &GuardCounts {
        &self.shared.counts
    }
}

/// The guarded folders as the kernel names them: absolute, symlinks
/// resolved. A folder that does not exist is an error (nothing could be
/// guarded there).
pub fn resolve_dirs(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, GuardError> {
    let mut out = Vec::new();
    for dir in dirs {
        let real = std::fs::canonicalize(dir).map_err(|source| GuardError::Dir {
            path: dir.clone(),
            source,
        })?;
        if !real.is_dir() {
            return Err(GuardError::Dir {
                path: dir.clone(),
                source: std::io::Error::from_raw_os_error(libc::ENOTDIR),
            });
        }
        if !out.contains(&real) {
            out.push(real);
        }
    }
    Ok(out)
}
