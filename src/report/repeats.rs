//! A reload re-matches every watched file against the new signatures (the
//! unchanged ones from the cache, without a read), so that files the new set
//! detects are reported. Files the old set had detected match again, and
//! were reported already: `NewOnReload` passes on a detection from a reload
//! only if that file was not reported before with the same detection (the
//! same signature, digest and member), or if it was moved to quarantine
//! this time. Every other event passes unchanged.
//!
//! It remembers, per path, the last detection reported (from any source),
//! and forgets it when the file is next found clean, so a file detected,
//! then cleaned, then detected again by a later set is reported again.

use std::collections::HashMap;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::{Detection, Event, Sink, Summary};
use crate::engine::request::{Opener, Origin};

/// Paths remembered at most; past this a reload reports the detections of
/// files not remembered, as if they were new.
const MAX_REMEMBERED: usize = 100_000;

/// Wraps the daemon's sink (see the module doc).
pub struct NewOnReload<S> {
    inner: S,
    /// Per path: the detection last reported, as `fingerprint`.
    reported: Mutex<HashMap<PathBuf, u64>>,
    /// Whether `reported` holds anything: clean files, by far the most
    /// events, take no lock while it is empty.
    any: AtomicBool,
}

impl<S: Sink> NewOnReload<S> {
    pub fn new(inner: S) -> Self {
        NewOnReload {
            inner,
            reported: Mutex::new(HashMap::new()),
            any: AtomicBool::new(false),
        }
    }

    /// Notes that `d` is reported; returns whether `path` had been reported
    /// with this very detection already.
    fn note(&self, d: &Detection<'_>) -> bool {
        let seen = fingerprint(d);
        let mut map = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(d.path) == Some(&seen) {
            return true;
        }
        if map.len() < MAX_REMEMBERED || map.contains_key(d.path) {
            map.insert(d.path.to_path_buf(), seen);
            self.any.store(true, Ordering::Relaxed);
        }
        false
    }

    /// Notes what `event` says of its path; returns whether it repeats a
    /// detection reported before.
    fn heard(&self, event: &Event<'_>) -> bool {
        match event {
            Event::Detection(d) => self.note(d),
            Event::Clean { path } => {
                self.forget(path);
                false
            }
            Event::Error { .. } => false,
        }
    }

    fn forget(&self, path: &Path) {
        if !self.any.load(Ordering::Relaxed) {
            return;
        }
        let mut map = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(path);
        if map.is_empty() {
            self.any.store(false, Ordering::Relaxed);
        }
    }
}

/// What makes two reports of one path the same detection.
fn fingerprint(d: &Detection<'_>) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.write(d.signature.as_bytes());
    h.write_u8(0xff);
    h.write(d.digest.as_bytes());
    for name in d.member {
        h.write_usize(name.len());
        h.write(name);
    }
    h.finish()
}

impl<S: Sink> Sink for NewOnReload<S> {
    fn event(&self, event: &Event<'_>) {
        self.heard(event);
        self.inner.event(event);
    }

    fn event_from(&self, origin: Origin, event: &Event<'_>) {
        let repeated = self.heard(event);
        // A file moved to quarantine now (its earlier move failed) is news.
        let moved = matches!(event, Event::Detection(d) if d.moved.is_some());
        if !(repeated && origin == Origin::Reload) || moved {
            self.inner.event_from(origin, event);
        }
    }

    fn blocked(&self, detection: &Detection<'_>, opener: &Opener) {
        self.note(detection);
        self.inner.blocked(detection, opener);
    }

    fn summary(&self, summary: &Summary) {
        self.inner.summary(summary);
    }

    fn flush(&self) {
        self.inner.flush();
    }

    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, Algorithm};

    /// Counts the detections passed on.
    #[derive(Default)]
    struct Count(std::sync::atomic::AtomicUsize);

    impl Sink for Count {
        fn event(&self, event: &Event<'_>) {
            if let Event::Detection(_) = event {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        fn summary(&self, _: &Summary) {}
        fn flush(&self) {}
        fn is_closed(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_reload_reports_only_what_was_not_reported_before() {
        let sink = NewOnReload::new(Count::default());
        let digest = hash_bytes(Algorithm::Sha256, b"x");
        let detection = |path: &'static str, signature: &'static str| Detection {
            path: Path::new(path),
            size: 1,
            signature,
            official: false,
            also: &[],
            digest: &digest,
            moved: None,
            member: &[],
        };
        let passed = || sink.inner.0.load(Ordering::Relaxed);
        let report = |origin, d| sink.event_from(origin, &Event::Detection(d));
        report(Origin::Initial, detection("/a", "Old"));
        assert_eq!(passed(), 1);
        // The same detection again on a reload: not reported.
        report(Origin::Reload, detection("/a", "Old"));
        assert_eq!(passed(), 1);
        // Another file, or another signature for the same file: reported.
        report(Origin::Reload, detection("/b", "New"));
        report(Origin::Reload, detection("/a", "Renamed"));
        assert_eq!(passed(), 3);
        // Found clean, then detected again by a later reload: reported.
        sink.event_from(
            Origin::Reload,
            &Event::Clean {
                path: Path::new("/b"),
            },
        );
        report(Origin::Reload, detection("/b", "New"));
        assert_eq!(passed(), 4);
        // A change seen by the watcher is always reported.
        report(Origin::Watch, detection("/b", "New"));
        assert_eq!(passed(), 5);
    }
}
