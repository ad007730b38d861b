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
        // (systemd's ProtectProc=invisible), the user's groups from the files.
        let groups = fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| groups_from_status(&status, uid))
            .or_else(|| {
                let passwd = fs::read_to_string("/etc/passwd").ok()?;
                let group = fs::read_to_string("/etc/group").ok()?;
                Some(groups_from_files(&passwd, &group, uid))
            })
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

/// The groups that list user `uid` as a member, in `/etc/group` form (what
/// `getgrouplist` finds in the files; other NSS sources are not asked).
fn groups_from_files(passwd: &str, group: &str, uid: u32) -> Vec<u32> {
    let name = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0])
    });
    let Some(name) = name else {
        return Vec::new();
    };
    group
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let member = f.get(3)?.split(',').any(|m| m.trim() == name);
            member.then(|| f[2].parse().ok()).flatten()
        })
        .collect()
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
    fn groups_from_the_files_when_proc_is_hidden() {
        let passwd = "root:x:0:0::/root:/bin/sh\nann:x:1000:1000::/home/ann:/bin/sh\n";
        let group = "root:x:0:\nann:x:1000:\nadm:x:4:ann,bob\nvideo:x:44:bob\nx:x:9:ann\n";
        assert_eq!(groups_from_files(passwd, group, 1000), vec![4, 9]);
        assert_eq!(groups_from_files(passwd, group, 77), Vec::<u32>::new());
    }

    #[test]
    fn our_own_peer_credentials() {
        let (a, _b) = UnixStream::pair().unwrap();
        let p = Peer::of(&a).unwrap();
        assert_eq!(p.uid, rustix::process::geteuid().as_raw());
        assert_eq!(p.pid, std::process::id() as i32);
    }
}
