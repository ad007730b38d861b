//! A file's identity as the cache knows it: device, inode, size, and the
//! modification and change times to the nanosecond. The change time (ctime)
//! is set by the kernel on every write, truncate, rename into place or
//! `utimensat`, and no user can set it back, so a rewrite that puts the
//! mtime back (`touch -d`) still gives a new key.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

/// Bytes of an encoded key.
pub const KEY_LEN: usize = 48;

/// A time stamp as `stat` gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    pub sec: i64,
    pub nsec: u32,
}

impl Stamp {
    /// The real-time clock as the kernel stamps files with it (the coarse
    /// clock, one tick behind at most). A file changed from now on gets a
    /// ctime at least this.
    pub fn now() -> Self {
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        Stamp {
            sec: ts.tv_sec,
            nsec: u32::try_from(ts.tv_nsec).unwrap_or(0),
        }
    }
}

/// What a cache entry is looked up by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: Stamp,
    pub ctime: Stamp,
}

fn nsec(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

impl Key {
    /// The key of a file `stat` (or `fstat`) described.
    pub fn of(meta: &Metadata) -> Self {
        Key {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: Stamp {
                sec: meta.mtime(),
                nsec: nsec(meta.mtime_nsec()),
            },
            ctime: Stamp {
                sec: meta.ctime(),
                nsec: nsec(meta.ctime_nsec()),
            },
        }
    }

    /// The key of a file described by a raw `fstat`.
    pub fn of_stat(st: &rustix::fs::Stat) -> Self {
        Key {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime: Stamp {
                sec: st.st_mtime,
                nsec: nsec(st.st_mtime_nsec as i64),
            },
            ctime: Stamp {
                sec: st.st_ctime,
                nsec: nsec(st.st_ctime_nsec as i64),
            },
        }
    }

    /// Whether what is read of the file from `since` on (a time taken with
    /// `Stamp::now` before the read) is sure to be what this key names: the
    /// file's last change came before `since`, so any later change gives it
    /// a ctime of `since` or after, hence another key. A file changed within
    /// the current clock tick is not remembered.
    pub fn settled_before(&self, since: Stamp) -> bool {
        self.ctime < since
    }

    /// The stored form: fixed width, big-endian.
    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        let mut out = [0u8; KEY_LEN];
        out[0..8].copy_from_slice(&self.dev.to_be_bytes());
        out[8..16].copy_from_slice(&self.ino.to_be_bytes());
        out[16..24].copy_from_slice(&self.size.to_be_bytes());
        out[24..32].copy_from_slice(&self.mtime.sec.to_be_bytes());
        out[32..36].copy_from_slice(&self.mtime.nsec.to_be_bytes());
        out[36..44].copy_from_slice(&self.ctime.sec.to_be_bytes());
        out[44..48].copy_from_slice(&self.ctime.nsec.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_ctime_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let a = Key::of(&std::fs::metadata(&path).unwrap());
        let mut b = a;
        b.ctime.nsec = b.ctime.nsec.wrapping_add(1);
        assert_ne!(a.to_bytes(), b.to_bytes());
        assert_eq!(a.to_bytes().len(), KEY_LEN);
    }

    #[test]
    fn a_file_changed_now_is_not_settled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let before = Stamp::now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"abc").unwrap();
        let key = Key::of(&std::fs::metadata(&path).unwrap());
        assert!(!key.settled_before(before));
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(key.settled_before(Stamp::now()));
    }
}
