//! Which folders in the vault are the vault owner's own, and so may be acted
//! on. A vault that was ever open to others (mode 0777, or an entry folder
//! left writable) may hold entries another user wrote: a record naming any
//! file for `repair` to remove, or a set-user-ID root record for `restore`
//! to create. So an entry folder, its record and every other file vigil
//! keeps in it must be owned by the vault's owner and not writable by group
//! or others; else the entry is foreign: listed with why, never acted on.
//!
//! One exception: an entry's content (`data`, `data.part`) may instead be
//! owned by the user its record names. A move by rename keeps the file's
//! own inode, and so its owner; the record and the folder around it are
//! still the vault owner's, so no one else put it there.
//!
//! Every check is an `fstat` of the descriptor that is then used, opened
//! with `O_NOFOLLOW`: a symbolic link planted as an entry or as one of its
//! files is refused, and no path is looked up again between check and use.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::FileType;
use rustix::io::Errno;

use super::fsops::{self, FileStat};
use super::record::{Record, DATA, PART, PENDING, RECORD, RECORD_LIMIT, TARGET};
use super::{Quarantine, QuarantineError, Result};

/// Says why a file of the vault, `what`, is not the vault owner's, if it is
/// not: owned by neither `owner` nor `also`, or writable by group or others.
pub(crate) fn distrust(what: &str, st: &FileStat, owner: u32, also: Option<u32>) -> Option<String> {
    if st.uid != owner && Some(st.uid) != also {
        return Some(format!(
            "{what} is owned by uid {}, not by the vault's owner (uid {owner})",
            st.uid
        ));
    }
    if st.perm & 0o022 != 0 {
        return Some(format!(
            "{what} is writable by group or others (mode {:04o})",
            st.perm
        ));
    }
    None
}

/// The content files, which may be owned by the user the record names.
fn is_content(name: &str) -> bool {
    name == DATA || name == PART
}

impl Quarantine {
    fn foreign(&self, name: &str, reason: String) -> QuarantineError {
        QuarantineError::Foreign {
            name: name.to_string(),
            reason,
        }
    }

    /// Opens the entry folder `name` (an `ID`, `.tmp-ID`, `.restore-ID` or
    /// `.delete-ID`) if it and every file vigil keeps in it are the vault
    /// owner's; `Foreign` if not. A missing folder is an `Io` error for
    /// which `is_not_found` holds.
    pub(crate) fn open_owned_entry(&self, name: &str) -> Result<OwnedFd> {
        let path = self.in_vault(name);
        let dir = match fsops::open_dir_at(&self.vault, name) {
            Ok(fd) => fd,
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let reason = match fsops::stat_at(&self.vault, name) {
                    Ok(st) if st.file_type == FileType::Symlink => {
                        "it is a symbolic link, not a folder".to_string()
                    }
                    Ok(st) => format!("it is a {}, not a folder", st.kind()),
                    Err(e) => return Err(QuarantineError::io("stat", &path)(e)),
                };
                return Err(self.foreign(name, reason));
            }
            Err(e) => return Err(QuarantineError::io("open", &path)(e)),
        };
        let st = fsops::stat_fd(&dir).map_err(QuarantineError::io("stat", &path))?;
        if let Some(reason) = distrust("the folder", &st, self.vault_uid, None) {
            return Err(self.foreign(name, reason));
        }
        // The record first: it names who may own the content.
        let owner = match self.open_owned_file(name, &dir, RECORD, None) {
            Ok(file) => fsops::read_small(file, RECORD_LIMIT)
                .ok()
                .and_then(|bytes| Record::from_json(&bytes).ok())
                .map(|r| r.uid),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        for file in [PENDING, TARGET, PART, DATA] {
            let also = if is_content(file) { owner } else { None };
            match self.open_owned_file(name, &dir, file, also) {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(dir)
    }

    /// Opens `file` in the entry folder `dir` (named `name`) for reading if
    /// it is a regular file owned by the vault's owner (or by `also`) and
    /// not writable by group or others; `Foreign` if not. A missing file is
    /// an `Io` error for which `is_not_found` holds.
    pub(crate) fn open_owned_file(
        &self,
        name: &str,
        dir: impl AsFd,
        file: &str,
        also: Option<u32>,
    ) -> Result<File> {
        let path = self.in_vault(name).join(file);
        let opened = match fsops::open_file_at(&dir, file) {
            Ok(f) => f,
            Err(Errno::LOOP) => {
                return Err(self.foreign(name, format!("{file} is a symbolic link")));
            }
            Err(e) => return Err(QuarantineError::io("open", &path)(e)),
        };
        let st = fsops::stat_fd(&opened).map_err(QuarantineError::io("stat", &path))?;
        if !st.is_regular() {
            return Err(self.foreign(name, format!("{file} is a {}", st.kind())));
        }
        if let Some(reason) = distrust(file, &st, self.vault_uid, also) {
            return Err(self.foreign(name, reason));
        }
        Ok(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn stat(uid: u32, perm: u32) -> FileStat {
        FileStat {
            dev: 1,
            ino: 2,
            file_type: FileType::RegularFile,
            perm,
            uid,
            gid: 0,
            size: 0,
            atime: (0, 0),
            mtime: (0, 0),
        }
    }

    #[test]
    fn distrust_names_the_owner_or_the_loose_mode() {
        assert_eq!(distrust("data", &stat(0, 0o400), 0, None), None);
        assert_eq!(distrust("data", &stat(7, 0o400), 0, Some(7)), None);
        let other = distrust("data", &stat(65534, 0o400), 0, Some(7)).unwrap();
        assert!(
            other.contains("uid 65534") && other.contains("(uid 0)"),
            "{other}"
        );
        for perm in [0o420, 0o402, 0o777] {
            let loose = distrust("the folder", &stat(0, perm), 0, None).unwrap();
            assert!(loose.contains("writable by group or others"), "{loose}");
        }
    }

    #[test]
    fn entries_with_loose_modes_or_symlinks_are_foreign() {
        let top = tempfile::tempdir().unwrap();
        let q = Quarantine::open(&top.path().join("q")).unwrap();
        let entry = |name: &str| {
            let dir = q.dir().join(name);
            fs::create_dir(&dir).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
            fs::write(dir.join(RECORD), b"{}").unwrap();
            fs::set_permissions(dir.join(RECORD), fs::Permissions::from_mode(0o400)).unwrap();
            dir
        };
        let reason = |name: &str| match q.open_owned_entry(name) {
            Err(QuarantineError::Foreign { reason, .. }) => reason,
            other => panic!("{name}: expected foreign, got {other:?}"),
        };
        entry("good");
        q.open_owned_entry("good").unwrap();
        assert!(q.open_owned_entry("none").unwrap_err().is_not_found());

        let loose = entry("loose");
        fs::set_permissions(&loose, fs::Permissions::from_mode(0o770)).unwrap();
        assert!(reason("loose").contains("the folder is writable"));

        let linked = entry("linked-data");
        symlink("/etc/passwd", linked.join(DATA)).unwrap();
        assert_eq!(reason("linked-data"), "data is a symbolic link");

        let open = entry("open-record");
        fs::set_permissions(open.join(RECORD), fs::Permissions::from_mode(0o666)).unwrap();
        assert!(reason("open-record").contains("meta.json is writable"));

        symlink(&loose, q.dir().join("link")).unwrap();
        assert!(reason("link").contains("symbolic link"));
        fs::write(q.dir().join("file"), b"").unwrap();
        assert!(reason("file").contains("regular file, not a folder"));
    }
}
