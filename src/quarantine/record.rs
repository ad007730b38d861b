//! An entry's record (`meta.json`): where the file came from and what it was
//! — the original path with its exact bytes, size, mode, owner, times, device
//! and inode, the signature and digest it matched, when and on which host it
//! was quarantined — and the names of the files in an entry folder.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::fsops::FileStat;
use super::{Detected, EntryId};
use crate::fileio::{self, Identity, READ_BUF_SIZE};
use crate::hash::{AlgoSet, Algorithm, MultiHasher};
use crate::report::json::JsonPath;

/// The file's content.
pub(crate) const DATA: &str = "data";
/// The content while a cross-file-system copy is being written.
pub(crate) const PART: &str = "data.part";
/// The record.
pub(crate) const RECORD: &str = "meta.json";
/// Present while a cross-file-system move has yet to remove the original.
pub(crate) const PENDING: &str = "unlink-pending";
/// In a `.restore-ID` folder: the path the entry is being restored to.
pub(crate) const TARGET: &str = "target";
/// Every name vigil puts in an entry folder (and so may remove from it).
pub(crate) const ENTRY_FILES: [&str; 5] = [DATA, PART, RECORD, PENDING, TARGET];

/// The record format's version.
const VERSION: u32 = 1;
/// A record is small; anything bigger is not one.
pub(crate) const RECORD_LIMIT: u64 = 1 << 20;

/// A time with nanoseconds, as `stat` gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Time {
    pub sec: i64,
    pub nsec: u32,
}

impl Time {
    /// RFC 3339 in UTC, with nanoseconds: `2025-01-31T23:59:59.123456789Z`.
    pub fn to_rfc3339(self) -> String {
        crate::timefmt::rfc3339_nanos(self.sec, self.nsec)
    }
}

/// What an entry records about the file in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    pub id: String,
    /// The original absolute path as text (escaped if not UTF-8)...
    pub path: String,
    /// ...and its exact bytes, base64, when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
    pub size: u64,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Time,
    pub atime: Time,
    /// Device and inode of the original, to recognise it after a crash.
    pub dev: u64,
    pub ino: u64,
    /// The signature the file matched.
    pub signature: String,
    /// Digests of the content, lower-case hex, by algorithm.
    pub digests: BTreeMap<String, String>,
    /// When it was quarantined, RFC 3339 UTC.
    pub quarantined_at: String,
    pub host: String,
    pub vigil_version: String,
}

impl Record {
    /// The record for `detected`, found at the absolute `path` as `st`.
    pub(crate) fn new(
        id: &EntryId,
        path: &Path,
        st: &FileStat,
        detected: &Detected<'_>,
        host: &str,
    ) -> Self {
        let json_path = JsonPath::new(path);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let now = Time {
            sec: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
            nsec: now.subsec_nanos(),
        };
        let mut digests = BTreeMap::new();
        digests.insert(
            detected.digest.algorithm().name().to_string(),
            detected.digest.to_hex(),
        );
        Record {
            version: VERSION,
            id: id.to_string(),
            path: json_path.path,
            path_bytes: json_path.path_bytes,
            size: st.size,
            mode: st.perm,
            uid: st.uid,
            gid: st.gid,
            mtime: Time {
                sec: st.mtime.0,
                nsec: st.mtime.1,
            },
            atime: Time {
                sec: st.atime.0,
                nsec: st.atime.1,
            },
            dev: st.dev,
            ino: st.ino,
            signature: detected.signature.to_string(),
            digests,
            quarantined_at: now.to_rfc3339(),
            host: host.to_string(),
            vigil_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// The original path, with its exact bytes.
    pub fn original_path(&self) -> PathBuf {
        if let Some(b64) = &self.path_bytes {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) {
                return PathBuf::from(OsStr::from_bytes(&bytes));
            }
        }
        PathBuf::from(&self.path)
    }

    /// The original's identity when it was quarantined.
    pub fn identity(&self) -> Identity {
        Identity {
            dev: self.dev,
            ino: self.ino,
            size: self.size,
            mtime_sec: self.mtime.sec,
            mtime_nsec: self.mtime.nsec,
        }
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("records serialize");
        bytes.push(b'\n');
        bytes
    }

    pub(crate) fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let record: Record = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if record.version != VERSION {
            return Err(format!(
                "record version {} is not {VERSION}",
                record.version
            ));
        }
        Ok(record)
    }

    /// Whether `file` holds exactly the content recorded: its size, and every
    /// recorded digest. Used before an entry is finished from a leftover copy
    /// or the original is removed after one.
    pub(crate) fn content_matches(&self, file: &mut File) -> io::Result<bool> {
        let size = file.metadata()?.len();
        if size != self.size {
            return Ok(false);
        }
        let mut algos = AlgoSet::EMPTY;
        for name in self.digests.keys() {
            match Algorithm::from_name(name) {
                Some(a) => algos.insert(a),
                None => return Ok(false),
            }
        }
        if algos.is_empty() {
            return Ok(false);
        }
        let mut hasher = MultiHasher::new(algos);
        let mut buf = vec![0u8; READ_BUF_SIZE];
        if fileio::hash_file(file, size, &mut buf, &mut hasher).is_err() {
            return Ok(false);
        }
        let got = hasher.finish();
        Ok(self.digests.iter().all(|(name, hex)| {
            Algorithm::from_name(name)
                .and_then(|a| got.get(a))
                .is_some_and(|d| d.to_hex() == *hex)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash_bytes;

    fn sample(path: &Path) -> Record {
        let digest = hash_bytes(Algorithm::Sha256, b"abc");
        let st = FileStat {
            dev: 1,
            ino: 2,
            file_type: rustix::fs::FileType::RegularFile,
            perm: 0o640,
            uid: 3,
            gid: 4,
            size: 3,
            atime: (10, 11),
            mtime: (12, 13),
        };
        let identity = st.identity();
        let detected = Detected {
            path,
            signature: "Sig",
            digest: &digest,
            identity: &identity,
        };
        let id = EntryId::parse("20250131-235959-0123abcd").unwrap();
        Record::new(&id, path, &st, &detected, "host")
    }

    #[test]
    fn records_round_trip_with_exact_path_bytes() {
        let path = PathBuf::from(OsStr::from_bytes(b"/tmp/a\xffb\nc"));
        let record = sample(&path);
        assert_eq!(record.path, "/tmp/a\\xffb\\nc");
        assert!(record.path_bytes.is_some());
        let back = Record::from_json(&record.to_json()).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.original_path(), path);
        assert_eq!(back.mtime, Time { sec: 12, nsec: 13 });
        assert_eq!(
            back.digests["sha256"],
            hash_bytes(Algorithm::Sha256, b"abc").to_hex()
        );
        assert!(Record::from_json(b"{\"version\": 1}").is_err());
    }

    #[test]
    fn content_matches_checks_size_and_digest() {
        let record = sample(Path::new("/x"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert!(record
            .content_matches(&mut File::open(&p).unwrap())
            .unwrap());
        std::fs::write(&p, b"abd").unwrap();
        assert!(!record
            .content_matches(&mut File::open(&p).unwrap())
            .unwrap());
        std::fs::write(&p, b"abcd").unwrap();
        assert!(!record
            .content_matches(&mut File::open(&p).unwrap())
            .unwrap());
    }
}
