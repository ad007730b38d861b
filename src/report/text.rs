//! ClamAV-style text output: `PATH: NAME FOUND`, `PATH: OK` (unless only
//! infected files are wanted), errors on stderr as `PATH: REASON ERROR`, and a
//! `SCAN SUMMARY` block.

use indicatif::HumanBytes;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::{escape_path, Event, Sink, Summary};
use crate::report::progress::{around, Progress};

/// Which lines the text sink writes.
#[derive(Clone, Copy, Debug)]
pub struct TextOptions {
    /// Write `PATH: OK` lines.
    pub show_clean: bool,
    /// Write the summary block.
    pub show_summary: bool,
}

/// Writes text lines to stdout and errors to stderr.
pub struct TextSink {
    out: Mutex<Output>,
    err: Mutex<Box<dyn Write + Send>>,
    opts: TextOptions,
    /// Set once a write failed (a closed pipe): further output is dropped.
    closed: AtomicBool,
    /// The live progress line, cleared around each write to the terminal.
    progress: Option<Progress>,
}

struct Output {
    writer: BufWriter<Box<dyn Write + Send>>,
    /// Flush after every line, so a person at a terminal sees results at once.
    line_buffered: bool,
}

impl TextSink {
    /// A sink on the process's stdout and stderr.
    pub fn stdio(opts: TextOptions, progress: Option<Progress>) -> Self {
        let line_buffered = io::stdout().is_terminal();
        let mut sink = Self::new(
            Box::new(io::stdout()),
            Box::new(io::stderr()),
            line_buffered,
            opts,
        );
        sink.progress = progress;
        sink
    }

    pub fn new(
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
        line_buffered: bool,
        opts: TextOptions,
    ) -> Self {
        TextSink {
            out: Mutex::new(Output {
                writer: BufWriter::with_capacity(64 * 1024, out),
                line_buffered,
            }),
            err: Mutex::new(err),
            opts,
            closed: AtomicBool::new(false),
            progress: None,
        }
    }

    /// Writes one or more whole lines to stdout, formatted straight into the
    /// buffer under its lock (no `String` per line).
    fn write_out(&self, line: std::fmt::Arguments<'_>) {
        if self.is_closed() {
            return;
        }
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // Only a terminal shows the bar; a redirected stdout needs no clearing.
        let progress = self.progress.as_ref().filter(|_| out.line_buffered);
        let result = around(progress, || {
            out.writer.write_fmt(line)?;
            if out.line_buffered {
                out.writer.flush()?;
            }
            Ok::<_, io::Error>(())
        });
        if result.is_err() {
            self.closed.store(true, Ordering::Relaxed);
        }
    }

    /// stderr is unbuffered: a line goes out in one write, so that it stays
    /// whole beside anything else written to the same place. Errors are rare.
    fn write_err(&self, line: &str) {
        let mut err = self.err.lock().unwrap_or_else(|p| p.into_inner());
        // A closed stderr is no reason to stop a scan.
        let _ = around(self.progress.as_ref(), || err.write_all(line.as_bytes()));
    }
}

impl Sink for TextSink {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::Detection(d) => {
                let path = escape_path(d.path);
                let signature = d.signature;
                match d.moved {
                    // As clamscan --move; one write, so no other line comes between.
                    Some(moved) => self.write_out(format_args!(
                        "{path}: {signature} FOUND\n{path}: moved to '{}'\n",
                        escape_path(moved.dest)
                    )),
                    None => self.write_out(format_args!("{path}: {signature} FOUND\n")),
                }
            }
            Event::Clean { path } => {
                if self.opts.show_clean {
                    self.write_out(format_args!("{}: OK\n", escape_path(path)));
                }
            }
            Event::Error { path, reason, .. } => {
                self.write_err(&format!("{}: {} ERROR\n", escape_path(path), reason));
            }
        }
    }

    fn summary(&self, s: &Summary) {
        if !self.opts.show_summary {
            return;
        }
        self.write_out(format_args!("{}", format_summary(s)));
    }

    fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if out.writer.flush().is_err() {
            self.closed.store(true, Ordering::Relaxed);
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

fn format_summary(s: &Summary) -> String {
    let c = &s.counts;
    let k = &c.skipped;
    let secs = s.elapsed.as_secs_f64();
    let whole = s.elapsed.as_secs();
    let mut text = String::from("\n----------- SCAN SUMMARY -----------\n");
    text += &format!("Known viruses: {}\n", s.signatures);
    if s.allow_entries > 0 {
        text += &format!("Allow-list entries: {}\n", s.allow_entries);
    }
    text += &format!("Engine version: vigil {}\n", env!("CARGO_PKG_VERSION"));
    text += &format!("Threads: {}\n", s.threads);
    text += &format!("Scanned directories: {}\n", c.directories);
    text += &format!("Scanned files: {}\n", c.files);
    text += &format!(
        "Hashed files: {} ({} cleared by size without opening, {} hard links reused)\n",
        c.hashed, c.cleared_by_size, c.hardlinks_reused
    );
    if c.from_cache > 0 {
        text += &format!(
            "From the cache: {} (unchanged, matched without reading)\n",
            c.from_cache
        );
    }
    if c.read_ahead > 0 {
        text += &format!(
            "Read ahead: {} (files found on disk, their reads started before hashing)\n",
            c.read_ahead
        );
    }
    text += &format!(
        "Skipped: {} (special files: {}, over max size: {}, excluded: {}, symlinks: {}, other file systems: {})\n",
        k.total(),
        k.special,
        k.too_large,
        k.excluded,
        k.symlink,
        k.other_fs
    );
    if c.containers + c.limits_exceeded > 0 {
        text += &format!(
            "Containers: {} opened, {} members scanned, {} files cut short by a limit\n",
            c.containers, c.members, c.limits_exceeded
        );
    }
    text += &format!("Infected files: {}\n", c.detections);
    if c.moved + c.not_moved > 0 {
        text += &format!(
            "Quarantined: {} moved, {} not moved\n",
            c.moved, c.not_moved
        );
    }
    text += &format!("Errors: {}\n", c.errors);
    text += &format!(
        "Data hashed: {} ({} bytes)\n",
        HumanBytes(c.bytes_hashed),
        c.bytes_hashed
    );
    text += &format!("Time: {secs:.3} sec ({} m {} s)\n", whole / 60, whole % 60);
    text += &format!(
        "Throughput: {:.1} MiB/s, {:.0} files/s\n",
        s.mib_per_sec(),
        s.files_per_sec()
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, Algorithm};
    use crate::report::Detection;
    use std::path::Path;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_clamav_shaped_and_escaped() {
        let out = Shared::default();
        let err = Shared::default();
        let sink = TextSink::new(
            Box::new(out.clone()),
            Box::new(err.clone()),
            false,
            TextOptions {
                show_clean: false,
                show_summary: false,
            },
        );
        let digest = hash_bytes(Algorithm::Md5, b"x");
        sink.event(&Event::Detection(Detection {
            official: false,
            also: &[],
            path: Path::new("a\nb"),
            size: 1,
            signature: "Sig",
            digest: &digest,
            moved: None,
            member: &[],
        }));
        sink.event(&Event::Detection(Detection {
            official: false,
            also: &[],
            path: Path::new("e"),
            size: 1,
            signature: "Sig",
            digest: &digest,
            moved: Some(crate::report::Moved {
                id: "ID",
                dest: Path::new("/q/ID/da\nta"),
            }),
            member: &[],
        }));
        sink.event(&Event::Clean {
            path: Path::new("c"),
        });
        sink.event(&Event::Error {
            path: Path::new("d"),
            reason: "Permission denied",
            kind: crate::report::ErrorKind::Io,
        });
        sink.flush();
        assert_eq!(
            String::from_utf8(out.0.lock().unwrap().clone()).unwrap(),
            "a\\nb: Sig FOUND\ne: Sig FOUND\ne: moved to '/q/ID/da\\nta'\n"
        );
        assert_eq!(
            String::from_utf8(err.0.lock().unwrap().clone()).unwrap(),
            "d: Permission denied ERROR\n"
        );
    }

    #[test]
    fn human_bytes_units() {
        // The summary's and the progress line's format, as vigil has always printed it.
        assert_eq!(HumanBytes(12).to_string(), "12 B");
        assert_eq!(HumanBytes(1536).to_string(), "1.50 KiB");
        assert_eq!(HumanBytes(3 * 1024 * 1024).to_string(), "3.00 MiB");
    }
}
