//! JSON Lines output: one object per detection and per error, then a summary
//! object, each with a `type`. A path that is not valid UTF-8 is given escaped
//! in `path` and exactly, base64-encoded, in `path_bytes`.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use base64::Engine as _;
use serde::Serialize;

use super::{escape_path, Event, Sink, Summary};
use crate::report::progress::{around, Progress};
use crate::stats::Skipped;

/// Writes JSON lines to stdout.
pub struct JsonSink {
    out: Mutex<BufWriter<Box<dyn Write + Send>>>,
    show_summary: bool,
    closed: AtomicBool,
    /// The live progress line, cleared around each write to the terminal.
    progress: Option<Progress>,
}

/// A path as JSON fields: the text, and the exact bytes when the text can't be.
#[derive(Serialize)]
pub struct JsonPath {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
}

impl JsonPath {
    pub fn new(path: &Path) -> Self {
        let bytes = path.as_os_str().as_encoded_bytes();
        match std::str::from_utf8(bytes) {
            Ok(s) => JsonPath {
                path: s.to_string(),
                path_bytes: None,
            },
            Err(_) => JsonPath {
                path: escape_path(path).into_owned(),
                path_bytes: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            },
        }
    }
}

/// Where a detected file was moved: the quarantine entry's id and the path
/// of its content.
#[derive(Serialize)]
pub(crate) struct JsonMoved<'a> {
    id: &'a str,
    #[serde(flatten)]
    path: JsonPath,
}

/// One JSON line. The daemon's event log (`events`) writes the same records.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Record<'a> {
    Detection {
        #[serde(flatten)]
        path: JsonPath,
        size: u64,
        signature: &'a str,
        /// From a database ClamAV signed (`signature` is then bare).
        official: bool,
        algorithm: &'static str,
        digest: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        quarantine: Option<JsonMoved<'a>>,
        /// Member names from the file down to the one that matched.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        member: Vec<String>,
        /// The same names, base64-encoded, when one is not UTF-8.
        #[serde(skip_serializing_if = "Option::is_none")]
        member_bytes: Option<Vec<String>>,
    },
    Error {
        #[serde(flatten)]
        path: JsonPath,
        error: &'a str,
        kind: &'static str,
    },
    Summary {
        version: &'static str,
        signatures: usize,
        allow_entries: usize,
        threads: usize,
        directories: u64,
        files: u64,
        hashed: u64,
        cleared_by_size: u64,
        hardlinks_reused: u64,
        from_cache: u64,
        read_ahead: u64,
        skipped: Skipped,
        bytes_hashed: u64,
        detections: u64,
        errors: u64,
        moved: u64,
        not_moved: u64,
        containers: u64,
        members: u64,
        limits_exceeded: u64,
        elapsed_secs: f64,
        mib_per_sec: f64,
        files_per_sec: f64,
    },
}

impl<'a> Record<'a> {
    /// The record for an event; clean files have none.
    pub(crate) fn of(event: &Event<'a>) -> Option<Self> {
        match *event {
            Event::Detection(d) => Some(Record::Detection {
                path: JsonPath::new(d.path),
                size: d.size,
                signature: d.signature,
                official: d.official,
                algorithm: d.digest.algorithm().name(),
                digest: d.digest.to_hex(),
                quarantine: d.moved.map(|m| JsonMoved {
                    id: m.id,
                    path: JsonPath::new(m.dest),
                }),
                member: d.member.iter().map(|n| member_text(n)).collect(),
                member_bytes: member_bytes(d.member),
            }),
            Event::Clean { .. } => None,
            Event::Error { path, reason, kind } => Some(Record::Error {
                path: JsonPath::new(path),
                error: reason,
                kind: kind.name(),
            }),
        }
    }
}

/// A member name as text: as stored when UTF-8, else escaped like a path.
fn member_text(name: &[u8]) -> String {
    use std::os::unix::ffi::OsStrExt;
    match std::str::from_utf8(name) {
        Ok(s) => s.to_string(),
        Err(_) => escape_path(Path::new(std::ffi::OsStr::from_bytes(name))).into_owned(),
    }
}

/// Every member name base64-encoded, if any one is not UTF-8.
fn member_bytes(names: &[Box<[u8]>]) -> Option<Vec<String>> {
    if names.iter().all(|n| std::str::from_utf8(n).is_ok()) {
        return None;
    }
    let b64 = &base64::engine::general_purpose::STANDARD;
    Some(names.iter().map(|n| b64.encode(n)).collect())
}

impl JsonSink {
    pub fn stdio(show_summary: bool, progress: Option<Progress>) -> Self {
        let mut sink = Self::new(Box::new(io::stdout()), show_summary);
        // Only a terminal shows the bar; a pipe needs no clearing around it.
        if io::stdout().is_terminal() {
            sink.progress = progress;
        }
        sink
    }

    pub fn new(out: Box<dyn Write + Send>, show_summary: bool) -> Self {
        JsonSink {
            out: Mutex::new(BufWriter::with_capacity(64 * 1024, out)),
            show_summary,
            closed: AtomicBool::new(false),
            progress: None,
        }
    }

    fn write(&self, record: &Record<'_>) {
        if self.is_closed() {
            return;
        }
        let mut line = serde_json::to_vec(record).expect("records serialize");
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let mut result = around(self.progress.as_ref(), || out.write_all(&line));
        if result.is_ok() && self.progress.is_some() {
            result = out.flush();
        }
        if result.is_err() {
            self.closed.store(true, Ordering::Relaxed);
        }
    }
}

impl Sink for JsonSink {
    fn event(&self, event: &Event<'_>) {
        if let Some(record) = Record::of(event) {
            self.write(&record);
        }
    }

    fn summary(&self, s: &Summary) {
        if !self.show_summary {
            return;
        }
        let c = &s.counts;
        self.write(&Record::Summary {
            version: env!("CARGO_PKG_VERSION"),
            signatures: s.signatures,
            allow_entries: s.allow_entries,
            threads: s.threads,
            directories: c.directories,
            files: c.files,
            hashed: c.hashed,
            cleared_by_size: c.cleared_by_size,
            hardlinks_reused: c.hardlinks_reused,
            from_cache: c.from_cache,
            read_ahead: c.read_ahead,
            skipped: c.skipped,
            bytes_hashed: c.bytes_hashed,
            detections: c.detections,
            errors: c.errors,
            moved: c.moved,
            not_moved: c.not_moved,
            containers: c.containers,
            members: c.members,
            limits_exceeded: c.limits_exceeded,
            elapsed_secs: s.elapsed.as_secs_f64(),
            mib_per_sec: s.mib_per_sec(),
            files_per_sec: s.files_per_sec(),
        });
    }

    fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if out.flush().is_err() {
            self.closed.store(true, Ordering::Relaxed);
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn non_utf8_paths_keep_their_bytes() {
        let p = JsonPath::new(Path::new(OsStr::from_bytes(b"a\xffb")));
        assert_eq!(p.path, "a\\xffb");
        assert_eq!(p.path_bytes.as_deref(), Some("Yf9i"));
        let p = JsonPath::new(Path::new("new\nline"));
        assert_eq!(p.path, "new\nline");
        assert!(p.path_bytes.is_none());
    }
}
