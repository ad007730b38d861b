//! One control connection, as clamd serves it: a command, its reply, and the
//! connection is closed — or, after `IDSESSION`, commands and `ID: ` replies
//! until `END`. Every read uses `recvmsg`, so descriptors a client passes
//! (FILDES) are received whenever they come; any the protocol does not claim
//! are closed. A whole command must arrive within `command_timeout`; INSTREAM
//! data and replies may each take `read_timeout`. Any fault ends this
//! connection only.
//!
//! Over TCP there are no credentials and no descriptors: path scans and
//! FILDES are refused unless `tcp_allow_path_scans`, RELOAD and SHUTDOWN
//! unless `tcp_allow_control`, and allowed path scans use the daemon's own
//! access.
//!
//! Replies are written whole or not at all, and only while the socket's send
//! buffer is at most a quarter full (what the kernel reports as writable),
//! so the buffer always has room for one more line. A client that stops
//! reading is found out between two lines: the scan is cancelled, the
//! count of lines not sent is logged, and that last line tells the client
//! its replies are incomplete (`PATH: Replies were not read in time; scan
//! cancelled. ERROR`) before the connection is closed.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

use super::inflight::{InFlight, Reply};
use super::peer::Peer;
use super::protocol::{self as p, ChunkDecoder, Command, Delimiter, Frame, ScanKind};
use super::server::{hung_up, Connection, Server};
use super::stream::Stream;
use super::ControlSignal;
use crate::engine::inspect::{FileResult, Inspected};
use crate::engine::job::count_verdict;
use crate::engine::request::{Admit, Origin, ScanRequest};
use crate::report::{Detection, Event};
use crate::stats::bump;

/// Bytes read from the socket at once.
const READ_CHUNK: usize = 64 * 1024;
/// Descriptors accepted in one message (more are closed by the kernel).
const MAX_FDS: usize = 4;
/// Input read ahead while a reply waits for room, past which a client that
/// sends without reading is dropped: many commands' worth, and well within
/// what a client that reads its replies ever gets ahead.
const READ_AHEAD_BYTES: usize = 1 << 20;
/// Descriptors received ahead while a reply waits for room (each one an
/// open file this process holds), past which the client is dropped.
const READ_AHEAD_FDS: usize = 64;
/// How often a connection waiting for a scan checks on its client.
const WAIT_TICK: Duration = Duration::from_millis(200);

/// Serves one connection until it is done.
pub(super) fn serve(server: &Server<'_>, admit: &(dyn Admit + Sync), conn: &Connection) {
    let stream = &conn.stream;
    let peer = stream.as_unix().and_then(|s| Peer::of(s).ok());
    let _ = stream.set_write_timeout(Some(server.settings.read_timeout));
    let mut session = Session {
        server,
        admit,
        conn,
        stream,
        peer,
        buf: Vec::new(),
        fds: VecDeque::new(),
        eof: false,
        next_id: None,
        last_delimiter: Delimiter::Newline,
    };
    if let Err(e) = session.run() {
        tracing::debug!("control connection ended: {e}");
    }
}

/// What to do after a command.
enum Flow {
    Continue,
    Close,
}

/// One connection's state.
struct Session<'s, 'a> {
    server: &'s Server<'a>,
    admit: &'s (dyn Admit + Sync),
    /// This connection as the accept loop sees it (waiting or at work).
    conn: &'s Connection,
    stream: &'s Stream,
    /// The client's credentials; `None` over TCP, or if they could not be
    /// read (then path scans are refused when peer checks are on).
    peer: Option<Peer>,
    /// Bytes received and not yet used.
    buf: Vec<u8>,
    /// Descriptors received and not yet claimed by FILDES, in the order
    /// they came (one per message: a FILDES takes one).
    fds: VecDeque<OwnedFd>,
    /// The client has closed its writing side.
    eof: bool,
    /// Inside an IDSESSION: the id of the next command's replies.
    next_id: Option<u64>,
    /// How the last command was delimited.
    last_delimiter: Delimiter,
}

/// What came instead of a command.
enum NoCommand {
    Closed,
    TimedOut,
    TooLong,
    /// Descriptors came that no FILDES among the commands received claims.
    Unclaimed,
}

/// Why INSTREAM content stopped short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamFault {
    Limit,
    Disconnected,
    TimedOut,
}

impl Session<'_, '_> {
    fn run(&mut self) -> io::Result<()> {
        loop {
            // Between the commands of an IDSESSION the client may stay
            // silent for `idle_timeout`; a command must come whole within
            // `command_timeout`.
            let settings = &self.server.settings;
            let wait = if self.next_id.is_some() && self.buf.is_empty() {
                settings.idle_timeout
            } else {
                settings.command_timeout
            };
            let deadline = Instant::now() + wait;
            self.conn.set_waiting(true);
            let next = self.next_command(deadline);
            self.conn.set_waiting(false);
            let (text, delimiter) = match next? {
                Ok(command) => command,
                Err(NoCommand::Closed) => return Ok(()),
                Err(NoCommand::TimedOut) => {
                    // As clamd: without an id, ended by a newline.
                    self.next_id = None;
                    return self.send(p::COMMAND_TIMEOUT, Delimiter::Newline);
                }
                Err(NoCommand::TooLong) => {
                    let d = self.pending_delimiter();
                    return self.send(p::COMMAND_TOO_LONG, d);
                }
                Err(NoCommand::Unclaimed) => {
                    self.fds.clear();
                    let d = self.pending_delimiter();
                    return self.send(p::UNCLAIMED_FD, d);
                }
            };
            self.last_delimiter = delimiter;
            if self.next_id.is_some() && delimiter == Delimiter::Bare {
                // clamd never answers a bare command inside a session.
                tracing::debug!("control connection: a bare command inside IDSESSION; closed");
                return Ok(());
            }
            let command = match p::parse_command(&text, delimiter) {
                Ok(c) => c,
                Err(p::UnknownCommand) => return self.send(p::UNKNOWN_COMMAND, delimiter),
            };
            if self.next_id.is_some() && !command.is_allowed_in_session() {
                return self.send(p::INVALID_IN_SESSION, delimiter);
            }
            let flow = self.command(command, delimiter)?;
            match (&flow, &mut self.next_id) {
                (Flow::Continue, Some(id)) => *id += 1,
                _ => return Ok(()),
            }
        }
    }

    fn command(&mut self, command: Command, d: Delimiter) -> io::Result<Flow> {
        self.conn.set_task(Some(task_name(&command)));
        let flow = self.serve_command(command, d);
        self.conn.set_task(None);
        flow
    }

    fn serve_command(&mut self, command: Command, d: Delimiter) -> io::Result<Flow> {
        if self.stream.is_tcp() {
            if let Some(flow) = self.refused_over_tcp(&command, d)? {
                return Ok(flow);
            }
        }
        match command {
            Command::Ping => self.send("PONG", d)?,
            Command::Version => self.send(&self.version(), d)?,
            Command::VersionCommands => self.send(&p::version_commands(&self.version()), d)?,
            Command::Stats => self.send(&self.stats(), d)?,
            Command::Reload => {
                let _ = self.server.signals.send(ControlSignal::Reload);
                self.send("RELOADING", d)?;
                return Ok(Flow::Close);
            }
            Command::Shutdown => {
                let _ = self.server.signals.send(ControlSignal::Shutdown);
                return Ok(Flow::Close);
            }
            Command::IdSession => {
                self.next_id = Some(0); // the next command is number 1
            }
            Command::End => {
                if self.next_id.is_none() {
                    self.send(p::UNKNOWN_COMMAND, d)?;
                }
                return Ok(Flow::Close);
            }
            Command::Scan { .. } | Command::Instream | Command::Fildes => {
                // Work waits for a slot; waiting for a command does not.
                let Some(_slot) = self.server.work_slot() else {
                    self.send(p::STOPPING, d)?;
                    return Ok(Flow::Close);
                };
                return match command {
                    Command::Scan { kind, path } => self.scan(kind, path, d),
                    Command::Instream => self.instream(d),
                    _ => self.fildes(d),
                };
            }
        }
        Ok(Flow::Continue)
    }

    /// Over TCP: refuses what `tcp_allow_path_scans` and `tcp_allow_control`
    /// do not allow (`Some`), else `None`. A refused path scan gets clamd's
    /// `PATH: Access denied. ERROR` and the connection goes on, as after
    /// any path's error; other commands end it.
    fn refused_over_tcp(&mut self, command: &Command, d: Delimiter) -> io::Result<Option<Flow>> {
        let settings = &self.server.settings;
        let key = match command {
            Command::Scan { .. } | Command::Fildes if !settings.tcp_allow_path_scans => {
                "tcp_allow_path_scans"
            }
            Command::Reload | Command::Shutdown if !settings.tcp_allow_control => {
                "tcp_allow_control"
            }
            _ => return Ok(None),
        };
        tracing::info!(
            command = %task_name(command),
            "control socket: refused over TCP (allowed with {key} = true)"
        );
        if let Command::Scan { path, .. } = command {
            self.send(&p::error(&p::display_path(path), p::ACCESS_DENIED), d)?;
            return Ok(Some(Flow::Continue));
        }
        self.send(p::NOT_OVER_TCP, d)?;
        Ok(Some(Flow::Close))
    }

    /// The delimiter of the command being read (else of the last one), for
    /// a reply that ends the connection.
    fn pending_delimiter(&self) -> Delimiter {
        match self.buf.first() {
            Some(b'z') => Delimiter::Nul,
            Some(_) => Delimiter::Newline,
            None => self.last_delimiter,
        }
    }

    /// Writes one reply, with the session's id if inside one.
    fn send(&mut self, body: &str, d: Delimiter) -> io::Result<()> {
        let id = self.next_id.filter(|&id| id > 0);
        self.wait_writable(self.server.settings.read_timeout)?;
        (&*self.stream).write_all(&p::reply(id, body, d))
    }

    /// The last reply on a connection whose client stopped reading: sent
    /// without waiting, into the room `send` always leaves.
    fn send_last(&self, body: &str, d: Delimiter) {
        let id = self.next_id.filter(|&id| id > 0);
        let line = p::reply(id, body, d);
        let flags = rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL;
        if let Err(e) = rustix::net::send(self.stream, &line, flags) {
            tracing::debug!("control connection: the last reply could not be sent: {e}");
        }
    }

    /// Waits until the socket's send buffer is at most a quarter full, at
    /// most `timeout` (then `TimedOut`). While it waits, what the client
    /// sends is read ahead (it may be sending commands without reading the
    /// replies, and would otherwise wait on this connection as this
    /// connection waits on it); a client that has sent more than
    /// `READ_AHEAD_BYTES` or `READ_AHEAD_FDS` unanswered is dropped
    /// (`ConnectionAborted`), as clamd drops a client whose replies do not
    /// fit.
    fn wait_writable(&mut self, timeout: Duration) -> io::Result<()> {
        use rustix::event::PollFlags;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = rustix::event::Timespec {
                tv_sec: left.as_secs() as _,
                tv_nsec: left.subsec_nanos() as _,
            };
            let want = if self.eof {
                PollFlags::OUT
            } else {
                PollFlags::OUT | PollFlags::IN
            };
            let mut fds = [rustix::event::PollFd::new(self.stream, want)];
            match rustix::event::poll(&mut fds, Some(&wait)) {
                Ok(0) if left.is_zero() => return Err(io::ErrorKind::TimedOut.into()),
                Ok(0) => {}
                Ok(_) => {
                    let got = fds[0].revents();
                    if got.contains(PollFlags::OUT) {
                        return Ok(());
                    }
                    if got.contains(PollFlags::IN) {
                        self.fill(Duration::from_millis(1))?;
                        if self.buf.len() > READ_AHEAD_BYTES || self.fds.len() > READ_AHEAD_FDS {
                            tracing::warn!(
                                bytes = self.buf.len(),
                                fds = self.fds.len(),
                                "control connection: the client sends commands without reading the replies; connection dropped"
                            );
                            return Err(io::ErrorKind::ConnectionAborted.into());
                        }
                        continue;
                    }
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A scan's client stopped reading its replies: the scan is cancelled,
    /// what was not sent is counted in the log, and the client is told.
    fn replies_not_read(&mut self, name: &str, not_sent: usize, d: Delimiter) {
        tracing::warn!(
            path = name,
            not_sent,
            "control connection: the client stopped reading replies for {:?}; scan cancelled, {not_sent} reply lines not sent",
            self.server.settings.read_timeout,
        );
        self.send_last(&p::error(name, p::REPLIES_NOT_READ), d);
    }

    /// Waits for the next whole command.
    fn next_command(
        &mut self,
        deadline: Instant,
    ) -> io::Result<Result<(Vec<u8>, Delimiter), NoCommand>> {
        loop {
            match p::next_command(&self.buf, self.server.settings.max_command_length, true) {
                Frame::Command {
                    text,
                    delimiter,
                    consumed,
                } => {
                    let text = text.to_vec();
                    self.buf.drain(..consumed);
                    return Ok(Ok((text, delimiter)));
                }
                Frame::TooLong => return Ok(Err(NoCommand::TooLong)),
                Frame::Incomplete => {}
            }
            // Every command received has been served: a descriptor now
            // belongs to none (a FILDES takes the one that follows it).
            if !self.fds.is_empty() {
                return Ok(Err(NoCommand::Unclaimed));
            }
            if self.eof {
                return Ok(Err(NoCommand::Closed));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Err(NoCommand::TimedOut));
            }
            match self.fill(left) {
                Ok(_) => {}
                Err(e) if is_timeout(&e) => return Ok(Err(NoCommand::TimedOut)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads once (waiting at most `timeout`) into `buf`, keeping any
    /// descriptors that came along. Returns the bytes read; 0 at the end.
    fn fill(&mut self, timeout: Duration) -> io::Result<usize> {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let start = self.buf.len();
        self.buf.resize(start + READ_CHUNK, 0);
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let result = loop {
            let mut iov = [io::IoSliceMut::new(&mut self.buf[start..])];
            match rustix::net::recvmsg(self.stream, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)
            {
                Err(rustix::io::Errno::INTR) => continue,
                other => break other,
            }
        };
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(mut fds) = message {
                // Only one descriptor per message; the rest are closed.
                self.fds.extend(fds.next());
            }
        }
        let n = match result {
            Ok(msg) => msg.bytes,
            Err(e) => {
                self.buf.truncate(start);
                return Err(e.into());
            }
        };
        self.buf.truncate(start + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }

    fn version(&self) -> String {
        let count = self
            .server
            .inspector
            .signatures()
            .stats()
            .total_detections();
        let secs = self.server.loaded_at.load(Ordering::Relaxed);
        p::version(count, UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// clamd's STATS layout, with vigil's pool and counters.
    fn stats(&self) -> String {
        super::faults::panic_at("stats");
        let s = (self.server.daemon_stats)();
        let tasks = self.server.tasks();
        let stats = p::Stats {
            threads: s.threads,
            busy: s.outstanding > 0,
            idle_timeout: self.server.settings.idle_timeout,
            queued: s.queue_depth,
            tasks: &tasks,
            rss_mib: s.rss_kib as f64 / 1024.0,
            signatures_mib: s.signature_bytes as f64 / (1024.0 * 1024.0),
            vigil: self.server.readings().to_line(),
        };
        stats.to_string()
    }

    /// SCAN, CONTSCAN, MULTISCAN, ALLMATCHSCAN: through the daemon's queue
    /// and pool; detections and errors are sent as they are found.
    fn scan(&mut self, kind: ScanKind, path: PathBuf, d: Delimiter) -> io::Result<Flow> {
        let name = p::display_path(&path);
        if path.as_os_str().is_empty() {
            let reason = p::path_check_failure("No such file or directory");
            self.send(&p::error("", &reason), d)?;
            return Ok(Flow::Continue);
        }
        if !path.is_absolute() {
            self.send(&p::error(&name, "Relative paths are not allowed."), d)?;
            return Ok(Flow::Continue);
        }
        // With peer checks, the scan opens everything with the client's
        // permissions checked on the descriptors it reads (`access`).
        // Over TCP (allowed by `tcp_allow_path_scans`) there are no
        // credentials: the daemon's own access answers, as clamd's does.
        let peer_checks = self.server.settings.check_peer_access && !self.stream.is_tcp();
        let confine = match (&self.peer, peer_checks) {
            (_, false) => None,
            (Some(peer), true) => Some(Arc::new(peer.credentials())),
            (None, true) => {
                self.send(&p::error(&name, p::ACCESS_DENIED), d)?;
                return Ok(Flow::Continue);
            }
        };
        let in_flight = &self.server.in_flight;
        let (id, pending, replies) = in_flight.register(kind);
        let _forget = Forget(in_flight, id);
        if !self.admit.admit(ScanRequest::Control { path, id, confine }) {
            self.send(&p::error(&name, "vigil is stopping."), d)?;
            return Ok(Flow::Close);
        }
        loop {
            crossbeam_channel::select! {
                recv(replies.lines) -> line => {
                    if let Ok(Reply::Line(line)) = line {
                        if let Err(e) = self.send(&line, d) {
                            pending.cancel();
                            if is_timeout(&e) {
                                self.replies_not_read(&name, 1 + replies.lines.len(), d);
                                return Ok(Flow::Close);
                            }
                            return Err(e);
                        }
                    }
                }
                recv(replies.done) -> done => {
                    // Every line came before the end: send what is left.
                    let mut left = replies.lines.try_iter().filter(|l| matches!(l, Reply::Line(_)));
                    while let Some(Reply::Line(line)) = left.next() {
                        if let Err(e) = self.send(&line, d) {
                            if is_timeout(&e) {
                                self.replies_not_read(&name, 1 + left.count(), d);
                                return Ok(Flow::Close);
                            }
                            return Err(e);
                        }
                    }
                    match done {
                        Ok(Reply::Done { dropped: true, .. }) => {
                            // Lines were dropped already: the client reads
                            // too slowly, so this one may not fit in time.
                            let last = p::error(&name, p::REPLIES_NOT_READ);
                            return match self.send(&last, d) {
                                Ok(()) => Ok(Flow::Continue),
                                Err(e) if is_timeout(&e) => {
                                    self.send_last(&last, d);
                                    Ok(Flow::Close)
                                }
                                Err(e) => Err(e),
                            };
                        }
                        Ok(Reply::Done { ok: true, .. }) => self.send(&p::ok(&name), d)?,
                        _ => {}
                    }
                    return Ok(Flow::Continue);
                }
                default(WAIT_TICK) => {
                    if self.server.is_stopping() || hung_up(self.stream) {
                        pending.cancel();
                        return Ok(Flow::Close);
                    }
                }
            }
        }
    }

    /// INSTREAM: the content is hashed as it arrives, on this thread (a
    /// pool worker never waits on a client), with no temporary file.
    fn instream(&mut self, d: Delimiter) -> io::Result<Flow> {
        let server = self.server;
        let mut reader = StreamReader {
            decoder: ChunkDecoder::new(server.settings.stream_max_length),
            fault: None,
            session: self,
        };
        let inspected = server.inspector.inspect_stream(&mut reader);
        let fault = reader.fault;
        match fault {
            Some(StreamFault::Limit) => {
                self.send(p::INSTREAM_LIMIT, d)?;
                return Ok(Flow::Close);
            }
            Some(StreamFault::TimedOut) => {
                self.send(p::COMMAND_TIMEOUT, d)?;
                return Ok(Flow::Close);
            }
            Some(StreamFault::Disconnected) => return Ok(Flow::Close),
            None => {}
        }
        self.verdict("stream", Path::new("stream"), &inspected, d)?;
        Ok(Flow::Continue)
    }

    /// FILDES: the descriptor comes with (at least) one more byte.
    fn fildes(&mut self, d: Delimiter) -> io::Result<Flow> {
        let deadline = Instant::now() + self.server.settings.read_timeout;
        while self.buf.is_empty() && self.fds.is_empty() && !self.eof {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.fill(left) {
                Ok(_) => {}
                Err(e) if is_timeout(&e) => break,
                Err(e) => return Err(e),
            }
        }
        if !self.buf.is_empty() {
            self.buf.remove(0); // the byte that carried the descriptor
        }
        let Some(fd) = self.fds.pop_front() else {
            self.send(p::NO_FD, d)?;
            return Ok(Flow::Close);
        };
        let mut file = File::from(fd);
        let name = format!("fd[{}]", file.as_raw_fd());
        // The event names the file the descriptor is open on, where the
        // kernel knows it; the reply keeps clamd's `fd[N]`.
        let opened = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .ok()
            .filter(|p| p.is_absolute());
        let inspected = self.server.inspector.inspect_open(&mut file);
        drop(file);
        let path = opened.unwrap_or_else(|| name.clone().into());
        self.verdict(&name, &path, &inspected, d)?;
        Ok(Flow::Continue)
    }

    /// Counts, logs and replies the verdict on a stream or a descriptor.
    /// `name` is the reply's (`stream`, `fd[N]`), `path` the event's.
    fn verdict(
        &mut self,
        name: &str,
        path: &Path,
        inspected: &Inspected,
        d: Delimiter,
    ) -> io::Result<()> {
        let stats = self.server.stats.local();
        let origin = Origin::Control(0);
        let sink = self.server.sink;
        count_verdict(stats, inspected);
        let body = match &inspected.result {
            FileResult::Detected {
                size,
                signature,
                official,
                digest,
                member,
                ..
            } => {
                sink.event_from(
                    origin,
                    &Event::Detection(Detection {
                        path,
                        size: *size,
                        signature,
                        official: *official,
                        also: &[],
                        digest,
                        moved: None,
                        member,
                    }),
                );
                p::found(name, signature)
            }
            FileResult::Clean { .. } | FileResult::Cleared | FileResult::TooLarge => p::ok(name),
            FileResult::NotRegular(_) => p::error(name, "Not a regular file"),
            FileResult::Failed(reason) => {
                bump(&stats.errors);
                sink.event_from(
                    origin,
                    &Event::Error {
                        path,
                        reason: &reason.reason,
                        kind: reason.kind,
                    },
                );
                p::error(name, &reason.reason)
            }
        };
        self.send(&body, d)
    }
}

/// A command as STATS lists it: its name, and the path for a scan.
fn task_name(command: &Command) -> String {
    let name = match command {
        Command::Ping => "PING",
        Command::Version => "VERSION",
        Command::VersionCommands => "VERSIONCOMMANDS",
        Command::Reload => "RELOAD",
        Command::Shutdown => "SHUTDOWN",
        Command::Instream => "INSTREAM",
        Command::Fildes => "FILDES",
        Command::Stats => "STATS",
        Command::IdSession => "IDSESSION",
        Command::End => "END",
        Command::Scan { kind, path } => {
            let name = match kind {
                ScanKind::Scan => "SCAN",
                ScanKind::ContScan => "CONTSCAN",
                ScanKind::MultiScan => "MULTISCAN",
                ScanKind::AllMatchScan => "ALLMATCHSCAN",
            };
            return format!("{name} {}", p::display_path(path));
        }
    };
    name.to_string()
}

/// Forgets a request when its connection is done with it.
struct Forget<'r>(&'r InFlight, u64);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.remove(self.1);
    }
}

/// INSTREAM content as a `Read`: chunks are decoded from what the session
/// has received, reading more as needed; the end chunk is the end of input.
struct StreamReader<'x, 's, 'a> {
    session: &'x mut Session<'s, 'a>,
    decoder: ChunkDecoder,
    fault: Option<StreamFault>,
}

impl Read for StreamReader<'_, '_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.decoder.is_done() {
                return Ok(0);
            }
            let buf = &mut self.session.buf;
            if !buf.is_empty() {
                let window = &buf[..buf.len().min(out.len())];
                let (used, chunk) = match self.decoder.feed(window) {
                    Ok(fed) => fed,
                    Err(limit) => {
                        self.fault = Some(StreamFault::Limit);
                        return Err(io::Error::other(limit));
                    }
                };
                let n = match chunk {
                    p::Chunk::Data(data) => {
                        out[..data.len()].copy_from_slice(data);
                        data.len()
                    }
                    p::Chunk::End | p::Chunk::NeedMore => 0,
                };
                buf.drain(..used);
                if n > 0 || self.decoder.is_done() {
                    return Ok(n);
                }
                continue;
            }
            if self.session.eof {
                self.fault = Some(StreamFault::Disconnected);
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let timeout = self.session.server.settings.read_timeout;
            match self.session.fill(timeout) {
                Ok(_) => {}
                Err(e) => {
                    self.fault = Some(if is_timeout(&e) {
                        StreamFault::TimedOut
                    } else {
                        StreamFault::Disconnected
                    });
                    return Err(e);
                }
            }
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
