//! Noticing that the signature databases changed (clamd's `SelfCheck`): a
//! worker looks at the database files and folders every `self_check`
//! interval, and when what it sees differs from what was last loaded, it
//! waits until the files have stayed the same for one more interval (a
//! download being written, an editor saving) and asks the supervisor to
//! reload, as SIGHUP does. The reload validates the whole set before it
//! swaps anything in, so a broken update keeps the old set.
//!
//! A change is any difference in the files' names, sizes, modification
//! times or inode numbers: freshclam's rename into place gives a new inode,
//! an in-place edit a new time or size. Polling, not inotify, so that it
//! also works for folders on network file systems and costs a few `stat`
//! calls per interval.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

/// What a database file looked like: (size, modification time in ns, inode).
type Look = (u64, i128, u64);

/// The database files of a configuration as they are on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot(BTreeMap<PathBuf, Look>);

impl Snapshot {
    /// Looks at every named file, and the files of every named folder (not
    /// recursively, not hidden ones, as the loader reads them). A path that
    /// cannot be read is left out: its absence is a change too.
    pub fn take(databases: &[PathBuf]) -> Self {
        let mut files = BTreeMap::new();
        let mut add = |path: &Path| {
            if let Ok(m) = std::fs::metadata(path) {
                if m.is_file() {
                    let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
                    files.insert(path.to_path_buf(), (m.len(), mtime, m.ino()));
                }
            }
        };
        for db in databases {
            if db.is_dir() {
                let Ok(entries) = std::fs::read_dir(db) else {
                    continue;
                };
                for entry in entries.flatten() {
                    if !entry.file_name().as_encoded_bytes().starts_with(b".") {
                        add(&entry.path());
                    }
                }
            } else {
                add(db);
            }
        }
        Snapshot(files)
    }

    /// What changed from `self` to `new`, for the log: e.g.
    /// `added daily.cld; replaced main.cvd; changed local.hdb; removed old.hdb`.
    pub fn describe(&self, new: &Snapshot) -> String {
        let (mut added, mut replaced, mut changed, mut removed) = (vec![], vec![], vec![], vec![]);
        let show = |p: &Path| p.display().to_string();
        for (path, look) in &new.0 {
            match self.0.get(path) {
                None => added.push(show(path)),
                Some(old) if old.2 != look.2 => replaced.push(show(path)),
                Some(old) if old != look => changed.push(show(path)),
                Some(_) => {}
            }
        }
        for path in self.0.keys() {
            if !new.0.contains_key(path) {
                removed.push(show(path));
            }
        }
        [
            ("added", added),
            ("replaced", replaced),
            ("changed", changed),
            ("removed", removed),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(what, v)| format!("{what} {}", v.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
    }
}

/// What the worker compares against: the databases in effect and how they
/// looked when they were last loaded (or when a change was last reported).
#[derive(Debug, Default)]
pub struct Watched {
    pub databases: Vec<PathBuf>,
    pub loaded: Snapshot,
}

/// Every `interval` until `stop` closes: if the databases differ from
/// `watched.loaded` and then stay the same for one more interval, records
/// the new look in `watched` and sends `changed` what changed.
pub fn db_watch_worker(
    watched: &Mutex<Watched>,
    interval: Duration,
    stop: &Receiver<()>,
    changed: &dyn Fn(String) -> bool,
) {
    // Sleeps one interval; false once it is time to stop.
    let wait = || matches!(stop.recv_timeout(interval), Err(RecvTimeoutError::Timeout));
    while wait() {
        let (databases, loaded) = {
            let w = watched.lock().unwrap_or_else(|e| e.into_inner());
            (w.databases.clone(), w.loaded.clone())
        };
        let mut now = Snapshot::take(&databases);
        if now == loaded {
            continue;
        }
        // Settle: the same look one interval apart.
        loop {
            if !wait() {
                return;
            }
            let again = Snapshot::take(&databases);
            if again == now {
                break;
            }
            now = again;
        }
        let what = {
            let mut w = watched.lock().unwrap_or_else(|e| e.into_inner());
            if w.databases != databases || w.loaded == now {
                // Reloaded meanwhile (SIGHUP): look again next time.
                continue;
            }
            let what = w.loaded.describe(&now);
            w.loaded = now;
            what
        };
        if !changed(what) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_tell_added_replaced_changed_and_removed_apart() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("main.hdb"), "a").unwrap();
        std::fs::write(d.join("local.hdb"), "a").unwrap();
        std::fs::write(d.join("old.hdb"), "a").unwrap();
        std::fs::write(d.join(".hidden.tmp"), "a").unwrap();
        let before = Snapshot::take(&[d.to_path_buf()]);
        assert_eq!(before.0.len(), 3);
        assert_eq!(before, Snapshot::take(&[d.to_path_buf()]));
        std::fs::write(d.join(".main.tmp"), "bb").unwrap();
        std::fs::rename(d.join(".main.tmp"), d.join("main.hdb")).unwrap();
        std::fs::write(d.join("local.hdb"), "abc").unwrap();
        std::fs::remove_file(d.join("old.hdb")).unwrap();
        std::fs::write(d.join("daily.hdb"), "a").unwrap();
        let after = Snapshot::take(&[d.to_path_buf()]);
        let text = before.describe(&after);
        let p = |n: &str| d.join(n).display().to_string();
        assert_eq!(
            text,
            format!(
                "added {}; replaced {}; changed {}; removed {}",
                p("daily.hdb"),
                p("main.hdb"),
                p("local.hdb"),
                p("old.hdb")
            )
        );
    }
}
