//! `vigil sigs`: tools for signature databases. `check` lists every fault
//! and says of each database whether it is official (signed by ClamAV),
//! `stats` counts what a set holds and what it costs, `add` writes signature
//! lines for sample files, `import` turns a plain hash list into `.vsig`
//! lines, `diff` says what an update adds and removes, and `compile` writes
//! the binary index that `-d` maps in place.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{ConfigError, Error};
use crate::cli::args::{SigsArgs, SigsCommand};
use crate::error::ExitStatus;
use crate::fileio;
use crate::hash::{AlgoSet, Algorithm, Digest, MultiHasher};
use crate::signature::{self, LoadError, LoadLimits, Loaded, SignatureSet};

/// What `vigil sigs` is asked to do, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigsConfig {
    Check {
        databases: Vec<PathBuf>,
        limits: LoadLimits,
    },
    Stats {
        databases: Vec<PathBuf>,
        json: bool,
        limits: LoadLimits,
    },
    Add {
        /// At least one, in the order given, without repeats.
        algos: Vec<Algorithm>,
        name: Option<String>,
        clamav: bool,
        files: Vec<PathBuf>,
    },
    Import {
        /// `None`: by hex length, as in ClamAV databases.
        algo: Option<Algorithm>,
        name: String,
        /// Append `.LINE` to the name.
        numbered: bool,
        output: Option<PathBuf>,
        list: PathBuf,
    },
    Compile {
        output: PathBuf,
        databases: Vec<PathBuf>,
        limits: LoadLimits,
    },
    Diff {
        old: PathBuf,
        new: PathBuf,
        list: bool,
        limits: LoadLimits,
    },
}

fn algorithm(name: &str) -> Result<Algorithm, ConfigError> {
    Algorithm::from_name(name.trim()).ok_or_else(|| ConfigError::Algorithm(name.to_string()))
}

/// A name must survive a round trip through a database line: not empty,
/// no control characters, no surrounding blanks, and no `:` in ClamAV lines.
pub fn check_name(name: &str, clamav: bool) -> Result<(), ConfigError> {
    let bad = |why| Err(ConfigError::Name(name.to_string(), why));
    if name.trim().is_empty() {
        return bad("it is empty");
    }
    if name.trim() != name {
        return bad("it starts or ends with a blank");
    }
    if name.chars().any(char::is_control) {
        return bad("it contains a control character");
    }
    if clamav && name.contains(':') {
        return bad("ClamAV lines cannot hold ':' in a name");
    }
    Ok(())
}

impl SigsConfig {
    pub fn from_args(args: SigsArgs) -> Result<Self, ConfigError> {
        Ok(match args.command {
            SigsCommand::Check { databases, limits } => SigsConfig::Check {
                databases,
                limits: super::load_limits(&limits, LoadLimits::default())?,
            },
            SigsCommand::Stats {
                databases,
                json,
                limits,
            } => SigsConfig::Stats {
                databases,
                json,
                limits: super::load_limits(&limits, LoadLimits::default())?,
            },
            SigsCommand::Add {
                algos,
                name,
                clamav,
                files,
            } => {
                let mut picked = Vec::new();
                for a in &algos {
                    let a = algorithm(a)?;
                    if clamav && a == Algorithm::Blake3 {
                        return Err(ConfigError::ClamavAlgorithm(a));
                    }
                    if !picked.contains(&a) {
                        picked.push(a);
                    }
                }
                if picked.is_empty() {
                    picked.push(Algorithm::Sha256);
                }
                if let Some(n) = &name {
                    check_name(n, clamav)?;
                }
                SigsConfig::Add {
                    algos: picked,
                    name,
                    clamav,
                    files,
                }
            }
            SigsCommand::Import {
                algo,
                name,
                numbered,
                output,
                list,
            } => {
                check_name(&name, false)?;
                SigsConfig::Import {
                    algo: algo.as_deref().map(algorithm).transpose()?,
                    name,
                    numbered,
                    output,
                    list,
                }
            }
            SigsCommand::Diff {
                old,
                new,
                list,
                limits,
            } => SigsConfig::Diff {
                old,
                new,
                list,
                limits: super::load_limits(&limits, LoadLimits::default())?,
            },
            SigsCommand::Compile {
                output,
                databases,
                limits,
            } => SigsConfig::Compile {
                output,
                databases,
                limits: super::load_limits(&limits, LoadLimits::default())?,
            },
        })
    }
}

/// Runs one `vigil sigs` command.
pub fn run(config: &SigsConfig) -> Result<ExitStatus, Error> {
    let out = io::stdout();
    let mut out = BufWriter::new(out.lock());
    let status = match config {
        SigsConfig::Check { databases, limits } => {
            check(signature::Loader::new(*limits), databases, &mut out)
        }
        SigsConfig::Stats {
            databases,
            json,
            limits,
        } => stats(databases, *json, *limits, &mut out),
        SigsConfig::Add {
            algos,
            name,
            clamav,
            files,
        } => add(algos, name.as_deref(), *clamav, files, &mut out),
        SigsConfig::Import {
            algo,
            name,
            numbered,
            output,
            list,
        } => import(*algo, name, *numbered, output.as_deref(), list, &mut out),
        SigsConfig::Compile {
            output,
            databases,
            limits,
        } => compile(databases, output, *limits, &mut out),
        SigsConfig::Diff {
            old,
            new,
            list,
            limits,
        } => diff(old, new, *list, *limits, &mut out),
    };
    let flushed = out.flush();
    match (status, flushed) {
        // Output went away (e.g. `| head`): stop quietly, like other Unix tools.
        (Err(Error::Output(e)), _) | (Ok(_), Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            Ok(ExitStatus::Clean)
        }
        (Ok(_), Err(e)) => Err(Error::Output(e)),
        (status, _) => status,
    }
}

fn output(e: io::Error) -> Error {
    Error::Output(e)
}

/// Loads databases, timing it; prints every fault to stderr on failure.
fn load(
    databases: &[PathBuf],
    limits: signature::LoadLimits,
) -> Result<(Loaded, Duration), ExitStatus> {
    let started = Instant::now();
    match signature::Loader::new(limits).load(databases) {
        Ok(loaded) => Ok((loaded, started.elapsed())),
        Err(LoadError(faults)) => {
            eprintln!("vigil: cannot load signatures:");
            for f in &faults {
                eprintln!("  {f}");
            }
            Err(ExitStatus::Error)
        }
    }
}

/// `sigs diff`: loads both sets (one after the other, both kept: the diff
/// walks them side by side) and prints what changed.
fn diff(
    old: &Path,
    new: &Path,
    list: bool,
    limits: signature::LoadLimits,
    out: &mut impl Write,
) -> Result<ExitStatus, Error> {
    let old_set = match load(&[old.to_path_buf()], limits) {
        Ok((loaded, _)) => loaded.set,
        Err(status) => return Ok(status),
    };
    let new_set = match load(&[new.to_path_buf()], limits) {
        Ok((loaded, _)) => loaded.set,
        Err(status) => return Ok(status),
    };
    let mut written = Ok(());
    let counts = signature::diff(&old_set, &new_set, |change, e| {
        if list && written.is_ok() {
            let sign = match change {
                signature::Change::Added => '+',
                signature::Change::Removed => '-',
            };
            let size = e.size.map_or_else(|| "*".to_string(), |s| s.to_string());
            let allow = if e.allow { "allow " } else { "" };
            written = writeln!(
                out,
                "{sign} {allow}{}:{}:{size}:{}",
                e.digest.algorithm(),
                e.digest.to_hex(),
                e.name
            );
        }
    });
    written.map_err(output)?;
    writeln!(
        out,
        "{} -> {}: {} added, {} removed, {} unchanged",
        old.display(),
        new.display(),
        counts.added,
        counts.removed,
        counts.kept
    )
    .map_err(output)?;
    Ok(if counts.added + counts.removed == 0 {
        ExitStatus::Clean
    } else {
        ExitStatus::Found
    })
}

/// `sigs check`: every fault, or for each database whether it is official
/// and why, then what the set holds.
fn check(
    loader: signature::Loader,
    databases: &[PathBuf],
    out: &mut impl Write,
) -> Result<ExitStatus, Error> {
    let started = Instant::now();
    // Every fault is printed as it is found: a load keeps only the first few.
    let mut written = Ok(());
    let mut each = |f: &signature::SigError| {
        if written.is_ok() {
            written = writeln!(out, "{f}");
        }
    };
    let loaded = loader.load_each_fault(databases, &mut each);
    written.map_err(output)?;
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("vigil: {} fault(s)", e.total());
            return Ok(ExitStatus::Found);
        }
    };
    for path in &loaded.ignored {
        eprintln!(
            "vigil: {}: not a format vigil reads; ignored",
            path.display()
        );
    }
    let problems = loaded.set.verify();
    let names = databases
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    for p in &problems {
        writeln!(out, "{names}: {p}").map_err(output)?;
    }
    if !problems.is_empty() {
        eprintln!("vigil: {} fault(s)", problems.len());
        return Ok(ExitStatus::Found);
    }
    for (path, provenance) in &loaded.provenance {
        writeln!(out, "{}: {provenance}", path.display()).map_err(output)?;
    }
    let s = loaded.set.stats();
    writeln!(
        out,
        "{names}: OK, {} signatures and {} allow-list entries in {:.2} s",
        s.total_detections(),
        s.total_allows(),
        started.elapsed().as_secs_f64()
    )
    .map_err(output)?;
    Ok(ExitStatus::Clean)
}

/// Resident memory of this process, from `/proc/self/status`: (now, peak) in bytes.
fn resident_memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[derive(Serialize)]
struct AlgoStats {
    algorithm: &'static str,
    detections: usize,
    detections_sized: usize,
    detections_any_size: usize,
    allows: usize,
    allows_sized: usize,
    allows_any_size: usize,
}

#[derive(Serialize)]
struct StatsReport {
    algorithms: Vec<AlgoStats>,
    detections: usize,
    allows: usize,
    names: usize,
    files: usize,
    containers: usize,
    container_members: usize,
    skipped_members: usize,
    ignored_files: usize,
    outside_flevel: usize,
    compiled_index: bool,
    heap_bytes: usize,
    mapped_bytes: usize,
    rss_bytes: Option<u64>,
    peak_rss_bytes: Option<u64>,
    load_secs: f64,
}

fn report(set: &SignatureSet, ignored: usize, elapsed: Duration) -> StatsReport {
    let s = set.stats();
    let mem = set.memory();
    let rss = resident_memory();
    StatsReport {
        algorithms: Algorithm::ALL
            .iter()
            .map(|a| {
                let i = a.index();
                AlgoStats {
                    algorithm: a.name(),
                    detections: s.detections[i],
                    detections_sized: s.detections[i] - s.detections_any_size[i],
                    detections_any_size: s.detections_any_size[i],
                    allows: s.allows[i],
                    allows_sized: s.allows[i] - s.allows_any_size[i],
                    allows_any_size: s.allows_any_size[i],
                }
            })
            .collect(),
        detections: s.total_detections(),
        allows: s.total_allows(),
        names: s.names,
        files: s.files,
        containers: s.containers,
        container_members: s.container_members,
        skipped_members: s.skipped_members,
        ignored_files: ignored,
        outside_flevel: s.outside_flevel,
        compiled_index: set.is_mapped(),
        heap_bytes: mem.heap,
        mapped_bytes: mem.mapped,
        rss_bytes: rss.map(|r| r.0),
        peak_rss_bytes: rss.map(|r| r.1),
        load_secs: elapsed.as_secs_f64(),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn stats(
    databases: &[PathBuf],
    json: bool,
    limits: signature::LoadLimits,
    out: &mut impl Write,
) -> Result<ExitStatus, Error> {
    let (loaded, elapsed) = match load(databases, limits) {
        Ok(l) => l,
        Err(status) => return Ok(status),
    };
    let r = report(&loaded.set, loaded.ignored.len(), elapsed);
    if json {
        let line = serde_json::to_string(&r).map_err(|e| output(e.into()))?;
        writeln!(out, "{line}").map_err(output)?;
        return Ok(ExitStatus::Clean);
    }
    let mut text = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        text,
        "{:<10} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}",
        "algorithm", "detections", "sized", "any size", "allow", "sized", "any size"
    );
    for a in &r.algorithms {
        let _ = writeln!(
            text,
            "{:<10} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}",
            a.algorithm,
            a.detections,
            a.detections_sized,
            a.detections_any_size,
            a.allows,
            a.allows_sized,
            a.allows_any_size
        );
    }
    let _ = writeln!(
        text,
        "{:<10} {:>12} {:>49}",
        "total", r.detections, r.allows
    );
    let _ = writeln!(text, "distinct names: {}", r.names);
    let _ = writeln!(
        text,
        "database files: {} ({} ClamAV containers: {} hash members loaded, {} other members skipped; {} files in folders ignored)",
        r.files, r.containers, r.container_members, r.skipped_members, r.ignored_files
    );
    if r.outside_flevel > 0 {
        let _ = writeln!(
            text,
            "lines skipped for their functionality level: {}",
            r.outside_flevel
        );
    }
    let (bytes, storage) = if r.compiled_index {
        (r.mapped_bytes, "mapped from a compiled index")
    } else {
        (r.heap_bytes, "in memory")
    };
    // The set's own bytes: the process's memory is mostly fixed cost for
    // a small set, and divided by two signatures would say megabytes each.
    let per_signature = bytes as f64 / (r.detections + r.allows).max(1) as f64;
    let _ = writeln!(
        text,
        "signature storage: {} {storage} ({per_signature:.1} bytes per signature)",
        mib(bytes as u64)
    );
    if let (Some(rss), Some(peak)) = (r.rss_bytes, r.peak_rss_bytes) {
        let _ = writeln!(
            text,
            "process resident memory: {}, peak {}",
            mib(rss),
            mib(peak)
        );
    }
    let _ = writeln!(text, "loaded in {:.3} s", r.load_secs);
    out.write_all(text.as_bytes()).map_err(output)?;
    Ok(ExitStatus::Clean)
}

/// A signature name made from a file name: control characters (and `:` for
/// ClamAV lines) become `_`.
fn name_from_path(path: &Path, clamav: bool) -> String {
    let raw = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_control() || (clamav && c == ':') {
                '_'
            } else {
                c
            }
        })
        .collect();
    match name.trim() {
        "" => "Sample".to_string(),
        t => t.to_string(),
    }
}

fn add(
    algos: &[Algorithm],
    name: Option<&str>,
    clamav: bool,
    files: &[PathBuf],
    out: &mut impl Write,
) -> Result<ExitStatus, Error> {
    let set = algos.iter().fold(AlgoSet::EMPTY, |s, a| s.with(*a));
    let mut hasher = MultiHasher::new(set);
    let mut buf = vec![0u8; fileio::READ_BUF_SIZE];
    let mut status = ExitStatus::Clean;
    for path in files {
        hasher.reset(set);
        let hashed = fileio::open_regular(path, true)
            .map_err(|e| e.to_string())
            .and_then(|(mut file, meta)| {
                fileio::hash_file(&mut file, meta.len(), &mut buf, &mut hasher)
                    .map_err(|e| e.to_string())
            });
        let size = match hashed {
            Ok(size) => size,
            Err(reason) => {
                eprintln!("{}: {reason} ERROR", crate::report::escape_path(path));
                status = ExitStatus::Error;
                continue;
            }
        };
        let digests = hasher.finish();
        let name = name.map_or_else(|| name_from_path(path, clamav), str::to_string);
        for algo in algos {
            let Some(d) = digests.get(*algo) else {
                continue;
            };
            if clamav {
                writeln!(out, "{d}:{size}:{name}")
            } else {
                writeln!(out, "{algo}:{d}:{size}:{name}")
            }
            .map_err(output)?;
        }
    }
    Ok(status)
}

/// One hash from a list line: the first blank-separated word, so that
/// `sha256sum` output (`HEX  FILE`) works too.
fn import_line(line: &str, algo: Option<Algorithm>) -> Result<Option<Digest>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let hex = line.split_whitespace().next().unwrap_or_default();
    let algo = match algo {
        Some(a) => a,
        None => Algorithm::from_clamav_hex_len(hex.len()).ok_or_else(|| {
            format!(
                "{} hex digits match no algorithm (32 md5, 40 sha1, 64 sha256; use --algo for blake3)",
                hex.len()
            )
        })?,
    };
    Digest::from_hex(algo, hex)
        .map(Some)
        .map_err(|e| format!("bad digest: {e}"))
}

fn import(
    algo: Option<Algorithm>,
    name: &str,
    numbered: bool,
    output_path: Option<&Path>,
    list: &Path,
    out: &mut impl Write,
) -> Result<ExitStatus, Error> {
    let input: Box<dyn BufRead> = if list == Path::new("-") {
        Box::new(BufReader::new(io::stdin()))
    } else {
        match File::open(list) {
            Ok(f) => Box::new(BufReader::with_capacity(1 << 20, f)),
            Err(e) => return Ok(cannot("read", list, &e)),
        }
    };
    match output_path {
        None => import_to(input, algo, name, numbered, list, out),
        Some(path) => {
            let tmp = temp_beside(path);
            let mut file = match File::create(&tmp) {
                Ok(f) => BufWriter::with_capacity(1 << 20, f),
                Err(e) => return Ok(cannot("write", &tmp, &e)),
            };
            let status = import_to(input, algo, name, numbered, list, &mut file);
            let finished = file
                .into_inner()
                .map_err(|e| e.into_error())
                .and_then(|f| f.sync_all());
            match (status, finished) {
                (Ok(ExitStatus::Clean), Ok(())) => {
                    std::fs::rename(&tmp, path).map_err(output)?;
                    Ok(ExitStatus::Clean)
                }
                (status, finished) => {
                    let _ = std::fs::remove_file(&tmp);
                    finished.map_err(output)?;
                    status
                }
            }
        }
    }
}

/// Says on stderr that `path` could not be read or written (`what`); the
/// import then ends with an error status.
fn cannot(what: &str, path: &Path, e: &io::Error) -> ExitStatus {
    eprintln!(
        "vigil: {}: cannot {what}: {}",
        path.display(),
        crate::error::io_reason(e)
    );
    ExitStatus::Error
}

fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp{}", std::process::id()))
}

fn import_to(
    mut input: impl BufRead,
    algo: Option<Algorithm>,
    name: &str,
    numbered: bool,
    list: &Path,
    out: &mut impl Write,
) -> Result<ExitStatus, Error> {
    let mut raw = Vec::new();
    let mut line_no = 0usize;
    let mut faults = 0usize;
    loop {
        raw.clear();
        match input.read_until(b'\n', &mut raw) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Ok(cannot("read", list, &e)),
        }
        line_no += 1;
        let parsed = std::str::from_utf8(&raw)
            .map_err(|_| "line is not valid UTF-8".to_string())
            .and_then(|line| import_line(line, algo));
        match parsed {
            Ok(None) => {}
            Ok(Some(d)) if numbered => {
                writeln!(out, "{}:{d}:*:{name}.{line_no}", d.algorithm()).map_err(output)?
            }
            Ok(Some(d)) => writeln!(out, "{}:{d}:*:{name}", d.algorithm()).map_err(output)?,
            Err(reason) => {
                faults += 1;
                eprintln!("{}:{line_no}: {reason}", list.display());
            }
        }
    }
    if faults > 0 {
        eprintln!("vigil: {faults} bad line(s) in {}", list.display());
        return Ok(ExitStatus::Found);
    }
    Ok(ExitStatus::Clean)
}

fn compile(
    databases: &[PathBuf],
    output_path: &Path,
    limits: signature::LoadLimits,
    out: &mut impl Write,
) -> Result<ExitStatus, Error> {
    let started = Instant::now();
    let (loaded, _) = match load(databases, limits) {
        Ok(l) => l,
        Err(status) => return Ok(status),
    };
    for path in &loaded.ignored {
        eprintln!(
            "vigil: {}: not a format vigil reads; ignored",
            path.display()
        );
    }
    signature::write_index(&loaded.set, output_path).map_err(|source| Error::WriteIndex {
        path: output_path.to_path_buf(),
        source,
    })?;
    let s = loaded.set.stats();
    let n = s.total_detections() + s.total_allows();
    let bytes = std::fs::metadata(output_path).map(|m| m.len()).unwrap_or(0);
    writeln!(
        out,
        "{}: {} signatures, {} allow-list entries, {} names; {} ({:.1} bytes per entry) in {:.2} s",
        output_path.display(),
        s.total_detections(),
        s.total_allows(),
        s.names,
        mib(bytes),
        bytes as f64 / n.max(1) as f64,
        started.elapsed().as_secs_f64()
    )
    .map_err(output)?;
    Ok(ExitStatus::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_lines() {
        let sha = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
        assert_eq!(import_line("  # c", None), Ok(None));
        assert_eq!(import_line("", None), Ok(None));
        let d = import_line(&format!("{}  eicar.com\r\n", sha.to_uppercase()), None)
            .unwrap()
            .unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.to_hex(), sha);
        let d = import_line(sha, Some(Algorithm::Blake3)).unwrap().unwrap();
        assert_eq!(d.algorithm(), Algorithm::Blake3);
        assert!(import_line("abcd", None).is_err());
        assert!(import_line("abcd", Some(Algorithm::Md5)).is_err());
    }

    #[test]
    fn check_says_which_databases_are_official_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let hdb: &[u8] = b"44d88612fea8a8f36de82e1278abb02f:68:Eicar.Md5\n";
        let ndb: &[u8] = b"Sig:0:*:41\n";
        let members: &[(&str, &[u8])] = &[("daily.hdb", hdb), ("daily.ndb", ndb)];
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let good = write(
            "daily.cld",
            &signature::testing::signed_cld(members, members),
        );
        let bent_ndb: &[u8] = b"Sig:0:*:42\n";
        let bent = write(
            "bent.cld",
            &signature::testing::signed_cld(members, &[members[0], ("daily.ndb", bent_ndb)]),
        );
        let text = write("local.hdb", hdb);
        let own = write(
            "own.vsig",
            b"sha256:275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:*:Own\n",
        );
        let loader = signature::testing::trusting_test_keys(LoadLimits::default());
        let mut out = Vec::new();
        let databases = [good.clone(), bent.clone(), text.clone(), own.clone()];
        let status = check(loader, &databases, &mut out).unwrap();
        assert_eq!(status, ExitStatus::Clean);
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let want = [
            format!(
                "{}: official: .info signature by ClamAV's key and every member's SHA-256 verified",
                good.display()
            ),
            format!(
                "{}: unofficial: .info SHA-256 mismatch for daily.ndb",
                bent.display()
            ),
            format!(
                "{}: unofficial: .hdb text databases are never official",
                text.display()
            ),
            format!(
                "{}: unofficial: .vsig is vigil's own format; its names are printed as written",
                own.display()
            ),
        ];
        assert_eq!(lines[..4], want, "{out}");
        assert!(lines[4].contains(": OK, 3 signatures"), "{out}");
        // With ClamAV's keys, the test key's signature is no signature.
        let mut out = Vec::new();
        check(
            signature::Loader::default(),
            std::slice::from_ref(&good),
            &mut out,
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with(&format!(
                "{}: unofficial: .info signature: the digital signature does not check against ClamAV's key\n",
                good.display()
            )),
            "{out}"
        );
    }

    #[test]
    fn names_from_paths_are_line_safe() {
        assert_eq!(name_from_path(Path::new("/x/a:b\nc"), true), "a_b_c");
        assert_eq!(name_from_path(Path::new("/x/a:b"), false), "a:b");
        assert_eq!(name_from_path(Path::new("/"), false), "Sample");
    }
}
