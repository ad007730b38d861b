//! Seeing inside containers: archives, compressed streams and mail. The
//! worker that reads a file hands it here when its first bytes say it is a
//! container (never its name); the unpacker yields members, and each member
//! goes through the same hashers and the same matcher as a file, then, if it
//! is a container itself, through the unpacker again.
//!
//! Why a module of its own: the formats are many and each is small, but they
//! share one walk — the limits (depth, members per container, unpacked bytes
//! per top-level file, size per member, compression ratio), the memory they
//! may hold, the member-name chain a detection is reported with, and the
//! allow-list rules. That walk is `Unpacker`; the formats, one file per
//! family, only turn bytes into `(name, reader)` pairs:
//! - `archive`: zip (also self-extracting), 7z, Microsoft cabinet, which
//!   need to seek, so they read from a file or from memory;
//! - `stream`: gzip, bzip2, xz, zstd, SZDD, one compressed member each;
//! - `records`: tar and cpio, headers followed by contents, read in one pass;
//! - `mail`: MIME messages, mbox files, uuencode and BinHex.
//!
//! Nothing is written to disk and no member name is ever used as a path:
//! names are only reported. A member is held in memory when it fits the
//! per-item bound and the global budget shared by every worker and
//! connection; otherwise it is hashed as it streams and, if its format reads
//! in one pass, unpacked from the same stream.

mod archive;
mod mail;
pub mod members;
mod records;
mod stream;

use std::cell::Cell;
use std::io::{self, Read, Seek};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::hash::{AlgoSet, Digest, Digests, MultiHasher};
use crate::signature::{Lookup, SignatureSet};

pub use members::Members;
use members::{Member, Recording};

/// Default `--max-recursion`: containers inside containers, as clamd.
pub const DEFAULT_MAX_RECURSION: u32 = 17;
/// Default `--max-files`: members taken from one container, as clamd.
pub const DEFAULT_MAX_FILES: u64 = 10_000;
/// Default `--max-scansize`: bytes unpacked per top-level file, as clamd.
pub const DEFAULT_MAX_SCANSIZE: u64 = 400 << 20;
/// Default compression-ratio guard: a container may unpack to this many
/// times its own size (plus `RATIO_FLOOR`) before the rest is skipped.
pub const DEFAULT_MAX_RATIO: u64 = 250;
/// Bytes any container may unpack to whatever its ratio.
const RATIO_FLOOR: u64 = 1 << 20;
/// Default bound on one member (or one whole-needing container) held in memory.
pub const DEFAULT_ITEM_MEMORY: u64 = 64 << 20;
/// Default cap on the memory all workers and connections hold at once.
pub const DEFAULT_TOTAL_MEMORY: u64 = 512 << 20;
/// Bytes a format needs to be recognised (tar's magic ends at 263).
pub const SNIFF_LEN: usize = 512;

/// How far the unpacker may go. Travels with the inspector, so a daemon's
/// reload changes it for the next file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `--scan-archive`: off means no file is unpacked.
    pub enabled: bool,
    pub max_recursion: u32,
    pub max_files: u64,
    pub max_scansize: u64,
    /// Per member; `u64::MAX` for none. The inspector sets it for each file
    /// from its own `max_filesize` (which a daemon's reload changes), so
    /// configurations leave it at the default.
    pub max_filesize: u64,
    pub max_ratio: u64,
    /// `--alert-exceeds-max`: a file cut short by a limit is a detection.
    pub alert_exceeds_max: bool,
    /// A member larger than this is not held in memory.
    pub item_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            enabled: true,
            max_recursion: DEFAULT_MAX_RECURSION,
            max_files: DEFAULT_MAX_FILES,
            max_scansize: DEFAULT_MAX_SCANSIZE,
            max_filesize: u64::MAX,
            max_ratio: DEFAULT_MAX_RATIO,
            alert_exceeds_max: false,
            item_memory: DEFAULT_ITEM_MEMORY,
        }
    }
}

/// A limit that cut a container short, named as clamscan names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // clamscan's names: Heuristics.Limits.Exceeded.MaxFiles, ...
pub enum Exceeded {
    MaxRecursion,
    MaxFiles,
    MaxScanSize,
    MaxFileSize,
}

impl Exceeded {
    /// The detection name `--alert-exceeds-max` reports.
    pub fn signature(self) -> &'static str {
        match self {
            Exceeded::MaxRecursion => "Heuristics.Limits.Exceeded.MaxRecursion",
            Exceeded::MaxFiles => "Heuristics.Limits.Exceeded.MaxFiles",
            Exceeded::MaxScanSize => "Heuristics.Limits.Exceeded.MaxScanSize",
            Exceeded::MaxFileSize => "Heuristics.Limits.Exceeded.MaxFileSize",
        }
    }
}

/// Memory shared by every worker and connection for members held whole.
/// Clones share one budget.
#[derive(Clone, Debug)]
pub struct Budget(Arc<AtomicU64>);

impl Budget {
    pub fn new(total: u64) -> Self {
        Budget(Arc::new(AtomicU64::new(total)))
    }

    /// Takes `n` bytes, or nothing if fewer are left.
    fn take(&self, n: u64) -> Option<Lease<'_>> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(n)
            })
            .ok()
            .map(|_| Lease { budget: self, n })
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(DEFAULT_TOTAL_MEMORY)
    }
}

/// Bytes taken from the budget, given back on drop.
struct Lease<'a> {
    budget: &'a Budget,
    n: u64,
}

impl Lease<'_> {
    fn grow(&mut self, more: u64) -> bool {
        match self.budget.take(more) {
            Some(extra) => {
                std::mem::forget(extra);
                self.n += more;
                true
            }
            None => false,
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.budget.0.fetch_add(self.n, Ordering::AcqRel);
    }
}

/// The container formats, told apart by content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Zip,
    /// A program with a zip appended (self-extracting): found from the end.
    ZipSfx,
    SevenZ,
    Cab,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
    Szdd,
    Tar,
    Cpio,
    Mail,
    Mbox,
    Uuencode,
    BinHex,
}

impl Format {
    /// Recognises a container by its first bytes (`SNIFF_LEN` or fewer).
    pub(crate) fn sniff(head: &[u8]) -> Option<Format> {
        let starts = |magic: &[u8]| head.starts_with(magic);
        if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08PK\x03\x04") {
            return Some(Format::Zip);
        }
        if starts(&[0x1f, 0x8b]) {
            return Some(Format::Gzip);
        }
        if head.len() >= 10
            && starts(b"BZh")
            && (b'1'..=b'9').contains(&head[3])
            && (head[4..10] == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]
                || head[4..10] == [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
        {
            return Some(Format::Bzip2);
        }
        if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            return Some(Format::Xz);
        }
        if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Some(Format::Zstd);
        }
        if starts(&[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c]) {
            return Some(Format::SevenZ);
        }
        if starts(b"MSCF\0\0\0\0") {
            return Some(Format::Cab);
        }
        if starts(b"SZDD\x88\xf0\x27\x33") {
            return Some(Format::Szdd);
        }
        if head.len() >= 263 && &head[257..262] == b"ustar" {
            return Some(Format::Tar);
        }
        if starts(b"070701") || starts(b"070702") || starts(b"070707") {
            return Some(Format::Cpio);
        }
        if starts(&[0xc7, 0x71]) || starts(&[0x71, 0xc7]) {
            return Some(Format::Cpio);
        }
        mail::sniff(head)
    }

    /// True if the format is read in one pass, so a member too large to
    /// hold can still be unpacked as it streams.
    fn streams(self) -> bool {
        matches!(
            self,
            Format::Gzip
                | Format::Bzip2
                | Format::Xz
                | Format::Zstd
                | Format::Szdd
                | Format::Tar
                | Format::Cpio
                | Format::Zip
        )
    }
}

/// What unpacking found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The name as printed (with `.UNOFFICIAL` where ClamAV adds it).
    pub signature: Box<str>,
    /// From a database ClamAV signed.
    pub official: bool,
    pub digest: Digest,
    /// The matching member's size.
    pub size: u64,
    /// Names from the top-level file down to the member.
    pub member: Vec<Box<[u8]>>,
}

/// The totals of unpacking one top-level file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// The first detection in a member.
    pub found: Option<Found>,
    /// The first limit that cut something short.
    pub exceeded: Option<Exceeded>,
    /// Containers opened (the top-level one included).
    pub containers: u64,
    /// Members examined.
    pub members: u64,
    /// Members hashed, and their bytes.
    pub hashed: u64,
    pub bytes: u64,
    /// Containers that could not be read to their end (corrupt, truncated,
    /// or a method not supported): what was read of them was still scanned.
    pub damaged: u64,
}

/// Either random access (a file, or a member held in memory) or a stream.
pub(crate) enum Input<'a> {
    Seek(&'a mut dyn ReadSeek, u64),
    Stream(&'a mut dyn Read),
}

impl<'a> Input<'a> {
    /// The input read front to back.
    fn into_read(self) -> InputRead<'a> {
        match self {
            Input::Seek(r, _) => InputRead::Seek(r),
            Input::Stream(r) => InputRead::Stream(r),
        }
    }
}

/// An `Input` as a plain reader.
pub(crate) enum InputRead<'a> {
    Seek(&'a mut dyn ReadSeek),
    Stream(&'a mut dyn Read),
}

impl Read for InputRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            InputRead::Seek(r) => r.read(buf),
            InputRead::Stream(r) => r.read(buf),
        }
    }
}

/// What random-access formats read from.
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// What a format tells the walk to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// A read stopped by a limit (not a fault of the data).
#[derive(Debug)]
struct LimitHit;

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("container limit reached")
    }
}

impl std::error::Error for LimitHit {}

fn limit_error() -> io::Error {
    io::Error::other(LimitHit)
}

/// One container being read: its own counters.
pub(crate) struct Level {
    depth: u32,
    /// Members taken from it so far.
    files: Cell<u64>,
    /// Bytes its members may unpack to (the ratio guard).
    cap: u64,
    /// Bytes read out of its members so far.
    unpacked: Cell<u64>,
}

impl Level {
    fn new(depth: u32, packed: u64, ratio: u64) -> Self {
        Level {
            depth,
            files: Cell::new(0),
            cap: packed.saturating_mul(ratio).saturating_add(RATIO_FLOOR),
            unpacked: Cell::new(0),
        }
    }
}

/// What every level of one top-level file shares: kept apart from the
/// `Unpacker` so that a member's reader can count into it while the
/// unpacker is busy with the member.
#[derive(Default)]
struct Tally {
    /// Bytes unpacked so far, at every depth.
    scanned: Cell<u64>,
    /// The first limit reached, and how many members had been matched then.
    hit: Cell<Option<(Exceeded, u64)>>,
    /// Members matched so far (below the top level).
    matched: Cell<u64>,
}

impl Tally {
    fn exceed(&self, what: Exceeded) {
        if self.hit.get().is_none() {
            self.hit.set(Some((what, self.matched.get())));
        }
    }
}

/// The container format of a file whose first bytes are `head`, or `None`
/// (also when unpacking is off).
pub fn sniff(limits: &Limits, head: &[u8]) -> Option<Format> {
    if !limits.enabled {
        return None;
    }
    Format::sniff(head)
}

/// Unpacks a top-level file already known (from its first bytes) to be a
/// container, reading it from the start.
pub fn unpack_file(
    sigs: &SignatureSet,
    limits: Limits,
    budget: &Budget,
    format: Format,
    file: &mut dyn ReadSeek,
    size: u64,
) -> Unpacked {
    let tally = Tally::default();
    let mut u = Unpacker::new(sigs, limits, budget, &tally);
    if file.rewind().is_ok() {
        let level = Level::new(0, size, limits.max_ratio);
        u.unpack(format, Input::Seek(file, size), &level);
    }
    u.finish().0
}

/// What recording the members of a container file came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Every member, as no signature steered the unpacking.
    Complete(Members),
    /// A member was detected or allow-listed, so the unpacker went where
    /// that set sent it: the record would not fit another.
    Steered,
    /// More members (or bytes of names and digests) than a record holds.
    TooMany,
    /// Reading the file failed: what was seen may not be all there is.
    Unreadable,
}

/// `unpack_file`, recording every member matched. With `neutral`, no
/// member's match steers the unpacking (every member is looked at, and
/// none is reported: `Unpacked::found` stays empty), so that the record is
/// complete whatever the set detects; `members::replay` then says what the
/// set finds in it.
pub fn unpack_file_recording(
    sigs: &SignatureSet,
    limits: Limits,
    budget: &Budget,
    format: Format,
    file: &mut dyn ReadSeek,
    size: u64,
    neutral: bool,
) -> (Unpacked, Recorded) {
    let tally = Tally::default();
    let mut u = Unpacker::new(sigs, limits, budget, &tally);
    u.recording = Some(Recording::default());
    u.neutral = neutral;
    let mut watched = Faults {
        inner: file,
        failed: false,
    };
    if watched.rewind().is_ok() {
        let level = Level::new(0, size, limits.max_ratio);
        u.unpack(format, Input::Seek(&mut watched, size), &level);
    } else {
        watched.failed = true;
    }
    let (unpacked, recording) = u.finish();
    let recording = recording.unwrap_or_default();
    let recorded = if watched.failed {
        Recorded::Unreadable
    } else if recording.too_many {
        Recorded::TooMany
    } else if recording.steered {
        Recorded::Steered
    } else {
        Recorded::Complete(Members {
            limits: members::fingerprint(&limits),
            list: recording.list,
            exceeded: tally.hit.get(),
            containers: unpacked.containers,
            members: unpacked.members,
        })
    };
    (unpacked, recorded)
}

/// Notes whether reading the file underneath failed (as opposed to its
/// content being damaged, which reads the same way every time).
struct Faults<'a> {
    inner: &'a mut dyn ReadSeek,
    failed: bool,
}

impl Read for Faults<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.inner.read(buf);
        if matches!(&r, Err(e) if e.kind() != io::ErrorKind::Interrupted) {
            self.failed = true;
        }
        r
    }
}

impl Seek for Faults<'_> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        let r = self.inner.seek(pos);
        // A position before the start is the format's mistake, not the file's.
        if matches!(&r, Err(e) if e.kind() != io::ErrorKind::InvalidInput) {
            self.failed = true;
        }
        r
    }
}

/// A top-level stream (standard input, INSTREAM): hashed for its own
/// verdict with `algos` and, if it is a container, unpacked, in one pass.
/// Returns its digests, its size, and what was inside.
pub fn unpack_stream(
    sigs: &SignatureSet,
    limits: Limits,
    budget: &Budget,
    reader: &mut dyn Read,
    algos: AlgoSet,
) -> io::Result<(Digests, u64, Unpacked)> {
    let tally = Tally::default();
    let mut u = Unpacker::new(sigs, limits, budget, &tally);
    let (digests, size) = u.member_body(reader, None, algos, None, 0)?;
    Ok((digests, size, u.finish().0))
}

/// Unpacks one top-level file, recursively, within its limits.
pub(crate) struct Unpacker<'a> {
    sigs: &'a SignatureSet,
    limits: Limits,
    budget: &'a Budget,
    tally: &'a Tally,
    /// Member names from the top-level file down to the one being read.
    chain: Vec<Box<[u8]>>,
    out: Unpacked,
    /// A read buffer reused for every member streamed.
    buf: Vec<u8>,
    /// Members as they are matched, when they are recorded.
    recording: Option<Recording>,
    /// No member's match steers the unpacking (see `unpack_file_recording`).
    neutral: bool,
}

impl<'a> Unpacker<'a> {
    fn new(sigs: &'a SignatureSet, limits: Limits, budget: &'a Budget, tally: &'a Tally) -> Self {
        Unpacker {
            sigs,
            limits,
            budget,
            tally,
            chain: Vec::new(),
            out: Unpacked::default(),
            buf: Vec::new(),
            recording: None,
            neutral: false,
        }
    }

    fn finish(mut self) -> (Unpacked, Option<Recording>) {
        self.out.exceeded = self.tally.hit.get().map(|(e, _)| e);
        (self.out, self.recording)
    }

    /// Counts a member (below the top level) just matched, and records it.
    fn matched(&mut self, size: u64, digests: Digests, held: bool, container: bool, how: &Lookup) {
        self.tally.matched.set(self.tally.matched.get() + 1);
        let Some(r) = &mut self.recording else {
            return;
        };
        if !self.neutral && !matches!(how, Lookup::Clean) {
            r.steered = true;
        }
        if r.too_many {
            return;
        }
        r.push(Member {
            chain: self.chain.clone(),
            size,
            digests,
            held,
            container,
            containers: self.out.containers,
            members: self.out.members,
        });
    }

    fn unpack(&mut self, format: Format, input: Input<'_>, level: &Level) {
        self.out.containers += 1;
        let result = match format {
            Format::Zip | Format::ZipSfx => archive::zip(self, input, level),
            Format::SevenZ => archive::sevenz(self, input, level),
            Format::Cab => archive::cab(self, input, level),
            Format::Gzip | Format::Bzip2 | Format::Xz | Format::Zstd | Format::Szdd => {
                stream::single(self, format, input, level)
            }
            Format::Tar => records::tar(self, input, level),
            Format::Cpio => records::cpio(self, input, level),
            Format::Mail | Format::Mbox | Format::Uuencode | Format::BinHex => {
                mail::unpack(self, format, input, level)
            }
        };
        if let Err(e) = result {
            if !is_limit(&e) {
                tracing::debug!(?format, error = %e, "container cut short");
                self.out.damaged += 1;
            }
        }
    }

    /// True once nothing more should be read: a detection was found, or
    /// the unpacked-bytes limit is spent.
    pub(crate) fn done(&self) -> bool {
        self.out.found.is_some() || self.tally.scanned.get() >= self.limits.max_scansize
    }

    /// The per-item memory bound.
    pub(crate) fn item_memory(&self) -> u64 {
        self.limits.item_memory
    }

    /// The most members read from one container.
    pub(crate) fn max_files(&self) -> u64 {
        self.limits.max_files
    }

    /// A container that would need more memory than the per-item bound to
    /// be read (a 7z's dictionary, say): left unread, and counted as cut
    /// short by a limit, as a member too large to hold is.
    pub(crate) fn over_memory(&self, why: &str) {
        tracing::debug!(why, "container not unpacked");
        self.tally.exceed(Exceeded::MaxFileSize);
    }

    /// Counts a member or container that could not be read.
    pub(crate) fn damaged(&mut self) {
        self.out.damaged += 1;
    }

    /// Reads the whole of a container that a decoder must see at once
    /// (mail, an archive from a stream), within the per-item bound and the
    /// budget; `None` (and the limit counted) if it does not fit.
    pub(crate) fn whole(&mut self, input: Input<'_>) -> io::Result<Option<HeldBytes<'a>>> {
        let limit = self.limits.item_memory;
        let reader: &mut dyn Read = match input {
            Input::Seek(r, len) => {
                if len > limit {
                    self.tally.exceed(Exceeded::MaxFileSize);
                    return Ok(None);
                }
                r.rewind()?;
                r
            }
            Input::Stream(r) => r,
        };
        let held = hold(self.budget, reader, limit)?;
        if held.is_none() {
            self.tally.exceed(Exceeded::MaxFileSize);
        }
        Ok(held)
    }

    /// One member: checks the container's limits, hashes and matches the
    /// member, and unpacks it if it is a container. `declared` is the size
    /// the container's header gives: trusted only to skip a member early.
    pub(crate) fn member(
        &mut self,
        level: &Level,
        name: &[u8],
        declared: Option<u64>,
        reader: &mut dyn Read,
    ) -> io::Result<Flow> {
        if self.done() {
            return Ok(Flow::Stop);
        }
        if level.files.get() >= self.limits.max_files {
            self.tally.exceed(Exceeded::MaxFiles);
            return Ok(Flow::Stop);
        }
        level.files.set(level.files.get() + 1);
        if declared.is_some_and(|d| d > self.limits.max_filesize) {
            self.tally.exceed(Exceeded::MaxFileSize);
            return Ok(Flow::Continue);
        }
        self.out.members += 1;
        self.chain.push(name.into());
        let result = self.member_body(
            reader,
            declared,
            AlgoSet::EMPTY,
            Some(level),
            level.depth + 1,
        );
        self.chain.pop();
        if let Err(e) = result {
            if !is_limit(&e) {
                self.out.damaged += 1;
            }
        }
        let spent = level.unpacked.get() > level.cap;
        Ok(if self.done() || spent {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }

    /// Hashes one member (or a top-level stream) and unpacks it if it is a
    /// container. With `algos` empty the algorithms are chosen from the
    /// member's size once known. Returns its digests and size.
    fn member_body(
        &mut self,
        reader: &mut dyn Read,
        declared: Option<u64>,
        algos: AlgoSet,
        level: Option<&Level>,
        depth: u32,
    ) -> io::Result<(Digests, u64)> {
        let mut metered = Metered {
            inner: reader,
            read: 0,
            max: if level.is_none() {
                u64::MAX
            } else {
                self.limits.max_filesize
            },
            tally: self.tally,
            max_scansize: self.limits.max_scansize,
            level,
        };
        // Held whole when small enough, the usual case.
        let small = declared.map_or(true, |d| d <= self.limits.item_memory);
        if small {
            match hold_or_prefix(self.budget, &mut metered, self.limits.item_memory)? {
                Held::Whole(bytes) => {
                    let size = bytes.len() as u64;
                    let digests = self.judge_bytes(&bytes, algos, depth);
                    return Ok((digests, size));
                }
                Held::Prefix(prefix) => {
                    let mut chained = io::Cursor::new(&prefix[..]).chain(&mut metered);
                    return self.judge_stream(&mut chained, algos, depth);
                }
            }
        }
        self.judge_stream(&mut metered, algos, depth)
    }

    /// A member held whole: hash, match, and unpack if it is a container.
    fn judge_bytes(&mut self, bytes: &[u8], algos: AlgoSet, depth: u32) -> Digests {
        let size = bytes.len() as u64;
        let format = sniff(&self.limits, &bytes[..bytes.len().min(SNIFF_LEN)]);
        let algos = self.algorithms(algos, size, format.is_some());
        let mut hasher = MultiHasher::new(algos);
        hasher.update(bytes);
        let digests = hasher.finish();
        if !algos.is_empty() {
            self.out.hashed += 1;
            self.out.bytes += size;
        }
        let lookup = self.sigs.lookup(&digests, size);
        if depth > 0 {
            self.matched(size, digests, true, format.is_some(), &lookup);
        }
        match lookup {
            _ if self.neutral => {}
            Lookup::Detected(m) => {
                // The top-level verdict is the caller's to report.
                if depth > 0 {
                    self.record(&m, size);
                }
                return digests;
            }
            Lookup::Allowed => return digests,
            Lookup::Clean => {}
        }
        if let Some(format) = format {
            self.nested(depth, size, |u, level| {
                let mut cursor = io::Cursor::new(bytes);
                u.unpack(format, Input::Seek(&mut cursor, size), level);
            });
        }
        digests
    }

    /// A member too large to hold: hashed as it streams, and unpacked from
    /// the same stream if its format reads in one pass.
    fn judge_stream(
        &mut self,
        reader: &mut dyn Read,
        algos: AlgoSet,
        depth: u32,
    ) -> io::Result<(Digests, u64)> {
        let mut buffered = io::BufReader::with_capacity(64 * 1024, reader);
        let head = io::BufRead::fill_buf(&mut buffered)?;
        let format = sniff(&self.limits, &head[..head.len().min(SNIFF_LEN)]);
        // The size is not known until the end: every algorithm in use.
        let algos = if algos.is_empty() {
            self.sigs.algorithms_for_unknown_size()
        } else {
            algos
        };
        let mut tee = Tee {
            inner: buffered,
            hasher: MultiHasher::new(algos),
            read: 0,
        };
        let before = self.out.found.clone();
        if let Some(format) = format.filter(|f| f.streams()) {
            self.nested(depth, u64::MAX, |u, level| {
                u.unpack(format, Input::Stream(&mut tee), level);
            });
        }
        // The rest, for the member's own digest.
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(crate::fileio::READ_BUF_SIZE, 0);
        let drained = loop {
            match tee.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.buf = buf;
        drained?;
        let size = tee.read;
        let digests = tee.hasher.finish();
        self.out.hashed += 1;
        self.out.bytes += size;
        let lookup = self.sigs.lookup(&digests, size);
        if depth > 0 {
            self.matched(size, digests, false, format.is_some(), &lookup);
        }
        match lookup {
            _ if self.neutral => {}
            Lookup::Detected(m) if depth > 0 && self.out.found == before => {
                self.record(&m, size);
            }
            // An allow-listed member clears what was found inside it.
            Lookup::Allowed => self.out.found = before,
            _ => {}
        }
        Ok((digests, size))
    }

    /// Opens a nested container at `depth`, if the depth allows.
    fn nested(&mut self, depth: u32, packed: u64, f: impl FnOnce(&mut Self, &Level)) {
        if depth >= self.limits.max_recursion {
            self.tally.exceed(Exceeded::MaxRecursion);
            return;
        }
        let level = Level::new(depth, packed, self.limits.max_ratio);
        f(self, &level);
    }

    /// The algorithms for a member of `size`: what the set needs for that
    /// size, plus, for a container, whatever its allow-list could match.
    fn algorithms(&self, given: AlgoSet, size: u64, container: bool) -> AlgoSet {
        if !given.is_empty() {
            return given;
        }
        members::held_algorithms(self.sigs, size, container)
    }

    fn record(&mut self, m: &crate::signature::Match<'_>, size: u64) {
        if self.out.found.is_none() {
            self.out.found = Some(Found {
                signature: m.label(),
                official: m.official,
                digest: m.digest,
                size,
                member: self.chain.clone(),
            });
        }
    }
}

/// Whether an error is a limit reached, not a fault of the data.
pub(crate) fn is_limit(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<LimitHit>())
}

/// Counts the bytes read from a member and stops the read at its limits.
struct Metered<'r, 't> {
    inner: &'r mut dyn Read,
    read: u64,
    /// The per-member limit.
    max: u64,
    tally: &'t Tally,
    max_scansize: u64,
    /// The container it comes from (none for a top-level stream, whose own
    /// bytes are not unpacked bytes), for the ratio guard.
    level: Option<&'t Level>,
}

impl Read for Metered<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(level) = self.level else {
            return self.inner.read(buf);
        };
        if self.tally.scanned.get() >= self.max_scansize {
            self.tally.exceed(Exceeded::MaxScanSize);
            return Err(limit_error());
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.tally.scanned.set(self.tally.scanned.get() + n as u64);
        level.unpacked.set(level.unpacked.get() + n as u64);
        if level.unpacked.get() > level.cap {
            self.tally.exceed(Exceeded::MaxScanSize);
            return Err(limit_error());
        }
        if self.read > self.max {
            self.tally.exceed(Exceeded::MaxFileSize);
            return Err(limit_error());
        }
        Ok(n)
    }
}

/// Feeds everything read through it to a hasher.
struct Tee<R> {
    inner: R,
    hasher: MultiHasher,
    read: u64,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Bytes held in memory, with their share of the budget.
pub(crate) struct HeldBytes<'b> {
    bytes: Vec<u8>,
    _lease: Lease<'b>,
}

impl std::ops::Deref for HeldBytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

enum Held<'b> {
    Whole(HeldBytes<'b>),
    /// Too large (or the budget ran out): what was read so far.
    Prefix(HeldBytes<'b>),
}

/// Steps by which a held member grows, and are taken from the budget.
const HOLD_STEP: usize = 256 * 1024;

/// Reads a stream into memory up to `limit` bytes: `Whole` if it ended
/// within the limit and the budget, else the `Prefix` read so far.
fn hold_or_prefix<'b>(
    budget: &'b Budget,
    reader: &mut dyn Read,
    limit: u64,
) -> io::Result<Held<'b>> {
    let Some(mut lease) = budget.take(HOLD_STEP as u64) else {
        return Ok(Held::Prefix(HeldBytes {
            bytes: Vec::new(),
            _lease: Lease { budget, n: 0 },
        }));
    };
    let mut bytes = Vec::new();
    loop {
        if bytes.len() as u64 > limit {
            return Ok(Held::Prefix(HeldBytes {
                bytes,
                _lease: lease,
            }));
        }
        let start = bytes.len();
        if start as u64 + HOLD_STEP as u64 > lease.n && !lease.grow(HOLD_STEP as u64) {
            return Ok(Held::Prefix(HeldBytes {
                bytes,
                _lease: lease,
            }));
        }
        bytes.resize(start + HOLD_STEP, 0);
        let mut filled = start;
        while filled < bytes.len() {
            match reader.read(&mut bytes[filled..]) {
                Ok(0) => {
                    bytes.truncate(filled);
                    if bytes.len() as u64 > limit {
                        return Ok(Held::Prefix(HeldBytes {
                            bytes,
                            _lease: lease,
                        }));
                    }
                    return Ok(Held::Whole(HeldBytes {
                        bytes,
                        _lease: lease,
                    }));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Reads a whole stream into memory, or `None` if it is larger than
/// `limit` or the budget.
fn hold<'b>(
    budget: &'b Budget,
    reader: &mut dyn Read,
    limit: u64,
) -> io::Result<Option<HeldBytes<'b>>> {
    Ok(match hold_or_prefix(budget, reader, limit)? {
        Held::Whole(bytes) => Some(bytes),
        Held::Prefix(_) => None,
    })
}
