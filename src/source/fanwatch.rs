//! The fanotify watch backend (`watch_backend = "fanotify"`): one mark per
//! filesystem instead of one inotify watch per folder, so there is no watch
//! limit and nothing to set up per folder: the daemon is ready at once on
//! any tree, and a folder made later is covered from its first file.
//!
//! Two fanotify groups share one event thread:
//! - `FAN_CLOSE_WRITE`: a file written and closed under a root is marked
//!   dirty, as inotify's close-after-write is. The event's descriptor gives
//!   the path (and is closed at once; the file is read later by path, as the
//!   inotify backend's are).
//! - Directory events (`FAN_CREATE`, `FAN_MOVED_TO`, folders included), on
//!   kernels that report them with the folder's file handle and the entry's
//!   name (Linux 5.9 and later): a file moved, hard-linked or created into a
//!   root without being written there, and a folder made or moved in, are
//!   marked dirty as inotify's events are (a folder is walked). The handle
//!   is opened to find the folder's path (`handles`); the records are read
//!   with every length checked (`records`). Where the kernel or the
//!   filesystem does not report them, one line says so, and such files are
//!   found by the next rescan.
//!
//! The daemon's own writes and moves are passed over. It needs
//! CAP_SYS_ADMIN, and CAP_DAC_READ_SEARCH to open folders by handle.

mod handles;
mod records;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::fanotify::{EventFFlags, Fanotify, InitFlags, MarkFlags, MaskFlags};
use rustix::event::{PollFd, PollFlags};

use self::handles::Mounts;
use super::coordinator::Shared;
use super::dirty::{deepest_root, Change};
use crate::engine::walk::Walker;

/// The longest the event thread sleeps before it looks at `stop`.
const IDLE_WAKE: Duration = Duration::from_millis(200);

/// Room for one read of directory events: each is at most a few hundred
/// bytes (header, file handle, name), and the kernel fills what fits.
const DIR_EVENTS_BUF: usize = 16 * 1024;

/// The fanotify groups and their event thread.
pub(super) struct FanWatch {
    group: Arc<Fanotify>,
    /// The directory-events group, where the kernel has one.
    dirs: Option<Arc<DirGroup>>,
    /// Each marked root as the kernel names it (symlinks resolved), with the
    /// root as configured: events are reported under the configured name.
    resolved: Arc<Mutex<Vec<(PathBuf, PathBuf)>>>,
    stop: Arc<AtomicBool>,
}

/// The group that reports directory events by file handle and name, and the
/// mounts its handles are opened through.
struct DirGroup {
    group: Fanotify,
    /// Shared by the thread that marks roots and the event thread.
    mounts: Mutex<Mounts>,
}

impl FanWatch {
    /// Opens the groups and starts their event thread, which holds `alive`
    /// until it ends.
    pub(super) fn start(
        shared: Arc<Shared>,
        roots: Arc<ArcSwap<Vec<PathBuf>>>,
        walker: Walker,
        alive: crossbeam_channel::Sender<()>,
    ) -> std::io::Result<Self> {
        let flags = InitFlags::FAN_CLASS_NOTIF | InitFlags::FAN_CLOEXEC | InitFlags::FAN_NONBLOCK;
        let event_flags =
            EventFFlags::try_from(OFlag::O_RDONLY | OFlag::O_LARGEFILE | OFlag::O_CLOEXEC)?;
        let group = Arc::new(Fanotify::init(flags, event_flags)?);
        // nix names no `FAN_REPORT_*` flag but the pid ones; libc has them.
        let report_dirs = InitFlags::from_bits_retain(libc::FAN_REPORT_DFID_NAME);
        let dirs = match Fanotify::init(flags | report_dirs, event_flags) {
            Ok(group) => Some(Arc::new(DirGroup {
                group,
                mounts: Mutex::default(),
            })),
            Err(e) => {
                tracing::warn!(error = %e, "fanotify watcher: this kernel does not report directory events (Linux 5.9 and later do); files moved or linked into a watched folder are found only by a rescan");
                None
            }
        };
        let resolved = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = EventThread {
            group: group.clone(),
            dirs: dirs.clone(),
            resolved: resolved.clone(),
            stop: stop.clone(),
            shared,
            roots,
            walker,
            own_pid: std::process::id() as i32,
        };
        std::thread::Builder::new()
            .name("vigil-fanwatch".into())
            .spawn(move || {
                thread.run();
                drop(alive);
            })?;
        Ok(FanWatch {
            group,
            dirs,
            resolved,
            stop,
        })
    }

    /// Marks the filesystem `root` is on.
    pub(super) fn watch(&self, root: &Path) -> std::io::Result<()> {
        let real = std::fs::canonicalize(root)?;
        self.group.mark(
            MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_FILESYSTEM,
            MaskFlags::FAN_CLOSE_WRITE,
            rustix::fs::CWD,
            Some(&real),
        )?;
        {
            let mut resolved = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
            resolved.retain(|(_, r)| r != root);
            resolved.push((real.clone(), root.to_path_buf()));
        }
        if let Some(dirs) = &self.dirs {
            if let Err(e) = dirs.watch(&real) {
                tracing::warn!(root = %root.display(), error = %e, "fanotify watcher: no directory events on the filesystem of {}; files moved or linked into it are found only by a rescan", root.display());
            }
        }
        Ok(())
    }

    /// Stops the event thread (it ends within `IDLE_WAKE`).
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl DirGroup {
    /// Keeps `real`'s mount open (so that handles can be opened through it),
    /// then marks its filesystem.
    fn watch(&self, real: &Path) -> std::io::Result<()> {
        (self.mounts.lock().unwrap_or_else(|p| p.into_inner())).add(real)?;
        self.group.mark(
            MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_FILESYSTEM,
            MaskFlags::FAN_CREATE | MaskFlags::FAN_MOVED_TO | MaskFlags::FAN_ONDIR,
            rustix::fs::CWD,
            Some(real),
        )?;
        Ok(())
    }
}

/// What the event thread owns.
struct EventThread {
    group: Arc<Fanotify>,
    dirs: Option<Arc<DirGroup>>,
    resolved: Arc<Mutex<Vec<(PathBuf, PathBuf)>>>,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    roots: Arc<ArcSwap<Vec<PathBuf>>>,
    walker: Walker,
    own_pid: i32,
}

impl EventThread {
    fn run(&self) {
        let wake = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: IDLE_WAKE.as_nanos() as i64,
        };
        let mut dir_buf = vec![0u8; DIR_EVENTS_BUF];
        while !self.stop.load(Ordering::Relaxed) {
            let mut fds = vec![PollFd::new(&*self.group, PollFlags::IN)];
            if let Some(dirs) = &self.dirs {
                fds.push(PollFd::new(&dirs.group, PollFlags::IN));
            }
            match rustix::event::poll(&mut fds, Some(&wake)) {
                Ok(0) | Err(rustix::io::Errno::INTR) => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "fanotify watcher: cannot wait for events");
                    std::thread::sleep(IDLE_WAKE);
                    continue;
                }
            }
            let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
            // Directory events first: a file's creation comes before its
            // close, and a close read first would be undone by the creation.
            if let (Some(dirs), Some(true)) = (&self.dirs, ready.get(1)) {
                self.read_dir_events(dirs, &mut dir_buf);
            }
            if ready[0] {
                self.read_close_writes();
            }
        }
    }

    /// Reads every queued close-after-write event.
    fn read_close_writes(&self) {
        loop {
            match self.group.read_events() {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    for event in events {
                        match event.fd() {
                            None => self.shared.overflowed(),
                            Some(_) if event.pid() == self.own_pid => {}
                            Some(fd) => {
                                let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
                                let named = std::fs::read_link(link)
                                    .ok()
                                    .and_then(|path| self.configured_name(&path));
                                if let Some(named) = named {
                                    self.report(&named, Change::Closed, false);
                                }
                            }
                        }
                    }
                }
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => {}
                Err(e) => {
                    tracing::error!(error = %e, "fanotify watcher: cannot read events");
                    break;
                }
            }
        }
    }

    /// Reads every queued directory event.
    fn read_dir_events(&self, dirs: &DirGroup, buf: &mut [u8]) {
        loop {
            let n = match rustix::io::read(&dirs.group, &mut *buf) {
                Ok(0) | Err(rustix::io::Errno::AGAIN) => break,
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "fanotify watcher: cannot read directory events");
                    break;
                }
            };
            for event in records::parse(&buf[..n]) {
                self.dir_event(dirs, event);
            }
        }
    }

    /// An entry was created in, or moved to, a folder.
    fn dir_event(&self, dirs: &DirGroup, event: records::Event) {
        if event.mask & libc::FAN_Q_OVERFLOW != 0 {
            self.shared.overflowed();
            return;
        }
        if event.pid == self.own_pid {
            return;
        }
        let Some(entry) = event.entry else { return };
        let is_dir = event.mask & libc::FAN_ONDIR != 0;
        let named = {
            let mounts = dirs.mounts.lock().unwrap_or_else(|p| p.into_inner());
            mounts.resolve(&entry, |path| self.configured_name(&path))
        };
        let Some(named) = named else { return };
        // As inotify's events are taken: a new file may still be written
        // (its close says when it is done); a file moved in, a hard link
        // (a created name of a file with other names), and a folder are
        // complete.
        let created_file = !is_dir && event.mask & libc::FAN_MOVED_TO == 0;
        let change = if created_file && !is_hard_link(&named) {
            Change::Written
        } else {
            Change::Appeared
        };
        self.report(&named, change, is_dir);
    }

    /// `path` (as the kernel names it) under the root as configured, if it
    /// is under a watched root.
    fn configured_name(&self, path: &Path) -> Option<PathBuf> {
        let named = {
            let resolved = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
            resolved.iter().find_map(|(real, root)| {
                let rest = path.strip_prefix(real).ok()?;
                Some(root.join(rest))
            })
        }?;
        deepest_root(&self.roots.load(), &named)?;
        Some(named)
    }

    /// `path` (under a root, as configured) changed: marks it dirty unless
    /// it is excluded.
    fn report(&self, path: &Path, change: Change, is_dir: bool) {
        let roots = self.roots.load();
        let Some(root) = deepest_root(&roots, path) else {
            return;
        };
        if !self.walker.is_excluded_below(root, path, is_dir) {
            self.shared.touch(path, change);
        }
    }
}

/// Whether `path` is a file with more than one name.
fn is_hard_link(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.nlink() > 1)
}
