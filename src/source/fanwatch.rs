//! The fanotify watch backend (`watch_backend = "fanotify"`): one mark per
//! filesystem instead of one inotify watch per folder, so there is no watch
//! limit and nothing to set up per folder: the daemon is ready at once on
//! any tree, and a folder made later is covered from its first file.
//!
//! It reports `FAN_CLOSE_WRITE`: a file written and closed under a root is
//! marked dirty, as inotify's close-after-write is. The event's descriptor
//! gives the path (and is closed at once; the file is read later by path,
//! as the inotify backend's are). What this backend does not see: a file
//! moved or hard-linked into a root without being written there (directory
//! events need the kernel's file-handle reports, which name no path); those
//! are found by the next rescan. The daemon's own writes are passed over.
//! It needs CAP_SYS_ADMIN.

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

use super::coordinator::Shared;
use super::dirty::{deepest_root, Change};
use crate::engine::walk::Walker;

/// The longest the event thread sleeps before it looks at `stop`.
const IDLE_WAKE: Duration = Duration::from_millis(200);

/// The fanotify group and its event thread.
pub(super) struct FanWatch {
    group: Arc<Fanotify>,
    /// Each marked root as the kernel names it (symlinks resolved), with the
    /// root as configured: events are reported under the configured name.
    resolved: Arc<Mutex<Vec<(PathBuf, PathBuf)>>>,
    stop: Arc<AtomicBool>,
}

impl FanWatch {
    /// Opens the group and starts its event thread, which holds `alive`
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
        let resolved = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = EventThread {
            group: group.clone(),
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
        let mut resolved = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
        resolved.retain(|(_, r)| r != root);
        resolved.push((real, root.to_path_buf()));
        Ok(())
    }

    /// Stops the event thread (it ends within `IDLE_WAKE`).
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What the event thread owns.
struct EventThread {
    group: Arc<Fanotify>,
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
        while !self.stop.load(Ordering::Relaxed) {
            let mut fds = [PollFd::new(&*self.group, PollFlags::IN)];
            match rustix::event::poll(&mut fds, Some(&wake)) {
                Ok(0) | Err(rustix::io::Errno::INTR) => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "fanotify watcher: cannot wait for events");
                    std::thread::sleep(IDLE_WAKE);
                    continue;
                }
            }
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
                                    if let Ok(path) = std::fs::read_link(link) {
                                        self.closed_after_write(&path);
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
    }

    /// `path` (as the kernel names it) was written and closed.
    fn closed_after_write(&self, path: &Path) {
        let named = {
            let resolved = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
            resolved.iter().find_map(|(real, root)| {
                let rest = path.strip_prefix(real).ok()?;
                Some(root.join(rest))
            })
        };
        let Some(path) = named else { return };
        let roots = self.roots.load();
        let Some(root) = deepest_root(&roots, &path) else {
            return;
        };
        if !self.walker.is_excluded_below(root, &path, false) {
            self.shared.touch(&path, Change::Closed);
        }
    }
}
