//! Listing the vault, and repairing what a crash left in it.
//!
//! `list` shows complete entries, and every leftover folder by what it was
//! doing. `repair` (under the exclusive lock, so nothing is in progress)
//! settles each leftover, never removing the only copy of a file:
//!
//! - `.tmp-ID` (a move): if it holds no content, nothing was moved: remove
//!   it. If the original is still in place (the very file: device, inode,
//!   size, mtime), the content here is a copy (a `data` that matches the
//!   record's size and digest, or the `data.part` being written): remove it.
//!   Otherwise the entry is finished from its content (`data`, or a complete
//!   `data.part`), but only if it matches the record's size and digest; if
//!   not, it is kept and reported.
//! - `ID` with `unlink-pending` (a cross-file-system move that published its
//!   entry but may not have removed the original): if the original is still
//!   in place and the entry's content matches the record, remove the
//!   original; then the marker.
//! - `.restore-ID`: if its content is still there, put the entry back (and
//!   remove any partial copy in the target folder); if not, the restore
//!   happened: remove the rest.
//! - `.delete-ID`: finish the delete.
//!
//! An original outside the vault is removed only after a handle on it was
//! checked again, just before: the recorded identity (device, inode, size,
//! mtime) and digest, and the name still leading to that file. Anything that
//! is not the vault owner's (`trust.rs`) is listed as foreign and left alone.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::Dir;
use rustix::io::Errno;

use super::fsops;
use super::record::{Record, DATA, PART, PENDING};
use super::{
    EntryId, Lock, Quarantine, QuarantineError, Result, DELETE_PREFIX, RESTORE_PREFIX, TMP_PREFIX,
};
use crate::report::escape_path;

/// A complete entry.
#[derive(Clone, Debug)]
pub struct Listed {
    pub id: EntryId,
    pub record: Record,
    /// A cross-file-system move published this entry but may not have
    /// removed the original yet (`repair` finishes it).
    pub pending_unlink: bool,
}

/// What a leftover folder was doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeftoverKind {
    /// `.tmp-ID`: a move into quarantine.
    Move,
    /// `.restore-ID`: a restore.
    Restore,
    /// `.delete-ID`: a delete.
    Delete,
    /// `ID` whose record or content is missing or unreadable.
    Damaged(String),
    /// A folder (or symlink) that is not the vault owner's, or holds files
    /// that are not (see `trust.rs`); why. Never acted on.
    Foreign(String),
    /// A name vigil does not make; left alone.
    Unknown,
}

impl LeftoverKind {
    pub fn name(&self) -> &'static str {
        match self {
            LeftoverKind::Move => "move",
            LeftoverKind::Restore => "restore",
            LeftoverKind::Delete => "delete",
            LeftoverKind::Damaged(_) => "damaged",
            LeftoverKind::Foreign(_) => "foreign",
            LeftoverKind::Unknown => "unknown",
        }
    }
}

/// Something in the vault that is not a complete entry.
#[derive(Clone, Debug)]
pub struct Leftover {
    /// Its name in the vault.
    pub name: String,
    pub id: Option<EntryId>,
    pub kind: LeftoverKind,
}

/// What the vault holds.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Complete entries, oldest first.
    pub entries: Vec<Listed>,
    pub leftovers: Vec<Leftover>,
}

/// How `repair` settled one thing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A move was finished: the entry is complete (and the original gone).
    Finished(&'static str),
    /// A move or restore was undone: the file is where it was before.
    RolledBack(&'static str),
    /// Leftovers that held nothing of the user's were removed.
    Removed(&'static str),
    /// Left as it is; the reason. Needs a person.
    Kept(String),
}

/// One thing `repair` looked at.
#[derive(Clone, Debug)]
pub struct Repaired {
    pub name: String,
    pub outcome: Outcome,
}

/// Whether the original of a record is still where it was.
enum Original {
    /// The very file (device, inode, size, mtime) is at the recorded path.
    Intact {
        parent: OwnedFd,
        name: std::ffi::OsString,
    },
    /// It is not (the name is free, or holds another file).
    Gone,
    /// It cannot be told; why.
    Unknown(String),
}

fn check_original(record: &Record) -> Original {
    let path = record.original_path();
    let (parent, name) = match fsops::open_parent(&path) {
        Ok(found) => found,
        Err(e) if e.is_not_found() => return Original::Gone,
        Err(e) => return Original::Unknown(e.to_string()),
    };
    match fsops::stat_at(&parent, &name) {
        Ok(st) if fsops::differs(&st, &record.identity()).is_none() => {
            Original::Intact { parent, name }
        }
        Ok(_) | Err(Errno::NOENT) => Original::Gone,
        Err(e) => Original::Unknown(QuarantineError::io("stat", &path)(e).to_string()),
    }
}

/// Checks, just before an original outside the vault is removed, that its
/// name still holds the very file the record describes: a handle on it has
/// the recorded identity (device, inode, size, mtime) and content (the
/// recorded digests), and the name still leads to that handle's file.
fn confirm_original(
    parent: &OwnedFd,
    name: &std::ffi::OsStr,
    record: &Record,
) -> std::result::Result<(), String> {
    let reason = |e: Errno| crate::error::io_reason(&e.into());
    let mut file = fsops::open_file_at(parent, name).map_err(reason)?;
    let held = fsops::stat_fd(&file).map_err(reason)?;
    if let Some(why) = fsops::differs(&held, &record.identity()) {
        return Err(why);
    }
    if !record.content_matches(&mut file).unwrap_or(false) {
        return Err("its content does not match the recorded digest".into());
    }
    match fsops::stat_at(parent, name) {
        Ok(now)
            if (now.dev, now.ino) == (held.dev, held.ino)
                && fsops::differs(&now, &record.identity()).is_none() =>
        {
            Ok(())
        }
        Ok(_) => Err("the path now names a different file".into()),
        Err(e) => Err(reason(e)),
    }
}

impl Quarantine {
    /// What the vault holds: complete entries and leftovers.
    pub fn list(&self) -> Result<Listing> {
        let mut listing = Listing::default();
        for name in self.names()? {
            let leftover = |kind, id| Leftover {
                name: name.clone(),
                id,
                kind,
            };
            let prefixed = [
                (TMP_PREFIX, LeftoverKind::Move),
                (RESTORE_PREFIX, LeftoverKind::Restore),
                (DELETE_PREFIX, LeftoverKind::Delete),
            ]
            .into_iter()
            .find_map(|(prefix, kind)| {
                let id = EntryId::parse(name.strip_prefix(prefix)?).ok()?;
                Some((kind, id))
            });
            if let Some((kind, id)) = prefixed {
                let kind = match self.open_owned_entry(&name) {
                    Err(QuarantineError::Foreign { reason, .. }) => LeftoverKind::Foreign(reason),
                    _ => kind,
                };
                listing.leftovers.push(leftover(kind, Some(id)));
                continue;
            }
            let Ok(id) = EntryId::parse(&name) else {
                listing
                    .leftovers
                    .push(leftover(LeftoverKind::Unknown, None));
                continue;
            };
            match self.show(&id) {
                Ok((record, pending_unlink)) => listing.entries.push(Listed {
                    id,
                    record,
                    pending_unlink,
                }),
                Err(QuarantineError::Foreign { reason, .. }) => {
                    let kind = LeftoverKind::Foreign(reason);
                    listing.leftovers.push(leftover(kind, Some(id)));
                }
                Err(e) => {
                    let kind = LeftoverKind::Damaged(e.to_string());
                    listing.leftovers.push(leftover(kind, Some(id)));
                }
            }
        }
        listing.entries.sort_by(|a, b| a.id.cmp(&b.id));
        listing.leftovers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listing)
    }

    /// The names in the vault (without `.` and `..`).
    fn names(&self) -> Result<Vec<String>> {
        let dir = Dir::read_from(&self.vault).map_err(QuarantineError::io("list", &self.dir))?;
        let mut names = Vec::new();
        for entry in dir {
            let entry = entry.map_err(QuarantineError::io("list", &self.dir))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            // Names vigil makes are ASCII; anything else is someone else's.
            names.push(name.to_string_lossy().into_owned());
        }
        Ok(names)
    }

    /// Settles every leftover and every unfinished move; see the module doc.
    pub fn repair(&self) -> Result<Vec<Repaired>> {
        let _lock = self.lock(Lock::Exclusive)?;
        let listing = self.list()?;
        let mut done = Vec::new();
        for listed in listing.entries.iter().filter(|l| l.pending_unlink) {
            let outcome = self.settle_pending(&listed.id, &listed.record)?;
            done.push(Repaired {
                name: listed.id.to_string(),
                outcome,
            });
        }
        for leftover in listing.leftovers {
            let outcome = match (&leftover.kind, &leftover.id) {
                (LeftoverKind::Move, Some(id)) => self.settle_move(id)?,
                (LeftoverKind::Restore, Some(id)) => {
                    let dir = self.open_leftover(&leftover.name)?;
                    if self.settle_restore(id, &dir)? {
                        Outcome::RolledBack(
                            "interrupted restore undone; the entry is back in quarantine",
                        )
                    } else {
                        Outcome::Finished(
                            "interrupted restore finished; the file had been put back",
                        )
                    }
                }
                (LeftoverKind::Delete, _) => {
                    let dir = self.open_leftover(&leftover.name)?;
                    self.remove_entry(&leftover.name, &dir)?;
                    Outcome::Removed("interrupted delete finished")
                }
                (LeftoverKind::Damaged(reason), _) => Outcome::Kept(reason.clone()),
                (LeftoverKind::Foreign(reason), _) => Outcome::Kept(format!(
                    "foreign ({reason}); not made by this vault's owner, so not acted on"
                )),
                _ => Outcome::Kept("not made by vigil; left alone".into()),
            };
            done.push(Repaired {
                name: leftover.name,
                outcome,
            });
        }
        Ok(done)
    }

    /// Opens a leftover, only if it is the vault owner's (`trust.rs`).
    fn open_leftover(&self, name: &str) -> Result<OwnedFd> {
        self.open_owned_entry(name)
    }

    /// Settles `.tmp-ID`, an interrupted move.
    fn settle_move(&self, id: &EntryId) -> Result<Outcome> {
        let name = id.tmp_name();
        let path = self.in_vault(&name);
        let dir = self.open_leftover(&name)?;
        let has = |file| {
            fsops::is_file_at(&dir, file).map_err(QuarantineError::io("stat", &path.join(file)))
        };
        let (has_data, has_part) = (has(DATA)?, has(PART)?);
        if !has_data && !has_part {
            self.remove_entry(&name, &dir)?;
            return Ok(Outcome::Removed(
                "interrupted move removed; nothing had been moved yet",
            ));
        }
        let record = match self.read_record(id, &name, &dir) {
            Ok(record) => record,
            Err(e) => return Ok(Outcome::Kept(format!("holds content, but {e}"))),
        };
        let source = if has_data { DATA } else { PART };
        let whole = match self.open_owned_file(&name, &dir, source, Some(record.uid)) {
            Ok(mut file) => record.content_matches(&mut file).unwrap_or(false),
            Err(_) => false,
        };
        let unknown = match check_original(&record) {
            // The file is still in place, so what is here is a copy of it (a
            // whole `data`, or the `data.part` vigil was writing): undo the
            // move. A `data` that does not match the record is some other
            // file, swapped in during the move: that is never removed.
            Original::Intact { .. } if whole || !has_data => {
                self.remove_entry(&name, &dir)?;
                return Ok(Outcome::RolledBack(
                    "interrupted move undone; the original is still in place",
                ));
            }
            Original::Intact { .. } | Original::Gone => None,
            Original::Unknown(why) => Some(why),
        };
        // Otherwise the content here may be the only copy: finish the entry
        // from it if it is whole, else keep it.
        if !whole {
            let mut reason = format!(
                "{} does not match the record; kept for a person to look at",
                escape_path(&path.join(source))
            );
            if let Some(why) = unknown {
                reason += &format!(" ({why})");
            }
            return Ok(Outcome::Kept(reason));
        }
        let finish = (|| {
            if !has_data {
                rustix::fs::renameat(&dir, PART, &dir, DATA)?;
            }
            fsops::remove_at(&dir, PART)?;
            fsops::remove_at(&dir, PENDING)?;
            let data = fsops::open_file_at(&dir, DATA)?;
            fsops::seal(&data)?;
            fsops::sync_dir(&dir)?;
            rustix::fs::renameat(&self.vault, name.as_str(), &self.vault, id.as_str())?;
            rustix::fs::fsync(&self.vault)
        })();
        finish.map_err(QuarantineError::io("finish", &path))?;
        Ok(Outcome::Finished(if unknown.is_some() {
            "interrupted move finished from its complete copy (the original could not be checked)"
        } else {
            "interrupted move finished from its complete copy"
        }))
    }

    /// Settles an entry whose original may still need removing.
    fn settle_pending(&self, id: &EntryId, record: &Record) -> Result<Outcome> {
        let path = self.in_vault(id.as_str());
        let dir = self.open_leftover(id.as_str())?;
        match check_original(record) {
            Original::Intact { parent, name } => {
                let whole = match self.open_owned_file(id.as_str(), &dir, DATA, Some(record.uid)) {
                    Ok(mut file) => record.content_matches(&mut file).unwrap_or(false),
                    Err(_) => false,
                };
                if !whole {
                    return Ok(Outcome::Kept(
                        "the entry's content does not match its record; the original was left in place".into(),
                    ));
                }
                let original = record.original_path();
                if let Err(why) = confirm_original(&parent, &name, record) {
                    return Ok(Outcome::Kept(format!(
                        "{} no longer matches the record ({why}); it was left in place",
                        escape_path(&original)
                    )));
                }
                rustix::fs::unlinkat(&parent, &name, rustix::fs::AtFlags::empty())
                    .map_err(QuarantineError::io("remove", &original))?;
                fsops::sync_dir(&parent).map_err(QuarantineError::io("sync", &original))?;
                fsops::remove_at(&dir, PENDING)
                    .map_err(QuarantineError::io("remove", &path.join(PENDING)))?;
                fsops::sync_dir(&dir).map_err(QuarantineError::io("sync", &path))?;
                Ok(Outcome::Finished(
                    "interrupted move finished; the original was removed",
                ))
            }
            Original::Gone => {
                fsops::remove_at(&dir, PENDING)
                    .map_err(QuarantineError::io("remove", &path.join(PENDING)))?;
                fsops::sync_dir(&dir).map_err(QuarantineError::io("sync", &path))?;
                Ok(Outcome::Finished(
                    "interrupted move finished; the original was already gone",
                ))
            }
            Original::Unknown(why) => Ok(Outcome::Kept(format!(
                "cannot tell whether the original is still in place: {why}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, Algorithm};
    use crate::quarantine::Detected;
    use std::fs;
    use std::path::Path;

    /// A vault in `top` with a `.tmp-ID` for `original` (whose content is
    /// `content`), holding `data` with `held` in it.
    fn leftover_move(
        top: &Path,
        original: &Path,
        content: &[u8],
        held: &[u8],
    ) -> (Quarantine, EntryId) {
        let q = Quarantine::open(&top.join("q")).unwrap();
        fs::write(original, content).unwrap();
        let parent = fsops::open_dir_at(rustix::fs::CWD, original.parent().unwrap()).unwrap();
        let st = fsops::stat_at(&parent, original.file_name().unwrap()).unwrap();
        let digest = hash_bytes(Algorithm::Sha256, content);
        let identity = st.identity();
        let detected = Detected {
            path: original,
            signature: "Sig",
            digest: &digest,
            identity: &identity,
        };
        let id = q.new_id();
        let record = Record::new(&id, original, &st, &detected, "host");
        let tmp = top.join("q").join(id.tmp_name());
        fs::create_dir(&tmp).unwrap();
        fs::write(tmp.join("meta.json"), record.to_json()).unwrap();
        fs::write(tmp.join("data"), held).unwrap();
        (q, id)
    }

    #[test]
    fn a_copy_is_dropped_while_the_original_is_in_place() {
        let top = tempfile::tempdir().unwrap();
        let top = fs::canonicalize(top.path()).unwrap();
        let original = top.join("f");
        let (q, id) = leftover_move(&top, &original, b"abc", b"abc");
        let done = q.repair().unwrap();
        assert_eq!(done.len(), 1);
        assert!(matches!(done[0].outcome, Outcome::RolledBack(_)));
        assert!(!top.join("q").join(id.tmp_name()).exists());
        assert_eq!(fs::read(&original).unwrap(), b"abc");
    }

    #[test]
    fn a_file_that_is_not_the_recorded_one_is_never_removed() {
        let top = tempfile::tempdir().unwrap();
        let top = fs::canonicalize(top.path()).unwrap();
        let original = top.join("f");
        // Original in place, but `data` is some other file (swapped in).
        let (q, id) = leftover_move(&top, &original, b"abc", b"xyz");
        let done = q.repair().unwrap();
        assert!(matches!(&done[0].outcome, Outcome::Kept(r) if r.contains("does not match")));
        assert_eq!(
            fs::read(top.join("q").join(id.tmp_name()).join("data")).unwrap(),
            b"xyz"
        );
        // Original gone too: still kept, never finished into an entry.
        fs::remove_file(&original).unwrap();
        let done = q.repair().unwrap();
        assert!(matches!(&done[0].outcome, Outcome::Kept(_)));
        assert!(q.list().unwrap().entries.is_empty());
    }

    #[test]
    fn an_original_whose_content_no_longer_matches_is_not_removed() {
        let top = tempfile::tempdir().unwrap();
        let top = fs::canonicalize(top.path()).unwrap();
        let original = top.join("f");
        // A published entry whose original is still to be removed...
        let (q, id) = leftover_move(&top, &original, b"abc", b"abc");
        let vault = top.join("q");
        fs::rename(vault.join(id.tmp_name()), vault.join(id.as_str())).unwrap();
        fs::write(vault.join(id.as_str()).join(PENDING), b"").unwrap();
        // ...rewritten since, with its size and modification time put back:
        // the same device, inode, size and mtime, other content.
        let mtime = fs::metadata(&original).unwrap().modified().unwrap();
        fs::write(&original, b"xyz").unwrap();
        fs::File::options()
            .write(true)
            .open(&original)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let done = q.repair().unwrap();
        assert!(
            matches!(&done[0].outcome, Outcome::Kept(r) if r.contains("no longer matches")),
            "{done:?}"
        );
        assert_eq!(fs::read(&original).unwrap(), b"xyz");
    }

    #[test]
    fn names_vigil_does_not_make_are_left_alone() {
        let top = tempfile::tempdir().unwrap();
        let q = Quarantine::open(&top.path().join("q")).unwrap();
        fs::create_dir(top.path().join("q/lost+found")).unwrap();
        let listing = q.list().unwrap();
        assert_eq!(listing.leftovers.len(), 1);
        assert_eq!(listing.leftovers[0].kind, LeftoverKind::Unknown);
        let done = q.repair().unwrap();
        assert!(matches!(&done[0].outcome, Outcome::Kept(_)));
        assert!(top.path().join("q/lost+found").exists());
    }
}
