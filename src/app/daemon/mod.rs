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
//! With `socket` (or `tcp_socket`) set, or sockets passed by systemd, the
//! control server (`control::Server`) takes clamd commands: its path scans go into the same queue as the watcher's (through
//! a clone of the pipeline's `Admission`), their verdicts come back to the
//! connection through the server's `InFlight` (the pipeline hands it only
//! control requests' verdicts), and RELOAD/SHUTDOWN reach the main thread as
//! SIGHUP/SIGTERM would. At shutdown the server is stopped and joined first,
//! since it holds one end of the queue.
//!
//! Each source is a worker function started on its own thread (`pipeline`,
//! `coordinator`, `signals`, `control`); the main thread is the supervisor,
//! which serves signals, the control socket's requests and the watchdog, then
//! stops the workers in order and joins every one. Errors are of two kinds
//! (`supervisor`): runtime errors are logged and the daemon goes on; a panic
//! anywhere but in the guarded build of a reload ends the process with a
//! non-zero status, so that systemd restarts it rather than leave it
//! half-alive. All threads (the scan workers, notify's event loop, one per
//! control connection as well) are joined before `run` returns.

pub mod config;
mod dbwatch;
mod logging;
pub mod sdnotify;
mod supervisor;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_channel::{select, Receiver, RecvTimeoutError, Sender};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use crate::app::Error;
use crate::cli::DaemonArgs;
use crate::control::{self, ControlSignal, DaemonStats, Listener, Server, ServerParts};
use crate::engine::inspect::{Inspector, SizeLimit};
use crate::engine::request::Origin;
use crate::engine::walk::WalkOptions;
use crate::engine::{Admission, Outputs, Pipeline};
use crate::error::ExitStatus;
use crate::report::events::EventLog;
use crate::report::Sink;
use crate::signature::{load_signatures, SignatureSet};
use crate::source::coordinator::Shared;
use crate::source::dirty::{DirtySet, Settle};
use crate::source::guard::{self, Guard, GuardSettings};
use crate::source::watcher::{Watcher, WatcherCounts};
use config::{DaemonConfig, WatchBackend};
use supervisor::Runtime;

/// How long queued work may still run after SIGTERM before it is dropped.
pub const DRAIN_BOUND: Duration = Duration::from_secs(2);
/// Paths that may be pending at once before their root is rescanned instead.
const MAX_PENDING: usize = 65_536;
/// How long shutdown waits for notify's thread, and the pool's workers, to end.
const WATCHER_STOP_BOUND: Duration = Duration::from_secs(2);

/// What a reload swaps in place, shared by the engine, the watcher and the
/// control socket; everything else is fixed at start.
pub struct Live {
    pub sigs: Arc<ArcSwap<SignatureSet>>,
    /// The walk's rules, read by the engine and the watcher.
    pub walk: Arc<ArcSwap<WalkOptions>>,
    /// The engine's and the control socket's size limit.
    pub max_filesize: SizeLimit,
    /// When the current signatures were loaded, for the control socket's VERSION.
    pub loaded_at: AtomicU64,
    /// How far containers are unpacked (fixed at start).
    pub containers: crate::container::Limits,
    /// One memory budget for members held whole, shared by the workers and
    /// the control socket's connections.
    pub budget: crate::container::Budget,
    /// The verdict cache (fixed at start), shared the same way.
    pub cache: Option<Arc<crate::cache::Cache>>,
    /// How long the current signatures took to load, in nanoseconds.
    pub load_nanos: AtomicU64,
    /// Reloads that swapped in a new set, and reloads that failed.
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
}

impl Live {
    fn load(config: &DaemonConfig) -> Result<Self, Error> {
        let began = Instant::now();
        let set = load_signatures(&config.databases, config.load_limits)?;
        Ok(Live {
            load_nanos: AtomicU64::new(began.elapsed().as_nanos() as u64),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            sigs: Arc::new(ArcSwap::from_pointee(set)),
            walk: Arc::new(ArcSwap::from_pointee(config.walk.clone())),
            max_filesize: SizeLimit::new(config.max_filesize),
            loaded_at: AtomicU64::new(control::now_secs()),
            containers: config.containers,
            budget: crate::container::Budget::default(),
            cache: config
                .cache
                .as_deref()
                .and_then(crate::app::scan::open_cache),
        })
    }

    /// An inspector that always uses the current set and size limit.
    pub fn inspector(&self) -> Inspector {
        Inspector::live(self.sigs.clone(), self.max_filesize.clone())
            .containers(self.containers, self.budget.clone())
            .cache(self.cache.clone())
    }
}

/// What the workers send the supervisor.
enum Event {
    /// A signal arrived.
    Signal(i32),
    /// The pipeline's queue closed and its work is done.
    PipelineDone,
    /// The signature databases changed on disk, and settled: what changed.
    DatabasesChanged(String),
}

/// Runs the daemon until SIGTERM/SIGINT or SHUTDOWN. Errors before
/// `READY=1` are returned; after it, runtime errors are logged and a panic
/// ends the process (see `supervisor`).
pub fn run(args: DaemonArgs) -> Result<ExitStatus, Error> {
    let config = DaemonConfig::load(&args)?;
    let log = logging::init(config.log_format, config.log_level.as_deref());
    supervisor::install_panic_rule();

    // Signals first, so that none is missed while starting. A second
    // TERM/INT exits at once; the first one only sets `stopping`.
    let stopping = Arc::new(AtomicBool::new(false));
    for (signal, status) in [(SIGTERM, 143), (SIGINT, 130)] {
        signal_hook::flag::register_conditional_shutdown(signal, status, stopping.clone())
            .map_err(Error::Signals)?;
        signal_hook::flag::register(signal, stopping.clone()).map_err(Error::Signals)?;
    }
    let signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1]).map_err(Error::Signals)?;
    let notifier = sdnotify::Notifier::from_env().map_err(Error::Notify)?;

    // How the databases look before they are read: a change during the
    // load shows as a change afterwards.
    let first_look = dbwatch::Snapshot::take(&config.databases);
    let live = Live::load(&config)?;
    let watched = std::sync::Mutex::new(dbwatch::Watched {
        databases: config.databases.clone(),
        loaded: first_look,
    });
    let pipeline = config.pipeline(&live)?;
    let listeners = listeners(&config)?;
    // A reload reports only the detections it adds.
    let sink = crate::report::repeats::NewOnReload::new(EventLog::stdout());
    let shared = Shared::new(DirtySet::new(
        config.watch.clone(),
        Settle::from_quiet(config.settle),
        MAX_PENDING,
    ));
    let shared = Arc::new(shared);
    let walker = crate::engine::walk::Walker::live(live.walk.clone());
    let mut watcher = match config.watch_backend {
        WatchBackend::Inotify => Watcher::start(
            shared.clone(),
            config.watch.clone(),
            walker,
            config.walk.follow_symlinks,
            config.poll_interval,
        )?,
        WatchBackend::Fanotify => Watcher::start_fanotify(
            shared.clone(),
            config.watch.clone(),
            walker,
            config.poll_interval,
        )?,
    };
    let report = watcher.watch_roots()?;
    let watcher_counts = watcher.counts();
    if config.initial_scan {
        for root in config.watch.iter().filter(|r| r.is_dir()) {
            shared.schedule(root, Origin::Initial, true);
        }
    }
    let started = Instant::now();
    let daemon_stats = || {
        let sigs = live.sigs.load();
        let memory = sigs.memory();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut extra = crate::metrics::Readings::new();
        extra.count("queue_capacity", config.queue_capacity as u64);
        extra.count("watched_folders", get(&watcher_counts.watched_folders));
        extra.count("watch_limit_hits", get(&watcher_counts.watch_limit_hits));
        let c = shared.counts();
        extra.count("changes", c.dirty.changes);
        let rescans = c.overflows + c.dirty.rescans_full + get(&watcher_counts.roots_reappeared);
        extra.count("rescans", rescans);
        extra.count("reloads_ok", get(&live.reloads_ok));
        extra.count("reloads_failed", get(&live.reloads_failed));
        extra.set("signature_load_seconds", get(&live.load_nanos) as f64 / 1e9);
        DaemonStats {
            extra,
            threads: pipeline.threads(),
            queue_depth: pipeline.queue_depth(),
            outstanding: pipeline.outstanding(),
            counts: pipeline.stats().snapshot(),
            signatures: sigs.stats().total_detections(),
            signature_bytes: (memory.heap + memory.mapped) as u64,
            uptime: started.elapsed(),
            rss_kib: rss_kib(),
        }
    };
    let (control_tx, control_rx) = crossbeam_channel::unbounded();
    let server = match listeners.first() {
        Some(first) => {
            for listener in &listeners {
                tracing::info!(
                    socket = %listener.describe(),
                    passed = listener.is_passed(),
                    "control socket: listening"
                );
            }
            let parts = ServerParts {
                settings: config.control.clone(),
                inspector: live.inspector(),
                sink: &sink,
                stats: pipeline.stats(),
                signals: control_tx,
                daemon_stats: &daemon_stats,
                loaded_at: &live.loaded_at,
            };
            let server = Server::new(parts).map_err(|source| control::ServerError::Io {
                path: first.describe().into(),
                what: "cannot set up the server",
                source,
            })?;
            Some((server, &listeners[..]))
        }
        None => None,
    };
    // The guard last, just before its reader starts: from here on, an open
    // of the daemon's own on a guarded filesystem waits for that reader.
    let guard = match config.guard.is_empty() {
        true => None,
        false => Some(Guard::start(config.guard_settings()?, live.sigs.clone())?),
    };
    let guarding = match config.guard.len() {
        0 => String::new(),
        n => format!(", guarding {n} folders,"),
    };
    // The fanotify backend marks whole filesystems: it has no folders to count.
    let watching = match config.watch_backend {
        WatchBackend::Inotify => format!(
            "watching {} folders under {} roots",
            report.folders,
            config.watch.len()
        ),
        WatchBackend::Fanotify => format!(
            "watching {} roots by their whole filesystems (fanotify)",
            config.watch.len()
        ),
    };
    let status = format!(
        "{watching}{guarding} with {} signatures",
        live.sigs.load().stats().total_detections()
    );
    tracing::info!(
        folders = report.folders,
        unreadable = report.unreadable,
        missing_roots = report.missing,
        watch_backend = ?config.watch_backend,
        threads = pipeline.threads(),
        queue_capacity = config.queue_capacity,
        settle_ms = config.settle.as_millis() as u64,
        "ready: {status}"
    );

    let admission = pipeline.admission();
    let on_watched = |path: &Path| shared.started(path);
    let outputs = Outputs {
        sink: &sink,
        replies: server.as_ref().map(|(s, _)| s.in_flight() as _),
        on_watched: Some(&on_watched),
    };
    let mut supervisor = Supervisor {
        args: &args,
        running: config.clone(),
        live: &live,
        shared: &shared,
        pipeline: &pipeline,
        watcher_counts: &watcher_counts,
        notifier: &notifier,
        log: &log,
        watched: &watched,
        guard: guard.as_ref(),
        started,
        readings: &|| match &server {
            Some((server, _)) => server.readings(),
            None => daemon_stats().readings(),
        },
        metrics_failing: std::cell::Cell::new(false),
    };
    std::thread::scope(|s| {
        let guard_threads = guard.as_ref().map(|guard| {
            let (to_pool, incoming) = crossbeam_channel::unbounded();
            let reader = spawn_worker(s, "vigil-guard", move || guard.read_events(to_pool));
            let (admission, threads) = (admission.clone(), pipeline.threads());
            let feeder = spawn_worker(s, "vigil-guard-admit", move || {
                guard::feed(&incoming, &admission, threads)
            });
            (reader, feeder)
        });
        let (events_tx, events) = crossbeam_channel::unbounded::<Event>();
        let (errors_tx, errors) = crossbeam_channel::unbounded::<Runtime>();
        let pipeline_worker = {
            let (events, pipeline) = (events_tx.clone(), &pipeline);
            spawn_worker(s, "vigil-admit", move || {
                pipeline_worker(pipeline, outputs, &events)
            })
        };
        let coordinator = {
            let (admission, errors, shared) = (admission.clone(), errors_tx.clone(), &shared);
            spawn_worker(s, "vigil-coordinator", move || {
                coordinator_worker(shared, watcher, admission, &errors)
            })
        };
        let (db_stop, db_stopped) = crossbeam_channel::bounded::<()>(0);
        let db_watch = config.self_check.map(|interval| {
            let (events, watched) = (events_tx.clone(), &watched);
            spawn_worker(s, "vigil-dbwatch", move || {
                let changed = |what| events.send(Event::DatabasesChanged(what)).is_ok();
                dbwatch::db_watch_worker(watched, interval, &db_stopped, &changed)
            })
        });
        let signal_handle = signals.handle();
        let signal_thread = {
            let events = events_tx.clone();
            spawn_worker(s, "vigil-signals", move || signal_worker(signals, &events))
        };
        let control_thread = server.as_ref().map(|(server, listeners)| {
            let admission = admission.clone();
            spawn_worker(s, "vigil-control", move || {
                control_worker(server, listeners, admission)
            })
        });
        drop((admission, events_tx, errors_tx));

        notifier.ready(&status);
        supervisor.serve(&events, &control_rx, &errors, &stopping);

        // Shutdown. The guard first, so that no open waits on a stopping
        // daemon; then the control server: it holds one end of the queue.
        notifier.stopping();
        if let Some((guard, (reader, feeder))) = guard.as_ref().zip(guard_threads) {
            guard.stop();
            let _ = reader.join();
            let _ = feeder.join();
            log_guard(guard, "guard stopped");
        }
        if let Some(((server, _), thread)) = server.as_ref().zip(control_thread) {
            server.stop();
            let _ = thread.join();
        }
        tracing::info!("stopping: no new work; finishing queued scans for at most {DRAIN_BOUND:?}");
        shared.stop();
        if !supervisor.wait_pipeline(&events, DRAIN_BOUND) {
            tracing::warn!("queued scans not done after {DRAIN_BOUND:?}; dropping them");
            pipeline.quit();
        }
        let _ = pipeline_worker.join();
        let abandoned = coordinator.join().unwrap_or(0);
        signal_handle.close();
        let _ = signal_thread.join();
        drop(db_stop);
        if let Some(thread) = db_watch {
            let _ = thread.join();
        }
        for e in errors.try_iter() {
            e.log();
        }
        sink.flush();
        supervisor.log_stats("stopped");
        supervisor.write_metrics();
        if abandoned > 0 {
            tracing::info!(abandoned, "changed paths not scanned at shutdown (an initial scan at the next start covers them)");
        }
    });
    drop(server);
    drop(listeners); // removes the socket (unless systemd passed it)
    if !pipeline.join(WATCHER_STOP_BOUND) {
        Runtime::PoolStuck.log();
    }
    Ok(ExitStatus::Clean)
}

/// The control sockets: those systemd passed (socket activation), else
/// those the configuration names (`socket`, `tcp_socket`). A passed socket
/// stands for the configured one of its kind, so the daemon then makes none
/// of that kind itself.
fn listeners(config: &DaemonConfig) -> Result<Vec<Listener>, Error> {
    let passed = control::activation::Passed::from_env()?;
    let mut listeners = Vec::new();
    match (passed.unix, &config.socket) {
        (Some(passed), configured) => {
            if configured
                .as_deref()
                .is_some_and(|c| Some(c) != passed.path())
            {
                tracing::warn!(
                    passed = %passed.describe(),
                    "control socket: systemd passed a socket; `socket` in the configuration names another path and is not bound"
                );
            }
            listeners.push(passed);
        }
        (None, Some(path)) => listeners.push(Listener::bind(path, &config.control)?),
        (None, None) => {}
    }
    match (passed.tcp, config.tcp) {
        (Some(passed), configured) => {
            if configured.is_some_and(|c| Some(c) != passed.tcp_addr()) {
                tracing::warn!(
                    passed = %passed.describe(),
                    "control socket: systemd passed a TCP socket; `tcp_socket` in the configuration names another address and is not bound"
                );
            }
            listeners.push(passed);
        }
        (None, Some(addr)) => listeners.push(Listener::bind_tcp(addr)?),
        (None, None) => {}
    }
    Ok(listeners)
}

/// Runs the scan pool on the queue until it closes and its work is done.
fn pipeline_worker(pipeline: &Pipeline, outputs: Outputs<'_>, events: &Sender<Event>) {
    pipeline.run(outputs);
    let _ = events.send(Event::PipelineDone);
}

/// Starts a worker on a named thread of the scope.
fn spawn_worker<'scope, T: Send + 'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(s, f)
        .unwrap_or_else(|e| panic!("cannot start the {name} thread: {e}"))
}

/// Moves settled paths from the dirty set into the queue until `stop`, then
/// closes its end of the queue and stops the watcher. Returns how many
/// changed paths were left unscanned.
fn coordinator_worker(
    shared: &Shared,
    mut watcher: Watcher,
    admission: Admission<'_>,
    errors: &Sender<Runtime>,
) -> usize {
    let left = shared.run(&admission, &mut |faults| watcher.housekeeping(faults));
    drop(admission); // closes the queue once the control socket's end is gone
    if !watcher.shutdown(WATCHER_STOP_BOUND) {
        let _ = errors.send(Runtime::WatcherStuck);
    }
    left.len() + shared.pending_paths().len()
}

/// Forwards signals to the supervisor until the handle is closed.
fn signal_worker(mut signals: Signals, events: &Sender<Event>) {
    for signal in signals.forever() {
        if events.send(Event::Signal(signal)).is_err() {
            break;
        }
    }
}

/// Serves the control socket until `stop`. Its RELOAD and SHUTDOWN reach
/// the supervisor through the server's own channel.
fn control_worker(server: &Server<'_>, listeners: &[Listener], admission: Admission<'_>) {
    server.run(listeners, &admission);
    drop(admission); // holds one end of the queue
}

/// What a reload built, nothing of it swapped in yet.
struct Reloaded {
    set: SignatureSet,
    /// The guard's new settings, if it runs.
    guard: Option<GuardSettings>,
    /// The changed settings that need a restart.
    restart: Vec<&'static str>,
    config: DaemonConfig,
    /// How the databases looked just before they were read.
    look: dbwatch::Snapshot,
    /// How long the signatures took to load.
    load_nanos: u64,
}

/// The main thread: serves signals, the control socket's requests and the
/// watchdog, and reloads.
struct Supervisor<'a> {
    args: &'a DaemonArgs,
    /// The configuration in effect: the last one loaded, but with the
    /// restart-only keys the daemon started with. A reload compares against it.
    running: DaemonConfig,
    live: &'a Live,
    shared: &'a Shared,
    pipeline: &'a Pipeline,
    watcher_counts: &'a WatcherCounts,
    notifier: &'a sdnotify::Notifier,
    log: &'a logging::LogControl,
    /// The databases the `self_check` worker compares against; a reload
    /// records what it loaded here.
    watched: &'a std::sync::Mutex<dbwatch::Watched>,
    /// The guard, if it runs: a reload hands it its new settings and drops
    /// its ignore marks.
    guard: Option<&'a Guard>,
    started: Instant,
    /// Everything measured, for the metrics file.
    readings: &'a dyn Fn() -> crate::metrics::Readings,
    /// The last write of the metrics file failed (logged once, not at
    /// every interval).
    metrics_failing: std::cell::Cell<bool>,
}

impl Supervisor<'_> {
    /// Handles signals, the control socket's RELOAD/SHUTDOWN, the workers'
    /// runtime errors and the watchdog until TERM/INT or SHUTDOWN.
    fn serve(
        &mut self,
        events: &Receiver<Event>,
        control: &Receiver<ControlSignal>,
        errors: &Receiver<Runtime>,
        stopping: &AtomicBool,
    ) {
        let mut control = control.clone();
        let mut errors = errors.clone();
        let watchdog = sdnotify::watchdog_interval()
            .filter(|_| self.notifier.is_enabled())
            .map(|interval| crossbeam_channel::tick(interval / 2))
            .unwrap_or_else(crossbeam_channel::never);
        let mut last_finished = u64::MAX;
        let metrics = match self.running.metrics_file {
            Some(_) => {
                self.write_metrics();
                crossbeam_channel::tick(self.running.metrics_interval)
            }
            None => crossbeam_channel::never(),
        };
        loop {
            if stopping.load(Ordering::Relaxed) {
                return;
            }
            select! {
                recv(metrics) -> _ => self.write_metrics(),
                recv(events) -> event => match event {
                    Ok(Event::Signal(SIGHUP)) => self.reload(),
                    Ok(Event::Signal(SIGUSR1)) => self.log_stats("stats"),
                    Ok(Event::Signal(_)) | Err(_) => return, // TERM, INT
                    // Only after the queue closed, which happens at stop.
                    Ok(Event::PipelineDone) => {}
                    Ok(Event::DatabasesChanged(what)) => {
                        tracing::info!(changed = %what, "signature databases changed; reloading");
                        self.reload();
                    }
                },
                recv(control) -> signal => match signal {
                    Ok(ControlSignal::Reload) => self.reload(),
                    Ok(ControlSignal::Shutdown) => {
                        tracing::info!("SHUTDOWN requested on the control socket");
                        return;
                    }
                    Err(_) => control = crossbeam_channel::never(),
                },
                recv(errors) -> error => match error {
                    Ok(e) => e.log(),
                    Err(_) => errors = crossbeam_channel::never(),
                },
                recv(watchdog) -> _ => {
                    let finished = self.pipeline.finished();
                    let idle = self.pipeline.outstanding() <= 0;
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

    /// Waits at most `bound` for the pipeline's work to end; false if it
    /// did not.
    fn wait_pipeline(&self, events: &Receiver<Event>, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        loop {
            match events.recv_deadline(deadline) {
                Ok(Event::PipelineDone) => return true,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return false,
                Err(RecvTimeoutError::Disconnected) => return true,
            }
        }
    }

    /// Reads the configuration and the signatures again, builds the walk
    /// rules, and swaps all of them in only if all are good. Building is
    /// guarded: if it panics, the reload fails and nothing changes.
    fn reload(&mut self) {
        self.notifier.reloading();
        let began = Instant::now();
        let built = supervisor::guarded(|| self.build_reload());
        let Reloaded {
            set,
            guard,
            restart,
            config,
            look,
            load_nanos,
        } = match built {
            Ok(Ok(built)) => built,
            Ok(Err(e)) => return self.reload_failed(Runtime::Reload(describe(&e))),
            Err(panic) => return self.reload_failed(Runtime::ReloadPanicked(panic)),
        };
        let count = set.stats().total_detections();
        let live = self.live;
        live.reloads_ok.fetch_add(1, Ordering::Relaxed);
        live.load_nanos.store(load_nanos, Ordering::Relaxed);
        live.sigs.store(Arc::new(set));
        live.walk.store(Arc::new(config.walk.clone()));
        live.max_filesize.set(config.max_filesize);
        live.loaded_at.store(control::now_secs(), Ordering::Relaxed);
        // After the new set is in place: a file allowed on the old one is
        // decided again at its next open.
        if let (Some(running), Some(settings)) = (self.guard, guard) {
            if let Err(e) = running.reload(settings) {
                Runtime::Reload(e.to_string()).log();
            }
        }
        self.shared.set_settle(Settle::from_quiet(config.settle));
        self.log.set_level(config.log_level.as_deref());
        if config.watch != self.running.watch {
            self.shared
                .set_roots(config.watch.clone(), config.initial_scan);
        }
        if let Some(cache) = &live.cache {
            // Every file is matched against the new set: those unchanged
            // from their cached digests, without a read. What scans put
            // lately is committed first, so that it is found.
            cache.flush();
            for root in config.watch.iter().filter(|r| r.is_dir()) {
                self.shared.schedule(root, Origin::Reload, true);
            }
        }
        {
            let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
            watched.databases = config.databases.clone();
            watched.loaded = look;
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

    /// The new set and configuration, and what else a reload needs to know;
    /// nothing is swapped in yet.
    fn build_reload(&self) -> Result<Reloaded, Error> {
        let new = DaemonConfig::load(self.args)?;
        let restart = self.running.needs_restart(&new);
        let config = self.running.reloaded(new)?;
        let look = dbwatch::Snapshot::take(&config.databases);
        let guard = match self.guard {
            Some(_) => Some(config.guard_settings()?),
            None => None,
        };
        let began = Instant::now();
        let set = load_signatures(&config.databases, config.load_limits)?;
        let load_nanos = began.elapsed().as_nanos() as u64;
        control::faults::panic_at("reload");
        Ok(Reloaded {
            set,
            guard,
            restart,
            config,
            look,
            load_nanos,
        })
    }

    /// Writes `metrics_file` (if set); a failure is logged, the daemon goes on.
    fn write_metrics(&self) {
        let Some(path) = &self.running.metrics_file else {
            return;
        };
        let text = (self.readings)().to_prometheus();
        match crate::metrics::write_atomically(path, &text) {
            Ok(()) => self.metrics_failing.set(false),
            Err(e) if !self.metrics_failing.replace(true) => tracing::warn!(
                path = %path.display(),
                "cannot write metrics (said once until a write succeeds): {}",
                crate::error::io_reason(&e)
            ),
            Err(_) => {}
        }
    }

    fn reload_failed(&self, e: Runtime) {
        self.live.reloads_failed.fetch_add(1, Ordering::Relaxed);
        e.log();
        self.notifier
            .ready("reload failed; running with the previous configuration");
    }

    fn log_stats(&self, message: &str) {
        let s = self.pipeline.stats().snapshot();
        let c = self.shared.counts();
        let w = self.watcher_counts;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let reappeared = get(&w.roots_reappeared);
        tracing::info!(
            uptime_secs = self.started.elapsed().as_secs(),
            files = s.files,
            hashed = s.hashed,
            from_cache = s.from_cache,
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
            queue_depth = self.pipeline.queue_depth(),
            queue_full = self.pipeline.queue_full(),
            outstanding = self.pipeline.outstanding(),
            jobs = self.pipeline.finished(),
            signatures = self.live.sigs.load().stats().total_detections(),
            rss_kib = rss_kib(),
            "{message}"
        );
        if let Some(guard) = self.guard {
            log_guard(guard, "guard");
        }
    }
}

/// What the guard has done (with SIGUSR1's statistics, and at shutdown).
fn log_guard(guard: &Guard, message: &str) {
    let c = guard.counts();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    tracing::info!(
        allowed_at_once = get(&c.allowed_at_once),
        decided = get(&c.decided),
        blocked = get(&c.blocked),
        timed_out = get(&c.timed_out),
        marks = get(&c.marks),
        flushes = get(&c.flushes),
        "{message}"
    );
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
