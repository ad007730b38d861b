//! A live progress line on stderr, only when stderr is a terminal: files,
//! bytes and detections so far, refreshed ten times a second from the stats.
//! Output written to the terminal meanwhile goes through `Progress::suspend`
//! so that result lines and the bar never garble each other.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::stats::Stats;
use indicatif::HumanBytes;

/// A progress line; cheap to clone (all clones draw the same line).
#[derive(Clone, Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A progress line, if one should be drawn: not with `--quiet`, and only
    /// when stderr is a terminal.
    pub fn if_wanted(quiet: bool) -> Option<Self> {
        if quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .expect("valid progress template"),
        );
        Some(Progress { bar })
    }

    /// Runs `write` with the bar cleared, then redraws it.
    pub fn suspend<R>(&self, write: impl FnOnce() -> R) -> R {
        self.bar.suspend(write)
    }

    /// Updates the line from `stats` until `done` is set, then clears it.
    /// Run it on its own thread.
    pub fn run(&self, stats: &Stats, done: &AtomicBool) {
        while !done.load(Ordering::Relaxed) {
            let s = stats.snapshot();
            self.bar.set_message(format!(
                "{} files, {} dirs, {} hashed, {} found, {} errors",
                s.files,
                s.directories,
                HumanBytes(s.bytes_hashed),
                s.detections,
                s.errors
            ));
            self.bar.tick();
            std::thread::park_timeout(Duration::from_millis(100));
        }
        self.bar.finish_and_clear();
    }
}

/// Runs `write` through the progress line, if there is one.
pub fn around<R>(progress: Option<&Progress>, write: impl FnOnce() -> R) -> R {
    match progress {
        Some(p) => p.suspend(write),
        None => write(),
    }
}
