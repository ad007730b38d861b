//! The daemon's event log: one JSON line per detection and per error, the
//! same objects as `vigil scan --json`, plus `time` (RFC 3339, UTC) and
//! `source` (which source asked for the scan: `initial`, `watch`, `rescan`,
//! `poll`, `control`, `guard`). An open the guard refused is a detection with
//! `"action": "blocked"` and the `pid`, `uid` and `executable` of the process
//! that tried. Each line is flushed as it is written, since a reader (the
//! journal, a pipe) should see an event when it happens.

use std::io::{self, Write};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

use super::journal::{self, Journal};
use super::json::{JsonPath, Record};
use super::{Detection, Event, Sink, Summary};
use crate::engine::request::{Opener, Origin};

/// Writes stamped JSON lines, flushing each. A failed write is not retried
/// and does not stop later events (see `is_closed`).
pub struct EventLog {
    out: Mutex<Box<dyn Write + Send>>,
    /// Under systemd: events go to the journal as entries with fields
    /// (stdout is the journal too, without them).
    journal: Option<Journal>,
}

#[derive(Serialize)]
struct Stamped<'a> {
    #[serde(flatten)]
    record: Record<'a>,
    time: String,
    source: &'static str,
}

/// A refused open: the detection, and who tried.
#[derive(Serialize)]
struct BlockedRecord<'a> {
    #[serde(flatten)]
    stamped: Stamped<'a>,
    action: &'static str,
    pid: i32,
    uid: Option<u32>,
    /// As text (escaped if it is not UTF-8).
    executable: Option<String>,
}

impl EventLog {
    /// Events on stdout; when stdout is the journal, as journal entries.
    pub fn stdout() -> Self {
        let mut log = Self::new(Box::new(io::stdout()));
        if journal::is_journal_stream(io::stdout()) {
            match Journal::connect() {
                Ok(j) => log.journal = Some(j),
                Err(e) => tracing::warn!("cannot write events to the journal, only to stdout: {e}"),
            }
        }
        log
    }

    pub fn new(out: Box<dyn Write + Send>) -> Self {
        EventLog {
            out: Mutex::new(out),
            journal: None,
        }
    }
}

impl EventLog {
    /// Writes one record of `event` as a journal entry under systemd, else
    /// as a line, flushed.
    fn write(&self, record: &impl Serialize, event: &Event<'_>, origin: Origin) {
        let mut line = serde_json::to_vec(record).expect("records serialize");
        if let Some(j) = &self.journal {
            let message = String::from_utf8_lossy(&line);
            if j.send(&journal::event_fields(event, origin.name(), &message))
                .is_ok()
            {
                return;
            }
        }
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.write_all(&line).and_then(|()| out.flush());
    }
}

impl Sink for EventLog {
    fn event(&self, event: &Event<'_>) {
        self.event_from(Origin::Watch, event);
    }

    fn event_from(&self, origin: Origin, event: &Event<'_>) {
        let Some(record) = Record::of(event) else {
            return;
        };
        let stamped = Stamped {
            record,
            time: crate::timefmt::rfc3339_millis(SystemTime::now()),
            source: origin.name(),
        };
        self.write(&stamped, event, origin);
    }

    fn blocked(&self, detection: &Detection<'_>, opener: &Opener) {
        let Some(record) = Record::of(&Event::Detection(*detection)) else {
            return;
        };
        let event = Event::Detection(*detection);
        let record = BlockedRecord {
            stamped: Stamped {
                record,
                time: crate::timefmt::rfc3339_millis(SystemTime::now()),
                source: Origin::Guard.name(),
            },
            action: "blocked",
            pid: opener.pid,
            uid: opener.uid,
            executable: (opener.executable.as_deref()).map(|p| JsonPath::new(p).path),
        };
        self.write(&record, &event, Origin::Guard);
    }

    fn summary(&self, _summary: &Summary) {}

    fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.flush();
    }

    /// Always false: a daemon whose output went away keeps scanning (and
    /// logging through tracing); stopping every scan would be worse.
    fn is_closed(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, Algorithm};
    use crate::report::Detection;
    use std::path::Path;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn events_are_scan_records_plus_time_and_source() {
        let out = Shared::default();
        let log = EventLog::new(Box::new(out.clone()));
        let digest = hash_bytes(Algorithm::Md5, b"x");
        log.event_from(
            Origin::Rescan,
            &Event::Detection(Detection {
                official: false,
                also: &[],
                path: Path::new("/w/a"),
                size: 1,
                signature: "Sig",
                digest: &digest,
                moved: None,
                member: &[],
            }),
        );
        log.event_from(
            Origin::Watch,
            &Event::Clean {
                path: Path::new("/w/b"),
            },
        );
        log.event_from(
            Origin::Watch,
            &Event::Error {
                path: Path::new("/w/c"),
                reason: "Permission denied",
                kind: crate::report::ErrorKind::Permission,
            },
        );
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["type"], "detection");
        assert_eq!(lines[0]["path"], "/w/a");
        assert_eq!(lines[0]["signature"], "Sig");
        assert_eq!(lines[0]["algorithm"], "md5");
        assert_eq!(lines[0]["source"], "rescan");
        assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["type"], "error");
        assert_eq!(lines[1]["error"], "Permission denied");
        assert_eq!(lines[1]["kind"], "permission");
        assert_eq!(lines[1]["source"], "watch");
    }
}
