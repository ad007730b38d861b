//! The checked `BenchConfig` that `vigil bench`'s arguments become. Nothing
//! here touches files or threads; the bench itself is in the parent module.

use std::path::PathBuf;

use super::corpus::Shape;
use crate::cli::args::{BenchArgs, MAX_THREADS};
use crate::cli::values::{default_threads, parse_size, ValueError};
use crate::hash::Algorithm;

/// Where the files to scan come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorpusSource {
    /// An existing folder.
    Dir(PathBuf),
    /// A corpus generated into a temporary folder.
    Generate { shape: Shape, keep: bool },
}

/// Everything `vigil bench` needs, checked.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub corpus: CorpusSource,
    /// Worker counts, ascending, without repeats; always starts with 1.
    pub threads: Vec<usize>,
    /// The bench signature's algorithm (when `databases` is empty).
    pub algorithm: Algorithm,
    pub databases: Vec<PathBuf>,
    pub repeat: usize,
    pub json: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    pub drop_caches: bool,
}

/// A bad `vigil bench` option value.
#[derive(Debug, thiserror::Error)]
pub enum BenchConfigError {
    #[error("bad --threads list {list:?}: {reason} (expected worker counts like 1,2,4)")]
    Threads { list: String, reason: String },
    #[error("bad --generate {text:?}: {reason} (expected SIZE[:FILES], e.g. 500M or 2G:100000)")]
    Generate { text: String, reason: String },
    #[error("--repeat must be at least 1")]
    ZeroRepeat,
}

impl BenchConfig {
    pub fn from_args(args: BenchArgs) -> Result<Self, BenchConfigError> {
        let threads = match &args.threads {
            Some(list) => parse_threads(list)?,
            None => default_thread_list(default_threads()),
        };
        if args.repeat == 0 {
            return Err(BenchConfigError::ZeroRepeat);
        }
        let corpus = match (args.corpus, args.generate) {
            (Some(dir), _) => CorpusSource::Dir(dir),
            (None, text) => CorpusSource::Generate {
                shape: parse_generate(text.as_deref().unwrap_or("500M"), args.seed)?,
                keep: args.keep,
            },
        };
        Ok(BenchConfig {
            corpus,
            threads,
            algorithm: args.algo.into(),
            databases: args.databases,
            repeat: args.repeat,
            json: args.json,
            csv: args.csv,
            plot: args.plot,
            drop_caches: args.drop_caches,
        })
    }
}

/// 1, 2, 4, ... up to `cores`, then `cores` itself.
pub fn default_thread_list(cores: usize) -> Vec<usize> {
    let mut list: Vec<usize> = std::iter::successors(Some(1usize), |n| n.checked_mul(2))
        .take_while(|&n| n <= cores)
        .collect();
    if list.last() != Some(&cores) && cores > 0 {
        list.push(cores);
    }
    list
}

/// Parses "1,2,4" (spaces allowed): ascending, de-duplicated, with 1 added.
pub fn parse_threads(list: &str) -> Result<Vec<usize>, BenchConfigError> {
    let bad = |reason: String| BenchConfigError::Threads {
        list: list.to_string(),
        reason,
    };
    if list.trim().is_empty() {
        return Err(bad("it is empty".into()));
    }
    let mut out = Vec::new();
    for item in list.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(bad("an empty entry".into()));
        }
        let n: usize = match item.parse() {
            Ok(n) if item.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(bad(format!("{item:?} is not a whole number"))),
        };
        if n == 0 {
            return Err(bad("0 workers cannot scan".into()));
        }
        if n > MAX_THREADS {
            return Err(bad(format!("{n} is more than {MAX_THREADS} workers")));
        }
        out.push(n);
    }
    out.push(1);
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Parses "500M" or "2G:100000".
fn parse_generate(text: &str, seed: u64) -> Result<Shape, BenchConfigError> {
    let bad = |reason: String| BenchConfigError::Generate {
        text: text.to_string(),
        reason,
    };
    let (size, files) = match text.split_once(':') {
        Some((size, files)) => (size, Some(files)),
        None => (text, None),
    };
    let bytes = parse_size(size).map_err(|e| match e {
        ValueError::Size(_) => bad(format!("{size:?} is not a size")),
        other => bad(other.to_string()),
    })?;
    if bytes == 0 {
        return Err(bad("the size must be more than 0".into()));
    }
    let files = match files {
        None => None,
        Some(f) => match f.trim().parse::<u64>() {
            Ok(0) => return Err(bad("FILES must be at least 1".into())),
            Ok(n) if n > bytes => return Err(bad(format!("{n} files cannot share {bytes} bytes"))),
            Ok(n) => Some(n),
            Err(_) => return Err(bad(format!("{f:?} is not a whole number of files"))),
        },
    };
    Ok(Shape { bytes, files, seed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_list_doubles_up_to_the_cores() {
        assert_eq!(default_thread_list(1), vec![1]);
        assert_eq!(default_thread_list(2), vec![1, 2]);
        assert_eq!(default_thread_list(6), vec![1, 2, 4, 6]);
        assert_eq!(default_thread_list(8), vec![1, 2, 4, 8]);
    }

    #[test]
    fn thread_lists() {
        assert_eq!(parse_threads("4, 2,2").unwrap(), vec![1, 2, 4]);
        for bad in ["", " ", "0", "1,,2", "a,b", "-1", "+2", "2,", "99999"] {
            assert!(parse_threads(bad).is_err(), "{bad:?}");
        }
        let e = parse_threads("a,b").unwrap_err().to_string();
        assert!(e.contains("\"a\" is not a whole number"), "{e}");
    }

    #[test]
    fn generate_specs() {
        let s = parse_generate("2M", 7).unwrap();
        assert_eq!((s.bytes, s.files, s.seed), (2 << 20, None, 7));
        assert_eq!(parse_generate("1G:500", 1).unwrap().files, Some(500));
        for bad in ["", "0", "x", "2M:", "2M:0", "2M:x", "10:11"] {
            assert!(parse_generate(bad, 1).is_err(), "{bad:?}");
        }
    }
}
