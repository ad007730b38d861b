//! Quarantine: moves a detected file out of harm's way into a private folder
//! (the vault), records where it came from, and can put it back. It never
//! decides verdicts: the engine calls `Quarantine::move_detected` after a
//! detection, with the identity (`fstat`) of the handle that was hashed.
//!
//! The vault (mode 0700) holds one folder per entry:
//!
//! ```text
//! VAULT/
//!   ID/                 a complete entry (0700)
//!     data              the file's content (0400)
//!     meta.json         the record: original path, owner, mode, times, digest, ... (0400)
//!     unlink-pending    only while a cross-file-system move has not yet removed the original
//!   .tmp-ID/            an entry being built; renamed to ID once complete
//!   .restore-ID/        an entry being restored (`target` names where to)
//!   .delete-ID/         an entry being deleted
//! ```
//!
//! An entry becomes visible (`ID/`) only when its content and record are both
//! written and synced. Every step works through directory descriptors: the
//! original's folder is reached by walking down from `/` with `O_NOFOLLOW` on
//! each component, so a symlink planted anywhere in the path cannot redirect a
//! move or a restore, and the file is moved only if the name still holds the
//! very file that was hashed (device, inode, size, mtime). A crash at any step
//! leaves the file in at least one place; `repair` finishes or rolls back
//! what a crash left (see `repair.rs`). Moves, restores and deletes hold a
//! shared `flock` on the vault, `repair` an exclusive one.
//!
//! Only entries the vault's owner made are acted on: an entry folder, its
//! record and its content not owned by the vault's owner, or writable by
//! group or others, are foreign (`trust.rs`): listed, never shown, restored,
//! deleted or repaired.
//!
//! A long-running caller (the daemon's `action = "quarantine"`) opens the
//! vault once with `Quarantine::open(quarantine_dir)` and hands it to the
//! engine (`Engine::quarantine`), which calls `move_detected` for each
//! detection and reports the entry's id with it (`Detection::moved`), or an
//! error if the file was not moved. `Changed` means the file is no longer
//! the one that was hashed: it is left alone and should be scanned again.

mod fsops;
pub mod hooks;
mod mover;
mod record;
mod repair;
mod restore;
mod trust;

use std::fmt;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{FlockOperation, Mode, OFlags};

use crate::fileio::Identity;
use crate::hash::Digest;
use crate::report::escape_path;

pub(crate) use record::DATA;
pub use record::{Record, Time};
pub use repair::{Leftover, LeftoverKind, Listed, Listing, Outcome, Repaired};
pub use restore::{RestoreOptions, Restored};

/// The vault `vigil quarantine` uses when `--dir` is not given.
pub const DEFAULT_DIR: &str = "/var/lib/vigil/quarantine";

/// A detected file, as the scan saw it: what `move_detected` needs.
#[derive(Clone, Copy, Debug)]
pub struct Detected<'a> {
    /// The path it was found at (relative paths are taken from the current folder).
    pub path: &'a Path,
    /// The name of the signature it matched.
    pub signature: &'a str,
    /// The digest that matched.
    pub digest: &'a Digest,
    /// `fstat` of the handle that was hashed (`FileResult::Detected`).
    pub identity: &'a Identity,
}

/// Why a quarantine step did not happen. Each message is one line, with any
/// path escaped as in scan output.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("cannot {op} {}: {}", escape_path(.path), crate::error::io_reason(.source))]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is a symbolic link; vigil moves and restores files only through real folders", escape_path(.0))]
    Symlink(PathBuf),
    #[error("{} is not a folder", escape_path(.0))]
    NotDir(PathBuf),
    #[error("{}: {reason}", escape_path(.path))]
    BadPath { path: PathBuf, reason: &'static str },
    #[error("cannot restore to {}: its folder is gone; restore it elsewhere with --to PATH (or --to DIR/ to keep its name)", escape_path(.0))]
    OriginGone(PathBuf),
    #[error("the file changed since it was scanned ({0}); rescan it")]
    Changed(String),
    #[error("already in the quarantine folder")]
    InVault,
    #[error("quarantine folder {}: {reason}", escape_path(.path))]
    Vault { path: PathBuf, reason: String },
    #[error("{0:?} is not a quarantine id (they look like 20250131-235959-0123abcd)")]
    BadId(String),
    #[error("no quarantine entry {0}")]
    NoEntry(EntryId),
    #[error("quarantine entry {id}: {reason}")]
    Damaged { id: EntryId, reason: String },
    #[error("{name} in the quarantine folder is foreign ({reason}); vigil does not act on it: look at it, then remove it by hand")]
    Foreign { name: String, reason: String },
    #[error("quarantine entry {0}: the move into quarantine is not finished; run `vigil quarantine repair` first")]
    Pending(EntryId),
    #[error("{} exists; use --force to replace it", escape_path(.0))]
    Exists(PathBuf),
    #[error("moved into the quarantine folder as {id}, but not finished ({reason}); `vigil quarantine repair` finishes it")]
    Unfinished { id: EntryId, reason: String },
    #[error("copied into quarantine as {0}, but the path no longer names the file that was copied, so the original was not removed")]
    ReplacedAfterCopy(EntryId),
}

impl QuarantineError {
    /// `Io` for `op` on `path`, from a rustix or std error.
    pub(crate) fn io<'a>(
        op: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(rustix::io::Errno) -> Self + 'a {
        move |e| QuarantineError::Io {
            op,
            path: path.to_path_buf(),
            source: e.into(),
        }
    }

    pub(crate) fn std_io<'a>(
        op: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(io::Error) -> Self + 'a {
        move |source| QuarantineError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// True when the error says a path (or one of its folders) does not exist.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, QuarantineError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

type Result<T, E = QuarantineError> = std::result::Result<T, E>;

/// A quarantine entry's id: the UTC time it was made and 8 hex digits, e.g.
/// `20250131-235959-0123abcd`. Ids sort by time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(String);

impl EntryId {
    /// Checks that `text` is an id (and so a safe single file name).
    pub fn parse(text: &str) -> Result<Self> {
        let b = text.as_bytes();
        let ok = b.len() == 24
            && b[..8].iter().all(u8::is_ascii_digit)
            && b[8] == b'-'
            && b[9..15].iter().all(u8::is_ascii_digit)
            && b[15] == b'-'
            && b[16..]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
        if ok {
            Ok(EntryId(text.to_string()))
        } else {
            Err(QuarantineError::BadId(text.to_string()))
        }
    }

    /// A new id for `now`; `unique` tells apart ids made in the same second.
    fn generate(now: SystemTime, unique: u64) -> Self {
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
        let mut hasher = blake3::Hasher::new();
        hasher.update(&since.as_nanos().to_le_bytes());
        hasher.update(&std::process::id().to_le_bytes());
        hasher.update(&unique.to_le_bytes());
        let tag = hasher.finalize();
        let tag = &tag.as_bytes()[..4];
        EntryId(format!(
            "{}-{:02x}{:02x}{:02x}{:02x}",
            crate::timefmt::compact(secs),
            tag[0],
            tag[1],
            tag[2],
            tag[3]
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of the entry while it is being built.
    fn tmp_name(&self) -> String {
        format!("{TMP_PREFIX}{}", self.0)
    }

    fn restore_name(&self) -> String {
        format!("{RESTORE_PREFIX}{}", self.0)
    }

    fn delete_name(&self) -> String {
        format!("{DELETE_PREFIX}{}", self.0)
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Prefixes of an entry's folder while it is being moved in, restored or deleted.
const TMP_PREFIX: &str = ".tmp-";
const RESTORE_PREFIX: &str = ".restore-";
const DELETE_PREFIX: &str = ".delete-";

/// A quarantine folder, opened. Shared by every scan worker: each move works
/// in its own temporary entry, so they need no lock between them.
#[derive(Debug)]
pub struct Quarantine {
    /// The vault's absolute path, for messages and the paths reported.
    dir: PathBuf,
    /// The vault, opened once: every step in it is relative to this handle,
    /// so the path being renamed or replaced later changes nothing.
    vault: OwnedFd,
    /// The vault's own (dev, inode), to refuse moving files already in it.
    vault_id: (u64, u64),
    /// The vault's owner: only entries it owns are acted on (`trust.rs`).
    vault_uid: u32,
    /// This machine's name, for the records.
    host: String,
    /// Makes ids made by this process distinct.
    made: AtomicU64,
}

/// Which lock on the vault an operation holds (`flock`, released when the
/// returned handle is dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lock {
    /// Moves, restores and deletes: many at once, each in its own entry.
    Shared,
    /// `repair`: alone, so that no entry it settles is still in progress.
    Exclusive,
}

impl Quarantine {
    /// Opens the vault at `dir` for moving files into it, creating it (mode
    /// 0700, parents as needed) if it does not exist.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_inner(dir, true)
    }

    /// Opens an existing vault (for `vigil quarantine` commands).
    pub fn open_existing(dir: &Path) -> Result<Self> {
        Self::open_inner(dir, false)
    }

    fn open_inner(dir: &Path, create: bool) -> Result<Self> {
        let vault_err = |reason: String| QuarantineError::Vault {
            path: dir.to_path_buf(),
            reason,
        };
        let dir = std::path::absolute(dir).map_err(QuarantineError::std_io("find", dir))?;
        if create {
            if let Some(parent) = dir.parent() {
                fs::create_dir_all(parent).map_err(QuarantineError::std_io("create", parent))?;
            }
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(QuarantineError::std_io("create", &dir)(e)),
            }
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let vault = match rustix::fs::open(&dir, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Err(vault_err("does not exist".into())),
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                return Err(vault_err("is not a folder (or is a symbolic link)".into()))
            }
            Err(e) => return Err(QuarantineError::io("open", &dir)(e)),
        };
        let st = fsops::stat_fd(&vault).map_err(QuarantineError::io("stat", &dir))?;
        let me = rustix::process::geteuid().as_raw();
        if st.uid != me {
            return Err(vault_err(format!(
                "owned by uid {}, not by this user (uid {me}); refusing to use it",
                st.uid
            )));
        }
        if st.perm & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), mode = format!("{:04o}", st.perm), "quarantine folder was open to others; setting mode 0700");
            rustix::fs::fchmod(&vault, Mode::from_raw_mode(0o700))
                .map_err(QuarantineError::io("chmod", &dir))?;
        }
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        Ok(Quarantine {
            dir,
            vault,
            vault_id: (st.dev, st.ino),
            vault_uid: st.uid,
            host,
            made: AtomicU64::new(0),
        })
    }

    /// The vault's absolute path.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where an entry's content is.
    pub fn content_path(&self, id: &EntryId) -> PathBuf {
        self.dir.join(id.as_str()).join(record::DATA)
    }

    fn new_id(&self) -> EntryId {
        EntryId::generate(SystemTime::now(), self.made.fetch_add(1, Ordering::Relaxed))
    }

    /// Takes a lock on the vault through a handle of its own (a separate open
    /// file description, so each operation's lock is its own).
    fn lock(&self, kind: Lock) -> Result<OwnedFd> {
        let fd =
            fsops::open_dir_at(&self.vault, ".").map_err(QuarantineError::io("open", &self.dir))?;
        let op = match kind {
            Lock::Shared => FlockOperation::LockShared,
            Lock::Exclusive => FlockOperation::LockExclusive,
        };
        rustix::fs::flock(&fd, op).map_err(QuarantineError::io("lock", &self.dir))?;
        Ok(fd)
    }

    /// `name` inside the vault, for messages.
    fn in_vault(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Makes the vault's own changes durable.
    fn sync_vault(&self) -> Result<()> {
        rustix::fs::fsync(&self.vault).map_err(QuarantineError::io("sync", &self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_and_checked() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_738_367_999);
        let id = EntryId::generate(t, 0);
        assert!(id.as_str().starts_with("20250131-235959-"), "{id}");
        assert_eq!(EntryId::parse(id.as_str()).unwrap(), id);
        assert_ne!(EntryId::generate(t, 1), id);
        for bad in [
            "",
            "..",
            "../../etc/passwd",
            "20250131-235959-0123abc",
            "20250131-235959-0123abcG",
            "20250131_235959-0123abcd",
            ".tmp-20250131-235959-0123abcd",
        ] {
            assert!(EntryId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn vault_is_created_private_and_loose_modes_are_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("a/b/vault");
        let q = Quarantine::open(&dir).unwrap();
        assert_eq!(q.dir(), dir);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&dir), 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        Quarantine::open_existing(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        // Not there, or not a folder: refused.
        assert!(matches!(
            Quarantine::open_existing(&top.path().join("none")),
            Err(QuarantineError::Vault { .. })
        ));
        std::os::unix::fs::symlink(&dir, top.path().join("link")).unwrap();
        assert!(matches!(
            Quarantine::open_existing(&top.path().join("link")),
            Err(QuarantineError::Vault { .. })
        ));
    }
}
