//! Sources turn the world into `ScanRequest`s and put them on the bounded
//! queue. None of them scans anything.

pub mod walker;

use std::path::PathBuf;

/// One thing to scan, as a source names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanRequest {
    /// A file or a folder (walked recursively).
    Path(PathBuf),
    /// The process's standard input.
    Stdin,
}
