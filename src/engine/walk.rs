//! Turning roots and directories into work: a directory listing is one unit
//! of work that the pool can hand to any worker, and it yields subdirectories
//! (more work) and `Candidate` files. Excludes, file-type rules, symlink policy,
//! `--one-file-system` and loop detection live here. Nothing here hashes.
//!
//! A walk done for a control-socket client is confined to what that user
//! may read: each folder is held open and listed through its descriptor, and
//! each entry is opened from it with the user's permissions checked on the
//! opened descriptor (`access`); the scan then reads that descriptor.
//!
//! The rules sit behind an `ArcSwap`, so a daemon can swap in reloaded rules
//! while walks go on: a walk takes the rules current at its root, and every
//! directory below carries them, so a walk in flight ends on the rules it
//! started with.

use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use globset::GlobSet;

use crate::access::{self, Credentials, Opened};
use crate::fileio::FileKind;

/// A file's identity on the system: (device, inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &Metadata) -> Self {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    fn of_stat(st: &rustix::fs::Stat) -> Self {
        FileId {
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }
}

/// A regular file found by the walk, with what `stat` said about it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub path: PathBuf,
    pub size: u64,
    pub id: FileId,
    pub nlink: u64,
    /// Reached through a symlink (or named as one): open without `O_NOFOLLOW`.
    pub via_symlink: bool,
    /// Already open (by a confined walk, which decided on this descriptor):
    /// read this, never the path.
    pub opened: Option<Arc<File>>,
    /// What the verdict cache knows the file by, from the same `stat` (for
    /// a file already open, its `fstat`).
    pub key: crate::cache::Key,
    /// The cache entry read ahead of the scan (`Inspector::read_need`), so
    /// that the scan does not look it up again.
    pub recalled: Option<Box<crate::cache::Entry>>,
}

impl Candidate {
    fn new(path: PathBuf, meta: &Metadata, via_symlink: bool) -> Self {
        Candidate {
            path,
            size: meta.len(),
            id: FileId::of(meta),
            nlink: meta.nlink(),
            via_symlink,
            opened: None,
            key: crate::cache::Key::of(meta),
            recalled: None,
        }
    }

    /// A file already open elsewhere (the guard's event descriptor), sized
    /// by its `fstat`.
    pub(crate) fn of_open(path: PathBuf, file: Arc<File>, meta: &Metadata) -> Self {
        Candidate {
            opened: Some(file),
            ..Candidate::new(path, meta, false)
        }
    }

    fn opened(path: PathBuf, file: File, st: &rustix::fs::Stat) -> Self {
        Candidate {
            path,
            size: st.st_size as u64,
            id: FileId::of_stat(st),
            nlink: st.st_nlink,
            via_symlink: false,
            opened: Some(Arc::new(file)),
            key: crate::cache::Key::of_stat(st),
            recalled: None,
        }
    }
}

/// The chain of directories above a directory, for loop detection.
#[derive(Debug)]
struct Ancestor {
    id: FileId,
    parent: Option<Arc<Ancestor>>,
}

/// A directory to list.
#[derive(Debug)]
pub struct DirJob {
    pub path: PathBuf,
    /// Device of the root it was reached from, for `--one-file-system`.
    root_dev: u64,
    /// This directory and every directory above it.
    ancestors: Arc<Ancestor>,
    /// The rules of the walk this directory belongs to (those current at its root).
    opts: Arc<WalkOptions>,
    /// For a walk confined to a user's permissions: the folder, held open.
    confined: Option<Confined>,
}

/// A folder of a confined walk: whose permissions apply, and the folder's
/// descriptor, from which it is listed and its entries opened.
#[derive(Debug)]
struct Confined {
    creds: Arc<Credentials>,
    fd: OwnedFd,
}

/// Why an entry was passed over without being examined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    Special(FileKind),
    Excluded,
    Symlink,
    OtherFileSystem,
}

/// One thing the walk found.
#[derive(Debug)]
pub enum Found {
    Dir(DirJob),
    File(Candidate),
    Skipped(PathBuf, SkipReason),
    Error(PathBuf, WalkError),
}

/// Why an entry could not be walked.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("{}", crate::error::io_reason(.0))]
    Io(#[from] io::Error),
    #[error("Symbolic link loop")]
    Loop,
}

impl From<WalkError> for crate::engine::inspect::FileError {
    fn from(e: WalkError) -> Self {
        match e {
            WalkError::Io(e) => e.into(),
            WalkError::Loop => Self {
                kind: crate::report::ErrorKind::Loop,
                reason: WalkError::Loop.to_string(),
            },
        }
    }
}

/// The walk's rules, built once from the configuration.
#[derive(Clone, Debug, Default)]
pub struct WalkOptions {
    pub follow_symlinks: bool,
    pub one_file_system: bool,
    /// Files (and other non-directories) whose name or path matches are skipped.
    pub exclude: Option<GlobSet>,
    /// Directories whose name or path matches are not entered.
    pub exclude_dir: Option<GlobSet>,
}

/// Lists directories by the rules of `WalkOptions`.
#[derive(Clone, Debug)]
pub struct Walker {
    /// The current rules; replaced whole on reload, never changed in place.
    opts: Arc<ArcSwap<WalkOptions>>,
}

/// Whether `path` or its last component matches `set`.
fn matches(set: &Option<GlobSet>, path: &Path) -> bool {
    set.as_ref()
        .is_some_and(|g| path.file_name().is_some_and(|name| g.is_match(name)) || g.is_match(path))
}

impl Walker {
    /// A walker with fixed rules.
    pub fn new(opts: WalkOptions) -> Self {
        Self::live(Arc::new(ArcSwap::from_pointee(opts)))
    }

    /// A walker for a long-running process: each walk (and each check of a
    /// changed path) uses whatever rules `opts` holds when it begins.
    pub fn live(opts: Arc<ArcSwap<WalkOptions>>) -> Self {
        Walker { opts }
    }

    /// Classifies a path named by the user. Roots are followed if they are
    /// symlinks (the user named them) and are never excluded.
    pub fn root(&self, path: PathBuf) -> Found {
        match fs::symlink_metadata(&path) {
            Ok(lmeta) => self.classify_root(path, lmeta),
            Err(e) => Found::Error(path, e.into()),
        }
    }

    /// Classifies a path named by a control-socket client, for a walk
    /// confined to what `creds` may read: the path is resolved and opened on
    /// held descriptors (`access::open_path`), symlinks followed by hand.
    pub fn root_for(&self, path: PathBuf, creds: Arc<Credentials>) -> Found {
        match access::open_path(&creds, &path) {
            Ok(Opened::Dir(fd, st)) => {
                let id = FileId::of_stat(&st);
                Found::Dir(DirJob {
                    path,
                    root_dev: id.dev,
                    ancestors: Arc::new(Ancestor { id, parent: None }),
                    opts: self.opts.load_full(),
                    confined: Some(Confined { creds, fd }),
                })
            }
            Ok(Opened::File(file, st)) => Found::File(Candidate::opened(path, file, &st)),
            Ok(Opened::Special(kind)) => Found::Skipped(path, SkipReason::Special(kind)),
            Err(e) => Found::Error(path, e.into()),
        }
    }

    /// Classifies a path that the daemon saw change. Unlike `root`, the walk's
    /// rules apply to the path itself: a symlink is followed only with
    /// `follow_symlinks`. (Excludes are checked by the watcher, which knows
    /// the roots; see `is_excluded_below`.)
    pub fn changed(&self, path: PathBuf) -> Found {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() && !self.opts.load().follow_symlinks => {
                Found::Skipped(path, SkipReason::Symlink)
            }
            Ok(lmeta) => self.classify_root(path, lmeta),
            Err(e) => Found::Error(path, e.into()),
        }
    }

    /// `root`'s work once `lmeta` (the `lstat` of `path`) is known.
    fn classify_root(&self, path: PathBuf, lmeta: Metadata) -> Found {
        let via_symlink = lmeta.file_type().is_symlink();
        let meta = if via_symlink {
            match fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => return Found::Error(path, e.into()),
            }
        } else {
            lmeta
        };
        match FileKind::of(meta.file_type()) {
            FileKind::Directory => {
                let id = FileId::of(&meta);
                Found::Dir(DirJob {
                    path,
                    root_dev: id.dev,
                    ancestors: Arc::new(Ancestor { id, parent: None }),
                    opts: self.opts.load_full(),
                    confined: None,
                })
            }
            FileKind::Regular => Found::File(Candidate::new(path, &meta, via_symlink)),
            kind => Found::Skipped(path, SkipReason::Special(kind)),
        }
    }

    /// Whether the walk from `root` would pass over `path`: a folder between
    /// them (or `path` itself, if `is_dir`) matches `exclude_dir`, or `path`
    /// is not a folder and matches `exclude`. `root` itself is never excluded.
    pub fn is_excluded_below(&self, root: &Path, path: &Path, is_dir: bool) -> bool {
        let Ok(rel) = path.strip_prefix(root) else {
            return false;
        };
        let opts = self.opts.load();
        if opts.exclude.is_none() && opts.exclude_dir.is_none() {
            return false; // the common case: no path to build for every event
        }
        let mut here = root.to_path_buf();
        let mut parts = rel.components().peekable();
        while let Some(part) = parts.next() {
            here.push(part);
            let last = parts.peek().is_none();
            if last && !is_dir {
                return matches(&opts.exclude, &here);
            }
            if matches(&opts.exclude_dir, &here) {
                return true;
            }
        }
        false
    }

    /// Lists one directory, calling `found` for each entry. An error listing
    /// the directory itself is returned; errors on entries go to `found`.
    pub fn list(&self, dir: &DirJob, mut found: impl FnMut(Found)) -> io::Result<()> {
        if let Some(confined) = &dir.confined {
            return self.list_confined(dir, confined, found);
        }
        for entry in fs::read_dir(&dir.path)? {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    found(Found::Error(dir.path.clone(), e.into()));
                    continue;
                }
            };
            let path = entry.path();
            let ft = match entry.file_type() {
                Ok(ft) => ft,
                Err(e) => {
                    found(Found::Error(path, e.into()));
                    continue;
                }
            };
            found(self.entry(dir, path, ft, || entry.metadata()));
        }
        Ok(())
    }

    /// `list` for a confined walk: entries come from the held descriptor
    /// and are opened from it, decided on what was opened.
    fn list_confined(
        &self,
        dir: &DirJob,
        confined: &Confined,
        mut found: impl FnMut(Found),
    ) -> io::Result<()> {
        let opts = &dir.opts;
        for entry in rustix::fs::Dir::read_from(&confined.fd)? {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    found(Found::Error(dir.path.clone(), io::Error::from(e).into()));
                    break;
                }
            };
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            let path = dir.path.join(name);
            let listed_dir = entry.file_type() == rustix::fs::FileType::Directory;
            let excluded = if listed_dir {
                &opts.exclude_dir
            } else {
                &opts.exclude
            };
            if matches(excluded, &path) {
                found(Found::Skipped(path, SkipReason::Excluded));
                continue;
            }
            let opened = access::open_entry(
                &confined.creds,
                confined.fd.as_fd(),
                name,
                opts.follow_symlinks,
            );
            found(match opened {
                Ok(Opened::Dir(fd, st)) => {
                    // A folder reached through a symlink is excluded by name too.
                    if !listed_dir && matches(&opts.exclude_dir, &path) {
                        Found::Skipped(path, SkipReason::Excluded)
                    } else {
                        let confined = Confined {
                            creds: confined.creds.clone(),
                            fd,
                        };
                        self.subdir(dir, path, FileId::of_stat(&st), Some(confined))
                    }
                }
                Ok(Opened::File(file, st)) => Found::File(Candidate::opened(path, file, &st)),
                Ok(Opened::Special(FileKind::Symlink)) => Found::Skipped(path, SkipReason::Symlink),
                Ok(Opened::Special(kind)) => Found::Skipped(path, SkipReason::Special(kind)),
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                    Found::Error(path, WalkError::Loop)
                }
                Err(e) => Found::Error(path, e.into()),
            });
        }
        Ok(())
    }

    fn entry(
        &self,
        dir: &DirJob,
        path: PathBuf,
        ft: fs::FileType,
        lstat: impl FnOnce() -> io::Result<Metadata>,
    ) -> Found {
        let opts = &dir.opts;
        let kind = FileKind::of(ft);
        if kind == FileKind::Directory {
            if matches(&opts.exclude_dir, &path) {
                return Found::Skipped(path, SkipReason::Excluded);
            }
            return match lstat() {
                Ok(meta) => self.subdir(dir, path, FileId::of(&meta), None),
                Err(e) => Found::Error(path, e.into()),
            };
        }
        if matches(&opts.exclude, &path) {
            return Found::Skipped(path, SkipReason::Excluded);
        }
        match kind {
            FileKind::Regular => match lstat() {
                Ok(meta) => Found::File(Candidate::new(path, &meta, false)),
                Err(e) => Found::Error(path, e.into()),
            },
            FileKind::Symlink if !opts.follow_symlinks => Found::Skipped(path, SkipReason::Symlink),
            FileKind::Symlink => self.follow(dir, path),
            kind => Found::Skipped(path, SkipReason::Special(kind)),
        }
    }

    /// Follows a symlink (only with `--follow-symlinks`).
    fn follow(&self, dir: &DirJob, path: PathBuf) -> Found {
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Found::Error(path, WalkError::Loop)
            }
            Err(e) => return Found::Error(path, e.into()),
        };
        match FileKind::of(meta.file_type()) {
            FileKind::Directory => {
                if matches(&dir.opts.exclude_dir, &path) {
                    return Found::Skipped(path, SkipReason::Excluded);
                }
                self.subdir(dir, path, FileId::of(&meta), None)
            }
            FileKind::Regular => Found::File(Candidate::new(path, &meta, true)),
            kind => Found::Skipped(path, SkipReason::Special(kind)),
        }
    }

    fn subdir(
        &self,
        parent: &DirJob,
        path: PathBuf,
        id: FileId,
        confined: Option<Confined>,
    ) -> Found {
        if parent.opts.one_file_system && id.dev != parent.root_dev {
            return Found::Skipped(path, SkipReason::OtherFileSystem);
        }
        let mut up = Some(&parent.ancestors);
        while let Some(a) = up {
            if a.id == id {
                return Found::Error(path, WalkError::Loop);
            }
            up = a.parent.as_ref();
        }
        Found::Dir(DirJob {
            path,
            root_dev: parent.root_dev,
            ancestors: Arc::new(Ancestor {
                id,
                parent: Some(parent.ancestors.clone()),
            }),
            opts: parent.opts.clone(),
            confined,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use globset::{Glob, GlobSetBuilder};
    use std::os::unix::fs::symlink;

    fn collect(walker: &Walker, root: &Path) -> (Vec<PathBuf>, Vec<(PathBuf, SkipReason)>, usize) {
        let mut files = Vec::new();
        let mut skipped = Vec::new();
        let mut errors = 0;
        let mut stack = vec![walker.root(root.to_path_buf())];
        while let Some(found) = stack.pop() {
            match found {
                Found::Dir(d) => walker.list(&d, |f| stack.push(f)).unwrap(),
                Found::File(c) => files.push(c.path),
                Found::Skipped(p, r) => skipped.push((p, r)),
                Found::Error(..) => errors += 1,
            }
        }
        files.sort();
        (files, skipped, errors)
    }

    #[test]
    fn symlinks_are_skipped_unless_followed_and_loops_are_caught() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("sub")).unwrap();
        fs::write(root.join("sub/f"), b"x").unwrap();
        symlink(root, root.join("sub/loop")).unwrap();
        let plain = Walker::new(WalkOptions::default());
        let (files, skipped, errors) = collect(&plain, root);
        assert_eq!(files, vec![root.join("sub/f")]);
        assert_eq!(skipped, vec![(root.join("sub/loop"), SkipReason::Symlink)]);
        assert_eq!(errors, 0);

        let follow = Walker::new(WalkOptions {
            follow_symlinks: true,
            ..Default::default()
        });
        let (files, _, errors) = collect(&follow, root);
        assert_eq!(files, vec![root.join("sub/f")]);
        assert_eq!(errors, 1, "the loop back to the root is reported once");
    }

    /// A set of one glob.
    fn glob_set(g: &str) -> Option<GlobSet> {
        let mut b = GlobSetBuilder::new();
        b.add(Glob::new(g).unwrap());
        Some(b.build().unwrap())
    }

    #[test]
    fn excluded_below_a_root() {
        let walker = Walker::new(WalkOptions {
            exclude: glob_set("*.log"),
            exclude_dir: glob_set("cache"),
            ..Default::default()
        });
        let root = Path::new("/w/cache/root");
        let below = |p: &str, dir| walker.is_excluded_below(root, &root.join(p), dir);
        assert!(
            !below("a/b.txt", false),
            "the root's own ancestors do not count"
        );
        assert!(below("a/cache/b.txt", false));
        assert!(below("a/cache", true));
        assert!(
            !below("a/cache", false),
            "a file named cache is not a folder"
        );
        assert!(below("a/x.log", false));
        assert!(!below("a/x.log", true));
    }

    #[test]
    fn excludes_match_names_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("cache")).unwrap();
        fs::write(root.join("cache/a"), b"x").unwrap();
        fs::write(root.join("b.log"), b"x").unwrap();
        fs::write(root.join("c.txt"), b"x").unwrap();
        let walker = Walker::new(WalkOptions {
            exclude: glob_set("*.log"),
            exclude_dir: glob_set("cache"),
            ..Default::default()
        });
        let (files, skipped, _) = collect(&walker, root);
        assert_eq!(files, vec![root.join("c.txt")]);
        assert_eq!(skipped.len(), 2);
        assert!(skipped.iter().all(|(_, r)| *r == SkipReason::Excluded));
    }

    #[test]
    fn a_walk_keeps_the_rules_it_started_with() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("sub")).unwrap();
        fs::write(root.join("sub/a.log"), b"x").unwrap();
        let rules = Arc::new(ArcSwap::from_pointee(WalkOptions::default()));
        let walker = Walker::live(rules.clone());
        let Found::Dir(started) = walker.root(root.to_path_buf()) else {
            panic!("a folder");
        };
        let mut b = GlobSetBuilder::new();
        b.add(Glob::new("*.log").unwrap());
        rules.store(Arc::new(WalkOptions {
            exclude: Some(b.build().unwrap()),
            ..Default::default()
        }));
        // The walk begun before the swap finds the file; a new one does not.
        let mut subdirs = Vec::new();
        walker.list(&started, |f| subdirs.push(f)).unwrap();
        let Some(Found::Dir(sub)) = subdirs.pop() else {
            panic!("sub");
        };
        let mut found = Vec::new();
        walker.list(&sub, |f| found.push(f)).unwrap();
        assert!(matches!(&found[..], [Found::File(_)]), "{found:?}");
        assert_eq!(collect(&walker, root).0, Vec::<PathBuf>::new());
        assert!(walker.is_excluded_below(root, &root.join("sub/b.log"), false));
    }
}
