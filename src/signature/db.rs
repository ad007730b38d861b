//! Loading signature databases from files, folders and the built-in set.
//! Loading is all or nothing: every fault is collected with its `file:line`,
//! and a set with any fault is refused, so a scan never runs on half a set.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::parse::{parse_line, Format, LineFault, Parsed};
use super::{SignatureSet, SignatureSetBuilder};

/// The built-in default set, compiled into the binary.
const BUILTIN: &[(&str, &str)] = &[("eicar.vsig", include_str!("../../signatures/eicar.vsig"))];

/// One fault found while loading: where, and what.
#[derive(Debug)]
pub struct SigError {
    /// The database file (or folder) as the user named it.
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
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    #[error(
        "unknown database format (expected .vsig, .vallow, .hdb, .hsb, .hdu, .hsu, .fp or .sfp)"
    )]
    UnknownFormat,
    #[error("ClamAV container databases (.cvd/.cld) are not supported yet; unpack them with `sigtool --unpack` and pass the .hdb/.hsb files")]
    Container,
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

/// The built-in default set.
pub fn load_builtin() -> SignatureSet {
    let mut builder = SignatureSetBuilder::new();
    let mut errors = Vec::new();
    for (name, text) in BUILTIN {
        let path = Path::new("<builtin>").join(name);
        let format = Format::from_path(&path).expect("built-in file has a known extension");
        load_text(&mut builder, &path, format, text.as_bytes(), &mut errors);
    }
    assert!(
        errors.is_empty(),
        "built-in signatures are valid: {errors:?}"
    );
    builder.build()
}

/// Loads every named database: files of a known format, and folders, whose
/// files of known formats are loaded (not recursively) in name order.
pub fn load_databases(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    let mut builder = SignatureSetBuilder::new();
    let mut errors = Vec::new();
    let mut ignored = Vec::new();
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
                        match classify(&file) {
                            Ok(Some(format)) => load_file(&mut builder, &file, format, &mut errors),
                            Ok(None) => ignored.push(file),
                            Err(f) => errors.push(SigError {
                                file,
                                line: None,
                                fault: f,
                            }),
                        }
                    }
                }
                Err(e) => errors.push(fault(SigFault::Io(e))),
            }
        } else {
            match classify(path) {
                Ok(Some(format)) => load_file(&mut builder, path, format, &mut errors),
                Ok(None) => errors.push(fault(SigFault::UnknownFormat)),
                Err(f) => errors.push(fault(f)),
            }
        }
    }
    let set = builder.build();
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

/// The format of a file; `Ok(None)` for a file vigil does not read at all.
fn classify(path: &Path) -> Result<Option<Format>, SigFault> {
    if let Some(format) = Format::from_path(path) {
        return Ok(Some(format));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("cvd" | "cld" | "cud") => Err(SigFault::Container),
        _ => Ok(None),
    }
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

fn load_file(
    builder: &mut SignatureSetBuilder,
    path: &Path,
    format: Format,
    errors: &mut Vec<SigError>,
) {
    match fs::read(path) {
        Ok(bytes) => load_text(builder, path, format, &bytes, errors),
        Err(e) => errors.push(SigError {
            file: path.to_path_buf(),
            line: None,
            fault: SigFault::Io(e),
        }),
    }
}

fn load_text(
    builder: &mut SignatureSetBuilder,
    path: &Path,
    format: Format,
    text: &[u8],
    errors: &mut Vec<SigError>,
) {
    builder.note_file();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        match parse_line(format, line) {
            Ok(Parsed::Nothing) => {}
            Ok(Parsed::Signature(sig)) => builder.add(&sig, format.is_allow()),
            Ok(Parsed::OutsideFlevel) => builder.note_outside_flevel(),
            Err(fault) => errors.push(SigError {
                file: path.to_path_buf(),
                line: Some(i + 1),
                fault: SigFault::Line(fault),
            }),
        }
    }
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
}
