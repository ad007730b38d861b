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
//!
//! With a verdict cache, a file is looked up by its identity before it is
//! opened: if the cache holds every digest the current set needs for its
//! size (and, when that matters, knows it is not a container), it is matched
//! from those and never opened. Otherwise it is read, and what was computed
//! is remembered for next time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;

use crate::cache::{self, Cache, Entry, Key, Stamp};
use crate::container::members::{self, Members};
use crate::container::{self, Budget, Exceeded, Limits, Recorded, Unpacked, SNIFF_LEN};
use crate::engine::walk::{Candidate, FileId};
use crate::fileio::{self, FileKind, Identity, OpenError, ReadError, READ_BUF_SIZE};
use crate::hash::{AlgoSet, Algorithm, Digest, Digests, MultiHasher};
use crate::report::ErrorKind;
use crate::signature::{Lookup, SignatureSet};

/// Which signatures a detection reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matches {
    /// The first that matches (every scan but `ALLMATCHSCAN`).
    First,
    /// Every one that matches (`ALLMATCHSCAN`): a second lookup per
    /// detection, which no other request pays for.
    All,
}

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
        /// The name as printed (with `.UNOFFICIAL` where ClamAV adds it).
        signature: Box<str>,
        /// From a database ClamAV signed.
        official: bool,
        /// The other signatures the file matches, as printed, when every
        /// match was asked for (`Matches::All`); else empty.
        also: Vec<Box<str>>,
        digest: Digest,
        /// The hashed handle's `fstat` (taken before reading), so that a later
        /// step can check the path still names this very file; `None` for a
        /// stream.
        identity: Option<Identity>,
        /// Inside a container: the member names from the top-level file down
        /// to the one that matched (`size` and `digest` are that member's).
        /// Empty for the file itself.
        member: Vec<Box<[u8]>>,
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

/// How much of a file a scan would read (`Inspector::read_need`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadNeed {
    /// It is not opened at all.
    Nothing,
    /// Its first bytes, to tell whether it is a container.
    Head(u64),
    /// All of it.
    Whole,
}

/// A result and what it cost.
#[derive(Clone, Debug)]
pub struct Inspected {
    pub result: FileResult,
    /// Bytes read and hashed for this result (0 if reused or never opened).
    pub bytes: u64,
    /// The result was taken from another name of the same inode.
    pub reused: bool,
    /// What was looked at inside, if the file is a container.
    pub inside: Inside,
    /// Answered from the verdict cache, without opening the file.
    pub cached: bool,
}

/// What unpacking a file came to, for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inside {
    /// Containers opened (the file itself and those nested in it).
    pub containers: u64,
    /// Members examined.
    pub members: u64,
    /// The first limit that cut the unpacking short.
    pub exceeded: Option<Exceeded>,
}

impl Inside {
    fn of(u: &Unpacked) -> Self {
        Inside {
            containers: u.containers,
            members: u.members,
            exceeded: u.exceeded,
        }
    }
}

/// The identity a detection answered from the cache carries: the file as
/// the walk saw it.
fn identity_of(key: &Key) -> Identity {
    Identity {
        dev: key.dev,
        ino: key.ino,
        size: key.size,
        mtime_sec: key.mtime.sec,
        mtime_nsec: key.mtime.nsec,
    }
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
type LinkResult = Arc<OnceLock<(FileResult, u64, Inside)>>;

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
    /// How far containers are unpacked (`enabled: false`: not at all).
    limits: Limits,
    /// Memory for members held whole, shared with every other inspector
    /// given the same budget.
    budget: Budget,
    /// Digests remembered across scans; `None`: every file is read.
    cache: Option<Arc<Cache>>,
}

/// What the cache said of a file before it was opened.
enum Recall<'a> {
    /// The stored digests settle it: never opened.
    Answered(Inspected),
    /// It must be read; what to remember then (`None`: no usable cache).
    Read(Option<Remember<'a>>),
}

/// What to remember of a file about to be read, and where.
struct Remember<'a> {
    cache: &'a Cache,
    /// The key the file was looked up by.
    key: Key,
    /// What the cache held for that key (digests of other algorithms), to
    /// be kept beside what is computed now.
    prior: Option<Entry>,
    /// The clock before the file was opened: only a file last changed
    /// before it is remembered (see `Key::settled_before`).
    since: Stamp,
}

impl Remember<'_> {
    /// Stores what reading the file under `key` (its `fstat` before the
    /// read) found.
    fn store(
        &self,
        key: Key,
        digests: Digests,
        container: Option<bool>,
        members: Option<Arc<Members>>,
    ) {
        if !key.settled_before(self.since) {
            return;
        }
        let entry = Entry {
            digests,
            container,
            members,
            seen: 0,
        };
        let entry = match &self.prior {
            Some(prior) if key == self.key => prior.clone().merged(&entry),
            _ => entry,
        };
        self.cache.put(&key, entry);
    }

    /// Whether the entry found for `key` already records what unpacking
    /// the file with `limits` sees, with every digest `sigs` needs.
    fn has_members(&self, key: Key, limits: &Limits, sigs: &SignatureSet) -> bool {
        let fingerprint = members::fingerprint(limits);
        key == self.key
            && self
                .prior
                .as_ref()
                .and_then(|p| p.members.as_deref())
                .is_some_and(|m| m.limits == fingerprint && members::covers(sigs, m))
    }
}

impl Inspector {
    /// An inspector for one scan, with one fixed set.
    pub fn new(sigs: Arc<SignatureSet>, max_filesize: Option<u64>) -> Self {
        Inspector {
            sigs: Arc::new(ArcSwap::new(sigs)),
            max_filesize: SizeLimit::new(max_filesize),
            hardlinks: Some(Mutex::new(HashMap::new())),
            read_only: false,
            limits: Limits::default(),
            budget: Budget::default(),
            cache: None,
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
            limits: Limits::default(),
            budget: Budget::default(),
            cache: None,
        }
    }

    /// Answers unchanged files from `cache` (shared with whoever else
    /// holds it), and remembers what is read.
    pub fn cache(mut self, cache: Option<Arc<Cache>>) -> Self {
        self.cache = cache;
        self
    }

    /// With `yes`, files are chosen, opened and read exactly as in a scan, but
    /// no algorithm is fed (the hasher is reset to the empty set) and every
    /// file comes out `Clean`. `vigil bench` uses it to measure the read-only
    /// limit: the same walk, workers and reads as a real scan, minus hashing.
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// Sets how containers are unpacked, and the memory budget members held
    /// whole share (clones of one `Budget` share it).
    pub fn containers(mut self, limits: Limits, budget: Budget) -> Self {
        self.limits = limits;
        self.budget = budget;
        self
    }

    /// The container limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The container limits for a file whose scan begins now: the size limit
    /// per member is `max_filesize` as it is now (a daemon's reload changes it).
    fn unpack_limits(&self) -> Limits {
        Limits {
            max_filesize: self.max_filesize.get(),
            ..self.limits
        }
    }

    /// The current set.
    pub fn signatures(&self) -> Arc<SignatureSet> {
        self.sigs.load_full()
    }

    /// How much of `cand` a scan would read, decided as `inspect` decides
    /// before opening it. Only advice for reading ahead (`prefetch`): the
    /// scan decides again when it gets to the file, with the cache entry
    /// found here kept in `cand.recalled`.
    pub fn read_need(&self, cand: &mut Candidate) -> ReadNeed {
        if cand.size > self.max_filesize.get() {
            return ReadNeed::Nothing;
        }
        let sigs = self.sigs.load();
        let algos = sigs.algorithms_for_size(cand.size);
        if algos.is_empty() && (!self.limits.enabled || self.read_only) {
            return ReadNeed::Nothing;
        }
        if self.answered_by_cache(&sigs, algos, cand) {
            return ReadNeed::Nothing;
        }
        if !algos.is_empty() {
            return ReadNeed::Whole;
        }
        ReadNeed::Head(SNIFF_LEN as u64)
    }

    /// Whether the cache alone would answer for `cand` now, so that reading
    /// it ahead would be wasted; the entry is kept for the scan.
    fn answered_by_cache(&self, sigs: &SignatureSet, algos: AlgoSet, cand: &mut Candidate) -> bool {
        let Some(cache) = self.cache.as_deref() else {
            return false;
        };
        if self.read_only || !cache.trusts(cand.key.dev, || cache::trust::fs_type(&cand.path)) {
            return false;
        }
        // Looked up once: a batch probed on a scan worker and then started
        // on an I/O worker is asked twice.
        let recalled = cand.recalled.take().map(|entry| *entry);
        let Some(entry) = recalled.or_else(|| cache.get(&cand.key)) else {
            return false;
        };
        let answered = self
            .answer(sigs, algos, &cand.key, &entry, Matches::First)
            .is_some();
        cand.recalled = Some(Box::new(entry));
        answered
    }

    /// Scans one file found by the walk, reporting `matches`.
    pub fn inspect(&self, cand: &Candidate, matches: Matches) -> Inspected {
        let fresh = |(result, bytes, inside)| Inspected {
            result,
            bytes,
            reused: false,
            inside,
            cached: false,
        };
        let max = self.max_filesize.get();
        if cand.size > max {
            return fresh((FileResult::TooLarge, 0, Inside::default()));
        }
        let sigs = self.sigs.load();
        let algos = sigs.algorithms_for_size(cand.size);
        if algos.is_empty() && (!self.limits.enabled || self.read_only) {
            return fresh((FileResult::Cleared, 0, Inside::default()));
        }
        let fs_type = || match &cand.opened {
            Some(file) => cache::trust::fs_type_of(file),
            None => cache::trust::fs_type(&cand.path),
        };
        let remember = match self.recall(
            &sigs,
            algos,
            cand.key,
            cand.recalled.as_deref(),
            matches,
            fs_type,
        ) {
            Recall::Answered(answered) => return answered,
            Recall::Read(remember) => remember,
        };
        let remember = remember.as_ref();
        if algos.is_empty() {
            return fresh(self.sniff_cleared(&sigs, max, cand, remember));
        }
        let known = Some((cand.size, algos));
        let hardlinks = match &self.hardlinks {
            // The results kept per inode are of first matches.
            Some(map) if cand.nlink > 1 && matches == Matches::First => map,
            _ => return fresh(self.hash_and_match(&sigs, max, cand, known, matches, remember)),
        };
        let cell = {
            let mut map = hardlinks.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(cand.id).or_default().clone()
        };
        let mut computed = false;
        let (result, bytes, inside) = cell.get_or_init(|| {
            computed = true;
            self.hash_and_match(&sigs, max, cand, known, matches, remember)
        });
        Inspected {
            result: result.clone(),
            bytes: if computed { *bytes } else { 0 },
            reused: !computed,
            inside: if computed { *inside } else { Inside::default() },
            cached: false,
        }
    }

    /// Looks a file up in the cache, by `key` (unless `recalled` already
    /// holds its entry), before it is opened: the
    /// answer, if the stored digests settle it; else what to remember once
    /// it is read (`None` without a usable cache). `fs_type` is asked once
    /// per device whether its file system's times can be trusted.
    fn recall(
        &self,
        sigs: &SignatureSet,
        algos: AlgoSet,
        key: Key,
        recalled: Option<&Entry>,
        matches: Matches,
        fs_type: impl FnOnce() -> std::io::Result<u64>,
    ) -> Recall<'_> {
        let Some(cache) = self.cache.as_deref() else {
            return Recall::Read(None);
        };
        if self.read_only || !cache.trusts(key.dev, fs_type) {
            return Recall::Read(None);
        }
        let since = Stamp::now();
        let prior = recalled.cloned().or_else(|| cache.get(&key));
        if let Some(entry) = &prior {
            if let Some((result, inside)) = self.answer(sigs, algos, &key, entry, matches) {
                if cache.is_stale(entry) {
                    cache.put(&key, entry.clone());
                }
                return Recall::Answered(Inspected {
                    result,
                    bytes: 0,
                    reused: false,
                    inside,
                    cached: true,
                });
            }
        }
        Recall::Read(Some(Remember {
            cache,
            key,
            prior,
            since,
        }))
    }

    /// The result for a file of `key` from its cache entry, if the entry
    /// settles it: it holds every algorithm the set needs for the size, and
    /// the file would not be unpacked (it is not a container, or it matched)
    /// or what unpacking it with these limits saw is recorded (its members)
    /// and settles it (see `members::replay`).
    fn answer(
        &self,
        sigs: &SignatureSet,
        algos: AlgoSet,
        key: &Key,
        entry: &Entry,
        matches: Matches,
    ) -> Option<(FileResult, Inside)> {
        let size = key.size;
        let none = Inside::default();
        let not_container = entry.container == Some(false) || !self.limits.enabled;
        if algos.is_empty() {
            if not_container {
                return Some((FileResult::Cleared, none));
            }
            // A container of a size no detection has: its allow-list, then
            // what it holds (as `sniff_open`).
            let allow = sigs.allow_algorithms_for_size(size);
            let own = if allow.is_empty() {
                None
            } else {
                if !allow.is_subset(entry.algorithms()) {
                    return None;
                }
                let own = members::only(&entry.digests, allow);
                if sigs.lookup(&own, size) == Lookup::Allowed {
                    return Some((FileResult::Clean { size }, none));
                }
                Some(own)
            };
            return self.answer_members(sigs, key, entry, own);
        }
        if !algos.is_subset(entry.algorithms()) {
            return None;
        }
        // What a read would have computed, no more: a digest kept for an
        // earlier set must not decide for this one.
        let own = members::only(&entry.digests, algos);
        match sigs.lookup(&own, size) {
            Lookup::Detected(_) => {
                let mut result = verdict(sigs, &own, size, matches);
                if let FileResult::Detected { identity, .. } = &mut result {
                    *identity = Some(identity_of(key));
                }
                Some((result, none))
            }
            Lookup::Allowed => Some((FileResult::Clean { size }, none)),
            Lookup::Clean if not_container => Some((FileResult::Clean { size }, none)),
            Lookup::Clean => self.answer_members(sigs, key, entry, Some(own)),
        }
    }

    /// The result for a container from the members its entry records, as
    /// `conclude` gives it after unpacking; `own`: the file's own digests
    /// as a read computes them (`None`: none but, for a limit reported as a
    /// detection, sha256).
    fn answer_members(
        &self,
        sigs: &SignatureSet,
        key: &Key,
        entry: &Entry,
        own: Option<Digests>,
    ) -> Option<(FileResult, Inside)> {
        let recorded = entry.members.as_deref()?;
        if entry.container != Some(true)
            || recorded.limits != members::fingerprint(&self.unpack_limits())
        {
            return None;
        }
        let replayed = members::replay(sigs, recorded)?;
        let inside = Inside {
            containers: replayed.containers,
            members: replayed.members,
            exceeded: replayed.exceeded,
        };
        let own_digest = match own {
            Some(d) => d.iter().next().copied(),
            None => entry.digests.get(Algorithm::Sha256).copied(),
        };
        let needs_digest = replayed.found.is_none()
            && replayed.exceeded.is_some()
            && self.limits.alert_exceeds_max;
        if needs_digest && own_digest.is_none() {
            return None;
        }
        let result = self.concluded(
            key.size,
            replayed.found,
            replayed.exceeded,
            Some(identity_of(key)),
            || own_digest,
        );
        Some((result, inside))
    }

    /// `known`: the size the walk saw and the algorithms chosen for it, so
    /// that they are not chosen again when the open file has that size.
    fn hash_and_match(
        &self,
        sigs: &SignatureSet,
        max: u64,
        cand: &Candidate,
        known: Option<(u64, AlgoSet)>,
        matches: Matches,
        remember: Option<&Remember<'_>>,
    ) -> (FileResult, u64, Inside) {
        let failed = |result| (result, 0, Inside::default());
        if let Some(file) = &cand.opened {
            // Opened by a confined walk, its permission decided on this
            // very descriptor, or opened ahead (`prefetch`): read it, never
            // the path again; only a regular file, as for a path.
            return match file.metadata() {
                Ok(meta) if !meta.file_type().is_file() => {
                    failed(FileResult::NotRegular(FileKind::of(meta.file_type())))
                }
                Ok(meta) => {
                    self.hash_open(sigs, max, &mut &**file, &meta, known, matches, remember)
                }
                Err(e) => failed(FileResult::Failed(e.into())),
            };
        }
        let (mut file, meta) = match fileio::open_regular(&cand.path, cand.via_symlink) {
            Ok(opened) => opened,
            Err(OpenError::NotRegular(kind)) => return failed(FileResult::NotRegular(kind)),
            Err(e) => return failed(FileResult::Failed(e.into())),
        };
        self.hash_open(sigs, max, &mut file, &meta, known, matches, remember)
    }

    /// Scans a file that is already open (a descriptor a client passed):
    /// only a regular file is read, sized by its `fstat`, as for a path.
    /// With a cache, the descriptor's `fstat` is the key it is looked up by.
    pub fn inspect_open(&self, file: &mut std::fs::File) -> Inspected {
        let max = self.max_filesize.get();
        let none = Inside::default();
        let meta = file.metadata();
        let mut remember = None;
        if let Ok(meta) = &meta {
            if meta.file_type().is_file() && meta.len() <= max {
                let sigs = self.sigs.load();
                let algos = sigs.algorithms_for_size(meta.len());
                if !algos.is_empty() || (self.limits.enabled && !self.read_only) {
                    let fs_type = || cache::trust::fs_type_of(file);
                    match self.recall(&sigs, algos, Key::of(meta), None, Matches::First, fs_type) {
                        Recall::Answered(answered) => return answered,
                        Recall::Read(r) => remember = r,
                    }
                }
            }
        }
        let remember = remember.as_ref();
        let (result, bytes, inside) = match meta {
            Err(e) => (FileResult::Failed(e.into()), 0, none),
            Ok(meta) if !meta.file_type().is_file() => (
                FileResult::NotRegular(FileKind::of(meta.file_type())),
                0,
                none,
            ),
            Ok(meta) if meta.len() > max => (FileResult::TooLarge, 0, none),
            // A descriptor a client passed: no signature matches its size,
            // but it may still be a container.
            Ok(meta)
                if self.limits.enabled
                    && !self.read_only
                    && self.sigs.load().algorithms_for_size(meta.len()).is_empty() =>
            {
                let key = Key::of(&meta);
                self.sniff_open(&self.sigs.load(), max, file, meta.len(), key, remember)
            }
            Ok(meta) => {
                // From the start, wherever the client left the offset.
                match std::io::Seek::seek(file, std::io::SeekFrom::Start(0)) {
                    Ok(_) => {
                        let sigs = self.sigs.load();
                        self.hash_open(&sigs, max, file, &meta, None, Matches::First, remember)
                    }
                    Err(e) => (FileResult::Failed(e.into()), 0, none),
                }
            }
        };
        Inspected {
            result,
            bytes,
            reused: false,
            inside,
            cached: false,
        }
    }

    /// A file whose size no signature matches: one small read of its first
    /// bytes (no `fstat`, no allocation) says whether it is a container;
    /// only then is it looked at further.
    fn sniff_cleared(
        &self,
        sigs: &SignatureSet,
        max: u64,
        cand: &Candidate,
        remember: Option<&Remember<'_>>,
    ) -> (FileResult, u64, Inside) {
        let cleared = (FileResult::Cleared, 0, Inside::default());
        let opened;
        let file: &std::fs::File = match &cand.opened {
            Some(file) => file,
            None => match fileio::open_quick(&cand.path, cand.via_symlink) {
                Ok(file) => {
                    opened = file;
                    &opened
                }
                // Never meant to be read: no error for it.
                Err(_) => return cleared,
            },
        };
        self.sniff_open(sigs, max, file, cand.size, cand.key, remember)
    }

    /// `sniff_cleared` on an open file the walk (or a client) sized at
    /// `walked` and found as `key`.
    fn sniff_open(
        &self,
        sigs: &SignatureSet,
        max: u64,
        file: &std::fs::File,
        walked: u64,
        key: Key,
        remember: Option<&Remember<'_>>,
    ) -> (FileResult, u64, Inside) {
        let cleared = (FileResult::Cleared, 0, Inside::default());
        let mut head = [0u8; SNIFF_LEN];
        let Ok(n) = fileio::read_head(file, &mut head) else {
            return cleared;
        };
        let Some(format) = self.format_of(&head[..n], file, walked) else {
            if let Some(r) = remember {
                r.store(key, Digests::default(), Some(false), None);
            }
            return cleared;
        };
        let meta = match file.metadata() {
            Ok(meta) if meta.file_type().is_file() => meta,
            _ => return cleared,
        };
        let size = meta.len();
        if size > max {
            return (FileResult::TooLarge, 0, Inside::default());
        }
        // A container on the allow-list is clean with all it holds.
        let allow = sigs.allow_algorithms_for_size(size);
        let mut digests = None;
        let mut bytes = 0;
        if !allow.is_empty() {
            match self.hash_again(&mut &*file, size, allow) {
                Ok(d) => {
                    bytes = size;
                    if sigs.lookup(&d, size) == Lookup::Allowed {
                        return (FileResult::Clean { size }, bytes, Inside::default());
                    }
                    digests = Some(d);
                }
                Err(e) => return (FileResult::Failed(e.into()), 0, Inside::default()),
            }
        }
        let key = Key::of(&meta);
        let (unpacked, members) = self.unpack(sigs, format, &mut &*file, size, key, remember);
        let (result, inside, hashed) =
            self.conclude(size, unpacked, digests, Some(&meta), &mut &*file);
        if let Some(r) = remember {
            let mut kept = digests.unwrap_or_default();
            if let Some(d) = hashed {
                kept.insert(d);
            }
            r.store(key, kept, Some(true), members);
        }
        (result, bytes, inside)
    }

    /// Unpacks a container file. With a cache, its members are recorded,
    /// and the record returned when it is complete and within the bound
    /// (`members::MAX_MEMBERS`); a debug build records every unpacking, to
    /// check that `members::replay` agrees with it.
    fn unpack(
        &self,
        sigs: &SignatureSet,
        format: container::Format,
        file: &mut (impl Read + std::io::Seek),
        size: u64,
        key: Key,
        remember: Option<&Remember<'_>>,
    ) -> (Unpacked, Option<Arc<Members>>) {
        let limits = self.unpack_limits();
        if remember.is_none() && !cfg!(debug_assertions) {
            let unpacked = container::unpack_file(sigs, limits, &self.budget, format, file, size);
            return (unpacked, None);
        }
        let record = |file: &mut dyn container::ReadSeek, neutral| {
            container::unpack_file_recording(
                sigs,
                limits,
                &self.budget,
                format,
                file,
                size,
                neutral,
            )
        };
        let (unpacked, recorded) = record(file, false);
        let members = match recorded {
            Recorded::Complete(m) => Some(m),
            // A member matched, so this set steered the unpacking: it is
            // read once more, unsteered, for a record that fits any set
            // (unless the entry holds one already that this set needs no
            // more of).
            Recorded::Steered if !remember.is_some_and(|r| r.has_members(key, &limits, sigs)) => {
                match record(file, true).1 {
                    Recorded::Complete(m) => Some(m),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(replayed) = members.as_ref().and_then(|m| members::replay(sigs, m)) {
            debug_assert_eq!(
                (
                    &replayed.found,
                    replayed.exceeded,
                    replayed.containers,
                    replayed.members
                ),
                (
                    &unpacked.found,
                    unpacked.exceeded,
                    unpacked.containers,
                    unpacked.members
                ),
                "a container's record must judge it as unpacking it does"
            );
        }
        (
            unpacked,
            members.filter(|_| remember.is_some()).map(Arc::new),
        )
    }

    /// The container format of a file, from its first bytes and, for a
    /// program, its last (a self-extracting zip).
    fn format_of(&self, head: &[u8], file: &std::fs::File, size: u64) -> Option<container::Format> {
        if let Some(format) = container::sniff(&self.limits, head) {
            return Some(format);
        }
        if self.limits.enabled && head.starts_with(b"MZ") && fileio::has_zip_end(file, size) {
            return Some(container::Format::ZipSfx);
        }
        None
    }

    /// Hashes an open file again from its start with `algos`.
    fn hash_again(
        &self,
        file: &mut (impl Read + std::io::Seek),
        size: u64,
        algos: AlgoSet,
    ) -> Result<Digests, ReadError> {
        file.rewind()?;
        SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            scratch.hasher.reset(algos);
            fileio::hash_file(file, size, &mut scratch.buf, &mut scratch.hasher)?;
            Ok(scratch.hasher.finish())
        })
    }

    /// Turns what unpacking found into the file's result: a member's
    /// detection, a limit reported as a detection (`--alert-exceeds-max`,
    /// with the file's own digest), or clean. Also returns the file's
    /// sha256 if it had to be computed for that (to be remembered).
    fn conclude(
        &self,
        size: u64,
        unpacked: Unpacked,
        digests: Option<Digests>,
        meta: Option<&std::fs::Metadata>,
        file: &mut (impl Read + std::io::Seek),
    ) -> (FileResult, Inside, Option<Digest>) {
        let inside = Inside::of(&unpacked);
        let mut hashed = None;
        let result = self.concluded(
            size,
            unpacked.found,
            unpacked.exceeded,
            meta.map(Identity::of),
            || {
                digests.and_then(|d| d.iter().next().copied()).or_else(|| {
                    hashed = self
                        .hash_again(file, size, AlgoSet::EMPTY.with(Algorithm::Sha256))
                        .ok()
                        .and_then(|d| d.get(Algorithm::Sha256).copied());
                    hashed
                })
            },
        );
        (result, inside, hashed)
    }

    /// `conclude` from what unpacking found (or a record of it says it
    /// would): `digest` gives the file's own digest, asked for only when a
    /// limit is reported as a detection.
    fn concluded(
        &self,
        size: u64,
        found: Option<container::Found>,
        exceeded: Option<Exceeded>,
        identity: Option<Identity>,
        digest: impl FnOnce() -> Option<Digest>,
    ) -> FileResult {
        if let Some(found) = found {
            return FileResult::Detected {
                size: found.size,
                signature: found.signature,
                official: found.official,
                also: Vec::new(),
                digest: found.digest,
                identity,
                member: found.member,
            };
        }
        if let (Some(exceeded), true) = (exceeded, self.limits.alert_exceeds_max) {
            if let Some(digest) = digest() {
                return FileResult::Detected {
                    size,
                    signature: exceeded.signature().into(),
                    official: false,
                    also: Vec::new(),
                    digest,
                    identity,
                    member: Vec::new(),
                };
            }
        }
        FileResult::Clean { size }
    }

    // Each argument is a decision already taken for this file; a struct
    // would only name them twice.
    #[allow(clippy::too_many_arguments)]
    fn hash_open(
        &self,
        sigs: &SignatureSet,
        max: u64,
        file: &mut (impl Read + std::io::Seek),
        meta: &std::fs::Metadata,
        known: Option<(u64, AlgoSet)>,
        matches: Matches,
        remember: Option<&Remember<'_>>,
    ) -> (FileResult, u64, Inside) {
        let none = Inside::default();
        // The size may have changed since the walk: decide again on what is
        // open, unless it is the size already decided on.
        let size = meta.len();
        let algos = match known {
            Some((walked, algos)) if walked == size => algos,
            _ => sigs.algorithms_for_size(size),
        };
        if algos.is_empty() {
            return (FileResult::Cleared, 0, none);
        }
        if size > max {
            return (FileResult::TooLarge, 0, none);
        }
        // Read-only: the same reads, but no algorithm is fed.
        let fed = if self.read_only {
            AlgoSet::EMPTY
        } else {
            algos
        };
        let mut head = Head::default();
        let hashed = SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            scratch.hasher.reset(fed);
            let mut sniffing = Sniffing {
                inner: &mut *file,
                head: &mut head,
            };
            fileio::hash_file(&mut sniffing, size, &mut scratch.buf, &mut scratch.hasher)
                .map(|bytes| (bytes, scratch.hasher.finish()))
        });
        let (bytes, digests) = match hashed {
            Ok(done) => done,
            Err(e) => return (FileResult::Failed(e.into()), 0, none),
        };
        let lookup = sigs.lookup(&digests, size);
        if lookup == Lookup::Clean && !self.read_only {
            let key = Key::of(meta);
            let Some(format) = self.format_of_open(head.bytes(), file, size) else {
                if let Some(r) = remember {
                    r.store(key, digests, Some(false), None);
                }
                return (verdict(sigs, &digests, size, matches), bytes, none);
            };
            let (unpacked, members) = self.unpack(sigs, format, file, size, key, remember);
            let (result, inside, _) =
                self.conclude(size, unpacked, Some(digests), Some(meta), file);
            if let Some(r) = remember {
                r.store(key, digests, Some(true), members);
            }
            return (result, bytes, inside);
        }
        if lookup != Lookup::Clean && !self.read_only {
            if let Some(r) = remember {
                r.store(Key::of(meta), digests, None, None);
            }
        }
        let mut result = verdict(sigs, &digests, size, matches);
        if let FileResult::Detected { identity, .. } = &mut result {
            *identity = Some(Identity::of(meta));
        }
        (result, bytes, none)
    }

    /// `format_of` for a handle that is not a plain `File`.
    fn format_of_open(
        &self,
        head: &[u8],
        file: &mut (impl Read + std::io::Seek),
        size: u64,
    ) -> Option<container::Format> {
        if let Some(format) = container::sniff(&self.limits, head) {
            return Some(format);
        }
        if self.limits.enabled && head.starts_with(b"MZ") && fileio::has_zip_end_in(file, size) {
            return Some(container::Format::ZipSfx);
        }
        None
    }

    /// Scans a stream whose size is not known in advance (standard input).
    pub fn inspect_stream(&self, reader: &mut impl Read) -> Inspected {
        let sigs = self.sigs.load();
        let mut algos = sigs.algorithms_for_unknown_size();
        if self.limits.enabled {
            if self.limits.alert_exceeds_max {
                algos.insert(Algorithm::Sha256);
            }
            let unpacked =
                container::unpack_stream(&sigs, self.unpack_limits(), &self.budget, reader, algos);
            let (result, bytes, inside) = match unpacked {
                Ok((digests, size, unpacked)) => match sigs.lookup(&digests, size) {
                    Lookup::Detected(_) => {
                        let result = verdict(&sigs, &digests, size, Matches::First);
                        (result, size, Inside::of(&unpacked))
                    }
                    Lookup::Allowed => (FileResult::Clean { size }, size, Inside::of(&unpacked)),
                    Lookup::Clean => {
                        // Nothing to read again: a stream's digests were all
                        // taken as it passed.
                        let mut gone = std::io::Cursor::new(&[][..]);
                        let (result, inside, _) =
                            self.conclude(size, unpacked, Some(digests), None, &mut gone);
                        (result, size, inside)
                    }
                },
                Err(e) => (
                    FileResult::Failed(ReadError::Io(e).into()),
                    0,
                    Inside::default(),
                ),
            };
            return Inspected {
                result,
                bytes,
                reused: false,
                inside,
                cached: false,
            };
        }
        let (result, bytes) = SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            scratch.hasher.reset(algos);
            match fileio::hash_stream(reader, &mut scratch.buf, &mut scratch.hasher, None) {
                Ok(size) => {
                    let digests = scratch.hasher.finish();
                    (verdict(&sigs, &digests, size, Matches::First), size)
                }
                Err(e) => (FileResult::Failed(e.into()), 0),
            }
        });
        Inspected {
            result,
            bytes,
            reused: false,
            inside: Inside::default(),
            cached: false,
        }
    }
}

/// The first bytes of a file, kept as it is hashed.
struct Head {
    bytes: [u8; SNIFF_LEN],
    len: usize,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            bytes: [0; SNIFF_LEN],
            len: 0,
        }
    }
}

impl Head {
    fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Keeps the first `SNIFF_LEN` bytes read through it.
struct Sniffing<'a, R> {
    inner: &'a mut R,
    head: &'a mut Head,
}

impl<R: Read> Read for Sniffing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let head = &mut *self.head;
        if head.len < SNIFF_LEN {
            let take = n.min(SNIFF_LEN - head.len);
            head.bytes[head.len..head.len + take].copy_from_slice(&buf[..take]);
            head.len += take;
        }
        Ok(n)
    }
}

fn verdict(
    sigs: &SignatureSet,
    digests: &crate::hash::Digests,
    size: u64,
    matches: Matches,
) -> FileResult {
    match sigs.lookup(digests, size) {
        Lookup::Clean | Lookup::Allowed => FileResult::Clean { size },
        Lookup::Detected(m) => FileResult::Detected {
            size,
            signature: m.label(),
            official: m.official,
            also: match matches {
                Matches::First => Vec::new(),
                Matches::All => also_matched(sigs, digests, size),
            },
            digest: m.digest,
            identity: None,
            member: Vec::new(),
        },
    }
}

/// The signatures a detected file matches besides the first: a second
/// lookup, run only on a detection, and only when every match was asked for.
fn also_matched(sigs: &SignatureSet, digests: &crate::hash::Digests, size: u64) -> Vec<Box<str>> {
    let all = sigs.lookup_all(digests, size);
    if all.len() < 2 {
        return Vec::new();
    }
    all[1..].iter().map(|m| m.label()).collect()
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
        let hashed = Inspector::new(sigs.clone(), None).inspect(&cand, Matches::First);
        assert!(matches!(hashed.result, FileResult::Detected { .. }));
        let read = Inspector::new(sigs, None)
            .read_only(true)
            .inspect(&cand, Matches::First);
        assert_eq!(read.result, FileResult::Clean { size: 1000 });
        assert_eq!(read.bytes, 1000);
    }

    /// Only a request for every match pays for the second lookup, and
    /// only it reports the other names.
    #[test]
    fn other_matches_are_reported_only_when_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let data = b"matched by two signatures".to_vec();
        let mut b = SignatureSetBuilder::new();
        for (algo, name) in [(Algorithm::Md5, "ByMd5"), (Algorithm::Sha256, "BySha256")] {
            let sig = SigLine {
                digest: hash_bytes(algo, &data),
                size: Some(data.len() as u64),
                name,
            };
            b.add(&sig, false).unwrap();
        }
        let sigs = Arc::new(b.build());
        // One name per inode, and one linked twice (a one-shot scan keeps
        // the result of a linked inode for its other names).
        let path = dir.path().join("f");
        std::fs::write(&path, &data).unwrap();
        std::fs::hard_link(&path, dir.path().join("g")).unwrap();
        let inspector = Inspector::new(sigs.clone(), None);
        let live = Inspector::live(Arc::new(ArcSwap::new(sigs)), SizeLimit::new(None));
        for name in ["f", "g", "f"] {
            let crate::engine::walk::Found::File(cand) =
                Walker::new(Default::default()).root(dir.path().join(name))
            else {
                panic!("a regular file");
            };
            for inspector in [&inspector, &live] {
                let first = inspector.inspect(&cand, Matches::First).result;
                let all = inspector.inspect(&cand, Matches::All).result;
                match (first, all) {
                    (
                        FileResult::Detected {
                            signature: a,
                            also: first_also,
                            ..
                        },
                        FileResult::Detected {
                            signature: b,
                            also: all_also,
                            ..
                        },
                    ) => {
                        assert_eq!((&*a, &*b), ("ByMd5", "ByMd5"));
                        assert!(first_also.is_empty(), "{first_also:?}");
                        assert_eq!(all_also, vec![Box::from("BySha256")]);
                    }
                    other => panic!("not detected: {other:?}"),
                }
            }
        }
    }

    /// A file the cache answers is not read ahead (the scan would not read
    /// it); once it changes, it is again.
    #[test]
    fn a_file_the_cache_answers_is_not_read_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![5u8; 4000]).unwrap();
        let mut b = SignatureSetBuilder::new();
        let other = SigLine {
            digest: hash_bytes(Algorithm::Sha256, b"something else"),
            size: None,
            name: "Other",
        };
        b.add(&other, false).unwrap();
        let sigs = Arc::new(b.build());
        let cache = Arc::new(
            Cache::open(&dir.path().join("cache"), &crate::cache::Options::default()).unwrap(),
        );
        let inspector = Inspector::new(sigs, None).cache(Some(cache.clone()));
        let candidate = || {
            let crate::engine::walk::Found::File(cand) =
                Walker::new(Default::default()).root(path.clone())
            else {
                panic!("a regular file");
            };
            cand
        };
        // Remembered only once its ctime is older than the clock's tick.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(inspector.read_need(&mut candidate()), ReadNeed::Whole);
        let first = inspector.inspect(&candidate(), Matches::First);
        assert_eq!((first.cached, first.bytes), (false, 4000));
        cache.flush();
        // The entry read ahead is the one the scan uses: one lookup, not two.
        let mut ahead = candidate();
        let hits = cache.counts().0;
        assert_eq!(inspector.read_need(&mut ahead), ReadNeed::Nothing);
        assert!(inspector.inspect(&ahead, Matches::First).cached);
        assert_eq!(cache.counts().0, hits + 1);
        assert!(inspector.inspect(&candidate(), Matches::First).cached);

        std::fs::write(&path, vec![6u8; 4000]).unwrap();
        assert_eq!(inspector.read_need(&mut candidate()), ReadNeed::Whole);
    }
}
