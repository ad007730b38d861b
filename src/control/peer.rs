//! Who is on the other end of a control connection: its uid, gid and
//! groups (`SO_PEERCRED`, and the `Groups:` line of `/proc/PID/status`).
//!
//! The daemon may run with `CAP_DAC_READ_SEARCH` (it reads every file). A
//! `SCAN` reply says whether a file exists and what it matches, so answering
//! for files the client could not read itself would let any user who may
//! connect probe other users' files. With `check_peer_access`, a path scan
//! is confined to these credentials: see `crate::access` for how a path is
//! opened so that no swap of a symlink can change what was decided on.

use std::fs;
use std::io;
use std::os::unix::net::UnixStream;

use crate::access::Credentials;

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

    /// Whose permissions a scan for this peer is confined to.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            uid: self.uid,
            gid: self.gid,
            groups: self.groups.clone(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
