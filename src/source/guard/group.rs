//! The fanotify group: a content-class group (its permission events come
//! after the file's data is final), and a mark on the whole filesystem of
//! each guarded folder. Filesystem marks (not mount marks) see an open
//! through any mount of that filesystem, from any mount namespace: the
//! daemon's private namespace under systemd included.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::fanotify::{EventFFlags, Fanotify, InitFlags, MarkFlags, MaskFlags};

/// The events the guard decides: opens, and opens for execution.
pub(super) const PERMISSION_EVENTS: MaskFlags =
    MaskFlags::FAN_OPEN_PERM.union(MaskFlags::FAN_OPEN_EXEC_PERM);

/// Why the guard cannot start or take new settings.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("the guard needs CAP_SYS_ADMIN (fanotify permission events): run the daemon as root or grant it CAP_SYS_ADMIN")]
    NoCapability,
    #[error("the guard cannot start: fanotify: {0}")]
    Init(#[source] std::io::Error),
    #[error("guard {}: {}", path.display(), crate::error::io_reason(source))]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("guard {}: cannot mark its filesystem: {}", path.display(), crate::error::io_reason(source))]
    Mark {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A new group. Its queue is unlimited (a permission event that overflowed
/// would be let through unseen) and so are its marks (the guard bounds its
/// ignore marks itself, see `marks`).
pub(super) fn open() -> Result<Fanotify, GuardError> {
    let flags = InitFlags::FAN_CLASS_CONTENT
        | InitFlags::FAN_CLOEXEC
        | InitFlags::FAN_NONBLOCK
        | InitFlags::FAN_UNLIMITED_QUEUE
        | InitFlags::FAN_UNLIMITED_MARKS;
    let event_flags =
        EventFFlags::try_from(OFlag::O_RDONLY | OFlag::O_LARGEFILE | OFlag::O_CLOEXEC)
            .map_err(|e| GuardError::Init(e.into()))?;
    Fanotify::init(flags, event_flags).map_err(|e| match e {
        Errno::EPERM => GuardError::NoCapability,
        e => GuardError::Init(e.into()),
    })
}

/// Marks the filesystem `dir` is on for the permission events.
pub(super) fn mark_filesystem(group: &Fanotify, dir: &Path) -> Result<(), GuardError> {
    group
        .mark(
            MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_FILESYSTEM,
            PERMISSION_EVENTS,
            rustix::fs::CWD,
            Some(dir),
        )
        .map_err(|e| GuardError::Mark {
            path: dir.to_path_buf(),
            source: e.into(),
        })
}

/// Removes every mark of the group: its filesystems', and every ignore mark.
/// No new event comes after this.
pub(super) fn unmark_all(group: &Fanotify) {
    for kind in [MarkFlags::FAN_MARK_FILESYSTEM, MarkFlags::FAN_MARK_INODE] {
        let flags = MarkFlags::FAN_MARK_FLUSH | kind;
        if let Err(e) = group.mark(flags, MaskFlags::empty(), rustix::fs::CWD, None::<&Path>) {
            tracing::warn!(error = %e, "guard: cannot remove marks");
        }
    }
}
