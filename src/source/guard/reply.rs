//! One open waiting for its verdict. It holds the kernel's event (and so
//! the descriptor whose number the answer names) until it is answered, and
//! it is answered exactly once: by the verdict (`OpenReply::answer`, on a
//! scan worker), by `guard_timeout` (the reader), or, if neither happened,
//! when the last reference goes (allowed: a job dropped at shutdown never
//! leaves a process waiting).

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nix::sys::fanotify::{Fanotify, FanotifyEvent, FanotifyResponse, Response};

use super::feeder::{LargeSlot, LARGE_FILE};
use super::marks::StatKey;
use super::{OnTimeout, Shared};
use crate::engine::inspect::FileResult;
use crate::engine::request::{OpenReply, Opener};

/// Answers `event` and closes its descriptor.
pub(super) fn respond(group: &Fanotify, event: FanotifyEvent, response: Response) {
    if let Some(fd) = event.fd() {
        if let Err(e) = group.write_response(FanotifyResponse::new(fd, response)) {
            tracing::debug!(error = %e, "guard: answer not taken");
        }
    }
}

/// An open sent to the pool.
pub(super) struct Pending {
    /// The event until it is answered.
    event: Mutex<Option<FanotifyEvent>>,
    shared: Arc<Shared>,
    /// A duplicate of the event's descriptor, which stays valid after the
    /// answer closes the event's own: the engine reads it, and a clean
    /// verdict marks the inode through it.
    pub(super) file: Arc<File>,
    pub(super) path: PathBuf,
    /// The process waiting.
    pid: i32,
    /// When `guard_timeout` answers it.
    pub(super) deadline: Instant,
    /// The ignore marks' generation when the event arrived.
    generation: u64,
    /// The file as its event found it.
    key: StatKey,
    /// Held while a large file is being decided (see `feeder`).
    pub(super) large: Mutex<Option<LargeSlot>>,
}

impl Pending {
    pub(super) fn new(
        shared: Arc<Shared>,
        event: FanotifyEvent,
        file: File,
        path: PathBuf,
        key: StatKey,
        generation: u64,
    ) -> Self {
        let timeout = shared.settings.load().timeout;
        Pending {
            pid: event.pid(),
            event: Mutex::new(Some(event)),
            shared,
            file: Arc::new(file),
            path,
            deadline: Instant::now() + timeout,
            generation,
            key,
            large: Mutex::new(None),
        }
    }

    /// Answers with `response` if no one has; returns whether this did.
    fn respond(&self, response: Response) -> bool {
        let mut slot = self.event.lock().unwrap_or_else(|p| p.into_inner());
        match slot.take() {
            Some(event) => {
                respond(&self.shared.group, event, response);
                true
            }
            None => false,
        }
    }

    /// Lets the open through if no one has answered it.
    pub(super) fn let_through(&self) {
        self.respond(Response::FAN_ALLOW);
    }

    pub(super) fn is_answered(&self) -> bool {
        self.event
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// `guard_timeout` is up: answers as `guard_on_timeout` says.
    pub(super) fn expire(&self) {
        let on_timeout = self.shared.settings.load().on_timeout;
        let response = match on_timeout {
            OnTimeout::Allow => Response::FAN_ALLOW,
            OnTimeout::Deny => Response::FAN_DENY,
        };
        if self.respond(response) {
            self.shared.counts.timed_out.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                path = %self.path.display(),
                pid = self.pid,
                answer = ?on_timeout,
                "guard: no verdict within guard_timeout"
            );
        }
    }
}

impl OpenReply for Pending {
    fn answer(&self, result: &FileResult) -> Option<Opener> {
        crate::control::faults::delay_at("guard");
        if self.key.size() > LARGE_FILE {
            crate::control::faults::delay_at("guard-large");
        }
        drop(self.large.lock().unwrap_or_else(|p| p.into_inner()).take());
        let shared = &self.shared;
        match result {
            FileResult::Detected { .. } => {
                // Read while the process still waits on its open.
                let opener = opener(self.pid);
                if self.respond(Response::FAN_DENY) {
                    shared.counts.blocked.fetch_add(1, Ordering::Relaxed);
                    return Some(opener);
                }
                None
            }
            FileResult::Cleared | FileResult::Clean { .. } | FileResult::TooLarge => {
                let fd = self.file.as_fd();
                if shared
                    .marks
                    .remember(&shared.group, fd, self.generation, self.key)
                {
                    shared.counts.marks.fetch_add(1, Ordering::Relaxed);
                }
                self.respond(Response::FAN_ALLOW);
                None
            }
            FileResult::NotRegular(_) | FileResult::Failed(_) => {
                self.respond(Response::FAN_ALLOW);
                None
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let slot = self.event.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(event) = slot.take() {
            respond(&self.shared.group, event, Response::FAN_ALLOW);
        }
    }
}

/// Who is opening: read from /proc while the process waits.
fn opener(pid: i32) -> Opener {
    let executable = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
            line.split_whitespace().next()?.parse().ok()
        });
    Opener {
        pid,
        uid,
        executable,
    }
}
