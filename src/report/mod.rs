//! Sinks receive what the scan finds — detections, clean files, errors — and
//! the final summary. `text` writes ClamAV-style lines, `json` one object per
//! line. Paths are escaped so that no file name can forge an output line.
//! Sinks never act on files.

mod escape;
pub mod events;
pub mod journal;
pub mod json;
mod null;
pub mod progress;
pub mod repeats;
pub mod text;

use std::path::Path;
use std::time::Duration;

use crate::engine::request::{Opener, Origin};
use crate::hash::Digest;
use crate::stats::Snapshot;

pub use escape::escape_path;
pub use null::NullSink;

/// A detection, as reported.
#[derive(Clone, Copy, Debug)]
pub struct Detection<'a> {
    pub path: &'a Path,
    pub size: u64,
    pub signature: &'a str,
    /// From a database ClamAV signed.
    pub official: bool,
    /// The other signatures the file matches, as printed (`ALLMATCHSCAN`).
    pub also: &'a [Box<str>],
    pub digest: &'a Digest,
    /// Where the file was moved, if it was quarantined (`scan --move`). A file
    /// that should have been moved and was not is reported as an error too.
    pub moved: Option<Moved<'a>>,
    /// Inside a container: the member names from the file down to the one
    /// that matched; empty for the file itself. The path stays the file's, so
    /// that every clamd client reads `PATH: NAME FOUND` as before.
    pub member: &'a [Box<[u8]>],
}

/// A detected file now in quarantine.
#[derive(Clone, Copy, Debug)]
pub struct Moved<'a> {
    /// The quarantine entry's id.
    pub id: &'a str,
    /// Where its content now is.
    pub dest: &'a Path,
}

/// One thing a sink is told.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    Detection(Detection<'a>),
    /// A file that was examined and matched nothing (or matched the allow-list).
    Clean {
        path: &'a Path,
    },
    /// A path that could not be scanned, and why.
    Error {
        path: &'a Path,
        reason: &'a str,
        kind: ErrorKind,
    },
}

/// What kind of failure an error is, for programs that read the output
/// (`"kind"` in JSON): the reason text is for people and may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Permission denied.
    Permission,
    /// The path vanished between the walk and the open.
    NotFound,
    /// The file changed (size, or identity) while it was being scanned.
    Changed,
    /// A symbolic link loop, or a symlink refused in the last component.
    Loop,
    /// The detected file could not be moved into the quarantine.
    Quarantine,
    /// Any other I/O error.
    Io,
}

impl ErrorKind {
    /// The name used in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Permission => "permission",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Changed => "changed",
            ErrorKind::Loop => "loop",
            ErrorKind::Quarantine => "quarantine",
            ErrorKind::Io => "io",
        }
    }

    /// The kind of an I/O error.
    pub fn of_io(e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::PermissionDenied => ErrorKind::Permission,
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ if e.raw_os_error() == Some(libc::ELOOP) => ErrorKind::Loop,
            _ => ErrorKind::Io,
        }
    }
}

/// The end-of-scan totals.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Detection signatures loaded.
    pub signatures: usize,
    /// Allow-list entries loaded.
    pub allow_entries: usize,
    pub threads: usize,
    pub counts: Snapshot,
    pub elapsed: Duration,
}

impl Summary {
    pub fn mib_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        self.counts.bytes_hashed as f64 / (1024.0 * 1024.0) / secs
    }

    pub fn files_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        self.counts.files as f64 / secs
    }
}

/// Where verdicts go. Shared by every worker, so it must be `Sync`.
pub trait Sink: Sync {
    fn event(&self, event: &Event<'_>);

    /// An event, with the source whose request it answers. Sinks that name
    /// the source (the daemon's event log) override this; others ignore it.
    fn event_from(&self, origin: Origin, event: &Event<'_>) {
        let _ = origin;
        self.event(event);
    }

    /// A detected file whose open the guard refused to `opener`. Sinks that
    /// say who tried (the daemon's event log) override this; others report
    /// the detection.
    fn blocked(&self, detection: &Detection<'_>, opener: &Opener) {
        let _ = opener;
        self.event_from(Origin::Guard, &Event::Detection(*detection));
    }

    fn summary(&self, summary: &Summary);

    /// Flushes buffered output.
    fn flush(&self);

    /// True once output can no longer be written (e.g. a closed pipe): the
    /// scan should stop, quietly.
    fn is_closed(&self) -> bool;
}

/// Passes on errors only, and no summary: what `--quiet` prints, as
/// clamscan's `--quiet` does. The exit code still tells what was found.
pub struct ErrorsOnly(pub Box<dyn Sink>);

impl Sink for ErrorsOnly {
    fn event(&self, event: &Event<'_>) {
        if let Event::Error { .. } = event {
            self.0.event(event);
        }
    }

    fn summary(&self, _summary: &Summary) {}

    fn flush(&self) {
        self.0.flush();
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, Algorithm};
    use std::sync::{Arc, Mutex};

    /// Records the kinds of what it is told.
    struct Record(Arc<Mutex<Vec<&'static str>>>);

    impl Sink for Record {
        fn event(&self, event: &Event<'_>) {
            let kind = match event {
                Event::Detection(_) => "detection",
                Event::Clean { .. } => "clean",
                Event::Error { .. } => "error",
            };
            self.0.lock().unwrap().push(kind);
        }
        fn summary(&self, _: &Summary) {
            self.0.lock().unwrap().push("summary");
        }
        fn flush(&self) {}
        fn is_closed(&self) -> bool {
            false
        }
    }

    #[test]
    fn errors_only_passes_on_errors_and_nothing_else() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = ErrorsOnly(Box::new(Record(seen.clone())));
        let digest = hash_bytes(Algorithm::Md5, b"x");
        let path = Path::new("p");
        sink.event(&Event::Detection(Detection {
            official: false,
            also: &[],
            path,
            size: 1,
            signature: "S",
            digest: &digest,
            moved: None,
            member: &[],
        }));
        sink.event(&Event::Clean { path });
        sink.event(&Event::Error {
            path,
            reason: "r",
            kind: ErrorKind::Io,
        });
        sink.summary(&Summary {
            signatures: 0,
            allow_entries: 0,
            threads: 1,
            counts: Snapshot::default(),
            elapsed: Duration::ZERO,
        });
        assert_eq!(*seen.lock().unwrap(), vec!["error"]);
    }
}
