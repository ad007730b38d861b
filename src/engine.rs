//! The scan engine: what the pool's jobs mean. A request becomes a root; a
//! directory job lists one directory and fans out into subdirectory jobs and
//! batches of files; a file batch is inspected and reported. Shared by the
//! one-shot scan and (later) the daemon.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::fileio::FileKind;
use crate::inspect::{FileResult, Inspected, Inspector};
use crate::pool::JobRunner;
use crate::report::{Detection, Event, Sink};
use crate::source::ScanRequest;
use crate::stats::{add, bump, Stats};
use crate::walk::{Candidate, DirJob, Found, SkipReason, Walker};

/// Files per batch: small enough that a directory of many files is shared
/// out between workers, large enough that scheduling costs little.
const BATCH_FILES: usize = 32;
/// Bytes per batch: a batch is closed early when its files add up to this,
/// so that big files are spread over workers too.
const BATCH_BYTES: u64 = 4 << 20;

/// A unit of work in the pool.
#[derive(Debug)]
pub enum Job {
    Request(ScanRequest),
    Dir(DirJob),
    Files(Vec<Candidate>),
}

impl From<ScanRequest> for Job {
    fn from(r: ScanRequest) -> Self {
        Job::Request(r)
    }
}

/// Runs jobs against one walker, inspector and sink.
pub struct Engine<'a> {
    pub walker: Walker,
    pub inspector: Inspector,
    pub sink: &'a dyn Sink,
    pub stats: &'a Stats,
    /// Set to stop early (closed output, a signal); workers then drop their work.
    pub quit: &'a AtomicBool,
}

impl JobRunner for Engine<'_> {
    type Job = Job;

    fn run(&self, job: Job, spawn: &mut Vec<Job>) {
        match job {
            Job::Request(ScanRequest::Path(path)) => {
                let found = self.walker.root(path);
                self.found(found, spawn);
            }
            Job::Request(ScanRequest::Stdin) => {
                let inspected = self.inspector.inspect_stream(&mut std::io::stdin().lock());
                self.report(Path::new("stdin"), &inspected);
            }
            Job::Dir(dir) => self.list(dir, spawn),
            Job::Files(files) => {
                for cand in files {
                    if self.quit.load(Ordering::Relaxed) {
                        return;
                    }
                    self.file(&cand);
                }
            }
        }
    }
}

impl Engine<'_> {
    fn list(&self, dir: DirJob, spawn: &mut Vec<Job>) {
        bump(&self.stats.local().directories);
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        let listed = self.walker.list(&dir, |found| match found {
            Found::File(cand) => {
                batch_bytes += cand.size;
                batch.push(cand);
                if batch.len() >= BATCH_FILES || batch_bytes >= BATCH_BYTES {
                    spawn.push(Job::Files(std::mem::take(&mut batch)));
                    batch_bytes = 0;
                }
            }
            other => self.found(other, spawn),
        });
        if !batch.is_empty() {
            spawn.push(Job::Files(batch));
        }
        if let Err(e) = listed {
            self.error(&dir.path, &crate::error::io_reason(&e));
        }
    }

    fn found(&self, found: Found, spawn: &mut Vec<Job>) {
        let local = self.stats.local();
        match found {
            Found::Dir(dir) => spawn.push(Job::Dir(dir)),
            Found::File(cand) => self.file(&cand),
            Found::Skipped(_, reason) => bump(match reason {
                SkipReason::Special(_) => &local.skipped_special,
                SkipReason::Excluded => &local.skipped_excluded,
                SkipReason::Symlink => &local.skipped_symlink,
                SkipReason::OtherFileSystem => &local.skipped_other_fs,
            }),
            Found::Error(path, e) => self.error(&path, &e.to_string()),
        }
    }

    fn file(&self, cand: &Candidate) {
        let inspected = self.inspector.inspect(cand);
        self.report(&cand.path, &inspected);
    }

    fn report(&self, path: &Path, inspected: &Inspected) {
        let local = self.stats.local();
        let examined = |hashed: bool| {
            bump(&local.files);
            if inspected.reused {
                bump(&local.hardlinks_reused);
            } else if hashed {
                bump(&local.hashed);
                add(&local.bytes_hashed, inspected.bytes);
            } else {
                bump(&local.cleared_by_size);
            }
        };
        match &inspected.result {
            FileResult::Cleared => {
                examined(false);
                self.emit(&Event::Clean { path });
            }
            FileResult::Clean { .. } => {
                examined(true);
                self.emit(&Event::Clean { path });
            }
            FileResult::Detected {
                size,
                signature,
                digest,
            } => {
                examined(true);
                bump(&local.detections);
                self.emit(&Event::Detection(Detection {
                    path,
                    size: *size,
                    signature,
                    digest,
                }));
            }
            FileResult::TooLarge => bump(&local.skipped_too_large),
            FileResult::NotRegular(FileKind::Symlink) => bump(&local.skipped_symlink),
            FileResult::NotRegular(_) => bump(&local.skipped_special),
            FileResult::Failed(reason) => self.error(path, reason),
        }
    }

    fn error(&self, path: &Path, reason: &str) {
        bump(&self.stats.local().errors);
        self.emit(&Event::Error { path, reason });
    }

    fn emit(&self, event: &Event<'_>) {
        self.sink.event(event);
        if self.sink.is_closed() {
            self.quit.store(true, Ordering::Relaxed);
        }
    }
}
