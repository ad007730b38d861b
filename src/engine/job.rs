//! The scan engine: what the pool's jobs mean. A request becomes a root; a
//! directory job lists one directory and fans out into subdirectory jobs and
//! batches of files; a file batch is inspected and reported. Shared by the
//! one-shot scan and the daemon. Every job carries the `Origin` of the request
//! it came from, so that sinks that name the source (the daemon's event log)
//! can say which source a verdict answers. With a quarantine, a detected file
//! is moved into it before the detection is reported.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use crate::engine::inspect::{FileError, FileResult, Inspected, Inspector, Matches};
use crate::engine::pool::{self, JobRunner};
use crate::engine::prefetch::{Batch, ReadAhead};
use crate::engine::request::{GuardedOpen, Opener, Origin, RequestId, ScanRequest};
use crate::engine::walk::{Candidate, DirJob, Found, SkipReason, WalkError, Walker};
use crate::engine::Outputs;
use crate::fileio::{FileKind, Identity};
use crate::hash::Digest;
use crate::quarantine::{self, EntryId, Quarantine};
use crate::report::{Detection, ErrorKind, Event, Moved};
use crate::stats::{add, bump, Counters, Stats};

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
    Dir(DirJob, Origin),
    Files(Batch, Origin),
}

impl From<ScanRequest> for Job {
    fn from(r: ScanRequest) -> Self {
        Job::Request(r)
    }
}

impl Job {
    /// The source whose request this job serves.
    pub fn origin(&self) -> Origin {
        match self {
            Job::Request(ScanRequest::Path(_) | ScanRequest::Stdin) => Origin::Command,
            Job::Request(ScanRequest::Watched { origin, .. }) => *origin,
            Job::Request(ScanRequest::Control { id, .. }) => Origin::Control(*id),
            Job::Request(ScanRequest::Open(_)) => Origin::Guard,
            Job::Dir(_, origin) | Job::Files(_, origin) => *origin,
        }
    }
}

/// Requests whose verdicts someone waits for (the control socket's
/// requests in flight). Only jobs of `Origin::Control` look at it.
pub trait ReplyTo: Sync {
    /// Whether the jobs of request `id` are still wanted; a job that is not
    /// is dropped unrun and uncounted (the client went away).
    fn is_known(&self, id: RequestId) -> bool;
    /// Whether request `id` was cancelled: its jobs are skipped but counted.
    fn is_cancelled(&self, id: RequestId) -> bool;
    /// Whether request `id` wants every signature a file matches
    /// (`ALLMATCHSCAN`), not only the first.
    fn all_matches(&self, id: RequestId) -> bool;
    /// One job of request `id` ran (or was skipped), fanning out to
    /// `spawned` more; the request is complete when none is left.
    fn job_done(&self, id: RequestId, spawned: usize);
    /// A verdict of one of request `id`'s jobs.
    fn verdict(&self, id: RequestId, event: &Event<'_>);
    /// The path request `id` named is neither a file nor a folder.
    fn unsupported(&self, id: RequestId, path: &Path);
    /// The path request `id` named could not be looked up.
    fn root_error(&self, id: RequestId, path: &Path, e: &FileError);
}

/// Runs jobs against one walker, inspector and sink: what a `Pipeline`'s
/// pool runs.
pub(crate) struct Engine<'a> {
    pub(crate) walker: &'a Walker,
    pub(crate) inspector: &'a Inspector,
    /// Starts the reads of a batch before it is hashed, and says whether
    /// reads wait on the disk (walking and starting batches is then the I/O
    /// workers' work).
    pub(crate) read_ahead: &'a ReadAhead,
    /// Where detected files are moved (`scan --move`, the daemon's
    /// `action = "quarantine"`); `None` leaves them in place.
    pub(crate) quarantine: Option<&'a Quarantine>,
    pub(crate) stats: &'a Stats,
    /// Set to stop early (closed output, a signal); workers then drop their work.
    pub(crate) quit: &'a AtomicBool,
    pub(crate) outputs: Outputs<'a>,
    /// Requests admitted plus jobs fanned out, not yet run (see `Pipeline`).
    pub(crate) outstanding: &'a AtomicI64,
    /// Jobs run.
    pub(crate) finished: &'a AtomicU64,
}

impl JobRunner for Engine<'_> {
    type Job = Job;

    fn run(&self, job: Job, spawn: &mut Vec<Job>) {
        if let (Job::Request(ScanRequest::Watched { path, .. }), Some(started)) =
            (&job, self.outputs.on_watched)
        {
            started(path);
        }
        match (job.origin(), self.outputs.replies) {
            (Origin::Control(id), Some(replies)) => {
                if replies.is_known(id) {
                    if !replies.is_cancelled(id) {
                        self.execute(job, spawn);
                    }
                    replies.job_done(id, spawn.len());
                }
            }
            _ => self.execute(job, spawn),
        }
        self.outstanding
            .fetch_add(spawn.len() as i64 - 1, Ordering::Relaxed);
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// From a cold disk, everything but hashing waits on it: a request's
    /// root, a folder's listing, and starting a batch's reads. Standard
    /// input and a guarded open (whose opener waits on the answer, and
    /// whose descriptor is already open) go straight to the scan workers;
    /// so does everything while the files are found in memory.
    fn is_io(&self, job: &Job) -> bool {
        match job {
            Job::Request(ScanRequest::Stdin | ScanRequest::Open(_)) => false,
            Job::Request(_) | Job::Dir(..) => self.read_ahead.is_cold(),
            Job::Files(batch, _) => {
                batch.is_on_disk() || (!batch.is_started() && self.read_ahead.is_cold())
            }
        }
    }
}

impl Engine<'_> {
    fn execute(&self, job: Job, spawn: &mut Vec<Job>) {
        match job {
            Job::Request(ScanRequest::Path(path)) => match self.walker.root(path) {
                // A file named on the command line gets a line even when
                // too large to scan: `OK`, as clamscan prints (the summary
                // counts it as skipped).
                Found::File(cand) => {
                    let inspected = self.file(&cand, Origin::Command);
                    if matches!(inspected.result, FileResult::TooLarge) {
                        self.emit(&Event::Clean { path: &cand.path }, Origin::Command);
                    }
                }
                found => self.found(found, Origin::Command, spawn),
            },
            Job::Request(ScanRequest::Stdin) => {
                let inspected = self.inspector.inspect_stream(&mut std::io::stdin().lock());
                self.report(Path::new("stdin"), &inspected, Origin::Command);
            }
            Job::Request(ScanRequest::Watched { path, origin }) => {
                match self.walker.changed(path) {
                    Found::Error(_, WalkError::Io(e))
                        if e.kind() == std::io::ErrorKind::NotFound => {}
                    found => self.found(found, origin, spawn),
                }
            }
            Job::Request(ScanRequest::Control { path, id, confine }) => {
                let found = match confine {
                    Some(creds) if !creds.is_root() => self.walker.root_for(path, creds),
                    _ => self.walker.root(path),
                };
                self.control_root(found, id, spawn);
            }
            Job::Request(ScanRequest::Open(open)) => self.guarded(open),
            Job::Dir(dir, origin) => self.list(dir, origin, spawn),
            Job::Files(mut batch, origin) => {
                if !batch.is_started() {
                    if pool::on_io_worker() {
                        // Start the reads, waiting for room, and hand the
                        // batch to the scan workers.
                        let advised = self.read_ahead.start(
                            &mut batch,
                            self.inspector,
                            may_open(origin),
                            true,
                        );
                        add(&self.stats.local().read_ahead, advised);
                        spawn.push(Job::Files(batch, origin));
                        return;
                    }
                    if !self
                        .read_ahead
                        .hash_here(&mut batch, self.inspector, may_open(origin))
                    {
                        // Its files are on disk: to the I/O workers.
                        spawn.push(Job::Files(batch, origin));
                        return;
                    }
                }
                for cand in std::mem::take(&mut batch.files) {
                    if self.quit.load(Ordering::Relaxed) {
                        return;
                    }
                    self.file(&cand, origin);
                }
            }
        }
    }

    /// The path a control client named, answered as clamd answers it: a
    /// path that cannot be looked up is a `File path check failure: REASON.`,
    /// and one that is neither a file nor a folder is `Not supported file
    /// type` (then `OK`, as clamd ends it).
    fn control_root(&self, found: Found, id: RequestId, spawn: &mut Vec<Job>) {
        let origin = Origin::Control(id);
        match found {
            Found::Error(path, e) => {
                let e = FileError::from(e);
                bump(&self.stats.local().errors);
                if let Some(replies) = self.outputs.replies {
                    replies.root_error(id, &path, &e);
                }
                self.outputs.sink.event_from(
                    origin,
                    &Event::Error {
                        path: &path,
                        reason: &e.reason,
                        kind: e.kind,
                    },
                );
            }
            Found::Skipped(path, SkipReason::Special(_)) => {
                bump(&self.stats.local().skipped_special);
                if let Some(replies) = self.outputs.replies {
                    replies.unsupported(id, &path);
                }
            }
            other => self.found(other, origin, spawn),
        }
    }

    fn list(&self, dir: DirJob, origin: Origin, spawn: &mut Vec<Job>) {
        bump(&self.stats.local().directories);
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        let listed = self.walker.list(&dir, |found| match found {
            Found::File(cand) => {
                batch_bytes += cand.size;
                batch.push(cand);
                if batch.len() >= BATCH_FILES || batch_bytes >= BATCH_BYTES {
                    spawn.push(Job::Files(Batch::new(std::mem::take(&mut batch)), origin));
                    batch_bytes = 0;
                }
            }
            other => self.found(other, origin, spawn),
        });
        if !batch.is_empty() {
            spawn.push(Job::Files(Batch::new(batch), origin));
        }
        if !pool::on_io_worker() {
            // Listed on a scan worker, as while the files are in memory:
            // whether they still are decides where these jobs go.
            let first = spawn.iter_mut().find_map(|job| match job {
                Job::Files(batch, _) => Some(batch),
                _ => None,
            });
            if let Some(batch) = first {
                self.read_ahead
                    .sense(batch, self.inspector, may_open(origin));
            }
        }
        if let Err(e) = listed {
            self.error(&dir.path, &e.into(), origin);
        }
    }

    fn found(&self, found: Found, origin: Origin, spawn: &mut Vec<Job>) {
        let local = self.stats.local();
        match found {
            Found::Dir(dir) => spawn.push(Job::Dir(dir, origin)),
            Found::File(cand) => spawn.push(Job::Files(Batch::new(vec![cand]), origin)),
            Found::Skipped(_, reason) => bump(match reason {
                SkipReason::Special(_) => &local.skipped_special,
                SkipReason::Excluded => &local.skipped_excluded,
                SkipReason::Symlink => &local.skipped_symlink,
                SkipReason::OtherFileSystem => &local.skipped_other_fs,
            }),
            Found::Error(path, e) => self.error(&path, &e.into(), origin),
        }
    }

    fn file(&self, cand: &Candidate, origin: Origin) -> Inspected {
        let matches = match (origin, self.outputs.replies) {
            (Origin::Control(id), Some(replies)) if replies.all_matches(id) => Matches::All,
            _ => Matches::First,
        };
        let began = std::time::Instant::now();
        let inspected = self.inspector.inspect(cand, matches);
        self.stats.local().latency.record(began.elapsed());
        self.report(&cand.path, &inspected, origin);
        inspected
    }

    /// A file a process waits to open: decided on the descriptor the guard
    /// holds, answered, then reported (a refused open as `blocked`).
    fn guarded(&self, open: GuardedOpen) {
        let cand = match open.file.metadata() {
            Ok(meta) => Candidate::of_open(open.path, open.file, &meta),
            Err(e) => {
                let result = FileResult::Failed(e.into());
                open.reply.answer(&result);
                if let FileResult::Failed(e) = &result {
                    self.error(&open.path, e, Origin::Guard);
                }
                return;
            }
        };
        let inspected = self.inspector.inspect(&cand, Matches::First);
        let refused = open.reply.answer(&inspected.result);
        self.report_as(&cand.path, &inspected, Origin::Guard, refused.as_ref());
    }

    fn report(&self, path: &Path, inspected: &Inspected, origin: Origin) {
        self.report_as(path, inspected, origin, None);
    }

    /// `report`, for a file whose open was `refused` if it was.
    fn report_as(
        &self,
        path: &Path,
        inspected: &Inspected,
        origin: Origin,
        refused: Option<&Opener>,
    ) {
        let local = self.stats.local();
        count_verdict(local, inspected);
        match &inspected.result {
            FileResult::Cleared | FileResult::Clean { .. } => {
                self.emit(&Event::Clean { path }, origin);
            }
            FileResult::Detected {
                size,
                signature,
                official,
                also,
                digest,
                identity,
                member,
            } => {
                let moved = self.move_detected(path, signature, digest, identity.as_ref());
                let dest = moved.as_ref().and_then(|m| m.as_ref().ok());
                let detection = Detection {
                    path,
                    size: *size,
                    signature,
                    official: *official,
                    also,
                    digest,
                    moved: dest.map(|(id, dest)| Moved {
                        id: id.as_str(),
                        dest,
                    }),
                    member,
                };
                match refused {
                    Some(opener) => self.outputs.sink.blocked(&detection, opener),
                    None => self.emit(&Event::Detection(detection), origin),
                }
                match moved {
                    Some(Ok(_)) => bump(&local.moved),
                    Some(Err(reason)) => {
                        bump(&local.not_moved);
                        let e = FileError {
                            kind: ErrorKind::Quarantine,
                            reason: format!("not moved to quarantine: {reason}"),
                        };
                        self.error(path, &e, origin);
                    }
                    None => {}
                }
            }
            FileResult::TooLarge | FileResult::NotRegular(_) => {}
            FileResult::Failed(reason) => self.error(path, reason, origin),
        }
    }

    /// Moves a detected file into the quarantine, if there is one: the
    /// entry's id and where its content now is, or why it was not moved.
    fn move_detected(
        &self,
        path: &Path,
        signature: &str,
        digest: &Digest,
        identity: Option<&Identity>,
    ) -> Option<Result<(EntryId, PathBuf), String>> {
        let q = self.quarantine?;
        let Some(identity) = identity else {
            return Some(Err("standard input cannot be moved".into()));
        };
        let detected = quarantine::Detected {
            path,
            signature,
            digest,
            identity,
        };
        Some(match q.move_detected(&detected) {
            Ok(id) => {
                let dest = q.content_path(&id);
                Ok((id, dest))
            }
            Err(e) => Err(e.to_string()),
        })
    }

    fn error(&self, path: &Path, e: &FileError, origin: Origin) {
        bump(&self.stats.local().errors);
        self.emit(
            &Event::Error {
                path,
                reason: &e.reason,
                kind: e.kind,
            },
            origin,
        );
    }

    fn emit(&self, event: &Event<'_>, origin: Origin) {
        if let (Origin::Control(id), Some(replies)) = (origin, self.outputs.replies) {
            replies.verdict(id, event);
        }
        let sink = self.outputs.sink;
        sink.event_from(origin, event);
        if sink.is_closed() {
            self.quit.store(true, Ordering::Relaxed);
        }
    }
}

/// Whether files of a job of `origin` may be opened ahead by path. A control
/// client's are read only through the descriptors its confined walk opened.
fn may_open(origin: Origin) -> bool {
    !matches!(origin, Origin::Control(_))
}

/// Counts one verdict: a file examined (hashed, its hard link's verdict
/// reused, answered from the cache, or cleared by size), a detection, or a file skipped. A failure is
/// counted with its error event, not here.
pub(crate) fn count_verdict(local: &Counters, inspected: &Inspected) {
    let examined = |hashed: bool| {
        bump(&local.files);
        if inspected.reused {
            bump(&local.hardlinks_reused);
        } else if inspected.cached {
            bump(&local.from_cache);
        } else if hashed {
            bump(&local.hashed);
            add(&local.bytes_hashed, inspected.bytes);
        } else {
            bump(&local.cleared_by_size);
        }
    };
    add(&local.containers, inspected.inside.containers);
    add(&local.members, inspected.inside.members);
    if inspected.inside.exceeded.is_some() {
        bump(&local.limits_exceeded);
    }
    match &inspected.result {
        FileResult::Cleared => examined(false),
        FileResult::Clean { .. } => examined(true),
        FileResult::Detected { .. } => {
            examined(true);
            bump(&local.detections);
        }
        FileResult::TooLarge => bump(&local.skipped_too_large),
        FileResult::NotRegular(FileKind::Symlink) => bump(&local.skipped_symlink),
        FileResult::NotRegular(_) => bump(&local.skipped_special),
        FileResult::Failed(_) => {}
    }
}
