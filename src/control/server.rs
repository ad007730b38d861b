//! The control sockets' life and their accept loop.
//!
//! - **Listeners.** The Unix socket (bound here, or passed by systemd) and,
//!   with `tcp_socket`, a TCP one (likewise). Both feed one accept loop, one
//!   set of work slots and one bound on open connections. A TCP client
//!   outside `tcp_allow` is closed as it is accepted.
//! - **Binding.** A socket left by a crash is replaced only if it is a socket
//!   and nothing answers on it (`connect` is refused); anything else at the
//!   path (a live daemon, a file, a link) is an error. The new socket is
//!   bound under a temporary name in the same folder, given its mode and
//!   group, and renamed into place, so it is never reachable with other
//!   permissions. At exit it is removed, if the path still names it.
//! - **Connections** are accepted as soon as they arrive and served each on
//!   its own thread, so a client never waits behind others that are slow to
//!   send their command. Work is bounded apart from that: a command that
//!   does work (a scan, a stream, a descriptor) takes one of
//!   `max_connections` slots and waits for one if all are taken, while a
//!   connection waiting for its client's next command holds none. At most
//!   `max_open_connections` are open; one more closes the connection that
//!   has waited longest for a command (a silent client, or the idlest
//!   session), so silent clients cannot lock a working one out.
//! - **Stopping** wakes the accept loop through a pipe, shuts every open
//!   connection down (which ends their reads at once), cancels their scans,
//!   and joins every thread before `run` returns.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crossbeam_channel::Sender;
use rustix::event::{poll, PollFd, PollFlags};

use super::inflight::InFlight;
use super::network;
use super::stream::Stream;
use super::{ControlSettings, ControlSignal, DaemonStats};
use crate::engine::inspect::Inspector;
use crate::engine::request::Admit;
use crate::report::Sink;
use crate::stats::Stats;

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("control socket {}: another process is listening on it (is vigil already running?)", .0.display())]
    InUse(PathBuf),
    #[error("control socket {}: something that is not a socket is in the way; not replacing it", .0.display())]
    NotASocket(PathBuf),
    #[error("control socket {}: {what}: {}", path.display(), crate::error::io_reason(source))]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("tcp_socket {addr}: this service may not open TCP sockets (its unit's RestrictAddressFamilies or PrivateNetwork): serve TCP through the socket unit (a ListenStream in vigil.socket) instead")]
    TcpForbidden {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("tcp_socket {addr}: {what}: {}", crate::error::io_reason(source))]
    Tcp {
        addr: SocketAddr,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("socket passed by systemd (LISTEN_FDS): {0}")]
    Activation(String),
    #[error("control socket {}: the folder {} does not exist (under the shipped unit systemd makes it, RuntimeDirectory=vigil); make it, or give another path with --socket", path.display(), folder.display())]
    NoFolder { path: PathBuf, folder: PathBuf },
}

/// A listening control socket: a Unix socket (bound here, or passed by
/// systemd) or a TCP one. Dropping a Unix socket bound here removes its
/// file, if the path still names it; a passed one belongs to systemd.
#[derive(Debug)]
pub struct Listener {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Unix {
        listener: UnixListener,
        path: PathBuf,
        /// The socket file's (device, inode), to recognise it at removal;
        /// `None` for a socket passed by systemd, which is never removed.
        id: Option<(u64, u64)>,
    },
    Tcp {
        listener: TcpListener,
        addr: SocketAddr,
        /// Passed by systemd (for logs: a TCP socket leaves no file).
        passed: bool,
    },
}

impl Listener {
    /// Binds `path` with the mode and group of `settings`, replacing a
    /// stale socket.
    pub fn bind(path: &Path, settings: &ControlSettings) -> Result<Self, ServerError> {
        let io = |what, source| ServerError::Io {
            path: path.to_path_buf(),
            what,
            source,
        };
        let path = std::path::absolute(path).map_err(|e| io("cannot resolve", e))?;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_socket() => match UnixStream::connect(&path) {
                Ok(_) => return Err(ServerError::InUse(path)),
                // Stale: left by a process that is gone. Replaced below.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(io("cannot check the existing socket", e)),
            },
            Ok(_) => return Err(ServerError::NotASocket(path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("cannot check the path", e)),
        }
        if let Some(folder) = path.parent().filter(|f| !f.exists()) {
            return Err(ServerError::NoFolder {
                folder: folder.to_path_buf(),
                path,
            });
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        if fs::symlink_metadata(&tmp).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = fs::remove_file(&tmp);
        }
        let listener = UnixListener::bind(&tmp).map_err(|e| io("cannot bind", e))?;
        let placed = (|| {
            fs::set_permissions(&tmp, fs::Permissions::from_mode(settings.mode & 0o7777))
                .map_err(|e| io("cannot set the socket's mode", e))?;
            if let Some(gid) = settings.group {
                std::os::unix::fs::lchown(&tmp, None, Some(gid))
                    .map_err(|e| io("cannot set the socket's group", e))?;
            }
            fs::rename(&tmp, &path).map_err(|e| io("cannot put the socket in place", e))?;
            listener
                .set_nonblocking(true)
                .map_err(|e| io("cannot set up the socket", e))?;
            let m = fs::symlink_metadata(&path).map_err(|e| io("cannot check the socket", e))?;
            Ok((m.dev(), m.ino()))
        })();
        match placed {
            Ok(id) => Ok(Listener {
                kind: Kind::Unix {
                    listener,
                    path,
                    id: Some(id),
                },
            }),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Listens on TCP `addr`. A unit that forbids the service TCP sockets
    /// (`RestrictAddressFamilies`) is said so: the error names the way out.
    pub fn bind_tcp(addr: SocketAddr) -> Result<Self, ServerError> {
        if is_systemd_private_network() {
            let source = io::Error::other(
                "a private network namespace (PrivateNetwork=yes): no client outside could connect",
            );
            return Err(ServerError::TcpForbidden { addr, source });
        }
        let listener = TcpListener::bind(addr).map_err(|source| tcp_bind_error(addr, source))?;
        Self::tcp(listener, false)
    }

    /// A Unix socket passed by systemd: never removed here.
    pub fn passed_unix(listener: UnixListener) -> Result<Self, ServerError> {
        let path = listener
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("(unnamed)"));
        listener
            .set_nonblocking(true)
            .map_err(|e| ServerError::Activation(format!("{}: {e}", path.display())))?;
        Ok(Listener {
            kind: Kind::Unix {
                listener,
                path,
                id: None,
            },
        })
    }

    /// A TCP socket, bound here or `passed` by systemd.
    pub fn tcp(listener: TcpListener, passed: bool) -> Result<Self, ServerError> {
        let addr = listener.local_addr().map_err(|e| {
            ServerError::Activation(format!("a TCP socket without an address: {e}"))
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServerError::Tcp {
                addr,
                what: "cannot set up the socket",
                source,
            })?;
        Ok(Listener {
            kind: Kind::Tcp {
                listener,
                addr,
                passed,
            },
        })
    }

    /// The Unix socket's path; `None` for TCP.
    pub fn path(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Unix { path, .. } => Some(path),
            Kind::Tcp { .. } => None,
        }
    }

    /// The TCP address; `None` for a Unix socket.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match &self.kind {
            Kind::Unix { .. } => None,
            Kind::Tcp { addr, .. } => Some(*addr),
        }
    }

    /// Whether systemd passed this socket.
    pub fn is_passed(&self) -> bool {
        matches!(
            self.kind,
            Kind::Unix { id: None, .. } | Kind::Tcp { passed: true, .. }
        )
    }

    /// The socket, for logs.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Unix { path, .. } => path.display().to_string(),
            Kind::Tcp { addr, .. } => format!("tcp {addr}"),
        }
    }

    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        match &self.kind {
            Kind::Unix { listener, .. } => listener.as_fd(),
            Kind::Tcp { listener, .. } => listener.as_fd(),
        }
    }

    /// Accepts one connection, with the client's address on TCP.
    fn accept(&self) -> io::Result<(Stream, Option<std::net::IpAddr>)> {
        match &self.kind {
            Kind::Unix { listener, .. } => Ok((Stream::Unix(listener.accept()?.0), None)),
            Kind::Tcp { listener, .. } => {
                let (stream, peer) = listener.accept()?;
                // Replies of a session follow one another: no Nagle delay.
                let _ = stream.set_nodelay(true);
                Ok((Stream::Tcp(stream), Some(peer.ip())))
            }
        }
    }
}

/// Whether this is a systemd service (`INVOCATION_ID`) whose network
/// namespace has no interface but loopback: `PrivateNetwork=yes`, where a
/// TCP socket would listen where no client can reach it.
fn is_systemd_private_network() -> bool {
    // /proc/self/net is this process's namespace (sysfs shows the one it
    // was mounted in); ProcSubset=pid keeps it.
    std::env::var_os("INVOCATION_ID").is_some()
        && fs::read_to_string("/proc/self/net/dev").is_ok_and(|dev| {
            dev.lines()
                .skip(2)
                .filter_map(|l| l.split(':').next())
                .all(|name| name.trim() == "lo")
        })
}

/// Why TCP `addr` cannot be listened on; a unit that forbids the service
/// TCP sockets is told apart, since its way out is the socket unit.
fn tcp_bind_error(addr: SocketAddr, source: io::Error) -> ServerError {
    match source.raw_os_error() {
        // What RestrictAddressFamilies (seccomp: EAFNOSUPPORT) and
        // SocketBindDeny (EPERM) answer.
        Some(libc::EAFNOSUPPORT | libc::EPERM) => ServerError::TcpForbidden { addr, source },
        _ => ServerError::Tcp {
            addr,
            what: "cannot listen",
            source,
        },
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Kind::Unix {
            path, id: Some(id), ..
        } = &self.kind
        {
            let ours = fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == *id);
            if ours {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// What the daemon lends the control server: everything a connection needs.
pub struct ServerParts<'a> {
    pub settings: ControlSettings,
    /// Scans INSTREAM content and passed descriptors, with the daemon's
    /// current signature set.
    pub inspector: Inspector,
    /// Where verdicts of streams and descriptors are logged (the daemon's sink).
    pub sink: &'a dyn Sink,
    /// The daemon's counters (streams and descriptors are counted too).
    pub stats: &'a Stats,
    /// RELOAD and SHUTDOWN go to the daemon's main thread.
    pub signals: Sender<ControlSignal>,
    /// The daemon's state for STATS.
    pub daemon_stats: &'a (dyn Fn() -> DaemonStats + Sync),
    /// When the current signatures were loaded (seconds since the epoch).
    pub loaded_at: &'a AtomicU64,
}

/// Everything a connection needs from the daemon.
pub struct Server<'a> {
    pub settings: ControlSettings,
    /// Scans INSTREAM content and passed descriptors, with the daemon's
    /// current signature set.
    pub inspector: Inspector,
    /// Path scans in flight; the pipeline sends their verdicts here.
    pub(super) in_flight: InFlight,
    /// Where verdicts of streams and descriptors are logged (the daemon's sink).
    pub sink: &'a dyn Sink,
    /// The daemon's counters (streams and descriptors are counted too).
    pub stats: &'a Stats,
    /// RELOAD and SHUTDOWN go to the daemon's main thread.
    pub signals: Sender<ControlSignal>,
    /// The daemon's state for STATS.
    pub daemon_stats: &'a (dyn Fn() -> DaemonStats + Sync),
    /// When the current signatures were loaded (seconds since the epoch).
    pub loaded_at: &'a AtomicU64,
    state: State,
}

/// The accept loop's own state.
struct State {
    /// Set once, by `stop`.
    stopping: AtomicBool,
    /// Written to by `stop` to wake the accept loop's `poll`.
    wake_rx: OwnedFd,
    wake_tx: OwnedFd,
    /// Connections being served, by number, so that `stop` can shut them
    /// down and a new connection can make room by closing an idle one.
    live: Mutex<HashMap<u64, Arc<Connection>>>,
    /// Commands being worked on, against `max_connections`; signalled when
    /// one ends or on stop.
    busy: Mutex<usize>,
    slot_free: Condvar,
    /// Connections accepted since start (for the metrics).
    accepted: AtomicU64,
}

/// A connection as the accept loop sees it.
pub(super) struct Connection {
    pub(super) stream: Stream,
    /// Since when it has been waiting for its client's next command; `None`
    /// while a command is read or worked on.
    waiting_since: Mutex<Option<Instant>>,
    /// The command being worked on and since when (for STATS).
    task: Mutex<Option<(String, Instant)>>,
}

impl Connection {
    /// Marks the connection as working on `task` (a command name, and a
    /// path for scans), or on none.
    pub(super) fn set_task(&self, task: Option<String>) {
        *lock(&self.task) = task.map(|t| (t, Instant::now()));
    }

    /// Marks the connection as waiting for a command (true) or at work.
    pub(super) fn set_waiting(&self, yes: bool) {
        *lock(&self.waiting_since) = yes.then(Instant::now);
    }
}

/// A slot of `max_connections`, held while a command does work.
pub(super) struct WorkSlot<'s>(&'s State);

impl Drop for WorkSlot<'_> {
    fn drop(&mut self) {
        *lock(&self.0.busy) -= 1;
        self.0.slot_free.notify_one();
    }
}

/// A stack for a connection's thread: it parses, streams through the
/// hashers (whose buffers are on the heap) and writes replies.
const CONNECTION_STACK: usize = 512 << 10;

impl<'a> Server<'a> {
    pub fn new(parts: ServerParts<'a>) -> io::Result<Self> {
        let (wake_rx, wake_tx) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let ServerParts {
            settings,
            inspector,
            sink,
            stats,
            signals,
            daemon_stats,
            loaded_at,
        } = parts;
        Ok(Server {
            settings,
            inspector,
            in_flight: InFlight::new(),
            sink,
            stats,
            signals,
            daemon_stats,
            loaded_at,
            state: State {
                stopping: AtomicBool::new(false),
                wake_rx,
                wake_tx,
                live: Mutex::new(HashMap::new()),
                busy: Mutex::new(0),
                slot_free: Condvar::new(),
                accepted: AtomicU64::new(0),
            },
        })
    }

    /// The path scans in flight, which get their verdicts back from the
    /// pipeline (its `Outputs::replies`).
    pub fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    pub fn is_stopping(&self) -> bool {
        self.state.stopping.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        lock(&self.state.live).len()
    }

    /// The daemon's readings with the control socket's own (STATS's
    /// `VIGIL:` line, the metrics file).
    pub fn readings(&self) -> crate::metrics::Readings {
        let mut r = (self.daemon_stats)().readings();
        r.count("connections", self.connections() as u64);
        r.count(
            "connections_total",
            self.state.accepted.load(Ordering::Relaxed),
        );
        r
    }

    /// The commands being worked on, with how long each has been, oldest
    /// first (STATS's queue lines).
    pub(super) fn tasks(&self) -> Vec<(String, std::time::Duration)> {
        let mut tasks: Vec<_> = lock(&self.state.live)
            .values()
            .filter_map(|c| {
                lock(&c.task)
                    .as_ref()
                    .map(|(t, at)| (t.clone(), at.elapsed()))
            })
            .collect();
        tasks.sort_by_key(|t| std::cmp::Reverse(t.1));
        tasks
    }

    /// Waits for one of `max_connections` slots, to do a command's work;
    /// `None` if the server stops first.
    pub(super) fn work_slot(&self) -> Option<WorkSlot<'_>> {
        let max = self.settings.max_connections.max(1);
        let busy = lock(&self.state.busy);
        let mut busy = self
            .state
            .slot_free
            .wait_while(busy, |n| *n >= max && !self.is_stopping())
            .unwrap_or_else(|p| p.into_inner());
        if self.is_stopping() {
            return None;
        }
        *busy += 1;
        Some(WorkSlot(&self.state))
    }

    /// Asks `run` to end: no new connections, open ones shut down, their
    /// scans cancelled. Returns at once; `run` returns when all have ended.
    pub fn stop(&self) {
        self.state.stopping.store(true, Ordering::Relaxed);
        let _ = rustix::io::write(&self.state.wake_tx, &[1]);
        self.state.slot_free.notify_all();
        self.in_flight.cancel_all();
        for conn in lock(&self.state.live).values() {
            let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Serves connections until `stop`. Path scans are admitted through
    /// `admit`, which is dropped by the caller after this returns (it holds
    /// one end of the scan queue).
    pub fn run(&self, listeners: &[Listener], admit: &(dyn Admit + Sync)) {
        raise_open_file_limit(self.settings.max_open_connections);
        let mut next_conn = 0u64;
        let mut ready = Vec::new();
        std::thread::scope(|scope| {
            while !self.is_stopping() {
                if ready.is_empty() && !self.wait_readable(listeners, &mut ready) {
                    break;
                }
                let Some(listener) = ready.pop().map(|i: usize| &listeners[i]) else {
                    continue;
                };
                let stream = match listener.accept() {
                    Ok((stream, Some(ip)))
                        if !network::is_allowed(&self.settings.tcp_allow, ip) =>
                    {
                        tracing::info!(client = %ip, "control socket: a TCP client outside tcp_allow; connection closed");
                        drop(stream);
                        continue;
                    }
                    Ok((stream, _)) => stream,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // Out of descriptors, most likely: let some close.
                        tracing::warn!("control socket: cannot accept a connection: {e}");
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        continue;
                    }
                };
                if let Err(e) = stream.set_nonblocking(false) {
                    tracing::warn!("control socket: cannot set up a connection: {e}");
                    continue;
                }
                if !self.make_room() {
                    tracing::warn!(
                        "control socket: {} connections open, all at work: refusing one",
                        self.connections()
                    );
                    let _ = (&stream).write_all(b"Too many connections. ERROR\n");
                    continue;
                }
                next_conn += 1;
                self.state.accepted.fetch_add(1, Ordering::Relaxed);
                let n = next_conn;
                let conn = Arc::new(Connection {
                    stream,
                    waiting_since: Mutex::new(None),
                    task: Mutex::new(None),
                });
                lock(&self.state.live).insert(n, conn.clone());
                let served = conn.clone();
                let spawned = std::thread::Builder::new()
                    .name("vigil-control".into())
                    .stack_size(CONNECTION_STACK)
                    .spawn_scoped(scope, move || {
                        super::session::serve(self, admit, &served);
                        self.release(n);
                    });
                if let Err(e) = spawned {
                    tracing::warn!("control socket: cannot start a thread for a connection: {e}");
                    let _ = (&conn.stream).write_all(b"Too many connections. ERROR\n");
                    self.release(n);
                }
            }
            self.stop();
        });
    }

    /// Forgets connection `n`.
    fn release(&self, n: u64) {
        lock(&self.state.live).remove(&n);
    }

    /// Below `max_open_connections`, true. At it, closes the connection
    /// that has waited longest for a command (its thread sees the end and
    /// leaves) and returns true; false if every open connection is at work.
    fn make_room(&self) -> bool {
        let live = lock(&self.state.live);
        if live.len() < self.settings.max_open_connections.max(1) {
            return true;
        }
        let idlest = live
            .values()
            .filter_map(|c| lock(&c.waiting_since).map(|since| (since, c)))
            .min_by_key(|(since, _)| *since);
        match idlest {
            Some((since, conn)) => {
                tracing::info!(
                    "control socket: {} connections open; closing the one idle for {:.1}s to make room",
                    live.len(),
                    since.elapsed().as_secs_f64()
                );
                // Not waiting any more: it is not chosen twice.
                conn.set_waiting(false);
                let _ = conn.stream.shutdown(std::net::Shutdown::Both);
                true
            }
            None => false,
        }
    }

    /// Waits until a connection can be accepted on some of `listeners`
    /// (true, their indexes in `ready`) or `stop` (false).
    fn wait_readable(&self, listeners: &[Listener], ready: &mut Vec<usize>) -> bool {
        let fds: Vec<_> = listeners.iter().map(Listener::as_fd).collect();
        loop {
            let mut polled: Vec<_> = fds
                .iter()
                .map(|fd| PollFd::new(fd, PollFlags::IN))
                .chain([PollFd::new(&self.state.wake_rx, PollFlags::IN)])
                .collect();
            match poll(&mut polled, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    tracing::error!("control socket: poll failed: {e}");
                    return false;
                }
            }
            let (wake, sockets) = polled.split_last().expect("the wake pipe is polled");
            if self.is_stopping() || !wake.revents().is_empty() {
                return false;
            }
            ready.extend(
                sockets
                    .iter()
                    .enumerate()
                    .filter(|(_, fd)| !fd.revents().is_empty())
                    .map(|(i, _)| i),
            );
            if !ready.is_empty() {
                return true;
            }
        }
    }
}

/// Raises the soft limit on open descriptors (often 1024) towards the hard
/// one, so that `max_open_connections` connections fit beside the files
/// being scanned.
fn raise_open_file_limit(connections: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let want = connections as u64 + 1024;
    let mut limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= want {
        return;
    }
    let raised = limit.maximum.map_or(want, |max| max.min(want));
    if raised <= current {
        tracing::warn!(
            "control socket: open file limit {current}: fewer than max_open_connections ({connections}) may fit"
        );
        return;
    }
    limit.current = Some(raised);
    if let Err(e) = setrlimit(Resource::Nofile, limit) {
        tracing::warn!("control socket: cannot raise the open file limit from {current}: {e}");
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether a peer has closed its end of `stream` entirely (a client that
/// only shut down its writing side still waits for replies).
pub(super) fn hung_up(stream: &impl std::os::fd::AsFd) -> bool {
    let mut fds = [PollFd::new(stream, PollFlags::empty())];
    match poll(&mut fds, Some(&rustix::event::Timespec::default())) {
        Ok(_) => fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_socket_is_replaced_and_a_live_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let settings = ControlSettings::default();
        // A socket nobody listens on any more.
        drop(UnixListener::bind(&path).unwrap());
        let first = Listener::bind(&path, &settings).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o660);
        // A live one is left alone.
        assert!(matches!(
            Listener::bind(&path, &settings),
            Err(ServerError::InUse(_))
        ));
        drop(first);
        assert!(!path.exists(), "removed at exit");
        // Anything but a socket is never replaced.
        fs::write(&path, b"x").unwrap();
        assert!(matches!(
            Listener::bind(&path, &settings),
            Err(ServerError::NotASocket(_))
        ));
        assert_eq!(fs::read(&path).unwrap(), b"x");
        fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/nowhere", &path).unwrap();
        assert!(matches!(
            Listener::bind(&path, &settings),
            Err(ServerError::NotASocket(_))
        ));
    }

    #[test]
    fn a_unit_that_forbids_tcp_is_named_in_the_error() {
        let addr: SocketAddr = "127.0.0.1:3310".parse().unwrap();
        let forbidden = tcp_bind_error(addr, io::Error::from_raw_os_error(libc::EAFNOSUPPORT));
        let text = forbidden.to_string();
        assert!(
            text.starts_with("tcp_socket 127.0.0.1:3310: this service may not open TCP sockets"),
            "{text}"
        );
        assert!(text.contains("vigil.socket"), "{text}");
        let in_use = tcp_bind_error(addr, io::Error::from_raw_os_error(libc::EADDRINUSE));
        assert!(matches!(in_use, ServerError::Tcp { .. }), "{in_use}");
    }

    #[test]
    fn a_tcp_listener_in_use_is_an_error() {
        let first = Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = first.tcp_addr().unwrap();
        assert!(matches!(
            Listener::bind_tcp(addr),
            Err(ServerError::Tcp { .. })
        ));
    }

    #[test]
    fn a_socket_replaced_by_another_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let first = Listener::bind(&path, &ControlSettings::default()).unwrap();
        fs::remove_file(&path).unwrap();
        let _other = UnixListener::bind(&path).unwrap();
        drop(first);
        assert!(path.exists());
    }
}
