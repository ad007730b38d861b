//! The files a bench scans: an existing folder, or a generated corpus. A
//! generated corpus is deterministic (the same shape and seed give the same
//! tree, byte for byte) and has the size spread of `benches/make_corpus.py`,
//! scaled to the size asked for: at 552 MiB about 20,000 files of 1–16 KiB,
//! 300 of 64 KiB–1 MiB and 6 of 32–48 MiB, in up to 155 nested folders. It
//! lives in a temporary folder that is removed when the `Corpus` is dropped,
//! unless it is kept. Also here: emptying the page cache for cold runs.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The reference corpus of `benches/make_corpus.py`: 20,306 files in 552 MiB.
const REF_FILES: u64 = 20_306;
const REF_BYTES: u64 = 552 << 20;
/// Files per folder in the reference corpus (20,306 files in 155 folders).
const FILES_PER_DIR: u64 = 131;
/// Folders: `FANOUT` at the top, each with `FANOUT` children, `DEPTH` levels.
const FANOUT: usize = 5;
const DEPTH: usize = 3;
const EXTS: [&str; 8] = [".bin", ".dat", ".txt", ".so", ".jpg", ".pdf", ".log", ""];

/// One class of file sizes: its share of the files and of the bytes, and how
/// far apart its smallest and largest files are.
struct SizeClass {
    /// Files of this class in the reference corpus.
    ref_count: u64,
    /// Fraction of all bytes.
    byte_share: f64,
    /// Largest size ÷ smallest size (1–16 KiB gives 16).
    spread: f64,
}

const CLASSES: [SizeClass; 3] = [
    SizeClass {
        ref_count: 20_000,
        byte_share: 0.30,
        spread: 16.0,
    }, // 1–16 KiB
    SizeClass {
        ref_count: 300,
        byte_share: 0.28,
        spread: 16.0,
    }, // 64 KiB–1 MiB
    SizeClass {
        ref_count: 6,
        byte_share: 0.42,
        spread: 1.5,
    }, // 32–48 MiB
];

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Total bytes, exactly.
    pub bytes: u64,
    /// Number of files; by default in proportion to `bytes`, as in the reference.
    pub files: Option<u64>,
    pub seed: u64,
}

/// A corpus laid out but not yet written: relative folders and files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub dirs: Vec<PathBuf>,
    /// (relative path, size) per file, in creation order.
    pub files: Vec<(PathBuf, u64)>,
}

impl Plan {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, s)| s).sum()
    }
}

/// SplitMix64: a tiny, fast, seedable generator; quality is ample for sizes
/// and filler bytes, and it keeps the corpus independent of any crate's RNG.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi`.
    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Fills `buf` with pseudo-random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// Lays out a corpus: file counts per class in the reference proportions (at
/// least one medium and one large file once there are enough files), sizes
/// drawn uniformly within each class around the class's share of the bytes,
/// then scaled so that they add up to exactly `shape.bytes`.
pub fn plan(shape: &Shape) -> Plan {
    let mut rng = SplitMix64::new(shape.seed);
    let total_files = shape.files.unwrap_or_else(|| {
        let scaled = (shape.bytes as f64 / REF_BYTES as f64 * REF_FILES as f64).round() as u64;
        scaled.clamp(1, shape.bytes)
    });
    let mut counts = [0u64; 3];
    for (i, class) in CLASSES.iter().enumerate().skip(1) {
        let scaled =
            (total_files as f64 * class.ref_count as f64 / REF_FILES as f64).round() as u64;
        // A medium file once there are 2 files, a large one once there are 3.
        counts[i] = if total_files > i as u64 {
            scaled.max(1)
        } else {
            0
        };
    }
    counts[0] = total_files - counts[1] - counts[2];
    let share: f64 = CLASSES
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(c, _)| c.byte_share)
        .sum();

    let mut sizes = Vec::with_capacity(total_files as usize);
    for (class, n) in CLASSES.iter().zip(counts) {
        if n == 0 {
            continue;
        }
        let mean = shape.bytes as f64 * class.byte_share / share / n as f64;
        let lo = 2.0 * mean / (1.0 + class.spread);
        let hi = lo * class.spread;
        sizes.extend((0..n).map(|_| rng.between(lo, hi)));
    }
    let drawn: f64 = sizes.iter().sum();
    let mut sizes: Vec<u64> = sizes
        .iter()
        .map(|s| (s * shape.bytes as f64 / drawn).floor() as u64)
        .collect();
    // Rounding down leaves a few bytes over: give them to the largest file.
    let short = shape.bytes - sizes.iter().sum::<u64>().min(shape.bytes);
    if let Some(max) = sizes.iter_mut().max() {
        *max += short;
    }
    shuffle(&mut sizes, &mut rng);

    let n_dirs = (total_files / FILES_PER_DIR).clamp(1, nested_dir_count() as u64) as usize;
    let dirs = nested_dirs(n_dirs);
    let files = sizes
        .into_iter()
        .enumerate()
        .map(|(i, size)| {
            let dir = &dirs[rng.below(dirs.len() as u64) as usize];
            let ext = EXTS[rng.below(EXTS.len() as u64) as usize];
            (dir.join(format!("f{i:06}{ext}")), size)
        })
        .collect();
    Plan { dirs, files }
}

fn shuffle<T>(items: &mut [T], rng: &mut SplitMix64) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i as u64 + 1) as usize);
    }
}

fn nested_dir_count() -> usize {
    (1..=DEPTH as u32).map(|d| FANOUT.pow(d)).sum()
}

/// The first `n` folders of a tree `FANOUT` wide and `DEPTH` deep, breadth first.
fn nested_dirs(n: usize) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut level = vec![PathBuf::new()];
    for depth in 0..DEPTH {
        let next: Vec<PathBuf> = level
            .iter()
            .flat_map(|parent| (0..FANOUT).map(move |i| parent.join(format!("d{depth}_{i}"))))
            .collect();
        dirs.extend(next.iter().cloned());
        level = next;
    }
    dirs.truncate(n);
    dirs
}

/// Writes `plan` under `root` (which must exist). File `i`'s bytes come from
/// a generator seeded with the corpus seed and `i`, so every file differs.
pub fn write(root: &Path, plan: &Plan, seed: u64) -> io::Result<()> {
    for dir in &plan.dirs {
        fs::create_dir_all(root.join(dir))?;
    }
    let mut buf = vec![0u8; 256 * 1024];
    for (i, (rel, size)) in plan.files.iter().enumerate() {
        let mut rng = SplitMix64::new(seed ^ (i as u64).wrapping_mul(0xa076_1d64_78bd_642f));
        let mut file = File::create(root.join(rel))?;
        let mut left = *size;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            rng.fill(&mut buf[..n]);
            file.write_all(&buf[..n])?;
            left -= n as u64;
        }
    }
    Ok(())
}

/// The folder a bench scans.
#[derive(Debug)]
pub struct Corpus {
    path: PathBuf,
    /// Set for a generated corpus: its folder, removed on drop.
    temp: Option<tempfile::TempDir>,
    /// Set for a generated corpus: how it was made.
    generated: Option<(Shape, Plan)>,
}

/// Why there is no corpus to scan.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("corpus folder {}: {}", .0.display(), crate::error::io_reason(.1))]
    Missing(PathBuf, #[source] io::Error),
    #[error("corpus {} is not a folder", .0.display())]
    NotADir(PathBuf),
    #[error("cannot generate the corpus in {}: {}", .0.display(), crate::error::io_reason(.1))]
    Generate(PathBuf, #[source] io::Error),
}

impl Corpus {
    /// An existing folder.
    pub fn existing(path: &Path) -> Result<Self, CorpusError> {
        let meta = fs::metadata(path).map_err(|e| CorpusError::Missing(path.to_path_buf(), e))?;
        if !meta.is_dir() {
            return Err(CorpusError::NotADir(path.to_path_buf()));
        }
        Ok(Corpus {
            path: path.to_path_buf(),
            temp: None,
            generated: None,
        })
    }

    /// Generates a corpus in a new folder under the system's temporary folder.
    pub fn generate(shape: Shape) -> Result<Self, CorpusError> {
        let temp = tempfile::Builder::new()
            .prefix("vigil-bench-")
            .tempdir()
            .map_err(|e| CorpusError::Generate(std::env::temp_dir(), e))?;
        let plan = plan(&shape);
        write(temp.path(), &plan, shape.seed)
            .map_err(|e| CorpusError::Generate(temp.path().to_path_buf(), e))?;
        Ok(Corpus {
            path: temp.path().to_path_buf(),
            temp: Some(temp),
            generated: Some((shape, plan)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the corpus was generated, if it was.
    pub fn generated(&self) -> Option<&(Shape, Plan)> {
        self.generated.as_ref()
    }

    /// Keeps a generated corpus on disk after the bench.
    pub fn keep(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = temp.keep();
        }
    }
}

/// The kernel's switch for dropping clean page-cache pages.
const DROP_CACHES: &str = "/proc/sys/vm/drop_caches";

/// Why the page cache could not be emptied.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(
        "--cold needs root: cannot write {DROP_CACHES} ({}); run as root, or leave --cold out for warm-cache figures",
        crate::error::io_reason(.0)
    )]
    NotPermitted(#[source] io::Error),
    #[error("cannot drop the page cache: {0}")]
    Failed(String),
}

/// Checks, before any work, that `drop_caches` will be allowed.
pub fn check_drop_caches() -> Result<(), CacheError> {
    fs::OpenOptions::new()
        .write(true)
        .open(DROP_CACHES)
        .map(drop)
        .map_err(CacheError::NotPermitted)
}

/// Writes dirty pages out (`sync`), then drops the page cache, dentries and
/// inodes, so the next run reads from the device.
pub fn drop_caches() -> Result<(), CacheError> {
    // `sync(1)` rather than `libc::sync`: the crate keeps `unsafe` in `fileio`.
    match Command::new("sync").status() {
        Ok(s) if s.success() => {}
        Ok(s) => return Err(CacheError::Failed(format!("sync failed: {s}"))),
        Err(e) => return Err(CacheError::Failed(format!("cannot run sync: {e}"))),
    }
    fs::write(DROP_CACHES, "3").map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => CacheError::NotPermitted(e),
        _ => CacheError::Failed(format!(
            "writing {DROP_CACHES}: {}",
            crate::error::io_reason(&e)
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(bytes: u64, files: Option<u64>) -> Shape {
        Shape {
            bytes,
            files,
            seed: 1,
        }
    }

    #[test]
    fn plan_is_exact_and_seeded() {
        for s in [
            shape(2 << 20, None),
            shape(500 << 20, None),
            shape(1000, Some(3)),
            shape(10, Some(1)),
        ] {
            let p = plan(&s);
            assert_eq!(p.bytes(), s.bytes, "{s:?}");
            if let Some(n) = s.files {
                assert_eq!(p.files.len() as u64, n);
            }
            assert_eq!(p, plan(&s), "same seed, same plan");
        }
        assert_ne!(
            plan(&shape(2 << 20, None)),
            plan(&Shape {
                seed: 2,
                ..shape(2 << 20, None)
            })
        );
    }

    #[test]
    fn spread_matches_the_reference_at_500m() {
        let p = plan(&shape(500 << 20, None));
        let n = p.files.len();
        assert!((18_000..19_000).contains(&n), "{n} files");
        let small = p.files.iter().filter(|(_, s)| *s <= 17 << 10).count();
        let large = p.files.iter().filter(|(_, s)| *s >= 30 << 20).count();
        assert!(small > n * 95 / 100, "{small} small files");
        assert!((4..=7).contains(&large), "{large} large files");
        assert!((100..=155).contains(&p.dirs.len()));
    }

    #[test]
    fn written_tree_is_deterministic() {
        let s = shape(64 << 10, Some(9));
        let p = plan(&s);
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write(a.path(), &p, s.seed).unwrap();
        write(b.path(), &p, s.seed).unwrap();
        for (rel, size) in &p.files {
            let x = fs::read(a.path().join(rel)).unwrap();
            assert_eq!(x.len() as u64, *size);
            assert_eq!(x, fs::read(b.path().join(rel)).unwrap());
        }
    }

    #[test]
    fn generated_corpus_is_removed_unless_kept() {
        let c = Corpus::generate(shape(4096, Some(2))).unwrap();
        let path = c.path().to_path_buf();
        assert!(path.is_dir());
        drop(c);
        assert!(!path.exists());
        let mut c = Corpus::generate(shape(4096, Some(2))).unwrap();
        c.keep();
        let path = c.path().to_path_buf();
        drop(c);
        assert!(path.is_dir());
        fs::remove_dir_all(path).unwrap();
    }

    #[test]
    fn missing_corpus_is_an_error() {
        let e = Corpus::existing(Path::new("/no/such/corpus")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "corpus folder /no/such/corpus: No such file or directory"
        );
    }
}
