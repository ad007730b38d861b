//! vigil: a parallel file scanner that hashes files and matches them against
//! known-file signatures. One engine — sources, a bounded queue, a
//! work-stealing pool and sinks — serves `vigil scan`, `vigil daemon` and the
//! daemon's control socket (`vigil ctl`, clamd clients).
//! See docs/development.md for where each part lives.

// The commands, and the command line they read.
pub mod app;
pub mod cli;

// The engine and what feeds it and reads from it.
pub(crate) mod container;
pub(crate) mod control;
pub mod engine;
pub mod quarantine;
pub mod report;
pub mod signature;
pub mod source;

// Small helpers every layer uses.
pub(crate) mod access;
pub mod cache;
pub mod error;
pub mod fileio;
pub mod hash;
pub mod metrics;
pub(crate) mod stats;
pub(crate) mod timefmt;

pub use app::run;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every `.rs` file under `dir`.
    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The files of `src/` that mention any of `needles`, except those under
    /// the folders or files named in `allowed`.
    fn offenders(needles: &[&str], allowed: &[&str], only: Option<&str>) -> Vec<String> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        files
            .into_iter()
            .filter_map(|path| {
                let rel = path
                    .strip_prefix(&src)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if allowed
                    .iter()
                    .any(|a| rel == *a || rel.starts_with(&format!("{a}/")))
                {
                    return None;
                }
                if only.is_some_and(|o| rel != o) {
                    return None;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                needles.iter().any(|n| text.contains(n)).then_some(rel)
            })
            .collect()
    }

    #[test]
    fn nothing_below_app_sees_the_command_line() {
        let bad = offenders(
            &["crate::cli", "crate::app", "vigil::cli", "vigil::app"],
            &["app", "cli", "lib.rs", "main.rs"],
            None,
        );
        assert!(
            bad.is_empty(),
            "only app/ may use cli/ and app/; these files do: {bad:?}"
        );
    }

    #[test]
    fn error_module_imports_nothing_from_the_crate() {
        let bad = offenders(&["crate::", "super::super"], &[], Some("error.rs"));
        assert!(
            bad.is_empty(),
            "error.rs must stay a leaf that every layer can use"
        );
    }
}
