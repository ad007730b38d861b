//! Option values as the command line writes them: sizes, globs and worker
//! counts. Each parser returns a `ValueError` that names the option.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// A bad option value.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("--threads must be at least 1")]
    ZeroThreads,
    #[error("bad glob {glob:?} for {option}: {source}")]
    Glob {
        option: &'static str,
        glob: String,
        #[source]
        source: globset::Error,
    },
    #[error("bad size {0:?} for --max-filesize (expected e.g. 4096, 512K, 100M or 2G)")]
    Size(String),
    #[error("bad size {0:?} for --max-scansize (expected e.g. 400M or 1G)")]
    ScanSize(String),
    #[error("bad size {0:?} for --max-db-size (expected e.g. 512M or 2G)")]
    DbSize(String),
}

/// The number of cores this process may use (honours cgroup quotas and affinity).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `--threads N`, or every core this process may use.
pub fn threads_or_default(threads: Option<usize>) -> Result<usize, ValueError> {
    match threads {
        Some(0) => Err(ValueError::ZeroThreads),
        Some(n) => Ok(n),
        None => Ok(default_threads()),
    }
}

/// Builds a glob set; `*` does not cross `/`, so `*.log` means a file name
/// and `**/cache` any folder named cache. A folder pattern may end in `/`
/// (`logs/`). A pattern that reads as a regular expression (clamscan's
/// `--exclude` takes those) is warned about: as a glob it matches nothing.
pub fn globs(option: &'static str, patterns: &[String]) -> Result<Option<GlobSet>, ValueError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        if looks_like_regex(p) {
            tracing::warn!(
                "{option} {p:?} looks like a regular expression (clamscan's form); vigil takes \
                 globs, e.g. \"*.log\" or \"**/logs\""
            );
        }
        let p = match p.trim_end_matches('/') {
            trimmed if option.contains("dir") && !trimmed.is_empty() => trimmed,
            _ => p.as_str(),
        };
        let glob = GlobBuilder::new(p)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|source| ValueError::Glob {
                option,
                glob: p.to_string(),
                source,
            })?;
        builder.add(glob);
    }
    builder
        .build()
        .map(Some)
        .map_err(|source| ValueError::Glob {
            option,
            glob: patterns.join(", "),
            source,
        })
}

/// `\.log$`, `^/tmp`, `.*cache`: anchors, an escaped dot or `.*`.
fn looks_like_regex(p: &str) -> bool {
    p.ends_with('$')
        || p.starts_with('^')
        || p.contains("\\.")
        || p.contains(".*")
        || p.contains(".+")
}

/// Parses "4096", "512K", "100M", "2G", "1T" (optionally with "B" or "iB"),
/// case-insensitively, in powers of 1024.
/// `--tcp ADDR:PORT`: `127.0.0.1:3310`, `[::1]:3310`.
pub fn parse_socket_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("bad address {text:?} (expected e.g. 127.0.0.1:3310 or [::1]:3310)"))
}

pub fn parse_size(text: &str) -> Result<u64, ValueError> {
    let bad = || ValueError::Size(text.to_string());
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let t = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, shift) = match t.as_bytes().last() {
        Some(b'K') => (&t[..t.len() - 1], 10),
        Some(b'M') => (&t[..t.len() - 1], 20),
        Some(b'G') => (&t[..t.len() - 1], 30),
        Some(b'T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(1u64 << shift).ok_or_else(bad)
}

/// Checks a log level or tracing filter (`info`, `warn,vigil=debug`). A
/// bare word that is not a level (`warning`, `verbose`) would be read as a
/// target's name and silence every log line: it is refused.
pub fn check_log_filter(text: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive.rsplit_once('=').map_or(directive, |(_, l)| l);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "unknown log level {level:?} (expected error, warn, info, debug, trace or off, \
                 or TARGET=LEVEL)"
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(text)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_are_checked() {
        for good in [
            "info",
            "WARN",
            "warn,vigil=debug",
            "vigil::control=trace",
            "off",
        ] {
            assert!(check_log_filter(good).is_ok(), "{good}");
        }
        for bad in ["warning", "verbose", "vigil", "info,loud", "vigil=chatty"] {
            let e = check_log_filter(bad).unwrap_err();
            assert!(e.starts_with("unknown log level"), "{bad}: {e}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("100M").unwrap(), 100 << 20);
        assert_eq!(parse_size("2g").unwrap(), 2 << 30);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size("7B").unwrap(), 7);
        for bad in ["", "M", "-1", "1.5M", "10X", "99999999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn glob_star_stays_within_a_component() {
        let set = globs("--exclude", &["*.log".into()]).unwrap().unwrap();
        assert!(set.is_match("a.log"));
        assert!(!set.is_match("dir/a.log"));
        assert!(globs("--exclude", &["a[".into()]).is_err());
    }

    #[test]
    fn folder_patterns_may_end_in_a_slash() {
        let set = globs("--exclude-dir", &["logs/".into()]).unwrap().unwrap();
        assert!(set.is_match("logs"));
        assert!(
            looks_like_regex("\\.log$") && looks_like_regex("^/tmp") && looks_like_regex(".*cache")
        );
        assert!(!looks_like_regex("*.log") && !looks_like_regex("**/logs"));
    }
}
