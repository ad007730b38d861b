//! Who is on the other end of a control connection, and which paths that
//! user could read without the daemon's help.
//!
//! The daemon may run with `CAP_DAC_READ_SEARCH` (it reads every file). A
//! `SCAN` reply says whether a file exists and what it matches, so answering
//! for files the client could not read itself would let any user who may
//! connect probe other users' files. With `check_peer_access`, a path is
//! answered for only if the peer's uid and groups (`SO_PEERCRED`, and the
//! `Groups:` line of `/proc/PID/status`) pass the permission bits: search on
//! every folder above it, read and search on every folder the scan lists,
//! read on every file. POSIX ACLs are not evaluated: for a file with an ACL
//! the group bits are its mask, so a user granted access only by a named ACL
//! entry may be refused, never the other way round for the owner and others.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Component, Path, PathBuf};

/// The credentials of a connected client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, when they could be read; else empty (only the
    /// primary group counts, which can only refuse more).
    pub groups: Vec<u32>,
}

impl Peer {
    /// The peer of a connected Unix socket.
    pub fn of(stream: &UnixStream) -> io::Result<Peer> {
        let cred = rustix::net::sockopt::socket_peercred(stream)?;
        let pid = cred.pid.as_raw_nonzero().get();
        let uid = cred.uid.as_raw();
        let gid = cred.gid.as_raw();
        // The process's own groups; where /proc hides other users' processes
        // (systemd's ProtectProc=invisible), the user's groups from the
        // system's name service.
        let groups = fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| groups_from_status(&status, uid))
            .or_else(|| groups_of_user(uid))
            .unwrap_or_default();
        Ok(Peer {
            pid,
            uid,
            gid,
            groups,
        })
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// Whether the permission bits of `meta` grant this user all of `want`
    /// (a mask of 4 = read, 2 = write, 1 = search/execute).
    pub fn allows(&self, meta: &Metadata, want: u32) -> bool {
        if self.is_root() {
            return true;
        }
        let mode = meta.mode();
        let bits = if meta.uid() == self.uid {
            mode >> 6
        } else if self.in_group(meta.gid()) {
            mode >> 3
        } else {
            mode
        } & 0o7;
        bits & want == want
    }
}

/// The supplementary groups of `/proc/PID/status`, if the process there
/// still has effective uid `uid` (a pid can be reused once the client exits).
fn groups_from_status(status: &str, uid: u32) -> Option<Vec<u32>> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::split_whitespace)
    };
    let effective: u32 = field("Uid:")?.nth(1)?.parse().ok()?;
    if effective != uid {
        return None;
    }
    field("Groups:")?.map(|g| g.parse().ok()).collect()
}

/// The groups of user `uid` as `getgrouplist` finds them through the name
/// service (its primary group included).
fn groups_of_user(uid: u32) -> Option<Vec<u32>> {
    use nix::unistd::{getgrouplist, Uid, User};
    let user = User::from_uid(Uid::from_raw(uid)).ok()??;
    let name = std::ffi::CString::new(user.name).ok()?;
    let groups = getgrouplist(&name, user.gid).ok()?;
    Some(groups.into_iter().map(|g| g.as_raw()).collect())
}

const READ: u32 = 4;
const SEARCH: u32 = 1;

/// Why a path was refused: the path to name in the reply (the first one on
/// the way down that the peer may not use; the peer can see its name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied(pub PathBuf);

/// A peer's access checks for one request, with what was learnt cached.
#[derive(Debug)]
pub struct Access {
    peer: Peer,
    /// Real (canonical) folders: may the peer search it and all above it?
    searchable: HashMap<PathBuf, bool>,
    /// Folders as the walk named them: may the peer list and search it?
    listable: HashMap<PathBuf, bool>,
}

impl Access {
    pub fn new(peer: Peer) -> Self {
        Access {
            peer,
            searchable: HashMap::new(),
            listable: HashMap::new(),
        }
    }

    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// Search permission on a real folder and every folder above it.
    fn is_searchable(&mut self, real: &Path) -> bool {
        if let Some(&ok) = self.searchable.get(real) {
            return ok;
        }
        let here = fs::metadata(real).is_ok_and(|m| m.is_dir() && self.peer.allows(&m, SEARCH));
        let ok = here && real.parent().map_or(true, |p| self.is_searchable(p));
        self.searchable.insert(real.to_path_buf(), ok);
        ok
    }

    /// Whether the peer could reach `path` through its real folders: search
    /// on the real parent and above. A path that does not exist is reachable
    /// if its nearest existing ancestor is (the peer would learn as much).
    fn reaches(&mut self, path: &Path) -> bool {
        let mut p = path;
        loop {
            match fs::canonicalize(p) {
                Ok(real) => {
                    let parent = if p == path {
                        real.parent().map(Path::to_path_buf)
                    } else {
                        Some(real)
                    };
                    return parent.map_or(true, |d| self.is_searchable(&d));
                }
                Err(_) => match p.parent() {
                    Some(up) => p = up,
                    None => return true,
                },
            }
        }
    }

    /// May the peer list (read and search) the folder `dir`, and reach it?
    fn may_list(&mut self, dir: &Path) -> bool {
        if let Some(&ok) = self.listable.get(dir) {
            return ok;
        }
        let ok = self.reaches(dir)
            && fs::metadata(dir).is_ok_and(|m| self.peer.allows(&m, READ | SEARCH));
        self.listable.insert(dir.to_path_buf(), ok);
        ok
    }

    /// What the peer could do with `path` itself: read a file, list a
    /// folder. Anything else (gone, special) is let through: the engine
    /// reports it as it is, which tells the peer no more than `stat` would.
    fn may_use(&mut self, path: &Path) -> bool {
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => self.may_list(path),
            Ok(m) if m.is_file() => self.reaches(path) && self.peer.allows(&m, READ),
            _ => self.reaches(path),
        }
    }

    /// The check for a path a client named: every folder above it (as named,
    /// and as resolved) searchable, and the path itself usable.
    pub fn check_root(&mut self, root: &Path) -> Result<(), Denied> {
        if self.peer.is_root() {
            return Ok(());
        }
        let mut above = PathBuf::new();
        let mut parts = root.components().peekable();
        while let Some(part) = parts.next() {
            above.push(part);
            if parts.peek().is_none() || matches!(part, Component::RootDir) {
                continue;
            }
            // A named folder (or link to one) on the way down.
            if let Ok(real) = fs::canonicalize(&above) {
                if real.is_dir() && !self.is_searchable(&real) {
                    return Err(Denied(root.to_path_buf()));
                }
            }
        }
        if self.may_use(root) {
            Ok(())
        } else {
            Err(Denied(root.to_path_buf()))
        }
    }

    /// The check for a path the scan of `root` reported: every folder the
    /// walk listed on the way from `root` down to it must be listable by the
    /// peer, and the path itself usable. `root` passed `check_root`.
    pub fn check_found(&mut self, root: &Path, path: &Path) -> Result<(), Denied> {
        if self.peer.is_root() || path == root {
            return Ok(());
        }
        let Ok(rel) = path.strip_prefix(root) else {
            return Ok(());
        };
        let mut dir = root.to_path_buf();
        let mut parts = rel.components().peekable();
        while let Some(part) = parts.next() {
            if !self.may_list(&dir) {
                return Err(Denied(dir));
            }
            dir.push(part);
            if parts.peek().is_none() && !self.may_use(&dir) {
                return Err(Denied(dir));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> Peer {
        Peer {
            pid: 1,
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    #[test]
    fn groups_come_from_proc_status_of_the_same_user() {
        let status = "Name:\tx\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\nGroups:\t4 24 100 \n";
        assert_eq!(groups_from_status(status, 1000), Some(vec![4, 24, 100]));
        assert_eq!(groups_from_status(status, 1001), None);
        let none = "Uid:\t5\t5\t5\t5\nGroups:\t\n";
        assert_eq!(groups_from_status(none, 5), Some(vec![]));
    }

    #[test]
    fn groups_from_the_name_service_when_proc_is_hidden() {
        // root exists on every system, and its primary group is 0.
        assert!(groups_of_user(0).unwrap().contains(&0));
        // No user: no groups, rather than someone else's.
        assert_eq!(groups_of_user(4_000_000_000), None);
    }

    #[test]
    fn our_own_peer_credentials() {
        let (a, _b) = UnixStream::pair().unwrap();
        let p = Peer::of(&a).unwrap();
        assert_eq!(p.uid, rustix::process::geteuid().as_raw());
        assert_eq!(p.pid, std::process::id() as i32);
    }

    #[test]
    fn permission_bits_by_owner_group_and_others() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"x").unwrap();
        let meta = |mode| {
            fs::set_permissions(&f, fs::Permissions::from_mode(mode)).unwrap();
            fs::metadata(&f).unwrap()
        };
        if rustix::process::geteuid().is_root() {
            // An owner who is not root, whose bits are not bypassed.
            std::os::unix::fs::chown(&f, Some(4242), Some(4343)).unwrap();
        }
        let owner = fs::metadata(&f).unwrap().uid();
        let group = fs::metadata(&f).unwrap().gid();
        let m = meta(0o640);
        let stranger = peer(owner + 4242, group + 4242, &[]);
        assert!(!stranger.allows(&m, READ));
        assert!(peer(owner + 4242, 7, &[group]).allows(&m, READ));
        assert!(!peer(owner + 4242, 7, &[group]).allows(&m, 2));
        assert!(stranger.allows(&meta(0o604), READ));
        // The owner class decides for the owner, even when others may read.
        assert!(!peer(owner, group, &[]).allows(&meta(0o044), READ));
        assert!(peer(0, 0, &[]).allows(&meta(0o000), READ));
    }

    #[test]
    fn folders_above_and_below_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path();
        fs::set_permissions(top, fs::Permissions::from_mode(0o755)).unwrap();
        let open = top.join("open");
        let shut = top.join("open/shut");
        fs::create_dir_all(&shut).unwrap();
        fs::write(open.join("a"), b"a").unwrap();
        fs::write(shut.join("b"), b"b").unwrap();
        fs::write(open.join("private"), b"p").unwrap();
        for (p, mode) in [(&open, 0o755), (&shut, 0o700)] {
            fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
        }
        fs::set_permissions(open.join("a"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(open.join("private"), fs::Permissions::from_mode(0o600)).unwrap();
        let owner = fs::metadata(&open).unwrap().uid();
        let mut access = Access::new(peer(owner + 4242, 4242, &[]));
        assert_eq!(access.check_root(&open), Ok(()));
        assert_eq!(access.check_found(&open, &open.join("a")), Ok(()));
        assert_eq!(
            access.check_found(&open, &open.join("private")),
            Err(Denied(open.join("private")))
        );
        // The shut folder is named, not what is in it.
        assert_eq!(
            access.check_found(&open, &shut.join("b")),
            Err(Denied(shut.clone()))
        );
        assert_eq!(
            access.check_root(&shut.join("b")),
            Err(Denied(shut.join("b")))
        );
        assert_eq!(access.check_root(&shut), Err(Denied(shut.clone())));
        // A missing file under a searchable folder is for the engine to report.
        assert_eq!(access.check_root(&open.join("gone")), Ok(()));
        assert_eq!(
            access.check_root(&shut.join("gone")),
            Err(Denied(shut.join("gone")))
        );
        // Root may do anything.
        let mut root = Access::new(peer(0, 0, &[]));
        assert_eq!(root.check_found(&open, &shut.join("b")), Ok(()));
    }
}
