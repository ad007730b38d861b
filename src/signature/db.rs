//! Loading signature databases from files, folders and the built-in set.
//! Loading is all or nothing: every fault is counted with its `file:line`,
//! and a set with any fault is refused, so a scan never runs on half a set.
//! A load keeps the first few faults (`LoadLimits::max_faults`) and counts
//! the rest; `Loader::load_each_fault` hands every one to the caller.
//! Each database is held to the bounds of `LoadLimits` as it is read.
//!
//! Text databases are parsed in parallel (`text`), ClamAV containers are
//! unpacked as a stream (`cvd`), and a compiled index (`index`) on its own is
//! mapped in place; mixed with other databases it is merged into memory.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::cvd::{self, ContainerKind, CvdFault};
use super::dsig::Keys;
use super::index::{self, IndexFault};
use super::limits::{is_too_large, LoadLimits};
use super::parse::{Format, LineFault};
use super::provenance::Provenance;
use super::table::CapacityFault;
use super::{text, SignatureSet, SignatureSetBuilder};

/// The built-in default set, compiled into the binary.
const BUILTIN: &[(&str, &str)] = &[("eicar.vsig", include_str!("../../signatures/eicar.vsig"))];

/// One fault found while loading: where, and what.
#[derive(Debug)]
pub struct SigError {
    /// The database file (or folder) as the user named it; for a member of a
    /// ClamAV container, `CONTAINER[MEMBER]`.
    pub file: PathBuf,
    /// 1-based line number, for faults inside a file.
    pub line: Option<usize>,
    pub fault: SigFault,
}

/// What went wrong with a database.
#[derive(Debug, thiserror::Error)]
pub enum SigFault {
    #[error("{0}")]
    Line(#[from] LineFault),
    #[error("cannot read: {}", crate::error::io_reason(.0))]
    Io(#[from] io::Error),
    #[error("unknown database format (expected .vsig, .vallow, .hdb, .hsb, .hdu, .hsu, .fp, .sfp, .cvd, .cld, .cud or a compiled .vidx index)")]
    UnknownFormat,
    #[error("{0}")]
    Container(#[from] CvdFault),
    #[error("{0}")]
    Index(#[from] IndexFault),
    #[error("{0}")]
    Capacity(#[from] CapacityFault),
    #[error("no signatures found{}", skipped_for_flevel(*.outside_flevel))]
    Empty {
        /// Lines skipped because their MINFL/MAXFL window leaves this
        /// engine out.
        outside_flevel: usize,
    },
    #[error("unpacks to more than {limit} bytes, the limit for one database (--max-db-size, max_db_size)")]
    TooLarge { limit: u64 },
    #[error(
        "has more than {limit} lines, the limit for one database (--max-db-lines, max_db_lines)"
    )]
    TooManyLines { limit: u64 },
    #[error("... and {0} more fault(s) not shown; `vigil sigs check` lists them all")]
    More(usize),
}

fn skipped_for_flevel(n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    format!(
        "; {n} line(s) skipped: their functionality-level window (MINFL:MAXFL) leaves out this engine's level {}",
        super::ENGINE_FLEVEL
    )
}

impl fmt::Display for SigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.fault),
            None if self.file.as_os_str().is_empty() => write!(f, "{}", self.fault),
            None => write!(f, "{}: {}", self.file.display(), self.fault),
        }
    }
}

/// The faults of a failed load: the first `LoadLimits::max_faults`, then,
/// if there were more, one `SigFault::More` with the count of the rest.
#[derive(Debug)]
pub struct LoadError(pub Vec<SigError>);

impl LoadError {
    /// How many faults the load found, kept or not.
    pub fn total(&self) -> usize {
        self.0
            .iter()
            .map(|e| match e.fault {
                SigFault::More(n) => n,
                _ => 1,
            })
            .sum()
    }
}

/// Collects a load's faults: keeps the first `keep`, counts the rest, and
/// shows every one to `each`, if given.
pub(crate) struct Faults<'f> {
    kept: Vec<SigError>,
    keep: usize,
    more: usize,
    each: Option<&'f mut dyn FnMut(&SigError)>,
}

impl<'f> Faults<'f> {
    pub fn new(keep: usize, each: Option<&'f mut dyn FnMut(&SigError)>) -> Self {
        Faults {
            kept: Vec::new(),
            keep,
            more: 0,
            each,
        }
    }

    pub fn push(&mut self, e: SigError) {
        if let Some(each) = self.each.as_mut() {
            each(&e);
        }
        if self.kept.len() < self.keep {
            self.kept.push(e);
        } else {
            self.more += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.more == 0
    }

    /// The faults kept (for tests that look at each).
    #[cfg(test)]
    pub fn into_kept(self) -> Vec<SigError> {
        self.kept
    }

    fn into_error(self) -> LoadError {
        let mut kept = self.kept;
        if self.more > 0 {
            kept.push(SigError {
                file: PathBuf::new(),
                line: None,
                fault: SigFault::More(self.more),
            });
        }
        LoadError(kept)
    }
}

/// What one database may still take, and whether reading it stopped.
pub(crate) struct Budget {
    pub limits: LoadLimits,
    /// Lines read so far (of a container, over all its members).
    pub lines: u64,
    /// Set once the database went past a limit, or the set is full: the
    /// rest of it is not read.
    pub stopped: bool,
}

impl Budget {
    pub fn new(limits: LoadLimits) -> Self {
        Budget {
            limits,
            lines: 0,
            stopped: false,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// A loaded set and what was passed over on the way.
pub struct Loaded {
    pub set: SignatureSet,
    /// Files in `-d` folders whose format vigil does not read (e.g. `.ndb`).
    pub ignored: Vec<PathBuf>,
    /// Every database file read, in load order, and whether its signatures
    /// are official.
    pub provenance: Vec<(PathBuf, Provenance)>,
}

/// How a database file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text(Format),
    Container(ContainerKind),
    Index,
}

/// The built-in default set.
pub fn load_builtin() -> SignatureSet {
    let mut builder = SignatureSetBuilder::new();
    let mut faults = Faults::new(usize::MAX, None);
    for (name, body) in BUILTIN {
        let path = Path::new("<builtin>").join(name);
        let format = Format::from_path(&path).expect("built-in file has a known extension");
        builder.note_file();
        let mut budget = Budget::new(LoadLimits::default());
        text::load(
            &mut builder,
            &path,
            format,
            body.as_bytes(),
            &mut budget,
            &mut faults,
        )
        .expect("reading memory cannot fail");
    }
    assert!(
        faults.is_empty(),
        "built-in signatures are valid: {:?}",
        faults.kept
    );
    builder.build()
}

/// Loads every named database with the default `LoadLimits`.
pub fn load_databases(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    Loader::default().load(paths)
}

/// Loads databases within a set of `LoadLimits`, checking ClamAV's
/// signatures on its containers.
#[derive(Clone, Copy, Debug)]
pub struct Loader {
    limits: LoadLimits,
    keys: &'static Keys,
}

impl Default for Loader {
    fn default() -> Self {
        Loader::new(LoadLimits::default())
    }
}

impl Loader {
    pub fn new(limits: LoadLimits) -> Self {
        Loader {
            limits,
            keys: Keys::clamav(),
        }
    }

    /// Checks containers against `keys` instead of ClamAV's (tests sign
    /// with keys of their own).
    #[cfg(test)]
    pub(crate) fn trusting(mut self, keys: &'static Keys) -> Self {
        self.keys = keys;
        self
    }

    /// Loads every named database: files of a known format, and folders,
    /// whose files of known formats are loaded (not recursively) in name
    /// order. A compiled index named on its own is mapped, not copied.
    pub fn load(&self, paths: &[PathBuf]) -> Result<Loaded, LoadError> {
        self.load_with(paths, Faults::new(self.limits.max_faults, None))
    }

    /// Like `load`, and shows `each` every fault as it is found, beyond
    /// the ones the error keeps (`vigil sigs check` lists them all).
    pub fn load_each_fault(
        &self,
        paths: &[PathBuf],
        each: &mut dyn FnMut(&SigError),
    ) -> Result<Loaded, LoadError> {
        self.load_with(paths, Faults::new(self.limits.max_faults, Some(each)))
    }

    fn load_with(&self, paths: &[PathBuf], mut faults: Faults<'_>) -> Result<Loaded, LoadError> {
        let mut ignored = Vec::new();
        let mut sources = Vec::new();
        for path in paths {
            let fault = |fault| SigError {
                file: path.clone(),
                line: None,
                fault,
            };
            let meta = match fs::metadata(path) {
                Ok(m) => m,
                Err(e) => {
                    faults.push(fault(SigFault::Io(e)));
                    continue;
                }
            };
            if meta.is_dir() {
                match list_dir(path) {
                    Ok(files) => {
                        for file in files {
                            match classify(&file, false) {
                                Some(kind) => sources.push((file, kind)),
                                None => ignored.push(file),
                            }
                        }
                    }
                    Err(e) => faults.push(fault(SigFault::Io(e))),
                }
            } else {
                match classify(path, true) {
                    Some(kind) => sources.push((path.clone(), kind)),
                    None => faults.push(fault(SigFault::UnknownFormat)),
                }
            }
        }
        let mut provenance = Vec::new();
        let set = if let (true, [(path, Kind::Index)]) = (faults.is_empty(), &sources[..]) {
            provenance.push((path.clone(), Provenance::Compiled));
            match index::open(path) {
                Ok(set) => set,
                Err(fault) => {
                    faults.push(SigError {
                        file: path.clone(),
                        line: None,
                        fault: fault.into(),
                    });
                    return Err(faults.into_error());
                }
            }
        } else {
            let started = std::time::Instant::now();
            let mut builder = SignatureSetBuilder::new();
            for (path, kind) in &sources {
                let mut budget = Budget::new(self.limits);
                let loaded = load_one(
                    &mut builder,
                    path,
                    *kind,
                    &mut budget,
                    &mut faults,
                    self.keys,
                );
                if let Some(p) = loaded {
                    provenance.push((path.clone(), p));
                }
            }
            tracing::debug!(elapsed = ?started.elapsed(), "signature databases parsed");
            builder.build()
        };
        if faults.is_empty() && set.stats().total_detections() == 0 {
            let file = match paths {
                [one] => one.clone(),
                _ => PathBuf::from(
                    paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            };
            faults.push(SigError {
                file,
                line: None,
                fault: SigFault::Empty {
                    outside_flevel: set.stats().outside_flevel,
                },
            });
        }
        if faults.is_empty() {
            Ok(Loaded {
                set,
                ignored,
                provenance,
            })
        } else {
            Err(faults.into_error())
        }
    }
}

/// Reads one database file into `builder`: whether its signatures are
/// official, unless it could not be read.
fn load_one(
    builder: &mut SignatureSetBuilder,
    path: &Path,
    kind: Kind,
    budget: &mut Budget,
    faults: &mut Faults<'_>,
    keys: &Keys,
) -> Option<Provenance> {
    let fault = |fault| SigError {
        file: path.to_path_buf(),
        line: None,
        fault,
    };
    match kind {
        Kind::Text(format) => {
            builder.note_file();
            let read = text::load_file(builder, path, format, budget, faults);
            match read {
                Ok(()) => Some(text_provenance(path, format)),
                Err(e) if is_too_large(&e) => {
                    faults.push(fault(SigFault::TooLarge {
                        limit: budget.limits.max_db_bytes,
                    }));
                    None
                }
                Err(e) => {
                    faults.push(fault(SigFault::Io(e)));
                    None
                }
            }
        }
        Kind::Container(kind) => {
            builder.note_file();
            cvd::load(builder, path, kind, budget, faults, keys)
        }
        Kind::Index => match index::open(path).map(|set| builder.add_set(&set)) {
            Ok(Ok(())) => Some(Provenance::Compiled),
            Ok(Err(e)) => {
                faults.push(fault(e.into()));
                None
            }
            Err(e) => {
                faults.push(fault(e.into()));
                None
            }
        },
    }
}

/// Why a text database's signatures are not official: ClamAV signs only
/// containers.
fn text_provenance(path: &Path, format: Format) -> Provenance {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    Provenance::Unofficial(match format {
        Format::ClamHash | Format::ClamAllow => {
            format!(".{ext} text databases are never official")
        }
        Format::Vsig | Format::Vallow => {
            format!(".{ext} is vigil's own format; its names are printed as written")
        }
    })
}

/// How a file is read; `None` for a file vigil does not read at all. A file
/// named explicitly is recognised as a compiled index by its magic too.
fn classify(path: &Path, explicit: bool) -> Option<Kind> {
    if let Some(format) = Format::from_path(path) {
        return Some(Kind::Text(format));
    }
    if let Some(kind) = ContainerKind::from_path(path) {
        return Some(Kind::Container(kind));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if ext.as_deref() == Some(index::EXTENSION) || (explicit && has_index_magic(path)) {
        return Some(Kind::Index);
    }
    None
}

fn has_index_magic(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| &magic == index::MAGIC)
}

fn list_dir(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if path.is_file() && !entry.file_name().as_encoded_bytes().starts_with(b".") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Algorithm;

    #[test]
    fn builtin_has_eicar_in_every_algorithm() {
        let set = load_builtin();
        for algo in Algorithm::ALL {
            assert_eq!(set.stats().detections[algo.index()], 1, "{algo}");
        }
        assert!(set.algorithms_for_size(68).contains(Algorithm::Blake3));
        assert!(set.algorithms_for_size(69).is_empty());
    }

    #[test]
    fn every_fault_is_reported_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bad.hdb");
        fs::write(
            &db,
            "# comment\n44d88612fea8a8f36de82e1278abb02f:68:Ok\nnot-a-line\n\n44d8:1:x\r\n",
        )
        .unwrap();
        let err = load_databases(std::slice::from_ref(&db))
            .err()
            .expect("load fails");
        let lines: Vec<_> = err.0.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![Some(3), Some(5)]);
        let text = err.to_string();
        assert!(text.contains(&format!("{}:3:", db.display())), "{text}");
    }

    #[test]
    fn each_database_is_held_to_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.hdb");
        let line = "44d88612fea8a8f36de82e1278abb02f:68:A\n";
        fs::write(&db, line.repeat(5)).unwrap();
        let load = |limits| Loader::new(limits).load(std::slice::from_ref(&db));
        let lines = |n| LoadLimits {
            max_db_lines: n,
            ..LoadLimits::default()
        };
        assert!(load(lines(5)).is_ok());
        let err = load(lines(4)).err().unwrap();
        assert!(
            matches!(
                err.0[..],
                [SigError {
                    fault: SigFault::TooManyLines { limit: 4 },
                    ..
                }]
            ),
            "{err}"
        );
        // The last line counts without its newline too.
        fs::write(&db, line.repeat(5).trim_end()).unwrap();
        assert!(load(lines(4)).is_err());
        let bytes = |n| LoadLimits {
            max_db_bytes: n,
            ..LoadLimits::default()
        };
        let size = line.len() as u64 * 5 - 1;
        assert!(load(bytes(size)).is_ok());
        let err = load(bytes(size - 1)).err().unwrap();
        assert!(
            matches!(
                err.0[..],
                [SigError {
                    fault: SigFault::TooLarge { .. },
                    ..
                }]
            ),
            "{err}"
        );
    }

    #[test]
    fn a_load_keeps_the_first_faults_and_counts_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.hdb");
        fs::write(&db, "bad\n".repeat(5)).unwrap();
        let limits = LoadLimits {
            max_faults: 2,
            ..LoadLimits::default()
        };
        let mut seen = 0;
        let err = Loader::new(limits)
            .load_each_fault(std::slice::from_ref(&db), &mut |_| seen += 1)
            .err()
            .unwrap();
        assert_eq!(seen, 5);
        assert_eq!(err.0.len(), 3);
        assert_eq!(err.total(), 5);
        assert!(matches!(err.0[2].fault, SigFault::More(3)));
        assert!(
            err.to_string()
                .ends_with("... and 3 more fault(s) not shown; `vigil sigs check` lists them all"),
            "{err}"
        );
    }

    #[test]
    fn folders_load_known_formats_and_ignore_others() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("a.hdb"),
            "44d88612fea8a8f36de82e1278abb02f:68:A\n",
        )
        .unwrap();
        fs::write(dir.path().join("b.ndb"), "whatever\n").unwrap();
        let loaded = load_databases(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(loaded.set.stats().total_detections(), 1);
        assert_eq!(loaded.ignored, vec![dir.path().join("b.ndb")]);
    }

    #[test]
    fn empty_and_missing_databases_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.vsig");
        fs::write(&empty, "# nothing\n").unwrap();
        assert!(matches!(
            load_databases(&[empty]).err().unwrap().0[0].fault,
            SigFault::Empty { outside_flevel: 0 }
        ));
        // A line for other engine versions only: says why it was skipped.
        let old = dir.path().join("old.hdb");
        fs::write(&old, "44d88612fea8a8f36de82e1278abb02f:68:Eicar:1:20\n").unwrap();
        let e = load_databases(&[old]).err().unwrap().0[0].to_string();
        assert!(e.ends_with("no signatures found; 1 line(s) skipped: their functionality-level window (MINFL:MAXFL) leaves out this engine's level 216"), "{e}");
        let missing = dir.path().join("missing.hdb");
        assert!(matches!(
            load_databases(&[missing]).err().unwrap().0[0].fault,
            SigFault::Io(_)
        ));
    }

    #[test]
    fn every_hash_extension_loads_with_its_meaning() {
        let dir = tempfile::tempdir().unwrap();
        let md5 = "44d88612fea8a8f36de82e1278abb02f";
        let sha1 = "3395856ce81f2b7382dee72602f798b642f14140";
        for ext in ["hdb", "hsb", "hdu", "hsu"] {
            fs::write(
                dir.path().join(format!("d.{ext}")),
                format!("{md5}:68:{ext}\n"),
            )
            .unwrap();
        }
        for ext in ["fp", "sfp"] {
            fs::write(
                dir.path().join(format!("a.{ext}")),
                format!("{sha1}:68:{ext}\n"),
            )
            .unwrap();
        }
        fs::write(dir.path().join("n.vsig"), format!("md5:{md5}:*:vsig\n")).unwrap();
        fs::write(
            dir.path().join("n.vallow"),
            format!("sha1:{sha1}:*:vallow\n"),
        )
        .unwrap();
        let set = load_databases(&[dir.path().to_path_buf()]).unwrap().set;
        let s = set.stats();
        assert_eq!(s.files, 8);
        assert_eq!(s.detections[Algorithm::Md5.index()], 5);
        assert_eq!(s.detections_any_size[Algorithm::Md5.index()], 1);
        assert_eq!(s.allows[Algorithm::Sha1.index()], 3);
        assert_eq!(s.names, 8);
    }
}
