//! What the engine is asked to do: a `ScanRequest` names one thing to scan
//! and, through its `Origin`, which source asked; `Admit` is the way a source
//! hands requests to the engine's bounded queue. Sources (`source/`) and the
//! control socket (`control/`) produce these; the engine only consumes them.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::access::Credentials;
use crate::engine::inspect::FileResult;
use crate::engine::queue::QueueSender;

/// One thing to scan, as a source names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanRequest {
    /// A file or a folder (walked recursively), named by the user.
    Path(PathBuf),
    /// The process's standard input.
    Stdin,
    /// A file or a folder (walked recursively) that the daemon was told
    /// about. Unlike `Path`, the walk's symlink rule applies to the path
    /// itself, and a path that has gone by the time it is scanned is passed
    /// over quietly: it was short-lived, and its removal was seen too.
    Watched { path: PathBuf, origin: Origin },
    /// A file or a folder (walked recursively) that a control-socket client
    /// asked to scan; its verdicts go back to that client as well. With
    /// `confine`, everything is opened with that user's permissions checked
    /// on the descriptors read (see `access`).
    Control {
        path: PathBuf,
        id: RequestId,
        confine: Option<Arc<Credentials>>,
    },
    /// A file a process is opening, held by the guard until the verdict
    /// answers it (see `GuardedOpen`).
    Open(GuardedOpen),
}

/// A file some process is waiting to open. The engine reads `file` (a
/// descriptor the kernel opened for the guard, never the path), and hands
/// the verdict to `reply`, which allows or refuses the open.
#[derive(Clone)]
pub struct GuardedOpen {
    /// The path, as the guard resolved it from the descriptor: for reports.
    pub path: PathBuf,
    pub file: Arc<File>,
    pub reply: Arc<dyn OpenReply>,
}

impl std::fmt::Debug for GuardedOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedOpen")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Two guarded opens are equal when they wait on the same reply.
impl PartialEq for GuardedOpen {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.reply, &other.reply)
    }
}

impl Eq for GuardedOpen {}

/// Where a guarded open's verdict goes: the guard answers the kernel.
pub trait OpenReply: Send + Sync {
    /// Allows or refuses the open from `result`; returns the process that
    /// was refused, if this answer refused it.
    fn answer(&self, result: &FileResult) -> Option<Opener>;
}

/// The process whose open was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opener {
    pub pid: i32,
    /// Its real user id, if it could be read.
    pub uid: Option<u32>,
    /// Its executable, if it could be read.
    pub executable: Option<PathBuf>,
}

/// Names one control-socket request while it is in flight.
pub type RequestId = u64;

/// Which source asked for a scan. The daemon's events name it as `source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// `vigil scan`.
    Command,
    /// The daemon's scan of its roots at start.
    Initial,
    /// The watcher: a path changed and then settled.
    Watch,
    /// A folder walked again because events may have been lost (kernel queue
    /// overflow, a queue that stayed full, a root that came back).
    Rescan,
    /// A subtree that could not be watched (watch limit), walked on a timer.
    Poll,
    /// The roots walked again after new signatures were loaded, so that
    /// files they now match are reported; with the cache, unchanged files
    /// are matched without being read.
    Reload,
    /// A control-socket client (`SCAN`, `INSTREAM`, ...), by request.
    Control(RequestId),
    /// The on-access guard: a process is opening the file.
    Guard,
}

impl Origin {
    /// The name used in JSON events.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Command => "scan",
            Origin::Initial => "initial",
            Origin::Watch => "watch",
            Origin::Rescan => "rescan",
            Origin::Poll => "poll",
            Origin::Reload => "reload",
            Origin::Control(_) => "control",
            Origin::Guard => "guard",
        }
    }
}

/// Where a source's requests go. `admit` may wait for room; it returns false
/// once nothing more will be taken.
pub trait Admit {
    fn admit(&self, request: ScanRequest) -> bool;
}

impl Admit for QueueSender<ScanRequest> {
    fn admit(&self, request: ScanRequest) -> bool {
        self.send(request).is_ok()
    }
}
