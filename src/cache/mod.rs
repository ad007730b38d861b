//! The verdict cache: per file, the digests computed so far, so that a file
//! that has not changed is matched again — against today's signatures or
//! tomorrow's — without being read. It stores digests, never verdicts: a new
//! or reloaded signature set needs no special pass.
//!
//! - `key`: what a file is known by (device, inode, size, mtime, ctime to
//!   the nanosecond), and when what was read may be remembered.
//! - `entry`: what is remembered, with a checksum per entry.
//! - `store`: the crash-safe file (redb) and what to do when it is busy,
//!   damaged, or not ours.
//! - `trust`: the file systems whose times are not trusted (network and
//!   user-space ones), where files are always read.
//!
//! The engine's inspector asks `get` before opening a file and calls `put`
//! after reading one. Puts are gathered in memory and taken a round at a
//! time by one writer thread, which inserts them while the scan goes on and
//! commits rarely (see `writer`), so a first scan pays little for filling
//! the cache.

// redb's own error type is large; it is returned only on cold paths and
// per failed read, which is rare.
#![allow(clippy::result_large_err)]

mod entry;
mod key;
mod store;
pub mod trust;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use redb::{Durability, ReadableTable, WriteTransaction};

pub use entry::Entry;
pub use key::{Key, Stamp, KEY_LEN};
pub use store::StoreError;
use store::{SetAside, Store, ENTRIES};

/// File name of the daemon's cache in its `state_dir`.
pub const FILE_NAME: &str = "cache.redb";
/// How long a second process waits for the cache file before it scans
/// without it.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(2);
/// Entries not seen for this long are pruned.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Entries written per commit, at most.
const BATCH: usize = 32_768;
/// Puts the writer takes at a time: it is woken once per round, not per put.
const ROUND: usize = 512;
/// A batch not yet full is committed after at most this long.
const BATCH_AGE: Duration = Duration::from_millis(500);
/// Commits are made durable (fsync) at least this often, and whenever the
/// cache is flushed or closed; those between are only written.
const DURABLE_EVERY: Duration = Duration::from_secs(60);
/// Puts waiting for the writer thread; past this, entries are dropped
/// (they are only a saving: the file is read again next time).
const QUEUE: usize = 65_536;
/// Bytes of puts waiting for the writer thread, at most: an entry with a
/// container's members can be tens of KiB, so the count alone would not
/// bound memory. Past it, entries are dropped as past `QUEUE`.
const QUEUE_BYTES: usize = 64 << 20;
/// Bytes inserted into one transaction, at most (redb holds a
/// transaction's pages in memory until it commits).
const BATCH_BYTES: usize = 64 << 20;
/// Bytes of puts that wake the writer as `ROUND` puts do.
const ROUND_BYTES: usize = 4 << 20;

/// Seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How a cache is opened.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long to wait for another process holding the file.
    pub wait: Duration,
    /// Entries not seen for this long are removed (checked at most daily).
    pub ttl: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wait: DEFAULT_WAIT,
            ttl: DEFAULT_TTL,
        }
    }
}

/// One entry to write: its encoded key and value.
type Put = ([u8; KEY_LEN], Vec<u8>);

/// What waits for the writer thread. A mutex-guarded list rather than a
/// channel: workers push without waking anyone, and the writer is woken
/// once per `ROUND` puts and takes them all at once.
#[derive(Default)]
struct Inbox {
    pending: Mutex<Pending>,
    /// Wakes the writer: a round is ready, a flush is asked, or the cache closes.
    ready: Condvar,
}

#[derive(Default)]
struct Pending {
    puts: Vec<Put>,
    /// The bytes of `puts`' values.
    bytes: usize,
    /// Flushes asked for; each is answered once what was put before it is
    /// committed durably (or dropped unanswered if that cannot happen).
    flushes: Vec<Sender<()>>,
    /// The cache is closing: commit what is left and stop.
    closing: bool,
    /// The writer thread has ended: nothing more is taken.
    gone: bool,
}

impl Pending {
    /// Whether a put of `len` bytes may wait for the writer.
    fn admits(&self, len: usize) -> bool {
        !(self.gone
            || self.closing
            || self.puts.len() >= QUEUE
            || self.bytes.saturating_add(len) > QUEUE_BYTES)
    }

    /// Whether enough waits for the writer to take it.
    fn is_round(&self) -> bool {
        self.puts.len() >= ROUND || self.bytes >= ROUND_BYTES
    }
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counts for the summary and `vigil cache stats`.
#[derive(Debug, Default)]
struct Counts {
    hits: AtomicU64,
    misses: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
}

/// An open cache file, shared by every worker of a process.
pub struct Cache {
    path: PathBuf,
    /// The open file. A new file is made by the writer thread while the scan
    /// begins (see `open`): until then, and if that fails, it is unset.
    store: Arc<OnceLock<Store>>,
    /// Puts and flushes for the writer thread.
    inbox: Arc<Inbox>,
    /// The writer thread, joined on drop.
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Per device: whether its file system's times are trusted. Filled on
    /// first sight of each device.
    trusted: RwLock<HashMap<u64, bool>>,
    /// Set when the file misbehaves after opening, or a new one cannot be
    /// made: the cache is then left alone.
    broken: Arc<AtomicBool>,
    /// Whether the file may hold entries: false for a new or empty file
    /// until the writer's first commit, so that a first scan does not look
    /// up what cannot be there.
    filled: Arc<AtomicBool>,
    counts: Counts,
    /// When this process opened the cache: the `seen` of what it writes.
    opened_at: u64,
    ttl: Duration,
}

impl Cache {
    /// Opens the cache file at `path`, making it if missing. The error says
    /// why the cache cannot be used; the caller scans without it. A file that
    /// was not usable and was set aside is logged here as a warning.
    ///
    /// A missing file is made by the writer thread while the scan begins
    /// (making one costs a few synced writes, and a new cache has nothing to
    /// look up); if that fails, the warning comes from there and the scan
    /// goes on without the cache. A file that is refused (see `Store::open`)
    /// is refused here.
    pub fn open(path: &Path, options: &Options) -> Result<Cache, StoreError> {
        let is_new = matches!(
            std::fs::symlink_metadata(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound
        );
        let store = Arc::new(OnceLock::new());
        let filled = if is_new {
            store::check_private(path)?;
            false
        } else {
            let (opened, aside) = Store::open(path, options.wait)?;
            warn_set_aside(path, aside.as_ref());
            let filled = opened.len().map_or(true, |n| n > 0);
            let _ = store.set(opened);
            filled
        };
        let filled = Arc::new(AtomicBool::new(filled));
        let broken = Arc::new(AtomicBool::new(false));
        let inbox = Arc::new(Inbox::default());
        let thread = {
            let store = store.clone();
            let inbox = inbox.clone();
            let filled = filled.clone();
            let broken = broken.clone();
            let file = path.to_path_buf();
            let options = options.clone();
            std::thread::Builder::new()
                .name("vigil-cache".into())
                .spawn(move || {
                    let _gone = Gone(&inbox);
                    if is_new {
                        match Store::open(&file, options.wait) {
                            Ok((opened, aside)) => {
                                warn_set_aside(&file, aside.as_ref());
                                let _ = store.set(opened);
                            }
                            Err(e) => {
                                broken.store(true, Ordering::Relaxed);
                                tracing::warn!("cache not used: {e}");
                            }
                        }
                    }
                    if let Some(store) = store.get() {
                        writer(store, &inbox, options.ttl, &filled);
                    }
                })
                .map_err(|source| StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                })?
        };
        Ok(Cache {
            path: path.to_path_buf(),
            store,
            inbox,
            writer: Mutex::new(Some(thread)),
            trusted: RwLock::new(HashMap::new()),
            broken,
            filled,
            counts: Counts::default(),
            opened_at: now_secs(),
            ttl: options.ttl,
        })
    }

    /// The file this cache lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether files on device `dev` may be answered from the cache; asks
    /// `fs_type` (the `statfs` magic) the first time a device is seen.
    pub fn trusts(&self, dev: u64, fs_type: impl FnOnce() -> std::io::Result<u64>) -> bool {
        if let Some(yes) = self
            .trusted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&dev)
        {
            return *yes;
        }
        let kind = fs_type().ok().map(trust::untrusted_kind);
        let yes = matches!(kind, Some(None));
        let mut map = self.trusted.write().unwrap_or_else(|p| p.into_inner());
        if map.insert(dev, yes).is_none() && !yes {
            match kind.flatten() {
                Some(kind) => tracing::info!(
                    dev,
                    "cache: not used for files on this {kind} file system (its times are not the local kernel's)"
                ),
                None => tracing::info!(dev, "cache: not used on a file system that cannot be told apart"),
            }
        }
        yes
    }

    /// The entry stored for `key`, if there is one and it is intact.
    pub fn get(&self, key: &Key) -> Option<Entry> {
        let store = match self.store.get() {
            Some(store)
                if self.filled.load(Ordering::Relaxed) && !self.broken.load(Ordering::Relaxed) =>
            {
                store
            }
            _ => {
                self.counts.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        let bytes = key.to_bytes();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            || -> Result<Option<Entry>, redb::Error> {
                Ok(store
                    .lookup(&bytes, |value| Entry::decode(&bytes, value))?
                    .flatten())
            },
        ));
        let entry = match found {
            Ok(Ok(entry)) => entry,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cache read failed; reading the file");
                None
            }
            Err(_) => {
                self.give_up("a read of the cache file failed");
                None
            }
        };
        let counter = if entry.is_some() {
            &self.counts.hits
        } else {
            &self.counts.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        entry
    }

    /// Whether `entry`, just found, is due to be written again so that
    /// pruning keeps it.
    pub fn is_stale(&self, entry: &Entry) -> bool {
        entry.seen + self.ttl.as_secs() / 4 < self.opened_at
    }

    /// Remembers `entry` for `key` (written with the next batch). Its `seen`
    /// is set to now.
    pub fn put(&self, key: &Key, entry: Entry) {
        if self.broken.load(Ordering::Relaxed) {
            return;
        }
        let entry = Entry {
            seen: self.opened_at,
            ..entry
        };
        let k = key.to_bytes();
        let v = entry.encode(&k);
        let mut pending = self.inbox.lock();
        if !pending.admits(v.len()) {
            drop(pending);
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.bytes += v.len();
        pending.puts.push((k, v));
        let round = pending.is_round();
        drop(pending);
        if round {
            self.inbox.ready.notify_one();
        }
        self.counts.written.fetch_add(1, Ordering::Relaxed);
    }

    /// Commits what was put so far, durably.
    pub fn flush(&self) {
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        {
            let mut pending = self.inbox.lock();
            if pending.gone {
                return;
            }
            pending.flushes.push(done_tx);
        }
        self.inbox.ready.notify_one();
        let _ = done_rx.recv();
    }

    /// Lookups answered, lookups missed, entries put.
    pub fn counts(&self) -> (u64, u64, u64) {
        let c = &self.counts;
        (
            c.hits.load(Ordering::Relaxed),
            c.misses.load(Ordering::Relaxed),
            c.written.load(Ordering::Relaxed),
        )
    }

    fn give_up(&self, why: &str) {
        if !self.broken.swap(true, Ordering::Relaxed) {
            tracing::warn!("cache {}: {why}; going on without it", self.path.display());
        }
    }
}

impl Drop for Cache {
    /// Commits what is left and ends the writer thread.
    fn drop(&mut self) {
        let writer = self
            .writer
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(thread) = writer {
            self.inbox.lock().closing = true;
            self.inbox.ready.notify_one();
            let _ = thread.join();
        }
    }
}

/// The writer thread. It takes the puts a round at a time and inserts them
/// into one open write transaction as they come, so that inserting overlaps
/// the scan instead of following it. It commits that transaction when it
/// holds `BATCH` entries, when no round came for `BATCH_AGE`, when asked to
/// flush, and when the cache closes. Only the last two, and one at least
/// every `DURABLE_EVERY`, are made durable: the others are written to the
/// file without an fsync, and a crash goes back to the last durable commit
/// (redb keeps every commit whole). The closing commit also saves redb's
/// allocator state, so that closing the file needs no commit of its own and
/// an interrupted close needs no repair. Prunes first, when due.
fn writer(store: &Store, inbox: &Inbox, ttl: Duration, filled: &AtomicBool) {
    let now = now_secs();
    let due = store.pruned_at().map_or(true, |at| at + 24 * 3600 <= now);
    if due {
        match store.prune(now.saturating_sub(ttl.as_secs())) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "cache: pruned entries not seen for a while"),
            Err(e) => tracing::warn!("cache {}: cannot prune: {e}", store.path.display()),
        }
    }
    let mut w = Batcher {
        store,
        filled,
        txn: None,
        in_txn: 0,
        bytes_in_txn: 0,
        failed: false,
        undurable: false,
        last_durable: Instant::now(),
    };
    loop {
        let (puts, flushes, closing, quiet) = {
            let mut pending = inbox.lock();
            let mut quiet = false;
            while !(pending.closing || !pending.flushes.is_empty() || pending.is_round()) {
                let wait = if w.txn.is_some() || !pending.puts.is_empty() {
                    Some(BATCH_AGE)
                } else if w.undurable {
                    Some(DURABLE_EVERY.saturating_sub(w.last_durable.elapsed()))
                } else {
                    None
                };
                match wait {
                    None => pending = inbox.ready.wait(pending).unwrap_or_else(|p| p.into_inner()),
                    Some(wait) => {
                        let (guard, waited) = inbox
                            .ready
                            .wait_timeout(pending, wait)
                            .unwrap_or_else(|p| p.into_inner());
                        pending = guard;
                        if waited.timed_out() {
                            quiet = true;
                            break;
                        }
                    }
                }
            }
            pending.bytes = 0;
            (
                std::mem::take(&mut pending.puts),
                std::mem::take(&mut pending.flushes),
                pending.closing,
                quiet,
            )
        };
        w.insert(puts);
        if closing {
            w.commit(Commit::Closing);
            return;
        }
        if !flushes.is_empty() {
            w.commit(Commit::Durable);
            for done in flushes {
                let _ = done.send(());
            }
        } else if quiet || w.in_txn >= BATCH || w.bytes_in_txn >= BATCH_BYTES {
            w.commit(Commit::Written);
        }
    }
}

/// Marks the writer as ended when it returns or unwinds, so that no put
/// waits for it and no flush waits forever.
struct Gone<'a>(&'a Inbox);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        let mut pending = self.0.lock();
        pending.gone = true;
        pending.puts = Vec::new();
        pending.bytes = 0;
        pending.flushes.clear();
    }
}

/// How a commit is made.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Commit {
    /// Written to the file; durable only if the last durable commit is
    /// `DURABLE_EVERY` old.
    Written,
    /// Durable (fsync) when it returns.
    Durable,
    /// Durable, and with redb's allocator state, as the last commit.
    Closing,
}

/// The writer thread's state between commits.
struct Batcher<'a> {
    store: &'a Store,
    /// Set after the first commit (see `Cache::filled`).
    filled: &'a AtomicBool,
    /// The transaction the puts go into, open since the first put after the
    /// last commit.
    txn: Option<WriteTransaction>,
    /// Entries inserted into `txn`, and the bytes of their values.
    in_txn: usize,
    bytes_in_txn: usize,
    /// A write failed: nothing more is written.
    failed: bool,
    /// Commits were made since the last durable one.
    undurable: bool,
    last_durable: Instant,
}

impl Batcher<'_> {
    /// Inserts one round of puts (in key order: neighbouring keys share
    /// B-tree pages).
    fn insert(&mut self, mut puts: Vec<Put>) {
        if self.failed || puts.is_empty() {
            return;
        }
        puts.sort_unstable_by_key(|put| put.0);
        let done = (|| -> Result<(), redb::Error> {
            if self.txn.is_none() {
                self.txn = Some(self.store.db.begin_write()?);
            }
            let Some(txn) = &self.txn else {
                return Ok(());
            };
            let mut table = txn.open_table(ENTRIES)?;
            for (k, v) in &puts {
                table.insert(k.as_slice(), v.as_slice())?;
            }
            Ok(())
        })();
        match done {
            Ok(()) => {
                self.in_txn += puts.len();
                self.bytes_in_txn += puts.iter().map(|(_, v)| v.len()).sum::<usize>();
            }
            Err(e) => self.fail(e),
        }
    }

    /// Commits the open transaction. A durable commit is made also with
    /// nothing inserted when earlier commits were not durable.
    fn commit(&mut self, how: Commit) {
        let txn = self.txn.take();
        self.in_txn = 0;
        self.bytes_in_txn = 0;
        if self.failed {
            return;
        }
        let durable = how != Commit::Written || self.last_durable.elapsed() >= DURABLE_EVERY;
        if txn.is_none() && !(durable && self.undurable) {
            return;
        }
        let done = (|| -> Result<(), redb::Error> {
            let mut txn = match txn {
                Some(txn) => txn,
                None => self.store.db.begin_write()?,
            };
            txn.set_durability(if durable {
                Durability::Immediate
            } else {
                Durability::None
            });
            if how == Commit::Closing {
                txn.set_quick_repair(true);
            }
            txn.commit()?;
            Ok(())
        })();
        self.store.committed();
        match done {
            Ok(()) => {
                self.filled.store(true, Ordering::Relaxed);
                self.undurable = !durable;
                if durable {
                    self.last_durable = Instant::now();
                }
            }
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: redb::Error) {
        self.failed = true;
        self.txn = None;
        tracing::warn!(
            "cache {}: cannot write ({e}); results are not remembered",
            self.store.path.display()
        );
    }
}

/// What `vigil cache stats` shows.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FileStats {
    pub path: PathBuf,
    pub bytes: u64,
    pub entries: u64,
    /// Entries that fail their checksum or are of another layout.
    pub damaged: u64,
    /// Entries by the algorithms they hold digests of.
    pub with_digests: u64,
    /// Entries of files known not to be containers.
    pub not_containers: u64,
    /// Entries of containers with their members recorded.
    pub with_members: u64,
    /// The oldest and newest `seen` (seconds since the epoch).
    pub oldest_seen: Option<u64>,
    pub newest_seen: Option<u64>,
    pub pruned_at: Option<u64>,
}

/// Warns that the file at `path` was not usable and was set aside.
fn warn_set_aside(path: &Path, aside: Option<&SetAside>) {
    if let Some(aside) = aside {
        tracing::warn!(
            "cache {}: {}; set aside as {} and a new one started",
            path.display(),
            aside.why,
            aside.moved_to.display()
        );
    }
}

/// Opens a cache file for its command (`vigil cache`), waiting `wait` for
/// another process; fails if it is missing.
fn open_existing(path: &Path, wait: Duration) -> Result<Store, StoreError> {
    if !path.exists() {
        return Err(StoreError::Io {
            path: path.to_path_buf(),
            source: std::io::ErrorKind::NotFound.into(),
        });
    }
    let (store, aside) = Store::open(path, wait)?;
    warn_set_aside(path, aside.as_ref());
    Ok(store)
}

fn db_error(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unusable {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The figures of the cache file at `path`.
pub fn file_stats(path: &Path, wait: Duration) -> Result<FileStats, StoreError> {
    let store = open_existing(path, wait)?;
    let bad = |e: redb::Error| db_error(path, e);
    let mut s = FileStats {
        path: path.to_path_buf(),
        bytes: std::fs::metadata(path).map_or(0, |m| m.len()),
        entries: 0,
        damaged: 0,
        with_digests: 0,
        not_containers: 0,
        with_members: 0,
        oldest_seen: None,
        newest_seen: None,
        pruned_at: Some(store.pruned_at().map_err(bad)?).filter(|t| *t > 0),
    };
    let txn = store.db.begin_read().map_err(|e| bad(e.into()))?;
    let table = txn.open_table(ENTRIES).map_err(|e| bad(e.into()))?;
    for item in table.iter().map_err(|e| bad(e.into()))? {
        let (k, v) = item.map_err(|e| bad(e.into()))?;
        s.entries += 1;
        match Entry::decode(k.value(), v.value()) {
            None => s.damaged += 1,
            Some(e) => {
                if !e.algorithms().is_empty() {
                    s.with_digests += 1;
                }
                if e.container == Some(false) {
                    s.not_containers += 1;
                }
                if e.members.is_some() {
                    s.with_members += 1;
                }
                s.oldest_seen = Some(s.oldest_seen.map_or(e.seen, |o| o.min(e.seen)));
                s.newest_seen = Some(s.newest_seen.map_or(e.seen, |o| o.max(e.seen)));
            }
        }
    }
    Ok(s)
}

/// Removes the entries of the cache at `path` not seen for `older_than`, and
/// damaged ones. Returns how many went.
pub fn prune_file(path: &Path, older_than: Duration, wait: Duration) -> Result<u64, StoreError> {
    let store = open_existing(path, wait)?;
    let cutoff = now_secs().saturating_sub(older_than.as_secs());
    store.prune(cutoff).map_err(|e| db_error(path, e))
}

/// Removes every entry of the cache at `path`. Returns how many went.
pub fn clear_file(path: &Path, wait: Duration) -> Result<u64, StoreError> {
    let mut store = open_existing(path, wait)?;
    store.clear().map_err(|e| db_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, Algorithm, Digests};

    fn key(ino: u64) -> Key {
        let t = Stamp { sec: 1, nsec: 2 };
        Key {
            dev: 7,
            ino,
            size: 3,
            mtime: t,
            ctime: t,
        }
    }

    #[test]
    fn puts_waiting_for_the_writer_are_bounded_by_bytes_as_well_as_count() {
        let big = 80 << 10;
        let mut pending = Pending::default();
        while pending.admits(big) {
            pending.bytes += big;
            pending.puts.push(([0; KEY_LEN], Vec::new()));
        }
        // Far fewer than `QUEUE` entries of a container's size fit.
        assert_eq!(pending.puts.len(), QUEUE_BYTES / big);
        assert!(pending.is_round(), "the writer is woken long before");
        assert!(pending.admits(QUEUE_BYTES - pending.bytes));
        let small = Pending {
            puts: vec![([0; KEY_LEN], Vec::new()); QUEUE],
            ..Pending::default()
        };
        assert!(!small.admits(1), "the count bound holds too");
        let closing = Pending {
            closing: true,
            ..Pending::default()
        };
        assert!(!closing.admits(1));
    }

    #[test]
    fn an_entry_put_is_found_once_committed_and_a_damaged_one_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c"), &Options::default()).unwrap();
        let mut digests = Digests::default();
        digests.insert(hash_bytes(Algorithm::Sha256, b"abc"));
        let entry = Entry {
            digests,
            container: Some(false),
            members: None,
            seen: 0,
        };
        cache.put(&key(1), entry);
        cache.flush();
        let found = cache.get(&key(1)).expect("committed");
        assert_eq!((found.digests, found.container), (digests, Some(false)));
        assert_eq!(cache.get(&key(2)), None);

        // One flipped bit in the stored value: a miss, not a wrong answer.
        let k = key(1).to_bytes();
        let txn = cache.store.get().unwrap().db.begin_write().unwrap();
        {
            let mut table = txn.open_table(ENTRIES).unwrap();
            let mut bytes = table.get(k.as_slice()).unwrap().unwrap().value().to_vec();
            bytes[20] ^= 0x10;
            table.insert(k.as_slice(), bytes.as_slice()).unwrap();
        }
        txn.commit().unwrap();
        // Written around the writer thread, which tells the store of its commits.
        cache.store.get().unwrap().committed();
        assert_eq!(cache.get(&key(1)), None);
        assert_eq!(cache.counts().0, 1, "one hit, before the damage");
    }
}
