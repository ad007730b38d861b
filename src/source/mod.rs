//! Sources turn the world into `ScanRequest`s and put them on the bounded
//! queue. None of them scans anything: `walker` feeds the paths of a one-shot
//! scan, `watcher` (with `dirty`, its coalescing set, and `coordinator`, the
//! thread that moves settled paths into the queue) feeds the daemon.

pub mod coordinator;
pub mod dirty;
pub mod roots;
pub mod watcher;

use std::path::PathBuf;
use std::sync::Arc;

use crate::access::Credentials;

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
    /// A control-socket client (`SCAN`, `INSTREAM`, ...), by request.
    Control(RequestId),
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
            Origin::Control(_) => "control",
        }
    }
}
