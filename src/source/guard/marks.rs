//! Ignore marks: the kernel's memory of a clean verdict. A file found clean
//! gets an ignore mark for the permission events on its inode (without
//! `FAN_MARK_IGNORED_SURV_MODIFY`), so later opens of it cause no event at
//! all, until a write to it clears the mark.
//!
//! Bounds: a mark is evictable where the kernel has that (5.19 and later),
//! so it never pins an inode in memory; and after `max_marks` marks have
//! been added, all of them are dropped at once and the next opens rebuild
//! them. A reload drops them too (a new signature may match a file allowed
//! before), and a generation number keeps a verdict reached on the old set
//! from adding a mark after the drop.
//!
//! A mark is kept only if the file is unchanged (inode, size, times) between
//! the `fstat` taken when its event arrived and the moment after the mark
//! is in place: a write in between would otherwise hide behind a stale mark.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use nix::errno::Errno;
use nix::sys::fanotify::{Fanotify, MarkFlags, MaskFlags};

use super::group::PERMISSION_EVENTS;

/// What identifies a file's content as of one `fstat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct StatKey {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl StatKey {
    pub(super) fn of(st: &rustix::fs::Stat) -> Self {
        StatKey {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size,
            mtime: (st.st_mtime, st.st_mtime_nsec as i64),
            ctime: (st.st_ctime, st.st_ctime_nsec as i64),
        }
    }

    /// The file's size in bytes, as its event found it.
    pub(super) fn size(&self) -> u64 {
        self.size.max(0) as u64
    }

    fn now(fd: BorrowedFd<'_>) -> Option<Self> {
        rustix::fs::fstat(fd).ok().map(|st| Self::of(&st))
    }
}

/// The guard's ignore marks, counted.
pub(super) struct IgnoreMarks {
    /// Marks added since the last drop.
    added: AtomicUsize,
    /// After this many, every mark is dropped.
    max: AtomicUsize,
    /// Bumped when a verdict reached before may no longer hold (reload).
    generation: AtomicU64,
    /// The kernel takes `FAN_MARK_EVICTABLE` (until it says otherwise).
    evictable: AtomicBool,
}

impl IgnoreMarks {
    pub(super) fn new(max: usize) -> Self {
        IgnoreMarks {
            added: AtomicUsize::new(0),
            max: AtomicUsize::new(max.max(1)),
            generation: AtomicU64::new(0),
            evictable: AtomicBool::new(true),
        }
    }

    pub(super) fn set_max(&self, max: usize) {
        self.max.store(max.max(1), Ordering::Relaxed);
    }

    /// The generation a decision starts in; pass it to `remember`.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Marks the file open at `fd` as clean, if nothing changed since
    /// `generation` began and `key` was taken. Returns whether it did.
    pub(super) fn remember(
        &self,
        group: &Fanotify,
        fd: BorrowedFd<'_>,
        generation: u64,
        key: StatKey,
    ) -> bool {
        if self.generation() != generation {
            return false;
        }
        if self.added.fetch_add(1, Ordering::Relaxed) >= self.max.load(Ordering::Relaxed) {
            self.flush(group);
            self.added.store(1, Ordering::Relaxed);
        }
        if self.add(group, fd).is_err() {
            return false;
        }
        if StatKey::now(fd) != Some(key) || self.generation() != generation {
            let flags = MarkFlags::FAN_MARK_REMOVE | MarkFlags::FAN_MARK_IGNORED_MASK;
            let _ = group.mark(flags, PERMISSION_EVENTS, fd, None::<&Path>);
            return false;
        }
        true
    }

    fn add(&self, group: &Fanotify, fd: BorrowedFd<'_>) -> nix::Result<()> {
        let flags = MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_IGNORED_MASK;
        if self.evictable.load(Ordering::Relaxed) {
            match group.mark(
                flags | MarkFlags::FAN_MARK_EVICTABLE,
                PERMISSION_EVENTS,
                fd.as_fd(),
                None::<&Path>,
            ) {
                Err(Errno::EINVAL) => self.evictable.store(false, Ordering::Relaxed),
                done => return done,
            }
        }
        group.mark(flags, PERMISSION_EVENTS, fd, None::<&Path>)
    }

    /// Drops every mark, and keeps verdicts reached before from adding one.
    pub(super) fn invalidate(&self, group: &Fanotify) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.flush(group);
    }

    /// Drops every ignore mark (every inode mark: the guard's only ones).
    fn flush(&self, group: &Fanotify) {
        let flags = MarkFlags::FAN_MARK_FLUSH | MarkFlags::FAN_MARK_INODE;
        if let Err(e) = group.mark(flags, MaskFlags::empty(), rustix::fs::CWD, None::<&Path>) {
            tracing::warn!(error = %e, "guard: cannot drop the ignore marks");
        }
        self.added.store(0, Ordering::Relaxed);
    }
}
