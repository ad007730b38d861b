//! Loading signature databases from files, folders and the built-in set.
//! Loading is all or nothing: every fault is collected with its `file:line`,
//! and a set with any fault is refused, so a scan never runs on half a set.
//!
//! Text databases are parsed in parallel (`text`), ClamAV containers are
//! unpacked as a stream (`cvd`), and a compiled index (`index`) on its own is
//! mapped in place; mixed with other databases it is merged into memory.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::cvd::{self, ContainerKind, CvdFault};
use super::index::{self, IndexFault};
use super::parse::{Format, LineFault};
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
    #[error("no signatures found")]
    Empty,
}

impl fmt::Display for SigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.fault),
            None => write!(f, "{}: {}", self.file.display(), self.fault),
        }
    }
}

/// Every fault of a failed load.
#[derive(Debug)]
pub struct LoadError(pub Vec<SigError>);

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
    let mut errors = Vec::new();
    for (name, body) in BUILTIN {
        let path = Path::new("<builtin>").join(name);
        let format = Format::from_path(&path).expect("built-in file has a known extension");
        builder.note_file();
        text::load(&mut builder, &path, format, body.as_bytes(), &mut errors)
            .expect("reading memory cannot fail");
    }
    assert!(
        errors.is_empty(),
        "built-in signatures are valid: {errors:?}"
    );
    builder.build()
}

/// Loads every named database: files of a known format, and folders, whose
/// files of known formats are loaded (not recursively) in name order.
/// A compiled index named on its own is mapped, not copied.
pub fn load_databases(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    let mut errors = Vec::new();
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
                errors.push(fault(SigFault::Io(e)));
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
                Err(e) => errors.push(fault(SigFault::Io(e))),
            }
        } else {
            match classify(path, true) {
                Some(kind) => sources.push((path.clone(), kind)),
                None => errors.push(fault(SigFault::UnknownFormat)),
            }
        }
    }
    let set = if let (true, [(path, Kind::Index)]) = (errors.is_empty(), &sources[..]) {
        match index::open(path) {
            Ok(set) => set,
            Err(fault) => {
                return Err(LoadError(vec![SigError {
                    file: path.clone(),
                    line: None,
                    fault: fault.into(),
                }]))
            }
        }
    } else {
        let started = std::time::Instant::now();
        let mut builder = SignatureSetBuilder::new();
        for (path, kind) in &sources {
            load_one(&mut builder, path, *kind, &mut errors);
        }
        tracing::debug!(elapsed = ?started.elapsed(), "signature databases parsed");
        builder.build()
    };
    if errors.is_empty() && set.stats().total_detections() == 0 {
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
        errors.push(SigError {
            file,
            line: None,
            fault: SigFault::Empty,
        });
    }
    if errors.is_empty() {
        Ok(Loaded { set, ignored })
    } else {
        Err(LoadError(errors))
    }
}

/// Reads one database file into `builder`.
fn load_one(
    builder: &mut SignatureSetBuilder,
    path: &Path,
    kind: Kind,
    errors: &mut Vec<SigError>,
) {
    let fault = |fault| SigError {
        file: path.to_path_buf(),
        line: None,
        fault,
    };
    match kind {
        Kind::Text(format) => {
            builder.note_file();
            let read = text::load_file(builder, path, format, errors);
            if let Err(e) = read {
                errors.push(fault(SigFault::Io(e)));
            }
        }
        Kind::Container(kind) => {
            builder.note_file();
            cvd::load(builder, path, kind, errors);
        }
        Kind::Index => match index::open(path) {
            Ok(set) => builder.add_set(&set),
            Err(e) => errors.push(fault(e.into())),
        },
    }
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
            SigFault::Empty
        ));
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
