//! Moving a detected file into the vault.
//!
//! 1. The original's folder is opened by walking down from `/` without
//!    following symlinks, and the name in it is `stat`ed without following
//!    it: it must still be the very file that was hashed (device, inode,
//!    size, mtime), else nothing is moved.
//! 2. `.tmp-ID/` is made and the record written into it and synced.
//! 3. On one file system, the file is renamed into `.tmp-ID/data`, and what
//!    arrived is checked again (a swap between the check and the rename is
//!    put back). Across file systems (`EXDEV`), the file is copied from a
//!    handle that is checked to be the hashed file into `data.part`, synced,
//!    renamed to `data`, and an `unlink-pending` marker is made.
//! 4. `.tmp-ID` is renamed to `ID` and the vault synced: the entry is visible
//!    only now, complete.
//! 5. Across file systems, only now is the original removed (if the name
//!    still holds the file that was copied), then the marker.
//!
//! A crash between any two steps leaves the file in at least one place:
//! see `repair.rs` for how each leftover is settled.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, RenameFlags};
use rustix::io::Errno;

use super::fsops::{self, FileStat};
use super::record::{Record, DATA, PART, PENDING, RECORD};
use super::{hooks, Detected, EntryId, Lock, Quarantine, QuarantineError, Result};
use crate::error::io_reason;
use crate::fileio::Identity;
use crate::report::escape_path;

impl Quarantine {
    /// Moves a detected file into the vault and returns its entry's id.
    ///
    /// Nothing is moved unless `detected.path` still names the very file
    /// that was hashed (`detected.identity`): a file that changed, was
    /// replaced, or is reached through a symlink is left where it is
    /// (`Changed`, `Symlink`): report it and scan it again.
    pub fn move_detected(&self, detected: &Detected<'_>) -> Result<EntryId> {
        hooks::pause_before_move();
        let path = std::path::absolute(detected.path)
            .map_err(QuarantineError::std_io("find", detected.path))?;
        let _lock = self.lock(Lock::Shared)?;
        let (parent, name) = fsops::open_parent(&path)?;
        let found = fsops::stat_at(&parent, &name).map_err(QuarantineError::io("stat", &path))?;
        if found.file_type == rustix::fs::FileType::Symlink {
            return Err(QuarantineError::Symlink(path));
        }
        if let Some(why) = fsops::differs(&found, detected.identity) {
            return Err(QuarantineError::Changed(why));
        }
        self.refuse_own_files(&parent, &path)?;
        let (id, tmp) = self.begin_entry(&path, &found, detected)?;
        match rustix::fs::renameat(&parent, &name, &tmp, DATA) {
            Ok(()) => self.finish_rename(id, &tmp, &parent, &name, detected.identity),
            Err(Errno::XDEV) => {
                self.finish_copy(id, &tmp, &parent, &name, &path, detected.identity)
            }
            Err(e) => {
                self.discard(&id, &tmp);
                Err(QuarantineError::io("move", &path)(e))
            }
        }
    }

    /// Refuses to move a file that is already in the vault (scanning a tree
    /// that holds the vault finds the files in it).
    fn refuse_own_files(&self, parent: &OwnedFd, path: &Path) -> Result<()> {
        let here = fsops::stat_fd(parent).map_err(QuarantineError::io("stat", path))?;
        let up = fsops::stat_at(parent, "..").map_err(QuarantineError::io("stat", path))?;
        if (here.dev, here.ino) == self.vault_id || (up.dev, up.ino) == self.vault_id {
            return Err(QuarantineError::InVault);
        }
        Ok(())
    }

    /// Makes `.tmp-ID/` with the record in it, synced.
    fn begin_entry(
        &self,
        path: &Path,
        found: &FileStat,
        detected: &Detected<'_>,
    ) -> Result<(EntryId, OwnedFd)> {
        let mut tries = 0;
        let id = loop {
            let id = self.new_id();
            let name = id.tmp_name();
            match rustix::fs::mkdirat(&self.vault, name.as_str(), Mode::from_raw_mode(0o700)) {
                Ok(()) => break id,
                Err(Errno::EXIST) if tries < 8 => tries += 1,
                Err(e) => return Err(QuarantineError::io("create", &self.in_vault(&name))(e)),
            }
        };
        hooks::fault("tmp-dir");
        let tmp_path = self.in_vault(&id.tmp_name());
        let record = Record::new(&id, path, found, detected, &self.host);
        let written = (|| {
            let tmp = fsops::open_dir_at(&self.vault, id.tmp_name())
                .map_err(QuarantineError::io("open", &tmp_path))?;
            fsops::write_file_at(&tmp, RECORD, &record.to_json(), 0o400)
                .map_err(QuarantineError::std_io("write", &tmp_path.join(RECORD)))?;
            fsops::sync_dir(&tmp).map_err(QuarantineError::io("sync", &tmp_path))?;
            self.sync_vault()?;
            Ok(tmp)
        })();
        match written {
            Ok(tmp) => {
                hooks::fault("record");
                Ok((id, tmp))
            }
            Err(e) => {
                if let Ok(tmp) = fsops::open_dir_at(&self.vault, id.tmp_name()) {
                    self.discard(&id, &tmp);
                }
                Err(e)
            }
        }
    }

    /// Same file system: the file is now `.tmp-ID/data`. Checks it is the
    /// file that was checked, seals it and publishes the entry.
    fn finish_rename(
        &self,
        id: EntryId,
        tmp: &OwnedFd,
        parent: &OwnedFd,
        name: &OsStr,
        hashed: &Identity,
    ) -> Result<EntryId> {
        hooks::fault("renamed");
        let unfinished = |id: &EntryId, e: Errno| QuarantineError::Unfinished {
            id: id.clone(),
            reason: io_reason(&e.into()),
        };
        // The name was checked just before the rename; if another file was
        // swapped in between, it is what arrived: put it back.
        let arrived = fsops::stat_at(tmp, DATA).map_err(|e| unfinished(&id, e))?;
        if let Some(why) = fsops::differs(&arrived, hashed) {
            return Err(self.put_swapped_back(&id, tmp, parent, name, &why));
        }
        let sealed = (|| {
            let data = fsops::open_file_at(tmp, DATA)?;
            fsops::seal(&data)?;
            fsops::sync_dir(parent)?;
            fsops::sync_dir(tmp)
        })();
        sealed.map_err(|e| unfinished(&id, e))?;
        hooks::fault("sealed");
        self.publish(&id).map_err(|e| unfinished(&id, e))?;
        Ok(id)
    }

    /// Renames what arrived in `.tmp-ID/data` back to where it came from
    /// (never over anything), and says why the move did not happen.
    fn put_swapped_back(
        &self,
        id: &EntryId,
        tmp: &OwnedFd,
        parent: &OwnedFd,
        name: &OsStr,
        why: &str,
    ) -> QuarantineError {
        match rustix::fs::renameat_with(tmp, DATA, parent, name, RenameFlags::NOREPLACE) {
            Ok(()) => {
                let _ = fsops::sync_dir(parent);
                self.discard(id, tmp);
                QuarantineError::Changed(format!("{why}, just before the move; it was put back"))
            }
            Err(e) => QuarantineError::Changed(format!(
                "{why}, just before the move, and it could not be put back ({}); it is in {}",
                io_reason(&e.into()),
                escape_path(&self.in_vault(&id.tmp_name()).join(DATA))
            )),
        }
    }

    /// Across file systems: copies the file into `.tmp-ID`, publishes the
    /// entry, and only then removes the original.
    fn finish_copy(
        &self,
        id: EntryId,
        tmp: &OwnedFd,
        parent: &OwnedFd,
        name: &OsStr,
        path: &Path,
        hashed: &Identity,
    ) -> Result<EntryId> {
        let part_path = self.in_vault(&id.tmp_name()).join(PART);
        let copied = (|| {
            // Copy from a handle on the very file that was hashed.
            let mut src =
                fsops::open_file_at(parent, name).map_err(QuarantineError::io("open", path))?;
            let before = fsops::stat_fd(&src).map_err(QuarantineError::io("stat", path))?;
            if let Some(why) = fsops::differs(&before, hashed) {
                return Err(QuarantineError::Changed(why));
            }
            let mut dst = fsops::create_file_at(tmp, PART, 0o600)
                .map_err(QuarantineError::io("create", &part_path))?;
            let n = fsops::copy(&mut src, &mut dst, || hooks::fault("copy-partial"))
                .map_err(QuarantineError::std_io("copy", path))?;
            let after = fsops::stat_fd(&src).map_err(QuarantineError::io("stat", path))?;
            if n != hashed.size || fsops::differs(&after, hashed).is_some() {
                return Err(QuarantineError::Changed(
                    "it changed while being copied".into(),
                ));
            }
            rustix::fs::fchmod(&dst, Mode::from_raw_mode(0o400))
                .map_err(QuarantineError::io("chmod", &part_path))?;
            dst.sync_all()
                .map_err(QuarantineError::std_io("sync", &part_path))
        })();
        if let Err(e) = copied {
            // The original is untouched: drop the partial copy.
            self.discard(&id, tmp);
            return Err(e);
        }
        hooks::fault("copy-synced");
        let unfinished = |id: &EntryId, e: Errno| QuarantineError::Unfinished {
            id: id.clone(),
            reason: io_reason(&e.into()),
        };
        let staged = (|| {
            rustix::fs::renameat(tmp, PART, tmp, DATA)?;
            hooks::fault("copy-complete");
            let marker = fsops::create_file_at(tmp, PENDING, 0o400)?;
            drop(marker);
            fsops::sync_dir(tmp)?;
            hooks::fault("marked");
            self.publish(&id)
        })();
        staged.map_err(|e| unfinished(&id, e))?;
        // The entry is complete and durable. Remove the original only if the
        // name still holds the file that was copied.
        match fsops::stat_at(parent, name) {
            Ok(st) if fsops::differs(&st, hashed).is_none() => {}
            _ => {
                let _ = fsops::remove_at(tmp, PENDING);
                return Err(QuarantineError::ReplacedAfterCopy(id));
            }
        }
        let removed = (|| {
            rustix::fs::unlinkat(parent, name, rustix::fs::AtFlags::empty())?;
            fsops::sync_dir(parent)?;
            hooks::fault("unlinked");
            fsops::remove_at(tmp, PENDING)?;
            fsops::sync_dir(tmp)
        })();
        removed.map_err(|e| unfinished(&id, e))?;
        Ok(id)
    }

    /// Renames `.tmp-ID` to `ID` and syncs the vault: the entry appears whole.
    fn publish(&self, id: &EntryId) -> Result<(), Errno> {
        rustix::fs::renameat(&self.vault, id.tmp_name(), &self.vault, id.as_str())?;
        rustix::fs::fsync(&self.vault)?;
        hooks::fault("published");
        Ok(())
    }

    /// Removes a temporary entry that holds nothing of the user's: the
    /// record, a partial copy, the marker. `data` is never removed here (it
    /// may be the original itself); if it is there the folder stays, for
    /// `repair`.
    fn discard(&self, id: &EntryId, tmp: &OwnedFd) {
        for name in [PART, RECORD, PENDING] {
            let _ = fsops::remove_at(tmp, name);
        }
        let name = id.tmp_name();
        if let Err(e) =
            rustix::fs::unlinkat(&self.vault, name.as_str(), rustix::fs::AtFlags::REMOVEDIR)
        {
            tracing::warn!(entry = %name, error = %e, "cannot remove a temporary quarantine entry; `vigil quarantine repair` will");
        }
    }
}
