//! Opening files for another user. The daemon may read every file (it runs as
//! root, or with `CAP_DAC_READ_SEARCH`), but a control-socket client must get
//! answers only for files it could read itself.
//!
//! A check on a path followed by a later use of the same path can never be
//! made safe: between the two, a client can swap a symlink (its own file at
//! the check, someone else's at the scan). So nothing here checks a path.
//! A path is resolved one component at a time on descriptors that are held
//! (`openat` with `O_PATH | O_NOFOLLOW`); each folder's search permission is
//! checked on the `fstat` of the very descriptor the next name is looked up
//! in; symlinks are read from their own descriptor and followed by hand, every
//! folder on the way checked the same; and the file or folder at the end is
//! opened from its parent's descriptor, checked on its own `fstat`, and that
//! descriptor is what the scan reads. A folder's entries are opened the same
//! way from the folder's descriptor. The decision and the use are one
//! descriptor, so a swap can only change which file is refused.
//!
//! Refusals carry the kernel's own error (`EACCES`, `ENOENT`, `ENOTDIR`,
//! `ELOOP`), decided in the order the kernel would decide it for the client:
//! a name in a folder the client may not search is refused as `EACCES`
//! whether or not it exists, so the answer says nothing `stat` would not.
//!
//! The permission bits are evaluated as the kernel does for an unprivileged
//! user (owner class, then group class with supplementary groups, then
//! others). POSIX ACLs are not read: for a file with an ACL the group bits are
//! its mask, so a user granted access only by a named ACL entry may be
//! refused, never the other way round.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use rustix::fs::{FileType, Mode, OFlags, Stat};

use crate::fileio::FileKind;

/// Read permission, in the bits of a mode class.
pub const READ: u32 = 4;
/// Search (execute) permission, in the bits of a mode class.
pub const SEARCH: u32 = 1;

/// Symlinks followed in one resolution before `ELOOP`, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// Who files are opened for: a user and the groups it is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (when they could not be learnt: empty, which can
    /// only refuse more).
    pub groups: Vec<u32>,
}

impl Credentials {
    /// Whether these are root's, for whom nothing is checked.
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// Whether `mode` (owned by `uid`:`gid`) grants this user all of `want`
    /// (a mask of `READ`, 2 = write, `SEARCH`).
    pub fn allows(&self, mode: u32, uid: u32, gid: u32, want: u32) -> bool {
        if self.is_root() {
            return true;
        }
        let bits = if uid == self.uid {
            mode >> 6
        } else if self.in_group(gid) {
            mode >> 3
        } else {
            mode
        } & 0o7;
        bits & want == want
    }

    fn allows_stat(&self, st: &Stat, want: u32) -> bool {
        self.allows(st.st_mode, st.st_uid, st.st_gid, want)
    }
}

/// What a name resolved to, opened (or, for special files, only looked at).
#[derive(Debug)]
pub enum Opened {
    /// A folder the user may list (read and search), open for listing.
    Dir(OwnedFd, Stat),
    /// A regular file the user may read, open for reading.
    File(File, Stat),
    /// Anything else (FIFO, socket, device): never opened, only its kind.
    Special(FileKind),
}

fn denied() -> io::Error {
    io::Error::from_raw_os_error(libc::EACCES)
}

fn kind_of(st: &Stat) -> FileKind {
    FileKind::of_raw(FileType::from_raw_mode(st.st_mode))
}

/// A folder held open (`O_PATH` is enough to look names up in it) with its
/// `fstat`, on which its search permission is decided.
struct Held {
    fd: OwnedFd,
    stat: Stat,
}

impl Held {
    fn open(at: BorrowedFd<'_>, name: &OsStr) -> io::Result<Held> {
        let fd = rustix::fs::openat(
            at,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let stat = rustix::fs::fstat(&fd)?;
        Ok(Held { fd, stat })
    }

    fn dup(fd: BorrowedFd<'_>) -> io::Result<Held> {
        let fd = fd.try_clone_to_owned()?;
        let stat = rustix::fs::fstat(&fd)?;
        Ok(Held { fd, stat })
    }
}

/// Opens `path` (absolute) for `creds`: symlinks anywhere in it, the last
/// component included, are followed as the kernel would follow them for that
/// user. Folders come back open for listing, regular files for reading.
pub fn open_path(creds: &Credentials, path: &Path) -> io::Result<Opened> {
    if !path.is_absolute() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let root = Held::open(rustix::fs::CWD, OsStr::new("/"))?;
    let mut names = Vec::new();
    push_components(&mut names, path);
    Resolver {
        creds,
        stack: vec![root],
        root_is_fs_root: true,
        links: 0,
    }
    .resolve(names, true)
}

/// Opens the entry `name` of the folder `dir` (which `creds` may list) for
/// `creds`. With `follow`, a symlink there is followed as `open_path` follows
/// one; without, it comes back as `Opened::Special(FileKind::Symlink)`.
pub fn open_entry(
    creds: &Credentials,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    follow: bool,
) -> io::Result<Opened> {
    Resolver {
        creds,
        stack: vec![Held::dup(dir)?],
        root_is_fs_root: false,
        links: 0,
    }
    .resolve(vec![name.to_os_string()], follow)
}

/// The names of `path`'s components, last first (so `pop` takes the next).
fn push_components(names: &mut Vec<OsString>, path: &Path) {
    let mut parts: Vec<OsString> = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => parts.push(OsString::from("..")),
            Component::Normal(n) => parts.push(n.to_os_string()),
        }
    }
    names.extend(parts.into_iter().rev());
}

/// One resolution in progress.
struct Resolver<'c> {
    creds: &'c Credentials,
    /// The folders walked through, real (symlinks already followed): `..`
    /// pops one. The bottom one is `/` or the folder the resolution began in.
    stack: Vec<Held>,
    /// Whether the bottom of `stack` is `/` (whose `..` is itself); else a
    /// `..` past the bottom opens the bottom's parent.
    root_is_fs_root: bool,
    /// Symlinks followed so far.
    links: usize,
}

impl Resolver<'_> {
    fn current(&self) -> &Held {
        self.stack
            .last()
            .expect("the resolution stack is never empty")
    }

    /// `names` is a stack: the next component is the last element.
    fn resolve(mut self, mut names: Vec<OsString>, follow_last: bool) -> io::Result<Opened> {
        let Some(mut name) = names.pop() else {
            // The path was `/` itself.
            let root = self
                .stack
                .pop()
                .expect("the resolution stack is never empty");
            return self.open_dir(&root, None);
        };
        loop {
            // Looking a name up needs search permission on the folder it is
            // looked up in, decided on the descriptor the lookup uses.
            let here = self.current();
            if !self.creds.allows_stat(&here.stat, SEARCH) {
                return Err(denied());
            }
            let last = names.is_empty();
            if name.as_bytes() == b".." {
                self.up()?;
                if last {
                    let dir = self
                        .stack
                        .pop()
                        .expect("the resolution stack is never empty");
                    return self.open_dir(&dir, None);
                }
                name = names.pop().expect("not the last component");
                continue;
            }
            let next = Held::open(here.fd.as_fd(), &name)?;
            match FileType::from_raw_mode(next.stat.st_mode) {
                FileType::Symlink if last && !follow_last => {
                    return Ok(Opened::Special(FileKind::Symlink));
                }
                FileType::Symlink => {
                    self.links += 1;
                    if self.links > MAX_LINKS {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    // Read from the link's own descriptor: the link that was
                    // looked up is the one that is followed.
                    let target = rustix::fs::readlinkat(next.fd.as_fd(), "", Vec::new())?;
                    let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                    if target.is_absolute() {
                        let root = Held::open(rustix::fs::CWD, OsStr::new("/"))?;
                        self.stack = vec![root];
                        self.root_is_fs_root = true;
                    }
                    push_components(&mut names, target);
                    match names.pop() {
                        Some(n) => name = n,
                        // A link to `/`.
                        None => {
                            let dir = self
                                .stack
                                .pop()
                                .expect("the resolution stack is never empty");
                            return self.open_dir(&dir, None);
                        }
                    }
                }
                FileType::Directory if !last => {
                    self.stack.push(next);
                    name = names.pop().expect("not the last component");
                }
                FileType::Directory => {
                    let parent = self
                        .stack
                        .pop()
                        .expect("the resolution stack is never empty");
                    return self.open_dir(&parent, Some((name.as_os_str(), &next.stat)));
                }
                _ if !last => return Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
                FileType::RegularFile => {
                    let parent = self
                        .stack
                        .pop()
                        .expect("the resolution stack is never empty");
                    return self.open_file(&parent, &name, &next.stat);
                }
                _ => return Ok(Opened::Special(kind_of(&next.stat))),
            }
        }
    }

    /// `..`: the real parent of the current folder (search on the current
    /// folder was checked by the caller).
    fn up(&mut self) -> io::Result<()> {
        if self.stack.len() > 1 {
            self.stack.pop();
        } else if !self.root_is_fs_root {
            let parent = Held::open(self.current().fd.as_fd(), OsStr::new(".."))?;
            let at_root = parent.stat.st_ino == self.current().stat.st_ino
                && parent.stat.st_dev == self.current().stat.st_dev;
            self.stack[0] = parent;
            self.root_is_fs_root = at_root;
        }
        Ok(())
    }

    /// Opens a folder for listing: `name` in `parent` (whose search
    /// permission was checked), or `parent` itself when `name` is `None`.
    /// Read and search on the opened folder are checked on its own `fstat`.
    fn open_dir(&self, parent: &Held, name: Option<(&OsStr, &Stat)>) -> io::Result<Opened> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match name {
            Some((name, _)) => rustix::fs::openat(parent.fd.as_fd(), name, flags, Mode::empty())?,
            None => rustix::fs::openat(parent.fd.as_fd(), ".", flags, Mode::empty())?,
        };
        let stat = rustix::fs::fstat(&fd)?;
        if !self.creds.allows_stat(&stat, READ | SEARCH) {
            return Err(denied());
        }
        Ok(Opened::Dir(fd, stat))
    }

    /// Opens a regular file for reading; read permission is checked on the
    /// opened descriptor's own `fstat` (if the name was swapped since it was
    /// looked at, that is the file decided on, and it must still be regular).
    fn open_file(&self, parent: &Held, name: &OsStr, seen: &Stat) -> io::Result<Opened> {
        // Refuse before opening what the user may not read, so that no file
        // is opened (and its atime touched) on a refused request.
        if !self.creds.allows_stat(seen, READ) {
            return Err(denied());
        }
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(parent.fd.as_fd(), name, flags, Mode::empty())?;
        let stat = rustix::fs::fstat(&fd)?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile if self.creds.allows_stat(&stat, READ) => {
                Ok(Opened::File(File::from(fd), stat))
            }
            FileType::RegularFile => Err(denied()),
            _ => Ok(Opened::Special(kind_of(&stat))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{chown, symlink, PermissionsExt};

    fn user(uid: u32) -> Credentials {
        Credentials {
            uid,
            gid: uid,
            groups: vec![],
        }
    }

    fn chmod(p: &Path, mode: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn errno(r: io::Result<Opened>) -> i32 {
        match r {
            Err(e) => e.raw_os_error().unwrap_or(-1),
            Ok(o) => panic!("expected a refusal, got {o:?}"),
        }
    }

    #[test]
    fn permission_bits_by_owner_group_and_others() {
        let c = Credentials {
            uid: 1000,
            gid: 100,
            groups: vec![24],
        };
        assert!(c.allows(0o400, 1000, 0, READ));
        assert!(
            !c.allows(0o044, 1000, 100, READ),
            "the owner class decides for the owner"
        );
        assert!(c.allows(0o040, 0, 24, READ), "supplementary groups count");
        assert!(!c.allows(0o040, 0, 25, READ));
        assert!(c.allows(0o004, 0, 0, READ));
        assert!(!c.allows(0o006, 0, 0, READ | SEARCH));
        assert!(user(0).allows(0, 5, 5, READ | SEARCH));
    }

    /// A tree owned by uid 4242, with an open part and a shut (0700) part.
    /// Only meaningful as root (chown); the tests skip the owner switch
    /// otherwise and use the current user as the owner.
    struct Tree {
        dir: tempfile::TempDir,
        owner: u32,
    }

    impl Tree {
        fn new() -> Tree {
            let dir = tempfile::tempdir().unwrap();
            let top = dir.path();
            chmod(top, 0o755);
            fs::create_dir_all(top.join("open/sub")).unwrap();
            fs::create_dir_all(top.join("shut/inner")).unwrap();
            fs::write(top.join("open/a"), b"a").unwrap();
            fs::write(top.join("open/private"), b"p").unwrap();
            fs::write(top.join("shut/b"), b"b").unwrap();
            let root = rustix::process::geteuid().is_root();
            let owner = if root {
                4242
            } else {
                rustix::process::geteuid().as_raw()
            };
            for p in [
                "open",
                "open/sub",
                "open/a",
                "open/private",
                "shut",
                "shut/inner",
                "shut/b",
            ] {
                if root {
                    chown(top.join(p), Some(owner), Some(owner)).unwrap();
                }
            }
            chmod(&top.join("open"), 0o755);
            chmod(&top.join("open/a"), 0o644);
            chmod(&top.join("open/private"), 0o600);
            chmod(&top.join("shut"), 0o700);
            Tree { dir, owner }
        }

        fn path(&self, rel: &str) -> std::path::PathBuf {
            self.dir.path().join(rel)
        }

        fn stranger(&self) -> Credentials {
            user(self.owner + 1)
        }
    }

    #[test]
    fn files_and_folders_the_user_may_use_are_opened() {
        let t = Tree::new();
        let who = t.stranger();
        assert!(matches!(
            open_path(&who, &t.path("open/a")),
            Ok(Opened::File(..))
        ));
        assert!(matches!(
            open_path(&who, &t.path("open")),
            Ok(Opened::Dir(..))
        ));
        assert!(matches!(
            open_path(&who, &t.path("open/sub/../a")),
            Ok(Opened::File(..))
        ));
        assert!(matches!(
            open_path(&who, Path::new("/")),
            Ok(Opened::Dir(..))
        ));
        assert_eq!(
            errno(open_path(&who, &t.path("open/private"))),
            libc::EACCES
        );
        assert_eq!(errno(open_path(&who, &t.path("open/gone"))), libc::ENOENT);
        assert_eq!(errno(open_path(&who, &t.path("open/a/x"))), libc::ENOTDIR);
    }

    #[test]
    fn a_shut_folder_hides_whether_a_name_exists() {
        let t = Tree::new();
        if !rustix::process::geteuid().is_root() {
            // The tree's owner would be us, who may search our own folder:
            // nothing to check. CI runs the tests as root, and must.
            assert!(
                std::env::var_os("CI").is_none(),
                "this test needs root under CI"
            );
            return;
        }
        let who = t.stranger();
        assert_eq!(errno(open_path(&who, &t.path("shut"))), libc::EACCES);
        assert_eq!(errno(open_path(&who, &t.path("shut/b"))), libc::EACCES);
        assert_eq!(errno(open_path(&who, &t.path("shut/gone"))), libc::EACCES);
        // Through symlinks the user owns, the same answers.
        symlink(t.path("shut/b"), t.path("open/to-b")).unwrap();
        symlink(t.path("shut/gone"), t.path("open/to-gone")).unwrap();
        symlink("../shut/inner", t.path("open/to-inner")).unwrap();
        assert_eq!(errno(open_path(&who, &t.path("open/to-b"))), libc::EACCES);
        assert_eq!(
            errno(open_path(&who, &t.path("open/to-gone"))),
            libc::EACCES
        );
        assert_eq!(
            errno(open_path(&who, &t.path("open/to-inner"))),
            libc::EACCES
        );
        // The owner gets in; root too.
        assert!(matches!(
            open_path(&user(t.owner), &t.path("open/to-b")),
            Ok(Opened::File(..))
        ));
        assert!(matches!(
            open_path(&user(0), &t.path("shut/b")),
            Ok(Opened::File(..))
        ));
    }

    #[test]
    fn symlinks_are_followed_by_hand_and_loops_end() {
        let t = Tree::new();
        let who = t.stranger();
        symlink("a", t.path("open/rel")).unwrap();
        symlink("sub/../a", t.path("open/dotted")).unwrap();
        symlink(t.path("open"), t.path("open/sub/abs")).unwrap();
        symlink("loop2", t.path("open/loop1")).unwrap();
        symlink("loop1", t.path("open/loop2")).unwrap();
        assert!(matches!(
            open_path(&who, &t.path("open/rel")),
            Ok(Opened::File(..))
        ));
        assert!(matches!(
            open_path(&who, &t.path("open/dotted")),
            Ok(Opened::File(..))
        ));
        assert!(matches!(
            open_path(&who, &t.path("open/sub/abs/a")),
            Ok(Opened::File(..))
        ));
        assert_eq!(errno(open_path(&who, &t.path("open/loop1"))), libc::ELOOP);
    }

    #[test]
    fn entries_are_opened_from_the_folder_descriptor() {
        let t = Tree::new();
        let who = t.stranger();
        let Ok(Opened::Dir(dir, _)) = open_path(&who, &t.path("open")) else {
            panic!("open is listable");
        };
        symlink("a", t.path("open/link")).unwrap();
        symlink("../shut/b", t.path("open/up")).unwrap();
        let entry = |name: &str, follow| open_entry(&who, dir.as_fd(), OsStr::new(name), follow);
        assert!(matches!(entry("a", false), Ok(Opened::File(..))));
        assert!(matches!(entry("sub", false), Ok(Opened::Dir(..))));
        assert!(matches!(
            entry("link", false),
            Ok(Opened::Special(FileKind::Symlink))
        ));
        assert!(matches!(entry("link", true), Ok(Opened::File(..))));
        assert_eq!(errno(entry("private", false)), libc::EACCES);
        if rustix::process::geteuid().is_root() {
            assert_eq!(errno(entry("up", true)), libc::EACCES);
        }
        // The folder was renamed: its descriptor still lists the same folder.
        fs::rename(t.path("open"), t.path("moved")).unwrap();
        assert!(matches!(entry("a", false), Ok(Opened::File(..))));
    }

    #[test]
    fn special_files_are_named_not_opened() {
        let t = Tree::new();
        let fifo = t.path("open/fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let r = open_path(&t.stranger(), &fifo);
        assert!(matches!(r, Ok(Opened::Special(FileKind::Fifo))), "{r:?}");
    }
}
