//! Reading ahead, so that a cold disk has many reads in flight while only one
//! worker per core hashes. Before a batch of files is hashed, each file the
//! inspector will read is opened (`fileio::open_quick`: the inspector's own
//! flags; it checks the file type on the descriptor, as it does for its own
//! opens) and the kernel is asked to start reading it
//! (`posix_fadvise(WILLNEED)`), which queues the reads and returns at once.
//! A scan worker then hashes the batch in order from the descriptors held;
//! the later files' reads were in flight while it hashed the earlier ones.
//!
//! The descriptors held ahead, all batches together, are bounded by the
//! window (`--io-depth`): starting a batch waits for room, so the walk never
//! runs far ahead of the hashing, and memory and descriptors stay bounded.
//!
//! Reading ahead changes when a file is opened, never what is decided about
//! it: a file that cannot be opened ahead is left to the inspector, which
//! opens it as it always does and reports what it finds then.
//!
//! A control-socket client's files are never opened here: its walk has
//! already opened each one with that client's permissions checked on the
//! descriptor (`access`), and only those descriptors are advised.
//!
//! Reading ahead only pays when reads wait on the disk; when the files are
//! in the page cache, handing every folder and batch to the I/O workers
//! only costs CPU. So the pipeline follows the *climate*: it starts warm,
//! where the scan workers walk and hash as if there were no I/O workers,
//! and each batch's first file to be read is probed first (is its first
//! page in memory? `fileio::residency`). A batch whose probe finds it on
//! disk goes to the I/O workers, which read it ahead as above; two such
//! probes in a row turn the climate cold, and from then on every folder
//! and batch goes to them. They probe too, and a run of batches found in
//! memory turns the climate warm again. A few files evicted from a tree
//! otherwise in memory thus cost a read ahead each, not the whole scan's
//! hand-over. A batch the scan will not read at all (the verdict cache
//! answers for every file, or no signature has its sizes) is never probed.

use std::fs::File;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use rustix::fs::Advice;

use crate::engine::inspect::{Inspector, ReadNeed};
use crate::engine::walk::Candidate;
use crate::fileio::{self, Residency};

/// Bytes of one file asked for ahead: the whole of a small file, the start
/// of a big one (the kernel's own read-ahead follows the reads from there).
const AHEAD_PER_FILE: u64 = 2 << 20;

/// The window when none is given: enough files in flight to keep a disk's
/// queue full, and at most a quarter of the descriptors this process may
/// open, so that reading ahead never starves the rest of it.
pub fn auto_depth() -> usize {
    const DEPTH: usize = 512;
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    match limit {
        Some(n) => DEPTH.min(usize::try_from(n / 4).unwrap_or(DEPTH)),
        None => DEPTH,
    }
}

/// I/O workers for `threads` scan workers and a window of `depth`: none
/// without reading ahead, else one per scan worker (at least 2, at most
/// 16). Measured on 2 cores: 2 I/O workers walk and open ahead as fast as 4
/// or 8 from a cold disk, and each idle one costs the hashing some CPU on a
/// warm one.
pub fn io_threads(threads: usize, depth: usize) -> usize {
    match depth {
        0 => 0,
        _ => threads.clamp(2, 16),
    }
}

/// Files to be hashed in order, and the reads started ahead for them.
#[derive(Debug, Default)]
pub struct Batch {
    pub files: Vec<Candidate>,
    /// Set once the reads are started (or it was decided not to).
    held: Option<Held>,
    /// Probed on a scan worker already (`ReadAhead::hash_here`).
    probed: bool,
    /// Its probe found it on disk: it goes to the I/O workers whatever the
    /// climate.
    on_disk: bool,
}

impl Batch {
    pub fn new(files: Vec<Candidate>) -> Self {
        Batch {
            files,
            held: None,
            probed: false,
            on_disk: false,
        }
    }

    /// Whether the reads were started (or it was decided not to): the batch
    /// is ready to be hashed.
    pub fn is_started(&self) -> bool {
        self.held.is_some()
    }

    /// Whether its probe found it on disk, so that it belongs on the I/O
    /// workers even while the climate is warm.
    pub fn is_on_disk(&self) -> bool {
        self.on_disk && !self.is_started()
    }
}

/// Descriptors held open ahead, all batches together, and the most allowed.
#[derive(Debug)]
struct Window {
    open: Mutex<usize>,
    /// Signalled when descriptors are released.
    room: Condvar,
    max: usize,
}

impl Window {
    /// Takes `n` descriptors from the window, waiting for room with `wait`
    /// (else taking none when there is not room for all). `n` is at most
    /// `max`, so that a wait always ends: the descriptors held belong to
    /// batches already handed to the scan workers, which release them.
    fn take(&self, n: usize, wait: bool) -> bool {
        let n = n.min(self.max);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        while *open + n > self.max {
            if !wait {
                return false;
            }
            open = self.room.wait(open).unwrap_or_else(|p| p.into_inner());
        }
        *open += n;
        true
    }

    fn release(&self, n: usize) {
        if n > 0 {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            *open -= n;
            self.room.notify_all();
        }
    }
}

/// The share of the window a batch holds, released when the batch is done.
#[derive(Debug)]
struct Held {
    window: Option<Arc<Window>>,
    count: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(window) = &self.window {
            window.release(self.count);
        }
    }
}

/// Probes in a row that find batches on disk and turn the climate cold:
/// two, so that a file or two evicted from a tree in memory do not send the
/// whole scan to the I/O workers.
const COLD_AFTER: u32 = 2;
/// Probes in a row that find batches in memory and turn it warm again: a
/// few, so that a tree partly in memory does not send every other batch
/// back and forth.
const WARM_AFTER: u32 = 4;

/// Whether reads are waiting on the disk, as the last probes found.
#[derive(Debug, Default)]
struct Climate {
    cold: AtomicBool,
    /// Probes in a row that disagreed with the climate.
    against: AtomicU32,
}

impl Climate {
    fn is_cold(&self) -> bool {
        self.cold.load(Ordering::Relaxed)
    }

    /// What a probe found: the batch is in memory (`resident`) or not.
    fn observe(&self, resident: bool) {
        let cold = self.is_cold();
        if cold != resident {
            self.against.store(0, Ordering::Relaxed);
            return;
        }
        let turn_after = if cold { WARM_AFTER } else { COLD_AFTER };
        if self.against.fetch_add(1, Ordering::Relaxed) + 1 >= turn_after {
            self.against.store(0, Ordering::Relaxed);
            self.cold.store(!cold, Ordering::Relaxed);
        }
    }
}

/// Reads ahead for every worker of one pipeline.
#[derive(Debug)]
pub struct ReadAhead {
    /// `None`: nothing is opened or advised ahead.
    window: Option<Arc<Window>>,
    climate: Climate,
}

impl ReadAhead {
    /// Reading ahead with at most `depth` descriptors held open ahead;
    /// 0 turns it off.
    pub fn new(depth: usize) -> Self {
        ReadAhead {
            window: (depth > 0).then(|| {
                Arc::new(Window {
                    open: Mutex::new(0),
                    room: Condvar::new(),
                    max: depth,
                })
            }),
            climate: Climate::default(),
        }
    }

    /// Whether reads wait on the disk (as the last probes found): folders
    /// and batches then belong on the I/O workers. Never, when off.
    pub fn is_cold(&self) -> bool {
        self.window.is_some() && self.climate.is_cold()
    }

    /// On a scan worker, before hashing a batch not started: whether to hash
    /// it here and now (`true`), or hand it to the I/O workers (`false`, it
    /// was found on disk). The first file the scan will read is opened
    /// (as `start` would; never a control client's, by path) and probed; a
    /// batch with nothing to read is hashed here unprobed. Always `true`
    /// when reading ahead is off.
    pub fn hash_here(&self, batch: &mut Batch, inspector: &Inspector, may_open: bool) -> bool {
        // A batch sent back (there was no I/O worker to take it) is hashed
        // the second time.
        if self.window.is_none() || std::mem::replace(&mut batch.probed, true) {
            return true;
        }
        match first_probe(batch, inspector, may_open, true) {
            None => true,
            Some(residency) => {
                let resident = residency == Residency::Resident;
                self.climate.observe(resident);
                batch.on_disk = !resident;
                resident
            }
        }
    }

    /// On a scan worker that has just listed a folder, while the climate is
    /// warm: probes the first batch found there before it is spawned, so
    /// that a cold disk is noticed before the folders found beside it are
    /// listed here too. A descriptor opened for the probe is closed again
    /// (batches waiting to be hashed hold none); a batch found in memory is
    /// hashed without another probe.
    pub fn sense(&self, batch: &mut Batch, inspector: &Inspector, may_open: bool) {
        if self.window.is_none() || self.climate.is_cold() || batch.probed {
            return;
        }
        match first_probe(batch, inspector, may_open, false) {
            None => batch.probed = true,
            Some(residency) => {
                let resident = residency == Residency::Resident;
                self.climate.observe(resident);
                batch.probed = resident;
                batch.on_disk = !resident;
            }
        }
    }

    /// The window: descriptors held open ahead at most (0: off).
    pub fn depth(&self) -> usize {
        self.window.as_ref().map_or(0, |w| w.max)
    }

    /// Starts the reads of `batch`'s files, unless they were started
    /// already. With `wait`, waits for room in the window (only where the
    /// caller holds no other batch that is not handed on: the I/O workers);
    /// without, starts nothing when there is no room. With `may_open`
    /// false, only descriptors the candidates already hold are advised.
    /// Returns how many files' reads were started.
    pub fn start(
        &self,
        batch: &mut Batch,
        inspector: &Inspector,
        may_open: bool,
        wait: bool,
    ) -> u64 {
        let mut advised = 0;
        if batch.held.is_some() {
            return advised;
        }
        let mut held = Held {
            window: self.window.clone(),
            count: 0,
        };
        if let Some(window) = &self.window {
            let needs: Vec<ReadNeed> = batch
                .files
                .iter_mut()
                .map(|c| inspector.read_need(c))
                .collect();
            let to_open = match may_open {
                true => batch
                    .files
                    .iter()
                    .zip(&needs)
                    .filter(|(c, need)| c.opened.is_none() && **need != ReadNeed::Nothing)
                    .count()
                    .min(window.max),
                false => 0,
            };
            let may_open = may_open && to_open > 0 && window.take(to_open, wait);
            if may_open {
                held.count = to_open;
            }
            let mut opened = 0;
            let mut probed = false;
            for (cand, need) in batch.files.iter_mut().zip(needs) {
                let len = match need {
                    ReadNeed::Nothing => continue,
                    ReadNeed::Head(n) => n,
                    ReadNeed::Whole => cand.size.min(AHEAD_PER_FILE),
                };
                if cand.opened.is_none() && may_open && opened < to_open {
                    opened += 1;
                    // A file that cannot be opened now is left to the
                    // inspector, which reports it as it finds it.
                    if let Ok(file) = fileio::open_quick(&cand.path, cand.via_symlink) {
                        cand.opened = Some(Arc::new(file));
                    }
                }
                if let Some(file) = &cand.opened {
                    if !probed {
                        probed = true;
                        let resident = probe(file) == Residency::Resident;
                        self.climate.observe(resident);
                    }
                    advise(file, len, cand.size);
                    advised += 1;
                }
            }
        }
        batch.held = Some(held);
        advised
    }
}

/// Opens (if `may_open`) and probes the first file of `batch` the scan will
/// read; `None` when it will read none (or none could be probed). A file
/// that cannot be opened is left to the inspector, and the next one probed.
/// With `keep`, a descriptor opened here stays with the file for the scan.
fn first_probe(
    batch: &mut Batch,
    inspector: &Inspector,
    may_open: bool,
    keep: bool,
) -> Option<Residency> {
    for cand in batch.files.iter_mut() {
        if inspector.read_need(cand) == ReadNeed::Nothing {
            continue;
        }
        if let Some(file) = &cand.opened {
            return Some(probe(file));
        }
        if !may_open {
            continue;
        }
        // Left to the inspector if it cannot be opened now.
        if let Ok(file) = fileio::open_quick(&cand.path, cand.via_symlink) {
            let residency = probe(&file);
            if keep {
                cand.opened = Some(Arc::new(file));
            }
            return Some(residency);
        }
    }
    None
}

/// A test hook, doing nothing unless its environment variable is set (the
/// others are in `control::faults`): with `VIGIL_TEST_COLD` set, every probe
/// finds its file on disk, so that tests drive the I/O workers whatever
/// their trees' file system (files just written are in memory, and a tmpfs
/// is always). Not meant for anything but tests.
pub const COLD_ENV: &str = "VIGIL_TEST_COLD";

/// Whether `file`'s first page is in memory (`fileio::residency`).
fn probe(file: &File) -> Residency {
    static COLD: OnceLock<bool> = OnceLock::new();
    if *COLD.get_or_init(|| std::env::var_os(COLD_ENV).is_some()) {
        return Residency::NotResident;
    }
    fileio::residency(file)
}

/// Asks the kernel to read the first `len` bytes of `file` (of `size`) into
/// the page cache now. Advice only: an error changes nothing.
fn advise(file: &File, len: u64, size: u64) {
    if let Some(len) = NonZeroU64::new(len) {
        let _ = rustix::fs::fadvise(file, 0, Some(len), Advice::WillNeed);
    }
    if size > len {
        let _ = rustix::fs::fadvise(file, 0, None, Advice::Sequential);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::inspect::{FileResult, Inspected, Matches};
    use crate::engine::walk::{DirJob, Found, Walker};
    use crate::hash::{hash_bytes, Algorithm};
    use crate::signature::{SigLine, SignatureSetBuilder};
    use std::io::Write;
    use std::path::Path;
    use std::process::Command;

    const BAD: &[u8] = b"a known bad file";

    /// Detects `BAD` (blake3, any size): every file is read in full.
    fn inspector() -> Inspector {
        let mut b = SignatureSetBuilder::new();
        let line = SigLine {
            digest: hash_bytes(Algorithm::Blake3, BAD),
            size: None,
            name: "Test.Bad",
        };
        b.add(&line, false).unwrap();
        Inspector::new(Arc::new(b.build()), None)
    }

    /// The regular files the walk finds in `dir`, sorted by path.
    fn walk(dir: &Path) -> Vec<Candidate> {
        let walker = Walker::new(Default::default());
        let Found::Dir(job) = walker.root(dir.to_path_buf()) else {
            panic!("a folder");
        };
        let mut files = Vec::new();
        list(&walker, &job, &mut files);
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }

    fn list(walker: &Walker, job: &DirJob, files: &mut Vec<Candidate>) {
        walker
            .list(job, |found| {
                if let Found::File(cand) = found {
                    files.push(cand);
                }
            })
            .unwrap();
    }

    fn mkfifo(path: &Path) {
        assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
    }

    fn results(inspector: &Inspector, files: &[Candidate]) -> Vec<(String, FileResult)> {
        files
            .iter()
            .map(|c| {
                let Inspected { mut result, .. } = inspector.inspect(c, Matches::First);
                // The two trees' inodes differ; everything else must not.
                if let FileResult::Detected { identity, .. } = &mut result {
                    *identity = None;
                }
                (c.path.file_name().unwrap().to_string_lossy().into(), result)
            })
            .collect()
    }

    /// A tree where, after the walk, files vanish, grow, shrink and are
    /// swapped for a FIFO or a folder.
    fn changing_tree(dir: &Path) -> Vec<Candidate> {
        for i in 0..6 {
            std::fs::write(dir.join(format!("plain{i}")), format!("file {i}")).unwrap();
        }
        std::fs::write(dir.join("bad"), BAD).unwrap();
        std::fs::write(dir.join("grows"), b"short").unwrap();
        std::fs::write(dir.join("grows-bad"), &BAD[..4]).unwrap();
        std::fs::write(dir.join("shrinks"), b"a longer file").unwrap();
        std::fs::write(dir.join("vanishes"), b"here for now").unwrap();
        std::fs::write(dir.join("to-fifo"), b"a file, then a FIFO").unwrap();
        std::fs::write(dir.join("to-dir"), b"a file, then a folder").unwrap();
        mkfifo(&dir.join("fifo"));
        walk(dir)
    }

    fn change(dir: &Path) {
        std::fs::remove_file(dir.join("vanishes")).unwrap();
        let append = |name: &str, bytes: &[u8]| {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(dir.join(name))
                .unwrap();
            f.write_all(bytes).unwrap();
        };
        append("grows", b" and longer");
        append("grows-bad", &BAD[4..]);
        std::fs::write(dir.join("shrinks"), b"short").unwrap();
        std::fs::remove_file(dir.join("to-fifo")).unwrap();
        mkfifo(&dir.join("to-fifo"));
        std::fs::remove_file(dir.join("to-dir")).unwrap();
        std::fs::create_dir(dir.join("to-dir")).unwrap();
    }

    #[test]
    fn files_changed_before_reading_ahead_come_out_as_without_it() {
        let inspector = inspector();
        let today = tempfile::tempdir().unwrap();
        let ahead = tempfile::tempdir().unwrap();
        let today_files = changing_tree(today.path());
        let ahead_files = changing_tree(ahead.path());
        assert_eq!(today_files.len(), 13, "the walk skips the FIFO");
        change(today.path());
        change(ahead.path());

        let expected = results(&inspector, &today_files);
        // A window smaller than the batch: the first files are opened
        // ahead, the rest left to the inspector.
        for depth in [1, 5, 64] {
            let mut batch = Batch::new(ahead_files.clone());
            ReadAhead::new(depth).start(&mut batch, &inspector, true, true);
            let opened = batch.files.iter().filter(|c| c.opened.is_some()).count();
            // What vanished could not be opened.
            assert_eq!(opened, depth.min(12), "depth {depth}");
            assert_eq!(results(&inspector, &batch.files), expected, "depth {depth}");
        }
        let by_name = |name: &str| &expected.iter().find(|(n, _)| n == name).unwrap().1;
        assert!(matches!(by_name("grows-bad"), FileResult::Detected { .. }));
        assert!(matches!(by_name("vanishes"), FileResult::Failed(_)));
        assert!(matches!(by_name("to-fifo"), FileResult::NotRegular(_)));
        assert!(matches!(by_name("to-dir"), FileResult::NotRegular(_)));
        assert!(matches!(by_name("plain0"), FileResult::Clean { .. }));
    }

    #[test]
    fn files_changed_after_reading_ahead_come_out_as_if_opened_then() {
        let inspector = inspector();
        let dir = tempfile::tempdir().unwrap();
        let mut batch = Batch::new(changing_tree(dir.path()));
        ReadAhead::new(64).start(&mut batch, &inspector, true, true);
        assert!(batch.files.iter().all(|c| c.opened.is_some()));
        change(dir.path());
        let got = results(&inspector, &batch.files);
        let by_name = |name: &str| &got.iter().find(|(n, _)| n == name).unwrap().1;
        // As when a file changes after the inspector's own open: what was
        // opened is read, at the size it has when the scan gets to it.
        assert_eq!(by_name("vanishes"), &FileResult::Clean { size: 12 });
        assert_eq!(by_name("to-fifo"), &FileResult::Clean { size: 19 });
        assert_eq!(by_name("grows"), &FileResult::Clean { size: 16 });
        assert_eq!(by_name("shrinks"), &FileResult::Clean { size: 5 });
        assert!(matches!(by_name("grows-bad"), FileResult::Detected { .. }));
    }

    #[test]
    fn two_batches_on_disk_turn_the_climate_cold_and_four_in_memory_warm() {
        let climate = Climate::default();
        climate.observe(false);
        assert!(!climate.is_cold(), "one evicted file is not a cold disk");
        climate.observe(true);
        climate.observe(false);
        assert!(!climate.is_cold(), "not in a row");
        climate.observe(false);
        assert!(climate.is_cold());
        for _ in 0..3 {
            climate.observe(true);
        }
        climate.observe(false);
        for _ in 0..3 {
            climate.observe(true);
        }
        assert!(climate.is_cold(), "not in a row");
        climate.observe(true);
        assert!(!climate.is_cold());
    }

    #[test]
    fn a_batch_in_memory_is_hashed_where_it_is() {
        let inspector = inspector();
        let dir = tempfile::tempdir().unwrap();
        let ahead = ReadAhead::new(64);
        let mut batch = Batch::new(changing_tree(dir.path()));
        assert!(ahead.hash_here(&mut batch, &inspector, true));
        assert!(!ahead.is_cold() && !batch.is_on_disk());
        // Only the file probed was opened, and it stays open for the scan.
        let opened = batch.files.iter().filter(|c| c.opened.is_some()).count();
        assert_eq!(opened, 1);
        // Off, nothing is probed.
        let mut batch = Batch::new(changing_tree(tempfile::tempdir().unwrap().path()));
        assert!(ReadAhead::new(0).hash_here(&mut batch, &inspector, true));
        assert!(batch.files.iter().all(|c| c.opened.is_none()));
    }

    #[test]
    fn control_files_are_never_opened_ahead_by_path() {
        let inspector = inspector();
        let dir = tempfile::tempdir().unwrap();
        let mut batch = Batch::new(changing_tree(dir.path()));
        ReadAhead::new(64).start(&mut batch, &inspector, false, true);
        assert!(batch.files.iter().all(|c| c.opened.is_none()));
    }

    #[test]
    fn the_window_is_given_back_when_batches_are_done() {
        let inspector = inspector();
        let dir = tempfile::tempdir().unwrap();
        let files = changing_tree(dir.path());
        let ahead = ReadAhead::new(12);
        let mut first = Batch::new(files.clone());
        ahead.start(&mut first, &inspector, true, true);
        // No room left: a batch started without waiting opens nothing.
        let mut second = Batch::new(files.clone());
        ahead.start(&mut second, &inspector, true, false);
        assert!(second.files.iter().all(|c| c.opened.is_none()));
        // One waiting for room gets it once the first is done.
        std::thread::scope(|s| {
            let waiting = s.spawn(|| {
                let mut third = Batch::new(files.clone());
                ahead.start(&mut third, &inspector, true, true);
                third.files.iter().filter(|c| c.opened.is_some()).count()
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(first);
            assert_eq!(waiting.join().unwrap(), 12);
        });
        assert_eq!(ReadAhead::new(0).depth(), 0);
        let mut off = Batch::new(files);
        ReadAhead::new(0).start(&mut off, &inspector, true, true);
        assert!(off.is_started() && off.files.iter().all(|c| c.opened.is_none()));
    }
}
