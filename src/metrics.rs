//! Metrics in Prometheus' text format, for node_exporter's textfile
//! collector (`metrics_file`, `vigil scan --metrics-file`) and for
//! `vigil ctl stats --prometheus`.
//!
//! What vigil measures is first a list of `Readings`, `key value` pairs in
//! a fixed order. The control socket's `STATS` carries exactly these on its
//! `VIGIL:` line, so `ctl stats --prometheus` rebuilds from that line the
//! same metrics the daemon writes to its file, with no protocol command of
//! vigil's own. `METRICS` gives each key its Prometheus name, labels, type
//! and help; a key with no row stays on the `VIGIL:` line only. Adding a
//! counter takes one `readings.count(...)` where it is measured and one row
//! in `METRICS`.

use std::io::Write;
use std::path::Path;

use crate::stats::{Snapshot, LATENCY_BOUNDS};

/// Measured values, in the order they were taken.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Readings(Vec<(String, f64)>);

impl Readings {
    pub fn new() -> Self {
        Readings::default()
    }

    /// A count or any whole number.
    pub fn count(&mut self, key: &str, value: u64) {
        self.set(key, value as f64);
    }

    pub fn set(&mut self, key: &str, value: f64) {
        self.0.push((key.to_string(), value));
    }

    /// Appends `other`'s readings.
    pub fn extend(&mut self, other: &Readings) {
        self.0.extend(other.0.iter().cloned());
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The counters of a scan, the one-shot command's or the daemon's.
    pub fn scan_counts(&mut self, s: &Snapshot) {
        self.count("files", s.files);
        self.count("hashed", s.hashed);
        self.count("bytes", s.bytes_hashed);
        self.count("detections", s.detections);
        self.count("errors", s.errors);
        self.count("directories", s.directories);
        self.count("cleared_by_size", s.cleared_by_size);
        self.count("hardlinks_reused", s.hardlinks_reused);
        self.count("from_cache", s.from_cache);
        self.count("read_ahead", s.read_ahead);
        self.count("skipped_too_large", s.skipped.too_large);
        self.count("skipped_excluded", s.skipped.excluded);
        self.count("skipped_special", s.skipped.special);
        self.count("skipped_symlink", s.skipped.symlink);
        self.count("skipped_other_fs", s.skipped.other_fs);
        self.count("containers", s.containers);
        self.count("members", s.members);
        self.count("limits_exceeded", s.limits_exceeded);
        self.count("quarantined", s.moved);
        self.count("not_quarantined", s.not_moved);
        // Cumulative, as Prometheus' buckets are.
        let mut below = 0;
        for (i, n) in s.latency.buckets.iter().enumerate() {
            below += n;
            match LATENCY_BOUNDS.get(i) {
                Some(bound) => self.count(&format!("latency_le_{bound}"), below),
                None => self.count("latency_le_+Inf", below),
            }
        }
        self.set("latency_sum", s.latency.sum_nanos as f64 / 1e9);
        self.count("latency_count", s.latency.count());
    }

    /// `key value key value ...`, as on STATS's `VIGIL:` line.
    pub fn to_line(&self) -> String {
        let mut line = String::new();
        for (key, value) in &self.0 {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&format!("{key} {value}"));
        }
        line
    }

    /// Reads a `VIGIL:` line (with or without its `VIGIL:`).
    pub fn parse_line(line: &str) -> Result<Self, String> {
        let line = line.trim();
        let line = line.strip_prefix("VIGIL:").unwrap_or(line);
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() % 2 != 0 {
            return Err(format!("odd number of words in {line:?}"));
        }
        let mut readings = Readings::new();
        for pair in words.chunks(2) {
            let value = pair[1]
                .parse()
                .map_err(|_| format!("{}: not a number: {:?}", pair[0], pair[1]))?;
            readings.set(pair[0], value);
        }
        Ok(readings)
    }

    /// The Prometheus text format of every reading that `METRICS` names.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut last_name = "";
        for m in METRICS {
            let samples: Vec<(String, f64)> = match m.kind {
                Kind::Histogram => self.histogram(m),
                _ => match self.get(m.key) {
                    Some(v) => vec![(format!("{}{}", m.name, braces(m.labels)), v)],
                    None => continue,
                },
            };
            if samples.is_empty() {
                continue;
            }
            if m.name != last_name {
                out.push_str(&format!("# HELP {} {}\n", m.name, m.help));
                out.push_str(&format!("# TYPE {} {}\n", m.name, m.kind.as_str()));
                last_name = m.name;
            }
            for (series, value) in samples {
                out.push_str(&format!("{series} {}\n", number(value)));
            }
        }
        out
    }

    /// A histogram's series: `KEY_le_BOUND` readings become `_bucket`s.
    fn histogram(&self, m: &Metric) -> Vec<(String, f64)> {
        let prefix = format!("{}_le_", m.key);
        let mut samples: Vec<(String, f64)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let bound = k.strip_prefix(&prefix)?;
                Some((format!("{}_bucket{{le=\"{bound}\"}}", m.name), *v))
            })
            .collect();
        if samples.is_empty() {
            return samples;
        }
        for part in ["sum", "count"] {
            if let Some(v) = self.get(&format!("{}_{part}", m.key)) {
                samples.push((format!("{}_{part}", m.name), v));
            }
        }
        samples
    }
}

fn braces(labels: &str) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    }
}

/// Whole numbers without a fraction, as Prometheus writes them.
fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Writes `text` to `path` so that a reader sees the old file or the new
/// one, never a part: a temporary file beside it, renamed over it. Readable
/// by all (node_exporter runs as its own user).
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".vigil-metrics")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// How one reading is exposed. Rows of one name (with different labels)
/// stand together.
pub struct Metric {
    pub key: &'static str,
    pub name: &'static str,
    pub labels: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

const fn row(
    key: &'static str,
    name: &'static str,
    labels: &'static str,
    kind: Kind,
    help: &'static str,
) -> Metric {
    Metric {
        key,
        name,
        labels,
        kind,
        help,
    }
}

use Kind::{Counter, Gauge, Histogram};

/// Every metric vigil exposes, in the order written.
pub const METRICS: &[Metric] = &[
    row("files", "vigil_files_scanned_total", "", Counter, "Regular files examined: hashed, cleared by size, or a hard link's verdict reused."),
    row("hashed", "vigil_files_hashed_total", "", Counter, "Files opened and hashed."),
    row("bytes", "vigil_scanned_bytes_total", "", Counter, "Bytes hashed."),
    row("detections", "vigil_detections_total", "", Counter, "Files that matched a signature."),
    row("errors", "vigil_errors_total", "", Counter, "Files and folders that could not be scanned."),
    row("directories", "vigil_directories_total", "", Counter, "Folders listed."),
    row("cleared_by_size", "vigil_files_cleared_by_size_total", "", Counter, "Files no signature could match by size, never opened."),
    row("hardlinks_reused", "vigil_hardlinks_reused_total", "", Counter, "Hard links whose inode was already hashed under another name."),
    row("from_cache", "vigil_files_from_cache_total", "", Counter, "Files answered from the verdict cache, never opened."),
    row("read_ahead", "vigil_files_read_ahead_total", "", Counter, "Files found on disk whose reads were started ahead of hashing."),
    row("skipped_too_large", "vigil_files_skipped_total", "reason=\"too_large\"", Counter, "Entries not examined, by reason."),
    row("skipped_excluded", "vigil_files_skipped_total", "reason=\"excluded\"", Counter, ""),
    row("skipped_special", "vigil_files_skipped_total", "reason=\"special\"", Counter, ""),
    row("skipped_symlink", "vigil_files_skipped_total", "reason=\"symlink\"", Counter, ""),
    row("skipped_other_fs", "vigil_files_skipped_total", "reason=\"other_fs\"", Counter, ""),
    row("containers", "vigil_containers_opened_total", "", Counter, "Archives, compressed files and mail opened, nested ones included."),
    row("members", "vigil_container_members_total", "", Counter, "Members of containers examined."),
    row("limits_exceeded", "vigil_container_limits_exceeded_total", "", Counter, "Files whose unpacking a container limit cut short."),
    row("quarantined", "vigil_quarantined_total", "", Counter, "Detected files moved into quarantine."),
    row("not_quarantined", "vigil_quarantine_failures_total", "", Counter, "Detected files that should have been moved into quarantine and were not."),
    row("latency", "vigil_file_scan_duration_seconds", "", Histogram, "Time to inspect one file (open, hash, look inside, match)."),
    row("signatures", "vigil_signatures", "", Gauge, "Signatures loaded."),
    row("signature_bytes", "vigil_signature_memory_bytes", "", Gauge, "Memory the loaded signature set takes (heap and mapped)."),
    row("signature_load_seconds", "vigil_signature_load_duration_seconds", "", Gauge, "How long the last load of the signature set took."),
    row("threads", "vigil_scan_workers", "", Gauge, "Scan workers."),
    row("queue_depth", "vigil_queue_depth", "", Gauge, "Scan requests waiting in the queue."),
    row("queue_capacity", "vigil_queue_capacity", "", Gauge, "Scan requests the queue holds at most."),
    row("outstanding", "vigil_jobs_outstanding", "", Gauge, "Scan jobs admitted and not yet done."),
    row("watched_folders", "vigil_watched_folders", "", Gauge, "Folders found under the watched roots when each was first watched (one inotify watch each)."),
    row("watch_limit_hits", "vigil_watch_limit_hits_total", "", Counter, "Times the inotify watch limit stopped a folder from being watched."),
    row("changes", "vigil_changes_total", "", Counter, "Changes the watcher reported."),
    row("rescans", "vigil_rescans_total", "", Counter, "Whole-root rescans (event queue overflows, too many pending paths, roots that came back)."),
    row("reloads_ok", "vigil_reloads_total", "result=\"ok\"", Counter, "Reloads of signatures and configuration, by result."),
    row("reloads_failed", "vigil_reloads_total", "result=\"failed\"", Counter, ""),
    row("connections", "vigil_control_connections", "", Gauge, "Control socket connections open."),
    row("connections_total", "vigil_control_connections_total", "", Counter, "Control socket connections accepted."),
    row("rss_bytes", "vigil_resident_memory_bytes", "", Gauge, "Resident memory of the daemon."),
    row("uptime", "vigil_uptime_seconds", "", Gauge, "Seconds since the daemon started."),
    row("duration_seconds", "vigil_scan_duration_seconds", "", Gauge, "How long the one-shot scan took."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vigil_line_round_trips() {
        let mut r = Readings::new();
        r.count("files", 3);
        r.set("latency_sum", 0.25);
        let line = r.to_line();
        assert_eq!(line, "files 3 latency_sum 0.25");
        assert_eq!(Readings::parse_line(&format!("VIGIL: {line}")).unwrap(), r);
        assert!(Readings::parse_line("files").is_err());
        assert!(Readings::parse_line("files many").is_err());
    }

    #[test]
    fn prometheus_text_has_help_type_labels_and_buckets() {
        let stats = crate::stats::Stats::new(1);
        stats
            .local()
            .latency
            .record(std::time::Duration::from_millis(2));
        let mut r = Readings::new();
        r.scan_counts(&stats.snapshot());
        r.count("reloads_ok", 2);
        r.count("reloads_failed", 1);
        r.count("unknown_key", 9);
        let text = r.to_prometheus();
        assert!(text
            .contains("# TYPE vigil_files_scanned_total counter\nvigil_files_scanned_total 0\n"));
        assert!(text.contains(
            "vigil_reloads_total{result=\"ok\"} 2\nvigil_reloads_total{result=\"failed\"} 1\n"
        ));
        assert_eq!(text.matches("# TYPE vigil_reloads_total").count(), 1);
        assert!(text.contains("vigil_file_scan_duration_seconds_bucket{le=\"0.001\"} 0\n"));
        assert!(text.contains("vigil_file_scan_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("vigil_file_scan_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("vigil_file_scan_duration_seconds_count 1\n"));
        assert!(!text.contains("unknown_key") && !text.contains("vigil_queue_depth"));
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        for m in METRICS {
            assert!(m.name.starts_with("vigil_"), "{}", m.name);
            assert!(
                m.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                m.name
            );
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
        }
    }
}
