//! A live progress line on stderr, only when stderr is a terminal: files,
//! bytes and detections so far, refreshed ten times a second from the stats.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::text::human_bytes;
use crate::stats::Stats;

/// Whether a progress line should be drawn.
pub fn wanted(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// Draws progress until `done` is set, then clears the line. Run it on its own thread.
pub fn run(stats: &Stats, done: &AtomicBool) {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid progress template"),
    );
    while !done.load(Ordering::Relaxed) {
        let s = stats.snapshot();
        bar.set_message(format!(
            "{} files, {} dirs, {} hashed, {} found, {} errors",
            s.files,
            s.directories,
            human_bytes(s.bytes_hashed),
            s.detections,
            s.errors
        ));
        bar.tick();
        std::thread::park_timeout(Duration::from_millis(100));
    }
    bar.finish_and_clear();
}
