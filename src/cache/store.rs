//! The file the cache lives in: a redb database (one file, copy-on-write
//! B-trees, checksummed pages, crash-safe commits, an exclusive `flock` per
//! process). Opening it handles what can be wrong with it: held by another
//! process (wait briefly, then give up), damaged, truncated, not a redb file,
//! or written by another version of this format (set aside under a new name,
//! and a new file started). Lookups reuse read views of the file from one
//! commit to the next. Nothing here knows what the entries mean.

// redb's own error type is large; it is returned only on cold paths (open,
// prune, clear), never per file.
#![allow(clippy::result_large_err)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redb::{Database, ReadOnlyTable, ReadableTableMetadata, TableDefinition};

use super::entry::{Entry, ENTRY_VERSION};

/// Entries, by encoded `Key`.
pub(crate) const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");
/// Facts about the file itself: its format, when it was last pruned.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// What the `format` fact holds in a file this build can use.
const FORMAT: &str = "vigil-verdict-cache";
/// Memory redb may keep pages in.
const PAGE_CACHE: usize = 32 << 20;
/// Idle read views kept for reuse, at most (a few per worker).
const IDLE_VIEWS: usize = 64;

/// Why the cache file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{} is in use by another process", path.display())]
    Busy { path: PathBuf },
    #[error("cannot open {}: {}", path.display(), crate::error::io_reason(source))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {message}", path.display())]
    Unusable { path: PathBuf, message: String },
    #[error("{} {what}: whoever can write it decides which files pass unread", path.display())]
    Unsafe { path: PathBuf, what: &'static str },
}

/// A cache file, open and locked.
pub(crate) struct Store {
    /// Read views of the entries for lookups to reuse. Declared before
    /// `db`, so they are dropped before it.
    views: Mutex<Views>,
    pub(crate) db: Database,
    pub(crate) path: PathBuf,
}

/// Read views of the entries, each a read transaction with the table open,
/// kept between lookups: beginning a transaction and opening the table cost
/// more than the lookup itself. They are dropped at every commit (see
/// `Store::committed`), so a lookup sees what was written before it, and no
/// old snapshot keeps pages from being reused for long.
#[derive(Default)]
struct Views {
    /// Commits seen: a view begun before the last one is not kept.
    commits: u64,
    idle: Vec<ReadOnlyTable<&'static [u8], &'static [u8]>>,
}

/// What opening found, beside the store: a file set aside, and why.
pub(crate) struct SetAside {
    pub(crate) moved_to: PathBuf,
    pub(crate) why: String,
}

impl Store {
    /// Opens (or creates) the cache file at `path`. While another process
    /// holds it, tries again for up to `wait`. A file that is not a usable
    /// cache is renamed beside itself and a new one is started.
    pub(crate) fn open(
        path: &Path,
        wait: Duration,
    ) -> Result<(Store, Option<SetAside>), StoreError> {
        check_private(path)?;
        let deadline = Instant::now() + wait;
        let mut set_aside = None;
        loop {
            match try_open(path) {
                Ok(db) => {
                    return Ok((
                        Store {
                            views: Mutex::default(),
                            db,
                            path: path.to_path_buf(),
                        },
                        set_aside,
                    ))
                }
                Err(Failure::Busy) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(Failure::Busy) => {
                    return Err(StoreError::Busy {
                        path: path.to_path_buf(),
                    })
                }
                Err(Failure::Io(source)) => {
                    return Err(StoreError::Io {
                        path: path.to_path_buf(),
                        source,
                    })
                }
                Err(Failure::Bad(why)) if set_aside.is_none() => {
                    let moved_to = aside_name(path);
                    std::fs::rename(path, &moved_to).map_err(|e| StoreError::Unusable {
                        path: path.to_path_buf(),
                        message: format!(
                            "{why}, and it cannot be set aside: {}",
                            crate::error::io_reason(&e)
                        ),
                    })?;
                    set_aside = Some(SetAside { moved_to, why });
                }
                Err(Failure::Bad(why)) => {
                    return Err(StoreError::Unusable {
                        path: path.to_path_buf(),
                        message: why,
                    })
                }
            }
        }
    }

    /// The value stored under `key`, given to `read`.
    pub(crate) fn lookup<T>(
        &self,
        key: &[u8],
        read: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>, redb::Error> {
        let (idle, commits) = {
            let mut views = self.views();
            (views.idle.pop(), views.commits)
        };
        let view = match idle {
            Some(view) => view,
            None => self.db.begin_read()?.open_table(ENTRIES)?,
        };
        let found = view.get(key)?.map(|value| read(value.value()));
        let mut views = self.views();
        if views.commits == commits && views.idle.len() < IDLE_VIEWS {
            views.idle.push(view);
        }
        Ok(found)
    }

    /// Called after each commit: views begun before it are not reused.
    pub(crate) fn committed(&self) {
        let mut views = self.views();
        views.commits += 1;
        views.idle.clear();
    }

    fn views(&self) -> MutexGuard<'_, Views> {
        self.views.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Entries stored, damaged ones included.
    pub(crate) fn len(&self) -> Result<u64, redb::Error> {
        let txn = self.db.begin_read()?;
        match txn.open_table(ENTRIES) {
            Ok(t) => Ok(t.len()?),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the entries last seen before `cutoff` (seconds since the
    /// epoch), and those that fail their checksum. Returns how many went.
    pub(crate) fn prune(&self, cutoff: u64) -> Result<u64, redb::Error> {
        let txn = self.db.begin_write()?;
        let removed = {
            let mut table = txn.open_table(ENTRIES)?;
            let before = table.len()?;
            table.retain(|k, v| Entry::decode(k, v).is_some_and(|e| e.seen >= cutoff))?;
            before - table.len()?
        };
        {
            let mut meta = txn.open_table(META)?;
            meta.insert("pruned", crate::cache::now_secs().to_le_bytes().as_slice())?;
        }
        txn.commit()?;
        self.committed();
        Ok(removed)
    }

    /// When the file was last pruned (0: never).
    pub(crate) fn pruned_at(&self) -> Result<u64, redb::Error> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let at = meta
            .get("pruned")?
            .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(0);
        Ok(at)
    }

    /// Removes every entry and gives the space back.
    pub(crate) fn clear(&mut self) -> Result<u64, redb::Error> {
        let n = self.len()?;
        let txn = self.db.begin_write()?;
        txn.delete_table(ENTRIES)?;
        txn.open_table(ENTRIES)?;
        txn.commit()?;
        self.committed();
        self.db.compact()?;
        Ok(n)
    }
}

/// Refuses a cache file that someone other than this user could write or
/// replace: its entries decide which files are not read. (The checksum of
/// an entry finds damage; it does not stop forgery.)
pub(crate) fn check_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    let unsafe_ = |what| StoreError::Unsafe {
        path: path.to_path_buf(),
        what,
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(unsafe_("is a symbolic link")),
        Ok(m) if m.uid() != me => return Err(unsafe_("belongs to another user")),
        Ok(m) if m.mode() & 0o022 != 0 => return Err(unsafe_("can be written by other users")),
        _ => {}
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(m) = std::fs::metadata(parent) {
        // Sticky (like /tmp): only the owner may rename or remove the file.
        let others_write = m.mode() & 0o022 != 0 && m.mode() & 0o1000 == 0;
        if others_write || (m.uid() != me && m.uid() != 0) {
            return Err(unsafe_("is in a folder other users can change"));
        }
    }
    Ok(())
}

/// Why one attempt to open failed.
enum Failure {
    /// Another process holds the lock.
    Busy,
    Io(io::Error),
    /// The file is not a cache this build can use.
    Bad(String),
}

fn try_open(path: &Path) -> Result<Database, Failure> {
    // A damaged file must never take the process down: redb's checks return
    // errors, and a panic in them (some checks of a truncated file are
    // assertions) is taken as damage too, without its message. Opening
    // happens before any scan starts, so no other panic is silenced.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let opened = std::panic::catch_unwind(|| open_checked(path));
    std::panic::set_hook(hook);
    match opened {
        Ok(result) => result,
        Err(_) => Err(Failure::Bad("the file is damaged".into())),
    }
}

fn open_checked(path: &Path) -> Result<Database, Failure> {
    let created = !path.exists();
    let mut db = match Database::builder().set_cache_size(PAGE_CACHE).create(path) {
        Ok(db) => db,
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(Failure::Busy),
        Err(redb::DatabaseError::Storage(redb::StorageError::Io(e)))
            if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::NotFound
            ) || e.raw_os_error() == Some(libc::EROFS) =>
        {
            return Err(Failure::Io(e))
        }
        Err(redb::DatabaseError::UpgradeRequired(v)) => {
            return Err(Failure::Bad(format!(
                "the file is in an older storage format ({v})"
            )))
        }
        Err(e) => return Err(Failure::Bad(format!("not a usable cache file ({e})"))),
    };
    if !created {
        match db.check_integrity() {
            Ok(_) => {}
            Err(e) => return Err(Failure::Bad(format!("the file is damaged ({e})"))),
        }
    }
    check_format(&db).map_err(|e| match e {
        Checked::Bad(why) => Failure::Bad(why),
        Checked::Db(e) => Failure::Bad(format!("the file is damaged ({e})")),
    })?;
    Ok(db)
}

enum Checked {
    Bad(String),
    Db(redb::Error),
}

impl<E: Into<redb::Error>> From<E> for Checked {
    fn from(e: E) -> Self {
        Checked::Db(e.into())
    }
}

/// Checks that the file holds this format (writing it into a new file,
/// marked as pruned now: it has nothing to prune).
fn check_format(db: &Database) -> Result<(), Checked> {
    let ours = format_fact();
    {
        let txn = db.begin_read()?;
        match txn.open_table(META) {
            Ok(meta) => {
                return match meta.get("format")? {
                    Some(v) if v.value() == ours.as_slice() => Ok(()),
                    Some(v) => Err(Checked::Bad(format!(
                        "the file was written by another version ({})",
                        String::from_utf8_lossy(v.value())
                    ))),
                    None => Err(Checked::Bad("the file is not a vigil cache".into())),
                };
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        if txn.list_tables()?.next().is_some() {
            return Err(Checked::Bad("the file is not a vigil cache".into()));
        }
    }
    let mut txn = db.begin_write()?;
    // Not synced on its own: the first durable commit (at the latest when
    // the cache is closed) carries it. A file left without it by a crash
    // is an empty database, made a cache again at the next open.
    txn.set_durability(redb::Durability::None);
    {
        let mut meta = txn.open_table(META)?;
        meta.insert("format", ours.as_slice())?;
        meta.insert("pruned", crate::cache::now_secs().to_le_bytes().as_slice())?;
        txn.open_table(ENTRIES)?;
    }
    txn.commit()?;
    Ok(())
}

fn format_fact() -> Vec<u8> {
    format!("{FORMAT} {ENTRY_VERSION}").into_bytes()
}

/// A name beside `path` that nothing has yet: `FILE.bad-SECS[-N]`.
fn aside_name(path: &Path) -> PathBuf {
    let base = format!("{}.bad-{}", path.display(), crate::cache::now_secs());
    let mut name = PathBuf::from(&base);
    let mut n = 1;
    while name.exists() {
        name = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_format_is_set_aside_and_a_new_file_started() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache");
        std::fs::write(&path, b"SQLite format 3\0 and then some").unwrap();
        let (store, aside) = Store::open(&path, Duration::ZERO).unwrap();
        let aside = aside.expect("the foreign file was set aside");
        assert_eq!(
            std::fs::read(&aside.moved_to).unwrap(),
            b"SQLite format 3\0 and then some",
            "nothing the user owns is lost"
        );
        assert_eq!(store.len().unwrap(), 0);
    }

    #[test]
    fn a_second_opener_waits_then_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache");
        let (_first, _) = Store::open(&path, Duration::ZERO).unwrap();
        let began = Instant::now();
        let second = Store::open(&path, Duration::from_millis(200));
        assert!(matches!(second, Err(StoreError::Busy { .. })));
        assert!(began.elapsed() >= Duration::from_millis(200));
    }

    #[test]
    fn a_lookup_reuses_its_view_and_still_sees_every_commit_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("cache"), Duration::ZERO).unwrap();
        let value = |store: &Store| store.lookup(b"key", <[u8]>::to_vec).unwrap();
        assert_eq!(value(&store), None);
        assert_eq!(
            store.views().idle.len(),
            1,
            "the view is kept for the next lookup"
        );
        assert_eq!(value(&store), None);
        assert_eq!(store.views().idle.len(), 1, "and reused");

        let txn = store.db.begin_write().unwrap();
        txn.open_table(ENTRIES)
            .unwrap()
            .insert(b"key".as_slice(), b"value".as_slice())
            .unwrap();
        txn.commit().unwrap();
        store.committed();
        assert!(
            store.views().idle.is_empty(),
            "views from before the commit are dropped"
        );
        assert_eq!(value(&store), Some(b"value".to_vec()));
    }

    #[test]
    fn a_foreign_redb_file_is_not_taken_for_a_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache");
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            let t: TableDefinition<u64, u64> = TableDefinition::new("theirs");
            txn.open_table(t).unwrap().insert(1, 2).unwrap();
            txn.commit().unwrap();
        }
        let (_, aside) = Store::open(&path, Duration::ZERO).unwrap();
        assert!(aside.is_some());
    }
}
