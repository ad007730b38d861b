//! File-system steps through descriptors, never by re-resolving a path
//! string: walking a path down from `/` without following any symlink,
//! `stat` of a name in a folder without following it, creating, copying and
//! removing files relative to a folder's descriptor, and `fsync`. Everything
//! goes through `rustix`; there is no `unsafe` here.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::QuarantineError;
use crate::fileio::{FileKind, Identity};

/// Bytes copied per read.
const COPY_BUF: usize = 256 * 1024;

/// What `stat` said about a file, in plain integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub file_type: FileType,
    /// Permission bits, `mode & 0o7777`.
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime: (i64, u32),
    pub mtime: (i64, u32),
}

impl FileStat {
    // The field types of `struct stat` differ between architectures.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn from_raw(st: &rustix::fs::Stat) -> Self {
        FileStat {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            file_type: FileType::from_raw_mode(st.st_mode as _),
            perm: (st.st_mode as u32) & 0o7777,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            size: u64::try_from(st.st_size).unwrap_or(0),
            atime: (st.st_atime as i64, st.st_atime_nsec as u32),
            mtime: (st.st_mtime as i64, st.st_mtime_nsec as u32),
        }
    }

    pub fn is_regular(&self) -> bool {
        self.file_type == FileType::RegularFile
    }

    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }

    pub fn identity(&self) -> Identity {
        Identity {
            dev: self.dev,
            ino: self.ino,
            size: self.size,
            mtime_sec: self.mtime.0,
            mtime_nsec: self.mtime.1,
        }
    }

    /// "regular file", "symbolic link", ... for messages.
    pub fn kind(&self) -> &'static str {
        FileKind::of_raw(self.file_type).describe()
    }
}

/// Says how `found` differs from the file that was hashed, if it does.
pub(crate) fn differs(found: &FileStat, hashed: &Identity) -> Option<String> {
    if !found.is_regular() {
        return Some(format!("the path now names a {}", found.kind()));
    }
    let now = found.identity();
    if (now.dev, now.ino) != (hashed.dev, hashed.ino) {
        return Some("the path now names a different file".into());
    }
    if now.size != hashed.size {
        return Some(format!("size {} is now {}", hashed.size, now.size));
    }
    if (now.mtime_sec, now.mtime_nsec) != (hashed.mtime_sec, hashed.mtime_nsec) {
        return Some("it was modified".into());
    }
    None
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub(crate) fn stat_at(dir: impl AsFd, name: impl AsRef<OsStr>) -> Result<FileStat, Errno> {
    rustix::fs::statat(dir, name.as_ref(), AtFlags::SYMLINK_NOFOLLOW)
        .map(|st| FileStat::from_raw(&st))
}

/// Whether `name` exists in `dir` (without following it), as a regular file.
pub(crate) fn is_file_at(dir: impl AsFd, name: &str) -> Result<bool, Errno> {
    match stat_at(dir, name) {
        Ok(st) => Ok(st.is_regular()),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn stat_fd(fd: impl AsFd) -> Result<FileStat, Errno> {
    rustix::fs::fstat(fd).map(|st| FileStat::from_raw(&st))
}

/// Opens the folder `name` in `dir` for reading, refusing a symlink.
pub(crate) fn open_dir_at(dir: impl AsFd, name: impl AsRef<OsStr>) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(dir, name.as_ref(), flags, Mode::empty())
}

/// Opens the file `name` in `dir` for reading, refusing a symlink and never
/// blocking on a FIFO.
pub(crate) fn open_file_at(dir: impl AsFd, name: impl AsRef<OsStr>) -> Result<File, Errno> {
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    rustix::fs::openat(dir, name.as_ref(), flags, Mode::empty()).map(File::from)
}

/// Creates the file `name` in `dir`, which must not exist (not even as a
/// symlink), with permissions `mode`.
pub(crate) fn create_file_at(
    dir: impl AsFd,
    name: impl AsRef<OsStr>,
    mode: u32,
) -> Result<File, Errno> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(dir, name.as_ref(), flags, Mode::from_raw_mode(mode)).map(File::from)
}

/// Creates `name` in `dir` holding `bytes`, synced to disk.
pub(crate) fn write_file_at(dir: impl AsFd, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = create_file_at(dir, name, mode)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Reads the small file `file` (at most `limit` bytes).
pub(crate) fn read_small(file: File, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `fsync` on a folder: makes the names created, renamed or removed in it durable.
pub(crate) fn sync_dir(dir: impl AsFd) -> Result<(), Errno> {
    rustix::fs::fsync(dir)
}

/// Makes an entry's content read-only for its owner (0400). A file that is
/// not ours needs `CAP_FOWNER` for that; without it the content keeps its
/// mode, which the private vault and entry folders (0700) still shut off,
/// and the move goes on.
pub(crate) fn seal(file: impl AsFd) -> Result<(), Errno> {
    match rustix::fs::fchmod(file, Mode::from_raw_mode(0o400)) {
        Err(Errno::PERM) => {
            tracing::warn!("cannot make quarantined content mode 0400 (not its owner, no CAP_FOWNER); the vault's 0700 folders still protect it");
            Ok(())
        }
        other => other,
    }
}

/// Removes `name` from `dir` if it is there.
pub(crate) fn remove_at(dir: impl AsFd, name: &str) -> Result<(), Errno> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Copies all of `src` into `dst`; returns the bytes copied. `after_first`
/// runs once, after the first block is written (the crash-test hook).
pub(crate) fn copy(
    src: &mut File,
    dst: &mut File,
    mut after_first: impl FnMut(),
) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUF];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        dst.write_all(&buf[..n])?;
        if total == 0 {
            after_first();
        }
        total += n as u64;
    }
}

/// Opens the folder holding the last component of the absolute `path`, by
/// walking down from `/` one component at a time with `O_NOFOLLOW |
/// O_DIRECTORY`: a symlink anywhere in the path is refused, never followed.
/// Returns the folder (opened for reading, so it can be synced) and the last
/// component, to act on relative to it.
pub(crate) fn open_parent(path: &Path) -> Result<(OwnedFd, OsString), QuarantineError> {
    let bad = |reason| QuarantineError::BadPath {
        path: path.to_path_buf(),
        reason,
    };
    let mut parts: Vec<Component<'_>> = path.components().collect();
    let name = match parts.pop() {
        Some(Component::Normal(name)) => name.to_os_string(),
        _ => return Err(bad("does not end in a file name")),
    };
    if parts.first() != Some(&Component::RootDir) {
        return Err(bad("is not an absolute path"));
    }
    // Intermediate folders only need to be searched (O_PATH); the last one
    // is opened for reading so that it can be synced.
    let flags_for = |last: bool| {
        let base = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        if last {
            base | OFlags::RDONLY
        } else {
            base | OFlags::PATH
        }
    };
    let mut walked = PathBuf::from("/");
    let mut dir = rustix::fs::open("/", flags_for(parts.len() == 1), Mode::empty())
        .map_err(QuarantineError::io("open", &walked))?;
    let count = parts.len();
    for (i, part) in parts.iter().enumerate().skip(1) {
        let component: &OsStr = match part {
            Component::Normal(c) => c,
            Component::ParentDir => OsStr::new(".."),
            Component::CurDir => OsStr::new("."),
            Component::RootDir | Component::Prefix(_) => return Err(bad("is not a plain path")),
        };
        walked.push(component);
        let next = rustix::fs::openat(&dir, component, flags_for(i == count - 1), Mode::empty());
        dir = match next {
            Ok(fd) => fd,
            Err(Errno::LOOP | Errno::NOTDIR) => {
                // Say whether it is a symlink or some other non-folder.
                return Err(match stat_at(&dir, component) {
                    Ok(st) if st.file_type == FileType::Symlink => QuarantineError::Symlink(walked),
                    Ok(_) => QuarantineError::NotDir(walked),
                    Err(e) => QuarantineError::io("open", &walked)(e),
                });
            }
            Err(e) => return Err(QuarantineError::io("open", &walked)(e)),
        };
    }
    Ok((dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn open_parent_walks_real_folders_only() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/f"), b"x").unwrap();
        let (dir, name) = open_parent(&root.join("a/b/f")).unwrap();
        assert_eq!(name, "f");
        assert!(stat_at(&dir, &name).unwrap().is_regular());
        // `..` is walked as a folder of its own, not removed by hand.
        let (dir, name) = open_parent(&root.join("a/b/../b/f")).unwrap();
        assert!(stat_at(&dir, &name).unwrap().is_regular());

        symlink(root.join("a"), root.join("link")).unwrap();
        match open_parent(&root.join("link/b/f")) {
            Err(QuarantineError::Symlink(p)) => assert_eq!(p, root.join("link")),
            other => panic!("expected a symlink refusal, got {other:?}"),
        }
        match open_parent(&root.join("a/b/f/g")) {
            Err(QuarantineError::NotDir(p)) => assert_eq!(p, root.join("a/b/f")),
            other => panic!("expected not-a-folder, got {other:?}"),
        }
        assert!(open_parent(&root.join("none/f"))
            .unwrap_err()
            .is_not_found());
        assert!(matches!(
            open_parent(Path::new("rel/f")),
            Err(QuarantineError::BadPath { .. })
        ));
        assert!(matches!(
            open_parent(Path::new("/")),
            Err(QuarantineError::BadPath { .. })
        ));
        // A file right under `/`: the root itself is the folder.
        let (dir, name) = open_parent(Path::new("/proc")).unwrap();
        assert_eq!(name, "proc");
        assert!(stat_at(&dir, &name).unwrap().is_dir());
    }

    #[test]
    fn differs_names_what_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = open_dir_at(rustix::fs::CWD, tmp.path()).unwrap();
        fs::write(tmp.path().join("f"), b"abc").unwrap();
        let st = stat_at(&dir, "f").unwrap();
        let id = st.identity();
        assert_eq!(differs(&st, &id), None);
        let grown = Identity { size: 4, ..id };
        assert!(differs(&st, &grown).unwrap().contains("size"));
        let other = Identity {
            ino: id.ino + 1,
            ..id
        };
        assert!(differs(&st, &other).unwrap().contains("different file"));
        let touched = Identity {
            mtime_nsec: id.mtime_nsec ^ 1,
            ..id
        };
        assert!(differs(&st, &touched).unwrap().contains("modified"));
        symlink("f", tmp.path().join("l")).unwrap();
        let link = stat_at(&dir, "l").unwrap();
        assert!(differs(&link, &id).unwrap().contains("symbolic link"));
    }
}
