//! Scanning one file: skip it by size when no signature could match, else
//! open it safely, hash it once with every algorithm its size calls for, and
//! match the digests. Each worker thread reuses one read buffer and one set of
//! hasher states, so nothing is allocated per file. Hard links to one inode are
//! hashed once; the other names reuse the result.
//!
//! The signature set sits behind an `ArcSwap`, so a daemon can swap in a
//! reloaded set while scans go on: each file is scanned against the set that
//! was current when its scan began (one lock-free load per file). The size
//! limit (`SizeLimit`) can be changed the same way, with one atomic load.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;

use crate::engine::walk::{Candidate, FileId};
use crate::fileio::{self, FileKind, Identity, OpenError, ReadError, READ_BUF_SIZE};
use crate::hash::{AlgoSet, Digest, MultiHasher};
use crate::report::ErrorKind;
use crate::signature::{Lookup, SignatureSet};

/// What scanning one file came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileResult {
    /// No signature could match a file of this size: it was never opened.
    Cleared,
    /// Hashed, and matched nothing (or matched the allow-list).
    Clean { size: u64 },
    /// Hashed, and matched a detection.
    Detected {
        size: u64,
        signature: Box<str>,
        digest: Digest,
        /// The hashed handle's `fstat` (taken before reading), so that a later
        /// step can check the path still names this very file; `None` for a
        /// stream.
        identity: Option<Identity>,
    },
    /// Larger than `--max-filesize`: not opened.
    TooLarge,
    /// The path no longer names a regular file (it was swapped after the walk).
    NotRegular(FileKind),
    /// Could not be opened or read.
    Failed(FileError),
}

/// Why a file could not be scanned: its kind, for programs, and a reason,
/// for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct FileError {
    pub kind: ErrorKind,
    pub reason: String,
}

impl From<std::io::Error> for FileError {
    fn from(e: std::io::Error) -> Self {
        FileError {
            kind: ErrorKind::of_io(&e),
            reason: crate::error::io_reason(&e),
        }
    }
}

impl From<OpenError> for FileError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Io(e) => e.into(),
            other => FileError {
                kind: ErrorKind::Changed,
                reason: other.to_string(),
            },
        }
    }
}

impl From<ReadError> for FileError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => e.into(),
            other => FileError {
                kind: ErrorKind::Changed,
                reason: other.to_string(),
            },
        }
    }
}

/// A result and what it cost.
#[derive(Clone, Debug)]
pub struct Inspected {
    pub result: FileResult,
    /// Bytes read and hashed for this result (0 if reused or never opened).
    pub bytes: u64,
    /// The result was taken from another name of the same inode.
    pub reused: bool,
}

/// A worker's reusable scratch space.
struct Scratch {
    buf: Vec<u8>,
    hasher: MultiHasher,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        buf: vec![0; READ_BUF_SIZE],
        hasher: MultiHasher::new(AlgoSet::EMPTY),
    });
}

/// The shared result for one inode with several links: filled by whichever
/// name is scanned first, waited on by the others.
type LinkResult = Arc<OnceLock<(FileResult, u64)>>;

/// `max_filesize`, shared by whoever scans and changeable while they do (the
/// daemon's reload). Clones share one value.
#[derive(Clone, Debug)]
pub struct SizeLimit(Arc<AtomicU64>);

impl SizeLimit {
    /// `u64::MAX` stands for no limit: no file is larger.
    pub fn new(max: Option<u64>) -> Self {
        SizeLimit(Arc::new(AtomicU64::new(max.unwrap_or(u64::MAX))))
    }

    pub fn set(&self, max: Option<u64>) {
        self.0.store(max.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The limit now, in bytes (`u64::MAX` if none).
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Scans files against one signature set. Shared by every worker.
pub struct Inspector {
    /// The current set; replaced whole on reload, never changed in place.
    sigs: Arc<ArcSwap<SignatureSet>>,
    /// Files larger than this are not opened; read once per file.
    max_filesize: SizeLimit,
    /// Results per inode for files with more than one link, so each is hashed
    /// once. `None` in a long-running process, where a file may change between
    /// two scans and the map would only grow.
    hardlinks: Option<Mutex<HashMap<FileId, LinkResult>>>,
    /// Read every byte that would be hashed but feed no hasher (see `read_only`).
    read_only: bool,
}

impl Inspector {
    /// An inspector for one scan, with one fixed set.
    pub fn new(sigs: Arc<SignatureSet>, max_filesize: Option<u64>) -> Self {
        Inspector {
            sigs: Arc::new(ArcSwap::new(sigs)),
            max_filesize: SizeLimit::new(max_filesize),
            hardlinks: Some(Mutex::new(HashMap::new())),
            read_only: false,
        }
    }

    /// An inspector for a long-running process: it scans with whatever set
    /// `sigs` and limit `max_filesize` hold when a file's scan begins, and
    /// keeps no per-inode results.
    pub fn live(sigs: Arc<ArcSwap<SignatureSet>>, max_filesize: SizeLimit) -> Self {
        Inspector {
            sigs,
            max_filesize,
            hardlinks: None,
            read_only: false,
        }
    }

    /// With `yes`, files are chosen, opened and read exactly as in a scan, but
    /// no algorithm is fed (the hasher is reset to the empty set) and every
    /// file comes out `Clean`. `vigil bench` uses it to measure the read-only
    /// limit: the same walk, workers and reads as a real scan, minus hashing.
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// The current set.
    pub fn signatures(&self) -> Arc<SignatureSet> {
        self.sigs.load_full()
    }

    /// Scans one file found by the walk.
    pub fn inspect(&self, cand: &Candidate) -> Inspected {
        let fresh = |(result, bytes)| Inspected {
            result,
            bytes,
            reused: false,
        };
        let max = self.max_filesize.get();
        if cand.size > max {
            return fresh((FileResult::TooLarge, 0));
        }
        let sigs = self.sigs.load();
        let algos = sigs.algorithms_for_size(cand.size);
        if algos.is_empty() {
            return fresh((FileResult::Cleared, 0));
        }
        let known = Some((cand.size, algos));
        let hardlinks = match &self.hardlinks {
            Some(map) if cand.nlink > 1 => map,
            _ => return fresh(self.hash_and_match(&sigs, max, cand, known)),
        };
        let cell = {
            let mut map = hardlinks.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(cand.id).or_default().clone()
        };
        let mut computed = false;
        let (result, bytes) = cell.get_or_init(|| {
            computed = true;
            self.hash_and_match(&sigs, max, cand, known)
        });
        Inspected {
            result: result.clone(),
            bytes: if computed { *bytes } else { 0 },
            reused: !computed,
        }
    }

    /// `known`: the size the walk saw and the algorithms chosen for it, so
    /// that they are not chosen again when the open file has that size.
    fn hash_and_match(
        &self,
        sigs: &SignatureSet,
        max: u64,
        cand: &Candidate,
        known: Option<(u64, AlgoSet)>,
    ) -> (FileResult, u64) {
        if let Some(file) = &cand.opened {
            // Opened by a confined walk, its permission decided on this
            // very descriptor: read it, never the path again.
            return match file.metadata() {
                Ok(meta) => self.hash_open(sigs, max, &mut &**file, &meta, known),
                Err(e) => (FileResult::Failed(e.into()), 0),
            };
        }
        let (mut file, meta) = match fileio::open_regular(&cand.path, cand.via_symlink) {
            Ok(opened) => opened,
            Err(OpenError::NotRegular(kind)) => return (FileResult::NotRegular(kind), 0),
            Err(e) => return (FileResult::Failed(e.into()), 0),
        };
        self.hash_open(sigs, max, &mut file, &meta, known)
    }

    /// Scans a file that is already open (a descriptor a client passed):
    /// only a regular file is read, sized by its `fstat`, as for a path.
    pub fn inspect_open(&self, file: &mut std::fs::File) -> Inspected {
        let max = self.max_filesize.get();
        let (result, bytes) = match file.metadata() {
            Err(e) => (FileResult::Failed(e.into()), 0),
            Ok(meta) if !meta.file_type().is_file() => {
                (FileResult::NotRegular(FileKind::of(meta.file_type())), 0)
            }
            Ok(meta) if meta.len() > max => (FileResult::TooLarge, 0),
            Ok(meta) => {
                // From the start, wherever the client left the offset.
                match std::io::Seek::seek(file, std::io::SeekFrom::Start(0)) {
                    Ok(_) => self.hash_open(&self.sigs.load(), max, file, &meta, None),
                    Err(e) => (FileResult::Failed(e.into()), 0),
                }
            }
        };
        Inspected {
            result,
            bytes,
            reused: false,
        }
    }

    fn hash_open(
        &self,
        sigs: &SignatureSet,
        max: u64,
        file: &mut impl Read,
        meta: &std::fs::Metadata,
        known: Option<(u64, AlgoSet)>,
    ) -> (FileResult, u64) {
        // The size may have changed since the walk: decide again on what is
        // open, unless it is the size already decided on.
        let size = meta.len();
        let algos = match known {
            Some((walked, algos)) if walked == size => algos,
            _ => sigs.algorithms_for_size(size),
        };
        if algos.is_empty() {
            return (FileResult::Cleared, 0);
        }
        if size > max {
            return (FileResult::TooLarge, 0);
        }
        // Read-only: the same reads, but no algorithm is fed.
        let fed = if self.read_only {
            AlgoSet::EMPTY
        } else {
            algos
        };
        SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            scratch.hasher.reset(fed);
            match fileio::hash_file(file, size, &mut scratch.buf, &mut scratch.hasher) {
                Ok(bytes) => {
                    let digests = scratch.hasher.finish();
                    let mut result = verdict(sigs, &digests, size);
                    if let FileResult::Detected { identity, .. } = &mut result {
                        *identity = Some(Identity::of(meta));
                    }
                    (result, bytes)
                }
                Err(e) => (FileResult::Failed(e.into()), 0),
            }
        })
    }

    /// Scans a stream whose size is not known in advance (standard input).
    pub fn inspect_stream(&self, reader: &mut impl Read) -> Inspected {
        let sigs = self.sigs.load();
        let algos = sigs.algorithms_for_unknown_size();
        let (result, bytes) = SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            scratch.hasher.reset(algos);
            match fileio::hash_stream(reader, &mut scratch.buf, &mut scratch.hasher, None) {
                Ok(size) => {
                    let digests = scratch.hasher.finish();
                    (verdict(&sigs, &digests, size), size)
                }
                Err(e) => (FileResult::Failed(e.into()), 0),
            }
        });
        Inspected {
            result,
            bytes,
            reused: false,
        }
    }
}

fn verdict(sigs: &SignatureSet, digests: &crate::hash::Digests, size: u64) -> FileResult {
    match sigs.lookup(digests, size) {
        Lookup::Clean | Lookup::Allowed => FileResult::Clean { size },
        Lookup::Detected(m) => FileResult::Detected {
            size,
            signature: m.name.into(),
            digest: m.digest,
            identity: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::walk::Walker;
    use crate::hash::{hash_bytes, Algorithm};
    use crate::signature::{SigLine, SignatureSetBuilder};

    #[test]
    fn read_only_reads_every_byte_but_matches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data = vec![3u8; 1000];
        std::fs::write(&path, &data).unwrap();
        let mut b = SignatureSetBuilder::new();
        b.add(
            &SigLine {
                digest: hash_bytes(Algorithm::Sha256, &data),
                size: None,
                name: "Hit",
            },
            false,
        )
        .unwrap();
        let sigs = Arc::new(b.build());
        let crate::engine::walk::Found::File(cand) = Walker::new(Default::default()).root(path)
        else {
            panic!("a regular file");
        };
        let hashed = Inspector::new(sigs.clone(), None).inspect(&cand);
        assert!(matches!(hashed.result, FileResult::Detected { .. }));
        let read = Inspector::new(sigs, None).read_only(true).inspect(&cand);
        assert_eq!(read.result, FileResult::Clean { size: 1000 });
        assert_eq!(read.bytes, 1000);
    }
}
