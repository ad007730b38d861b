//! From a directory's file handle to its path. A directory event names its
//! folder by a file handle, which only `open_by_handle_at` turns into an
//! open folder (needs CAP_DAC_READ_SEARCH), given any open file on the same
//! mount. One such folder is kept open per filesystem and mount the roots
//! are on; the folder opened from a handle is named by `/proc/self/fd`, as
//! the mount the handle was opened through sees it.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};

use super::records::{Entry, Handle, MAX_HANDLE_LEN};

/// An open folder on a watched filesystem, through one of its mounts.
struct Mount {
    /// `f_fsid` as `statvfs` composes it (see `fsid_key`).
    fsid: u64,
    mount_id: u64,
    fd: OwnedFd,
}

/// The mounts the roots are on.
#[derive(Default)]
pub(super) struct Mounts {
    list: Vec<Mount>,
    /// Whether the lack of permission to open handles was logged.
    refusal_logged: AtomicBool,
}

impl Mounts {
    /// Keeps a folder of `dir`'s mount open, unless one is already.
    pub(super) fn add(&mut self, dir: &Path) -> io::Result<()> {
        let fd = rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let fsid = rustix::fs::fstatvfs(&fd)?.f_fsid;
        let mount_id =
            rustix::fs::statx(&fd, "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID)?.stx_mnt_id;
        if !self
            .list
            .iter()
            .any(|m| m.fsid == fsid && m.mount_id == mount_id)
        {
            self.list.push(Mount { fsid, mount_id, fd });
        }
        Ok(())
    }

    /// The path of `entry` through the first mount of its filesystem for
    /// which `accept` takes it (a folder on a filesystem mounted in several
    /// places has a path through each). `None` if no mount has it, or its
    /// folder is gone (removed since the event).
    pub(super) fn resolve<T>(
        &self,
        entry: &Entry,
        mut accept: impl FnMut(PathBuf) -> Option<T>,
    ) -> Option<T> {
        let fsid = fsid_key(entry.fsid);
        for mount in self.list.iter().filter(|m| m.fsid == fsid) {
            match folder_path(mount.fd.as_fd(), &entry.handle) {
                Ok(Some(dir)) => {
                    if let Some(found) = accept(dir.join(&entry.name)) {
                        return Some(found);
                    }
                }
                Ok(None) => {
                    tracing::debug!(name = ?entry.name, "fanotify watcher: folder removed since the event; skipped");
                    return None;
                }
                Err(e) if is_refusal(&e) => {
                    if !self.refusal_logged.swap(true, Ordering::Relaxed) {
                        tracing::warn!(error = %e, "fanotify watcher: cannot open folders by handle (needs CAP_DAC_READ_SEARCH and the open_by_handle_at system call); files moved or linked into a watched folder are found only by a rescan");
                    }
                    return None;
                }
                Err(e) => {
                    tracing::debug!(error = %e, name = ?entry.name, "fanotify watcher: cannot open the event's folder; skipped");
                    return None;
                }
            }
        }
        None
    }
}

/// The key of a filesystem id as the event gives it, composed as rustix's
/// `statvfs` composes `f_fsid` from the same two words.
fn fsid_key(fsid: [i32; 2]) -> u64 {
    u64::from(fsid[0] as u32) | (u64::from(fsid[1] as u32) << 32)
}

fn is_refusal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EACCES | libc::ENOSYS)
    )
}

/// The path of the folder `handle` names, through `mount`; `None` if it was
/// removed.
fn folder_path(mount: BorrowedFd<'_>, handle: &Handle) -> io::Result<Option<PathBuf>> {
    let dir = match open_by_handle(mount, handle) {
        Ok(dir) => dir,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ESTALE | libc::ENOENT)) => return Ok(None),
        Err(e) => return Err(e),
    };
    // A removed folder that is still open somewhere opens, unlinked.
    if rustix::fs::fstat(&dir)?.st_nlink == 0 {
        return Ok(None);
    }
    std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())).map(Some)
}

/// `struct file_handle` with room for the largest handle.
#[repr(C)]
struct RawHandle {
    handle_bytes: libc::c_uint,
    handle_type: libc::c_int,
    f_handle: [u8; MAX_HANDLE_LEN],
}

/// `open_by_handle_at(2)`, for a folder, as a path-only descriptor. Neither
/// nix nor rustix wraps this call; libc declares it.
fn open_by_handle(mount: BorrowedFd<'_>, handle: &Handle) -> io::Result<OwnedFd> {
    let mut raw = RawHandle {
        handle_bytes: 0,
        handle_type: handle.handle_type,
        f_handle: [0; MAX_HANDLE_LEN],
    };
    let Some(room) = raw.f_handle.get_mut(..handle.bytes.len()) else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    room.copy_from_slice(&handle.bytes);
    raw.handle_bytes = handle.bytes.len() as libc::c_uint;
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: `raw` is a `struct file_handle` (same layout, `repr(C)`) whose
    // `handle_bytes` is at most the `MAX_HANDLE_LEN` bytes that follow it,
    // and it lives across the call; `mount` is an open descriptor borrowed
    // for the call. The kernel reads the handle and returns a new descriptor
    // or -1.
    let fd = unsafe {
        libc::open_by_handle_at(
            mount.as_raw_fd(),
            (&mut raw as *mut RawHandle).cast::<libc::file_handle>(),
            flags,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by the kernel, open, and owned by
    // nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
