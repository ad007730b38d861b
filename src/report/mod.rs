//! Sinks receive what the scan finds — detections, clean files, errors — and
//! the final summary. `text` writes ClamAV-style lines, `json` one object per
//! line. Paths are escaped so that no file name can forge an output line.
//! Sinks never act on files.

mod escape;
pub mod json;
mod null;
pub mod text;

use std::path::Path;
use std::time::Duration;

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
    pub digest: &'a Digest,
}

/// One thing a sink is told.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    Detection(Detection<'a>),
    /// A file that was examined and matched nothing (or matched the allow-list).
    Clean { path: &'a Path },
    /// A path that could not be scanned, and why.
    Error { path: &'a Path, reason: &'a str },
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

    fn summary(&self, summary: &Summary);

    /// Flushes buffered output.
    fn flush(&self);

    /// True once output can no longer be written (e.g. a closed pipe): the
    /// scan should stop, quietly.
    fn is_closed(&self) -> bool;
}
