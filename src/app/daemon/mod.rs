//! `vigil daemon`: watches folders and scans what changes, as a service.
//!
//! It wires the same engine as `vigil scan` to a different source: the
//! watcher marks changed paths dirty, the coordinator thread moves settled
//! paths into the bounded queue, and the scan pool (the same `ScanPool` and
//! `Engine`) scans them; verdicts go to the event log on stdout. The main
//! thread handles signals and talks to systemd:
//!
//! - SIGTERM/SIGINT: `STOPPING=1`, stop the watcher and the coordinator (the
//!   queue then closes), let the pool finish what is queued for at most
//!   `DRAIN_BOUND`, then drop the rest (a file being hashed is finished), join
//!   every thread and exit 0. A second SIGTERM/SIGINT exits at once (143/130).
//! - SIGHUP: `RELOADING=1`; read the configuration and build the new signature
//!   set and walk rules beside the old ones; swap them in (with the new size
//!   limit, settle time and roots) only if all are good, else keep the old ones and
//!   log why; `READY=1`. Scans never pause: a walk or file scan in flight ends
//!   on what it started with. Keys that size or bind resources made at start
//!   are logged as needing a restart (`DaemonConfig::needs_restart`).
//! - SIGUSR1: log statistics.
//! - `WATCHDOG=1` every half `WATCHDOG_USEC`, but only while the pool is idle
//!   or has finished a job since the last one: a stuck pool gets the service
//!   restarted.
//!
//! With `socket` set, the control socket (`control::Server`) takes clamd
//! commands: its path scans go into the same queue as the watcher's (through
//! a second `Admission`), its verdicts come back through the sink (`Router`),
//! and RELOAD/SHUTDOWN reach the main thread as SIGHUP/SIGTERM would. At
//! shutdown the server is stopped and joined first, since it holds one end of
//! the queue.
//!
//! Threads: the scan pool's workers (joined when `ScanPool` drops), the pool's
//! admission thread, the coordinator, notify's event loop (waited for through
//! its callback), the signal thread, and the control server with one thread
//! per connection; all are joined before `run` returns.

pub mod config;
mod logging;
pub mod sdnotify;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_channel::{select, RecvTimeoutError};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use crate::app::scan::load_signatures;
use crate::app::Error;
use crate::cli::DaemonArgs;
use crate::control::{self, ControlSignal, DaemonStats, Listener, Routed, Router, Routes};
use crate::engine::inspect::{Inspector, SizeLimit};
use crate::engine::job::{Engine, Job};
use crate::engine::pool::{JobRunner, ScanPool};
use crate::engine::queue::{self, QueueReceiver, QueueSender};
use crate::engine::walk::{WalkOptions, Walker};
use crate::error::ExitStatus;
use crate::quarantine::Quarantine;
use crate::report::events::EventLog;
use crate::report::Sink;
use crate::signature::SignatureSet;
use crate::source::coordinator::{Admit, Shared};
use crate::source::dirty::{DirtySet, Settle};
use crate::source::watcher::{Watcher, WatcherCounts};
use crate::source::{Origin, ScanRequest};
use crate::stats::Stats;
use config::{Action, DaemonConfig};

/// How long queued work may still run after SIGTERM before it is dropped.
pub const DRAIN_BOUND: Duration = Duration::from_secs(2);
/// Paths that may be pending at once before their root is rescanned instead.
const MAX_PENDING: usize = 65_536;
/// How long shutdown waits for notify's thread, and the pool's workers, to end.
const WATCHER_STOP_BOUND: Duration = Duration::from_secs(2);

/// Jobs in the system and jobs done, for the watchdog and statistics.
#[derive(Debug, Default)]
struct Progress {
    /// Requests admitted to the queue plus jobs fanned out, not yet run.
    outstanding: AtomicI64,
    /// Jobs run.
    finished: AtomicU64,
}

/// The engine, plus the bookkeeping the daemon needs around each job.
struct Tracked<'a> {
    /// The engine, counting (and skipping cancelled) control requests' jobs.
    engine: Routed<'a, Engine<'a>>,
    shared: &'a Shared,
    progress: &'a Progress,
}

impl JobRunner for Tracked<'_> {
    type Job = Job;

    fn run(&self, job: Job, spawn: &mut Vec<Job>) {
        if let Job::Request(ScanRequest::Watched { path, .. }) = &job {
            self.shared.started(path);
        }
        self.engine.run(job, spawn);
        let p = self.progress;
        p.outstanding
            .fetch_add(spawn.len() as i64 - 1, Ordering::Relaxed);
        p.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// The coordinator's way into the queue, counting what it admits.
struct Admission<'a> {
    tx: QueueSender<ScanRequest>,
    progress: &'a Progress,
}

impl Admit for Admission<'_> {
    fn admit(&self, request: ScanRequest) -> bool {
        self.progress.outstanding.fetch_add(1, Ordering::Relaxed);
        let ok = self.tx.send(request).is_ok();
        if !ok {
            self.progress.outstanding.fetch_sub(1, Ordering::Relaxed);
        }
        ok
    }
}

/// Runs the daemon until SIGTERM/SIGINT. Errors before `READY=1` are fatal.
pub fn run(args: DaemonArgs) -> Result<ExitStatus, Error> {
    let config = DaemonConfig::load(&args)?;
    let log = logging::init(config.log_format, config.log_level.as_deref());

    // Signals first, so that none is missed while starting. A second
    // TERM/INT exits at once; the first one only sets `stopping`.
    let stopping = Arc::new(AtomicBool::new(false));
    for (signal, status) in [(SIGTERM, 143), (SIGINT, 130)] {
        signal_hook::flag::register_conditional_shutdown(signal, status, stopping.clone())
            .map_err(Error::Signals)?;
        signal_hook::flag::register(signal, stopping.clone()).map_err(Error::Signals)?;
    }
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1]).map_err(Error::Signals)?;
    let notifier = sdnotify::Notifier::from_env().map_err(Error::Notify)?;

    let sigs = Arc::new(ArcSwap::from_pointee(load_signatures(
        &config.databases,
        config.load_limits,
    )?));
    // With `action = "quarantine"`, a vault that cannot be opened is fatal:
    // better not to start than to leave detections where they are unnoticed.
    let vault = match config.action {
        Action::Quarantine => Some(Quarantine::open(&config.quarantine_dir)?),
        Action::Report => None,
    };
    let loaded_at = AtomicU64::new(control::now_secs());
    let listener = match &config.socket {
        Some(path) => Some(Listener::bind(path, &config.control)?),
        None => None,
    };
    let pool = ScanPool::new(config.threads).map_err(Error::Pool)?;
    let stats = Stats::new(pool.threads());
    let quit = AtomicBool::new(false);
    let routes = Routes::new();
    let sink = Router {
        inner: EventLog::stdout(),
        routes: &routes,
    };
    let walk = Arc::new(ArcSwap::from_pointee(config.walk.clone()));
    let walker = Walker::live(walk.clone());
    let max_filesize = SizeLimit::new(config.max_filesize);
    // One memory budget for members held whole, shared by the workers and
    // the control socket's connections.
    let budget = crate::container::Budget::default();
    let shared = Arc::new(Shared::new(DirtySet::new(
        config.watch.clone(),
        Settle::from_quiet(config.settle),
        MAX_PENDING,
    )));
    let mut watcher = Watcher::start(
        shared.clone(),
        config.watch.clone(),
        walker.clone(),
        config.walk.follow_symlinks,
        config.poll_interval,
    )?;
    let report = watcher.watch_roots()?;
    let watcher_counts = watcher.counts();
    if config.initial_scan {
        for root in config.watch.iter().filter(|r| r.is_dir()) {
            shared.schedule(root, Origin::Initial, true);
        }
    }
    let progress = Progress::default();
    let started = Instant::now();
    let runner = Tracked {
        engine: Routed {
            inner: Engine {
                walker,
                inspector: Inspector::live(sigs.clone(), max_filesize.clone())
                    .containers(config.containers, budget.clone()),
                sink: &sink,
                quarantine: vault.as_ref(),
                stats: &stats,
                quit: &quit,
            },
            routes: &routes,
        },
        shared: &shared,
        progress: &progress,
    };
    let (tx, rx) = queue::bounded(config.queue_capacity);
    let control_admission = Admission {
        tx: tx.clone(),
        progress: &progress,
    };
    let admission = Admission {
        tx,
        progress: &progress,
    };
    let threads = pool.threads();
    let daemon_stats = || DaemonStats {
        threads,
        queue_depth: rx.depth(),
        outstanding: progress.outstanding.load(Ordering::Relaxed),
        counts: stats.snapshot(),
        signatures: sigs.load().stats().total_detections(),
        uptime: started.elapsed(),
        rss_kib: rss_kib(),
    };
    let (control_tx, control_rx) = crossbeam_channel::unbounded();
    let server = match &listener {
        Some(listener) => {
            tracing::info!(path = %listener.path().display(), "control socket: listening");
            Some(
                control::Server::new(
                    config.control.clone(),
                    Inspector::live(sigs.clone(), max_filesize.clone())
                        .containers(config.containers, budget.clone()),
                    &routes,
                    &sink,
                    &stats,
                    control_tx,
                    &daemon_stats,
                    &loaded_at,
                )
                .map_err(|source| control::ServerError::Io {
                    path: listener.path().to_path_buf(),
                    what: "cannot set up the server",
                    source,
                })?,
            )
        }
        None => None,
    };
    let status = format!(
        "watching {} folders under {} roots with {} signatures",
        report.folders,
        config.watch.len(),
        sigs.load().stats().total_detections()
    );
    tracing::info!(
        folders = report.folders,
        unreadable = report.unreadable,
        missing_roots = report.missing,
        threads = pool.threads(),
        queue_capacity = config.queue_capacity,
        settle_ms = config.settle.as_millis() as u64,
        "ready: {status}"
    );

    let pool_owned = pool;
    let (pool, rx, runner, quit) = (&pool_owned, &rx, &runner, &quit);
    std::thread::scope(|s| {
        let (pool_done_tx, pool_done_rx) = crossbeam_channel::bounded::<()>(0);
        let in_flight = pool.threads() * 2;
        let pool_thread = std::thread::Builder::new()
            .name("vigil-admit".into())
            .spawn_scoped(s, move || {
                pool.run(rx, runner, quit, in_flight);
                drop(pool_done_tx);
            })
            .expect("spawn pool thread");
        let coordinator = std::thread::Builder::new()
            .name("vigil-coordinator".into())
            .spawn_scoped(s, || {
                let left = shared.run(&admission, &mut |faults| watcher.housekeeping(faults));
                drop(admission); // closes the queue
                let watcher_stopped = watcher.shutdown(WATCHER_STOP_BOUND);
                (left.len() + shared.pending_paths().len(), watcher_stopped)
            })
            .expect("spawn coordinator thread");
        let signal_handle = signals.handle();
        let (sig_tx, sig_rx) = crossbeam_channel::unbounded();
        let signal_thread = std::thread::Builder::new()
            .name("vigil-signals".into())
            .spawn_scoped(s, move || {
                for signal in signals.forever() {
                    if sig_tx.send(signal).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn signal thread");
        // `control_admission` holds one end of the queue: it must be dropped
        // (by the server's thread when it ends, or here) for the queue to close.
        let server_thread = match (&server, &listener) {
            (Some(server), Some(listener)) => Some(
                std::thread::Builder::new()
                    .name("vigil-control".into())
                    .spawn_scoped(s, move || {
                        server.run(listener, &control_admission);
                        drop(control_admission);
                    })
                    .expect("spawn control thread"),
            ),
            _ => {
                drop(control_admission);
                None
            }
        };

        notifier.ready(&status);
        let mut main = Main {
            args: &args,
            running: config.clone(),
            sigs: &sigs,
            walk: &walk,
            max_filesize: &max_filesize,
            shared: &shared,
            stats: &stats,
            progress: &progress,
            rx,
            watcher_counts: &watcher_counts,
            notifier: &notifier,
            log: &log,
            started,
            loaded_at: &loaded_at,
        };
        main.serve(&sig_rx, &control_rx, &stopping);

        // Shutdown. The control server first: it holds one end of the queue.
        notifier.stopping();
        if let Some((server, thread)) = server.as_ref().zip(server_thread) {
            server.stop();
            let _ = thread.join();
        }
        tracing::info!("stopping: no new work; finishing queued scans for at most {DRAIN_BOUND:?}");
        shared.stop();
        if let Err(RecvTimeoutError::Timeout) = pool_done_rx.recv_timeout(DRAIN_BOUND) {
            tracing::warn!("queued scans not done after {DRAIN_BOUND:?}; dropping them");
            quit.store(true, Ordering::Relaxed);
        }
        let _ = pool_thread.join();
        let (abandoned, watcher_stopped) = coordinator.join().unwrap_or((0, false));
        if !watcher_stopped {
            tracing::warn!("the file watcher's thread did not end in time");
        }
        signal_handle.close();
        let _ = signal_thread.join();
        sink.flush();
        main.log_stats("stopped");
        if abandoned > 0 {
            tracing::info!(abandoned, "changed paths not scanned at shutdown (an initial scan at the next start covers them)");
        }
    });
    drop(server);
    drop(listener); // removes the socket
    if !pool_owned.join(WATCHER_STOP_BOUND) {
        tracing::warn!("scan workers did not end in time");
    }
    Ok(ExitStatus::Clean)
}

/// What the main thread needs to serve signals and the watchdog.
struct Main<'a> {
    args: &'a DaemonArgs,
    /// The configuration in effect: the last one loaded, but with the
    /// restart-only keys the daemon started with. A reload compares against it.
    running: DaemonConfig,
    sigs: &'a ArcSwap<SignatureSet>,
    /// The walk's rules, read by the engine and the watcher.
    walk: &'a ArcSwap<WalkOptions>,
    /// The engine's and the control socket's size limit.
    max_filesize: &'a SizeLimit,
    shared: &'a Shared,
    stats: &'a Stats,
    progress: &'a Progress,
    rx: &'a QueueReceiver<ScanRequest>,
    watcher_counts: &'a WatcherCounts,
    notifier: &'a sdnotify::Notifier,
    log: &'a logging::LogControl,
    started: Instant,
    /// When the current signatures were loaded, for the control socket's VERSION.
    loaded_at: &'a AtomicU64,
}

impl Main<'_> {
    /// Handles signals, the control socket's RELOAD/SHUTDOWN and the
    /// watchdog until TERM/INT or SHUTDOWN.
    fn serve(
        &mut self,
        signals: &crossbeam_channel::Receiver<i32>,
        control: &crossbeam_channel::Receiver<ControlSignal>,
        stopping: &AtomicBool,
    ) {
        let mut control = control.clone();
        let watchdog = sdnotify::watchdog_interval()
            .filter(|_| self.notifier.is_enabled())
            .map(|interval| crossbeam_channel::tick(interval / 2))
            .unwrap_or_else(crossbeam_channel::never);
        let mut last_finished = u64::MAX;
        loop {
            if stopping.load(Ordering::Relaxed) {
                return;
            }
            select! {
                recv(signals) -> signal => match signal {
                    Ok(SIGHUP) => self.reload(),
                    Ok(SIGUSR1) => self.log_stats("stats"),
                    Ok(_) | Err(_) => return, // TERM, INT
                },
                recv(control) -> signal => match signal {
                    Ok(ControlSignal::Reload) => self.reload(),
                    Ok(ControlSignal::Shutdown) => {
                        tracing::info!("SHUTDOWN requested on the control socket");
                        return;
                    }
                    Err(_) => control = crossbeam_channel::never(),
                },
                recv(watchdog) -> _ => {
                    let finished = self.progress.finished.load(Ordering::Relaxed);
                    let idle = self.progress.outstanding.load(Ordering::Relaxed) <= 0;
                    if idle || finished != last_finished {
                        self.notifier.watchdog();
                    } else {
                        tracing::warn!("the scan pool made no progress since the last watchdog tick");
                    }
                    last_finished = finished;
                }
            }
        }
    }

    /// Reads the configuration and the signatures again, builds the walk
    /// rules, and swaps all of them in only if all are good.
    fn reload(&mut self) {
        self.notifier.reloading();
        let began = Instant::now();
        let loaded = DaemonConfig::load(self.args)
            .and_then(|new| {
                Ok((
                    self.running.needs_restart(&new),
                    self.running.reloaded(new)?,
                ))
            })
            .map_err(Error::from)
            .and_then(|(restart, config)| {
                Ok((
                    load_signatures(&config.databases, config.load_limits)?,
                    restart,
                    config,
                ))
            });
        match loaded {
            Ok((set, restart, config)) => {
                let count = set.stats().total_detections();
                self.sigs.store(Arc::new(set));
                self.walk.store(Arc::new(config.walk.clone()));
                self.max_filesize.set(config.max_filesize);
                self.loaded_at.store(control::now_secs(), Ordering::Relaxed);
                self.shared.set_settle(Settle::from_quiet(config.settle));
                self.log.set_level(config.log_level.as_deref());
                if config.watch != self.running.watch {
                    self.shared
                        .set_roots(config.watch.clone(), config.initial_scan);
                }
                self.running = config;
                if !restart.is_empty() {
                    tracing::warn!(
                        "changed settings take effect only after a restart: {}",
                        restart.join(", ")
                    );
                }
                tracing::info!(
                    signatures = count,
                    elapsed_ms = began.elapsed().as_millis() as u64,
                    "reloaded signatures and configuration"
                );
                self.notifier
                    .ready(&format!("reloaded: {count} signatures"));
            }
            Err(e) => {
                tracing::error!(
                    "reload failed; keeping the current signatures and configuration: {}",
                    describe(&e)
                );
                self.notifier
                    .ready("reload failed; running with the previous configuration");
            }
        }
    }

    fn log_stats(&self, message: &str) {
        let s = self.stats.snapshot();
        let c = self.shared.counts();
        let w = self.watcher_counts;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let reappeared = get(&w.roots_reappeared);
        tracing::info!(
            uptime_secs = self.started.elapsed().as_secs(),
            files = s.files,
            hashed = s.hashed,
            bytes_hashed = s.bytes_hashed,
            directories = s.directories,
            detections = s.detections,
            errors = s.errors,
            changes = c.dirty.changes,
            coalesced = c.dirty.coalesced,
            covered = c.dirty.covered,
            rescans = c.overflows + c.dirty.rescans_full + reappeared,
            overflows = c.overflows,
            rescans_full = c.dirty.rescans_full,
            roots_reappeared = reappeared,
            watch_limit_hits = get(&w.watch_limit_hits),
            polls = get(&w.polls),
            admitted = c.admitted,
            pending = c.pending,
            queued = c.queued,
            queue_depth = self.rx.depth(),
            queue_full = self.rx.metrics().full.load(Ordering::Relaxed),
            outstanding = self.progress.outstanding.load(Ordering::Relaxed),
            jobs = self.progress.finished.load(Ordering::Relaxed),
            signatures = self.sigs.load().stats().total_detections(),
            rss_kib = rss_kib(),
            "{message}"
        );
    }
}

/// An error as one line, with every signature fault listed.
fn describe(e: &Error) -> String {
    match e {
        Error::Signatures(load) => load
            .0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// This process's resident set size, from /proc.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
