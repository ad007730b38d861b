//! The daemon's event log: one JSON line per detection and per error, the
//! same objects as `vigil scan --json`, plus `time` (RFC 3339, UTC) and
//! `source` (which source asked for the scan: `initial`, `watch`, `rescan`,
//! `poll`). Each line is flushed as it is written, since a reader (the
//! journal, a pipe) should see an event when it happens.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

use super::json::Record;
use super::{Event, Sink, Summary};
use crate::source::Origin;

/// Writes stamped JSON lines, flushing each.
pub struct EventLog {
    out: Mutex<Box<dyn Write + Send>>,
    /// Set once a write failed; further events are dropped (and counted by
    /// the caller's stats as usual).
    closed: AtomicBool,
}

#[derive(Serialize)]
struct Stamped<'a> {
    #[serde(flatten)]
    record: Record<'a>,
    time: String,
    source: &'static str,
}

impl EventLog {
    pub fn stdout() -> Self {
        Self::new(Box::new(io::stdout()))
    }

    pub fn new(out: Box<dyn Write + Send>) -> Self {
        EventLog {
            out: Mutex::new(out),
            closed: AtomicBool::new(false),
        }
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
            time: rfc3339(SystemTime::now()),
            source: origin.name(),
        };
        let mut line = serde_json::to_vec(&stamped).expect("records serialize");
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if out.write_all(&line).and_then(|()| out.flush()).is_err() {
            self.closed.store(true, Ordering::Relaxed);
        }
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

/// A time as `2024-05-06T07:08:09.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    crate::timefmt::rfc3339_millis(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, Algorithm};
    use crate::report::Detection;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_dates() {
        let at = |s: u64, ms: u64| rfc3339(UNIX_EPOCH + Duration::from_millis(s * 1000 + ms));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_709_251_199, 999), "2024-02-29T23:59:59.999Z");
        assert_eq!(at(4_102_444_800, 0), "2100-01-01T00:00:00.000Z");
    }

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
                path: Path::new("/w/a"),
                size: 1,
                signature: "Sig",
                digest: &digest,
                moved: None,
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
        assert_eq!(lines[1]["source"], "watch");
    }
}
