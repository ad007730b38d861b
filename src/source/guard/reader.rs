//! The reader thread: takes events from the group and answers at once every
//! open that needs no reading:
//!
//! - the daemon's own (it must never wait on itself: its quarantine, state
//!   and databases, and any file it scans by path);
//! - files outside the guarded folders (the mark covers whole filesystems);
//! - anything but a regular file;
//! - a file whose size no signature can match, after one `fstat`.
//!
//! The last three also get an ignore mark, so that their next opens cause no
//! event. Every other open goes to the pool (through the feeder) and waits
//! in the reader's list until it is answered; the reader answers it itself
//! when `guard_timeout` is up. The reader never blocks on anything but its
//! `poll`, whose timeout is the nearest deadline.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use nix::errno::Errno;
use nix::sys::fanotify::{FanotifyEvent, Response};
use rustix::event::{PollFd, PollFlags};

use super::feeder::ToPool;
use super::marks::StatKey;
use super::reply::{respond, Pending};
use super::Shared;
use crate::engine::request::GuardedOpen;

/// The longest the reader sleeps with nothing due, so that it sees `stop`.
const IDLE_WAKE: Duration = Duration::from_millis(200);

/// Reads and answers events until the guard stops; then lets every waiting
/// open through.
pub(super) fn run(shared: &Arc<Shared>, to_pool: &Sender<ToPool>) {
    let mut waiting: Vec<Arc<Pending>> = Vec::new();
    while !shared.stopping.load(Ordering::Relaxed) {
        let now = Instant::now();
        waiting.retain(|p| {
            if p.is_answered() {
                false
            } else if p.deadline <= now {
                p.expire();
                false
            } else {
                true
            }
        });
        let wait = waiting
            .iter()
            .map(|p| p.deadline.saturating_duration_since(now))
            .min()
            .unwrap_or(IDLE_WAKE)
            .min(IDLE_WAKE);
        let timeout = rustix::time::Timespec {
            tv_sec: wait.as_secs() as i64,
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&shared.group, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                tracing::error!(error = %e, "guard: cannot wait for events");
                std::thread::sleep(IDLE_WAKE);
                continue;
            }
        }
        loop {
            match shared.group.read_events() {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    for event in events {
                        if let Some(pending) = handle(shared, event, to_pool) {
                            waiting.push(pending);
                        }
                    }
                }
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => {}
                Err(e) => {
                    tracing::error!(error = %e, "guard: cannot read events");
                    break;
                }
            }
        }
    }
    // Stopping: whatever still waits is let through. Workers that answer
    // later find it answered.
    for pending in waiting {
        drop(pending.large.lock().map(|mut l| l.take()));
        pending.let_through();
    }
}

/// Answers `event` at once if it can; else sends it to the pool and returns
/// it to be waited on.
fn handle(
    shared: &Arc<Shared>,
    event: FanotifyEvent,
    to_pool: &Sender<ToPool>,
) -> Option<Arc<Pending>> {
    let allow = |event| {
        respond(&shared.group, event, Response::FAN_ALLOW);
        shared
            .counts
            .allowed_at_once
            .fetch_add(1, Ordering::Relaxed);
        None
    };
    if !event.check_version() {
        tracing::error!("guard: the kernel's fanotify events are of another version");
        return allow(event);
    }
    let Some(fd) = event.fd() else {
        tracing::warn!("guard: the kernel's event queue overflowed");
        return None;
    };
    if event.pid() == shared.own_pid || shared.stopping.load(Ordering::Relaxed) {
        return allow(event);
    }
    let Ok(st) = rustix::fs::fstat(fd) else {
        return allow(event);
    };
    let key = StatKey::of(&st);
    let generation = shared.marks.generation();
    let regular =
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile;
    let Some(path) = path_of(fd) else {
        return allow(event);
    };
    let settings = shared.settings.load();
    let guarded = regular && settings.guards(&path);
    let size = st.st_size as u64;
    if !guarded || shared.sigs.load().algorithms_for_size(size).is_empty() {
        if regular && shared.marks.remember(&shared.group, fd, generation, key) {
            shared.counts.marks.fetch_add(1, Ordering::Relaxed);
        }
        return allow(event);
    }
    let copy = match fd.try_clone_to_owned() {
        Ok(copy) => File::from(copy),
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "guard: cannot hold the file; allowed");
            return allow(event);
        }
    };
    let pending = Arc::new(Pending::new(
        shared.clone(),
        event,
        copy,
        path,
        key,
        generation,
    ));
    let open = GuardedOpen {
        path: pending.path.clone(),
        file: pending.file.clone(),
        reply: pending.clone(),
    };
    shared.counts.decided.fetch_add(1, Ordering::Relaxed);
    // Unbounded: the reader never waits on the pool. What waits is bounded
    // by the processes waiting on their opens.
    if to_pool
        .send(ToPool {
            open,
            pending: pending.clone(),
            size,
        })
        .is_err()
    {
        pending.let_through();
        return None;
    }
    Some(pending)
}

/// The path of an open descriptor, as this process sees it.
fn path_of(fd: BorrowedFd<'_>) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let fd = fd.as_fd().as_raw_fd();
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}
