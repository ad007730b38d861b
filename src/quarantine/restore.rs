//! Putting an entry back, and deleting one.
//!
//! Restore: the target's folder is opened by walking down from `/` without
//! following symlinks; an existing file there is refused unless forced. The
//! entry is renamed to `.restore-ID` and the target noted in it. On one file
//! system the content gets its owner, mode and times back inside the vault
//! and is renamed into place (`RENAME_NOREPLACE` unless forced); across file
//! systems it is copied to `.vigil-restore-ID` in the target folder, synced,
//! given its owner, mode and times, and renamed into place. Only then is the
//! entry removed. A failure, or a crash (then `repair`), puts the entry back.
//! Only entries that are the vault owner's are restored (`trust.rs`), and
//! without the set-user-ID and set-group-ID bits unless `keep_setuid`.
//!
//! Delete: the entry is renamed to `.delete-ID`, then its files removed.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Gid, Mode, RenameFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;

use super::fsops;
use super::record::{Record, DATA, ENTRY_FILES, PENDING, RECORD, RECORD_LIMIT, TARGET};
use super::{hooks, EntryId, Lock, Quarantine, QuarantineError, Result};

/// How to restore.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// Where to put the file; its original path if `None`.
    pub to: Option<PathBuf>,
    /// Replace a file that is already there.
    pub force: bool,
    /// Give the file back its set-user-ID and set-group-ID bits; without
    /// this they are dropped.
    pub keep_setuid: bool,
}

/// What a restore did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// Where the file is now.
    pub path: PathBuf,
    /// The record's set-user-ID and set-group-ID bits were not given back
    /// (`RestoreOptions::keep_setuid` was not set).
    pub set_id_dropped: bool,
}

/// The temporary name of a cross-file-system restore in the target folder.
/// `DIR/`, or a folder that exists (not through a symbolic link).
fn is_folder(path: &Path) -> bool {
    path.as_os_str().as_encoded_bytes().ends_with(b"/")
        || std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

fn restore_temp(id: &EntryId) -> String {
    format!(".vigil-restore-{id}")
}

impl Quarantine {
    /// An entry's record, checked to belong to a complete entry.
    pub fn show(&self, id: &EntryId) -> Result<(Record, bool)> {
        let (dir, record) = self.open_entry(id)?;
        let pending = fsops::is_file_at(&dir, PENDING)
            .map_err(QuarantineError::io("stat", &self.in_vault(id.as_str())))?;
        Ok((record, pending))
    }

    /// Opens the complete entry `id` and reads its record.
    /// Refuses an entry that is not the vault owner's (`trust.rs`).
    fn open_entry(&self, id: &EntryId) -> Result<(OwnedFd, Record)> {
        let path = self.in_vault(id.as_str());
        let dir = match self.open_owned_entry(id.as_str()) {
            Ok(fd) => fd,
            Err(e) if e.is_not_found() => return Err(QuarantineError::NoEntry(id.clone())),
            Err(e) => return Err(e),
        };
        let record = self.read_record(id, id.as_str(), &dir)?;
        match fsops::is_file_at(&dir, DATA) {
            Ok(true) => Ok((dir, record)),
            Ok(false) => Err(QuarantineError::Damaged {
                id: id.clone(),
                reason: "its content is missing".into(),
            }),
            Err(e) => Err(QuarantineError::io("stat", &path.join(DATA))(e)),
        }
    }

    /// Reads the record of entry `id` from its folder `dir`, named `name`
    /// in the vault; `Foreign` if the record is not the vault owner's.
    pub(crate) fn read_record(&self, id: &EntryId, name: &str, dir: impl AsFd) -> Result<Record> {
        let damaged = |reason: String| QuarantineError::Damaged {
            id: id.clone(),
            reason: format!("unreadable record: {reason}"),
        };
        let file = match self.open_owned_file(name, dir, RECORD, None) {
            Ok(file) => file,
            Err(QuarantineError::Io { source, .. }) => {
                return Err(damaged(crate::error::io_reason(&source)))
            }
            Err(e) => return Err(e),
        };
        let bytes = fsops::read_small(file, RECORD_LIMIT)
            .map_err(|e| damaged(crate::error::io_reason(&e)))?;
        let record = Record::from_json(&bytes).map_err(damaged)?;
        if record.id != id.as_str() {
            return Err(damaged(format!("it names entry {}", record.id)));
        }
        Ok(record)
    }

    /// Puts entry `id` back where it came from (or at `opts.to`) with its
    /// content, mode, owner and times, and removes the entry. Returns where
    /// it was restored. Refuses to replace an existing file unless forced,
    /// and an entry that is not the vault owner's. The set-user-ID and
    /// set-group-ID bits come back only with `opts.keep_setuid`.
    pub fn restore(&self, id: &EntryId, opts: &RestoreOptions) -> Result<Restored> {
        let _lock = self.lock(Lock::Shared)?;
        let (dir, record) = self.open_entry(id)?;
        if fsops::is_file_at(&dir, PENDING).unwrap_or(true) {
            return Err(QuarantineError::Pending(id.clone()));
        }
        let original = record.original_path();
        let target = match &opts.to {
            // Into a folder (`--to DIR/`, or an existing folder), as mv does.
            Some(to) if is_folder(to) => {
                let name = original.file_name().unwrap_or(original.as_os_str());
                std::path::absolute(to.join(name)).map_err(QuarantineError::std_io("find", to))?
            }
            Some(to) => std::path::absolute(to).map_err(QuarantineError::std_io("find", to))?,
            None => original,
        };
        let (parent, name) = match fsops::open_parent(&target) {
            Err(e) if e.is_not_found() && opts.to.is_none() => {
                return Err(QuarantineError::OriginGone(target))
            }
            other => other?,
        };
        match fsops::stat_at(&parent, &name) {
            Err(Errno::NOENT) => {}
            Ok(st) if st.is_dir() => {
                return Err(QuarantineError::BadPath {
                    path: target,
                    reason: "is a folder",
                })
            }
            Ok(_) if !opts.force => return Err(QuarantineError::Exists(target)),
            Ok(_) => {}
            Err(e) => return Err(QuarantineError::io("stat", &target)(e)),
        }
        let restoring = self.in_vault(&id.restore_name());
        rustix::fs::renameat(&self.vault, id.as_str(), &self.vault, id.restore_name())
            .map_err(QuarantineError::io("rename", &self.in_vault(id.as_str())))?;
        self.sync_vault()?;
        hooks::fault("restore-begin");
        let placed = (|| {
            fsops::write_file_at(&dir, TARGET, target.as_os_str().as_bytes(), 0o400)
                .map_err(QuarantineError::std_io("write", &restoring.join(TARGET)))?;
            fsops::sync_dir(&dir).map_err(QuarantineError::io("sync", &restoring))?;
            hooks::fault("restore-noted");
            self.place(id, &dir, &record, &parent, &name, &target, opts)
        })();
        match placed {
            Ok(()) => {
                self.remove_entry(&id.restore_name(), &dir)?;
                Ok(Restored {
                    path: target,
                    set_id_dropped: !opts.keep_setuid && record.mode & SET_ID != 0,
                })
            }
            Err(e) => {
                // Nothing was restored: the entry goes back as it was.
                if let Err(undo) = self.settle_restore(id, &dir) {
                    tracing::warn!(entry = %id, error = %undo, "cannot put the entry back; `vigil quarantine repair` will");
                }
                Err(e)
            }
        }
    }

    /// Puts the content of `.restore-ID/data` at `parent`/`name`.
    #[allow(clippy::too_many_arguments)]
    fn place(
        &self,
        id: &EntryId,
        dir: &OwnedFd,
        record: &Record,
        parent: &OwnedFd,
        name: &OsStr,
        target: &Path,
        opts: &RestoreOptions,
    ) -> Result<()> {
        let data_path = self.in_vault(&id.restore_name()).join(DATA);
        // Checked again on the very handle whose content is put back.
        let mut data = self.open_owned_file(&id.restore_name(), dir, DATA, Some(record.uid))?;
        let st = fsops::stat_fd(&data).map_err(QuarantineError::io("stat", &data_path))?;
        if !st.is_regular() || st.size != record.size {
            return Err(QuarantineError::Damaged {
                id: id.clone(),
                reason: format!("its content is {} bytes, not {}", st.size, record.size),
            });
        }
        let flags = if opts.force {
            RenameFlags::empty()
        } else {
            RenameFlags::NOREPLACE
        };
        let placed = |e: Errno| match e {
            Errno::EXIST => QuarantineError::Exists(target.to_path_buf()),
            e => QuarantineError::io("restore", target)(e),
        };
        // One file system: give the content back its owner, mode and times
        // while it is still in the private vault, then rename it into place.
        set_attributes(&data, record, opts.keep_setuid).map_err(QuarantineError::io(
            "set owner, mode and times of",
            &data_path,
        ))?;
        hooks::fault("restore-attrs");
        match rustix::fs::renameat_with(dir, DATA, parent, name, flags) {
            Ok(()) => {
                fsops::sync_dir(parent).map_err(QuarantineError::io("sync", target))?;
                hooks::fault("restore-placed");
                return Ok(());
            }
            Err(Errno::XDEV) => {}
            Err(e) => return Err(placed(e)),
        }
        // Across file systems: a synced copy, renamed into place.
        let temp = restore_temp(id);
        let temp_path = target.with_file_name(&temp);
        let mut out = fsops::create_file_at(parent, &temp, 0o600)
            .map_err(QuarantineError::io("create", &temp_path))?;
        let copied = (|| {
            let n = fsops::copy(&mut data, &mut out, || hooks::fault("restore-partial"))
                .map_err(QuarantineError::std_io("copy to", &temp_path))?;
            if n != record.size {
                return Err(QuarantineError::Damaged {
                    id: id.clone(),
                    reason: format!("read {n} bytes of its content, not {}", record.size),
                });
            }
            out.sync_all()
                .map_err(QuarantineError::std_io("sync", &temp_path))?;
            set_attributes(&out, record, opts.keep_setuid).map_err(QuarantineError::io(
                "set owner, mode and times of",
                &temp_path,
            ))?;
            out.sync_all()
                .map_err(QuarantineError::std_io("sync", &temp_path))?;
            rustix::fs::renameat_with(parent, temp.as_str(), parent, name, flags)
                .map_err(placed)?;
            fsops::sync_dir(parent).map_err(QuarantineError::io("sync", target))
        })();
        if copied.is_err() {
            let _ = fsops::remove_at(parent, &temp);
        }
        copied?;
        hooks::fault("restore-placed");
        Ok(())
    }

    /// Settles `.restore-ID` (after a failed restore, or in `repair`): if its
    /// content is still there, nothing was restored for good, so any copy in
    /// the target folder is removed and the entry goes back to `ID`; if the
    /// content is gone, it was renamed into place, so the rest is removed.
    /// Returns true if the entry was put back.
    pub(crate) fn settle_restore(&self, id: &EntryId, dir: &OwnedFd) -> Result<bool> {
        let path = self.in_vault(&id.restore_name());
        let has_data = fsops::is_file_at(dir, DATA).map_err(QuarantineError::io("stat", &path))?;
        if !has_data {
            self.remove_entry(&id.restore_name(), dir)?;
            return Ok(false);
        }
        let name = id.restore_name();
        let target = self
            .open_owned_file(&name, dir, TARGET, None)
            .ok()
            .and_then(|file| fsops::read_small(file, RECORD_LIMIT).ok());
        if let Some(bytes) = target {
            let target = PathBuf::from(OsStr::from_bytes(&bytes));
            if let Ok((parent, _)) = fsops::open_parent(&target) {
                let _ = fsops::remove_at(&parent, &restore_temp(id));
            }
        }
        let _ = fsops::remove_at(dir, TARGET);
        if let Ok(data) = fsops::open_file_at(dir, DATA) {
            let _ = rustix::fs::fchmod(&data, Mode::from_raw_mode(0o400));
        }
        rustix::fs::renameat_with(
            &self.vault,
            id.restore_name(),
            &self.vault,
            id.as_str(),
            RenameFlags::NOREPLACE,
        )
        .map_err(QuarantineError::io("rename", &path))?;
        self.sync_vault()?;
        Ok(true)
    }

    /// Deletes entry `id` for good.
    /// Refuses an entry that is not the vault owner's (`trust.rs`).
    pub fn delete(&self, id: &EntryId) -> Result<()> {
        let _lock = self.lock(Lock::Shared)?;
        let dir = match self.open_owned_entry(id.as_str()) {
            Ok(dir) => dir,
            Err(e) if e.is_not_found() => return Err(QuarantineError::NoEntry(id.clone())),
            Err(e) => return Err(e),
        };
        rustix::fs::renameat(&self.vault, id.as_str(), &self.vault, id.delete_name())
            .map_err(QuarantineError::io("rename", &self.in_vault(id.as_str())))?;
        self.sync_vault()?;
        hooks::fault("delete-begin");
        self.remove_entry(&id.delete_name(), &dir)
    }

    /// Removes the entry folder `name` (opened as `dir`): the files vigil
    /// puts there, then the folder. Anything else in it stops the removal.
    pub(crate) fn remove_entry(&self, name: &str, dir: &OwnedFd) -> Result<()> {
        let path = self.in_vault(name);
        for file in ENTRY_FILES {
            fsops::remove_at(dir, file).map_err(QuarantineError::io("remove", &path.join(file)))?;
        }
        rustix::fs::unlinkat(&self.vault, name, rustix::fs::AtFlags::REMOVEDIR)
            .map_err(QuarantineError::io("remove", &path))?;
        self.sync_vault()
    }
}

/// The set-user-ID and set-group-ID bits.
const SET_ID: u32 = 0o6000;

/// Gives `file` the recorded owner, then mode (a change of owner clears the
/// set-id bits; they are set again only if `keep_setuid`), then access and
/// modification times.
fn set_attributes(file: &File, record: &Record, keep_setuid: bool) -> Result<(), Errno> {
    rustix::fs::fchown(
        file,
        Some(Uid::from_raw(record.uid)),
        Some(Gid::from_raw(record.gid)),
    )?;
    let mut mode = record.mode & 0o7777;
    if !keep_setuid {
        mode &= !SET_ID;
    }
    rustix::fs::fchmod(file, Mode::from_raw_mode(mode))?;
    let time = |t: super::Time| Timespec {
        tv_sec: t.sec,
        tv_nsec: t.nsec as _,
    };
    rustix::fs::futimens(
        file,
        &Timestamps {
            last_access: time(record.atime),
            last_modification: time(record.mtime),
        },
    )
}
