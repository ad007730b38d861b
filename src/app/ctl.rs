//! `vigil ctl`: a clamd-protocol client for vigil's control socket. Every
//! command uses the `z` (NUL-delimited) form on a fresh connection, as
//! `clamdscan` does. `scan` prints what `vigil scan` prints for the same
//! files: `PATH: NAME FOUND` on stdout, `PATH: REASON ERROR` on stderr, and
//! exits 0, 1 or 2 alike. `PATH: OK` is printed per file with `--stream` and
//! `--fdpass`; a path the daemon scans itself gets one `PATH: OK` for the
//! whole of it (clamd's protocol reports no clean files one by one).
//! With `--tcp ADDR:PORT` the same commands go to the daemon's TCP
//! listener (where descriptors cannot be passed, so `--fdpass` is refused).

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use crate::app::Error;
use crate::cli::args::{CtlArgs, CtlCommand};
use crate::control::Stream;
use crate::error::ExitStatus;
use crate::report::escape_path;

/// A `vigil ctl` command, checked.
#[derive(Debug, Clone)]
pub struct CtlConfig {
    pub daemon: Endpoint,
    pub action: CtlAction,
}

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Its control socket (`--socket`, the default).
    Unix(PathBuf),
    /// Its TCP listener (`--tcp`).
    Tcp(SocketAddr),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
            Endpoint::Tcp(addr) => write!(f, "tcp {addr}"),
        }
    }
}

#[derive(Debug, Clone)]
pub enum CtlAction {
    Ping,
    Version,
    Stats,
    /// STATS, its `VIGIL:` line as Prometheus metrics.
    Metrics,
    Reload,
    Shutdown,
    Scan {
        mode: CtlScanMode,
        paths: Vec<PathBuf>,
        show_summary: bool,
    },
}

/// How `vigil ctl scan` gets a file to the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtlScanMode {
    /// The daemon reads the path (MULTISCAN).
    Path,
    /// The content is sent (INSTREAM).
    Stream,
    /// The open descriptor is passed (FILDES).
    Fdpass,
}

impl CtlConfig {
    pub fn from_args(args: CtlArgs) -> Self {
        let action = match args.command {
            CtlCommand::Ping => CtlAction::Ping,
            CtlCommand::Version => CtlAction::Version,
            CtlCommand::Stats { prometheus: false } => CtlAction::Stats,
            CtlCommand::Stats { prometheus: true } => CtlAction::Metrics,
            CtlCommand::Reload => CtlAction::Reload,
            CtlCommand::Shutdown => CtlAction::Shutdown,
            CtlCommand::Scan {
                stream,
                fdpass,
                no_summary,
                paths,
            } => CtlAction::Scan {
                mode: if stream {
                    CtlScanMode::Stream
                } else if fdpass {
                    CtlScanMode::Fdpass
                } else {
                    CtlScanMode::Path
                },
                paths,
                show_summary: !no_summary,
            },
        };
        let daemon = match (args.tcp, args.socket) {
            (Some(addr), _) => Endpoint::Tcp(addr),
            (None, socket) => Endpoint::Unix(
                socket.unwrap_or_else(|| PathBuf::from(crate::control::DEFAULT_SOCKET)),
            ),
        };
        CtlConfig { daemon, action }
    }
}

/// Bytes per INSTREAM chunk.
const CHUNK: usize = 64 * 1024;

/// Why `vigil ctl` could not talk to the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the daemon at {}: no such socket (is `vigil daemon` running, with `socket` set?)", .0.display())]
    NoSocket(PathBuf),
    #[error("cannot reach the daemon at {}: nothing is listening (the daemon is not running; the socket was left by an earlier one)", .0.display())]
    NotRunning(PathBuf),
    #[error("cannot reach the daemon at {}: it is not a socket (`socket` in the daemon's configuration names the socket)", .0.display())]
    NotASocket(PathBuf),
    #[error("cannot reach the daemon at {}: permission denied (the socket's mode and group, `socket_mode` and `socket_group`, decide who may connect)", .0.display())]
    Denied(PathBuf),
    #[error("cannot reach the daemon at tcp {0}: nothing is listening (is `vigil daemon` running, with `tcp_socket` set?)")]
    TcpNotRunning(SocketAddr),
    #[error(
        "cannot reach the daemon at {daemon}: {}",
        crate::error::io_reason(source)
    )]
    Connect {
        daemon: Endpoint,
        #[source]
        source: io::Error,
    },
    #[error("--fdpass needs the daemon's Unix socket: descriptors cannot be passed over TCP (use --stream)")]
    FdpassOverTcp,
    #[error("lost the connection to the daemon: {}", crate::error::io_reason(.0))]
    Io(#[source] io::Error),
    #[error("the daemon did not reply")]
    NoReply,
    #[error("the daemon replied {0:?}")]
    Unexpected(String),
    #[error("the daemon's STATS has no usable VIGIL line ({0}); is it vigil?")]
    NoMetrics(String),
}

/// Runs one `vigil ctl` command.
pub fn run(config: &CtlConfig) -> Result<ExitStatus, Error> {
    let socket = &config.daemon;
    let simple = |command: &str| -> Result<Vec<String>, ClientError> {
        let mut conn = connect(socket)?;
        send(&mut conn, command)?;
        replies(&mut conn)
    };
    let expect = |command: &str, want: &str| -> Result<ExitStatus, Error> {
        let lines = simple(command)?;
        match lines.first() {
            Some(line) if line == want => {
                println!("{line}");
                Ok(ExitStatus::Clean)
            }
            Some(line) => Err(ClientError::Unexpected(line.clone()).into()),
            None => Err(ClientError::NoReply.into()),
        }
    };
    match &config.action {
        CtlAction::Ping => expect("PING", "PONG"),
        CtlAction::Reload => expect("RELOAD", "RELOADING"),
        CtlAction::Version | CtlAction::Stats => {
            let command = if matches!(config.action, CtlAction::Version) {
                "VERSION"
            } else {
                "STATS"
            };
            let lines = simple(command)?;
            if lines.is_empty() {
                return Err(ClientError::NoReply.into());
            }
            for line in lines {
                println!("{}", line.trim_end_matches('\n'));
            }
            Ok(ExitStatus::Clean)
        }
        CtlAction::Metrics => {
            let lines = simple("STATS")?;
            let line = lines
                .iter()
                .flat_map(|reply| reply.lines())
                .find(|l| l.starts_with("VIGIL:"))
                .ok_or_else(|| ClientError::NoMetrics("none".into()))?;
            let readings =
                crate::metrics::Readings::parse_line(line).map_err(ClientError::NoMetrics)?;
            print!("{}", readings.to_prometheus());
            Ok(ExitStatus::Clean)
        }
        CtlAction::Shutdown => match simple("SHUTDOWN")?.into_iter().next() {
            // The daemon answers SHUTDOWN by closing; a reply is a refusal.
            Some(line) => Err(ClientError::Unexpected(line).into()),
            None => {
                println!("the daemon at {socket} is stopping");
                Ok(ExitStatus::Clean)
            }
        },
        CtlAction::Scan {
            mode,
            paths,
            show_summary,
        } => scan(socket, *mode, paths, *show_summary),
    }
}

fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

fn connect(daemon: &Endpoint) -> Result<Stream, ClientError> {
    let path = match daemon {
        Endpoint::Unix(path) => path,
        Endpoint::Tcp(addr) => {
            return TcpStream::connect(addr)
                .map(Stream::Tcp)
                .map_err(|e| match e.kind() {
                    io::ErrorKind::ConnectionRefused => ClientError::TcpNotRunning(*addr),
                    _ => ClientError::Connect {
                        daemon: daemon.clone(),
                        source: e,
                    },
                });
        }
    };
    UnixStream::connect(path)
        .map(Stream::Unix)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ClientError::NoSocket(path.to_path_buf()),
            io::ErrorKind::ConnectionRefused if !is_socket(path) => {
                ClientError::NotASocket(path.to_path_buf())
            }
            io::ErrorKind::ConnectionRefused => ClientError::NotRunning(path.to_path_buf()),
            io::ErrorKind::PermissionDenied => ClientError::Denied(path.to_path_buf()),
            _ => ClientError::Connect {
                daemon: daemon.clone(),
                source: e,
            },
        })
}

fn send(conn: &mut Stream, command: &str) -> Result<(), ClientError> {
    let mut bytes = Vec::with_capacity(command.len() + 2);
    bytes.push(b'z');
    bytes.extend_from_slice(command.as_bytes());
    bytes.push(0);
    conn.write_all(&bytes).map_err(ClientError::Io)
}

/// Every NUL-terminated reply until the daemon closes the connection.
fn replies(conn: &mut Stream) -> Result<Vec<String>, ClientError> {
    let mut all = Vec::new();
    conn.read_to_end(&mut all).map_err(ClientError::Io)?;
    Ok(all
        .split(|&b| b == 0)
        .filter(|l| !l.is_empty())
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect())
}

/// Totals of a `ctl scan`.
#[derive(Default)]
struct Tally {
    detections: u64,
    errors: u64,
}

impl Tally {
    /// Prints one reply about `name`; `rest` is what follows `NAME: `.
    fn line(&mut self, name: &str, rest: &str) -> bool {
        if rest.ends_with(" FOUND") {
            self.detections += 1;
            println!("{name}: {rest}");
            true
        } else if rest.ends_with(" ERROR") || rest == "ERROR" {
            self.errors += 1;
            eprintln!("{name}: {rest}");
            false
        } else {
            println!("{name}: {rest}");
            false
        }
    }
}

fn scan(
    socket: &Endpoint,
    mode: CtlScanMode,
    paths: &[PathBuf],
    show_summary: bool,
) -> Result<ExitStatus, Error> {
    if mode == CtlScanMode::Fdpass && matches!(socket, Endpoint::Tcp(_)) {
        return Err(ClientError::FdpassOverTcp.into());
    }
    let started = Instant::now();
    let mut tally = Tally::default();
    for path in paths {
        match mode {
            CtlScanMode::Path => scan_path(socket, path, &mut tally)?,
            CtlScanMode::Stream | CtlScanMode::Fdpass => {
                for file in local_files(path, &mut tally) {
                    scan_file(socket, mode, &file, &mut tally)?;
                }
            }
        }
    }
    if show_summary {
        let secs = started.elapsed().as_secs_f64();
        println!("\n----------- SCAN SUMMARY -----------");
        println!("Infected files: {}", tally.detections);
        println!("Errors: {}", tally.errors);
        println!(
            "Time: {secs:.3} sec ({} m {} s)",
            secs as u64 / 60,
            secs as u64 % 60
        );
    }
    let _ = io::stdout().flush();
    Ok(ExitStatus::from_counts(tally.detections, tally.errors))
}

/// MULTISCAN of a path the daemon reads itself (made absolute here).
fn scan_path(socket: &Endpoint, path: &Path, tally: &mut Tally) -> Result<(), ClientError> {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut conn = connect(socket)?;
    let mut bytes = b"zMULTISCAN ".to_vec();
    bytes.extend_from_slice(abs.as_os_str().as_encoded_bytes());
    bytes.push(0);
    conn.write_all(&bytes).map_err(ClientError::Io)?;
    // Replies name paths under `abs`; print them under `path`, as given.
    let (sent, given) = (escape_path(&abs), escape_path(path));
    for line in replies(&mut conn)? {
        // `NAME: REST`, NAME an escaped path: the last `: ` before the verdict
        // (a path check failure's reason has one of its own).
        let at = line.find(PATH_CHECK_FAILURE).or_else(|| line.rfind(": "));
        match at {
            Some(at) => {
                let name = &line[..at];
                let name = match name.strip_prefix(&*sent) {
                    Some(below) if sent != given => format!("{given}{below}"),
                    _ => name.to_string(),
                };
                tally.line(&name, &as_vigil_scan_words(&line[at + 2..]));
            }
            None => {
                tally.errors += 1;
                eprintln!("{}: {line}", escape_path(path));
            }
        }
    }
    Ok(())
}

/// How a path check failure follows the path in a reply.
const PATH_CHECK_FAILURE: &str = ": File path check failure: ";

/// A reply's reason as `vigil scan` words it: the daemon answers a named
/// path that cannot be looked up as clamd does (`File path check failure:
/// REASON. ERROR`); `vigil scan` says `REASON ERROR`.
fn as_vigil_scan_words(rest: &str) -> std::borrow::Cow<'_, str> {
    match rest
        .strip_prefix(&PATH_CHECK_FAILURE[2..])
        .and_then(|r| r.strip_suffix(". ERROR"))
    {
        Some(reason) => format!("{reason} ERROR").into(),
        None => rest.into(),
    }
}

/// The regular files at or under `path`, as this user sees them; what
/// cannot be read is reported and counted.
fn local_files(path: &Path, tally: &mut Tally) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(path).follow_root_links(true) {
        match entry {
            Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
            Ok(_) => {}
            Err(e) => {
                let at = e.path().unwrap_or(path).to_path_buf();
                let reason = e
                    .io_error()
                    .map(crate::error::io_reason)
                    .unwrap_or_else(|| e.to_string());
                tally.line(&escape_path(&at), &format!("{reason} ERROR"));
            }
        }
    }
    files
}

/// INSTREAM or FILDES of one local file.
fn scan_file(
    socket: &Endpoint,
    mode: CtlScanMode,
    path: &Path,
    tally: &mut Tally,
) -> Result<(), ClientError> {
    let name = escape_path(path);
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            tally.line(&name, &format!("{} ERROR", crate::error::io_reason(&e)));
            return Ok(());
        }
    };
    let mut conn = connect(socket)?;
    let sent = match mode {
        CtlScanMode::Fdpass => send_fd(&mut conn, &file),
        _ => send_stream(&mut conn, &mut file),
    };
    if let Err(e) = sent {
        // The daemon may have refused the stream (size limit) and closed.
        if e.kind() != io::ErrorKind::BrokenPipe && e.kind() != io::ErrorKind::ConnectionReset {
            tally.line(&name, &format!("{} ERROR", crate::error::io_reason(&e)));
            return Ok(());
        }
    }
    let lines = replies(&mut conn)?;
    if lines.is_empty() {
        tally.line(&name, "no reply from the daemon ERROR");
    }
    for line in lines {
        let rest = line.split_once(": ").map_or(line.as_str(), |(_, r)| r);
        tally.line(&name, rest);
    }
    Ok(())
}

fn send_stream(conn: &mut Stream, file: &mut File) -> io::Result<()> {
    conn.write_all(b"zINSTREAM\0")?;
    let mut buf = vec![0u8; CHUNK + 4];
    loop {
        let n = match file.read(&mut buf[4..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        buf[..4].copy_from_slice(&(n as u32).to_be_bytes());
        conn.write_all(&buf[..4 + n])?;
        if n == 0 {
            return Ok(());
        }
    }
}

fn send_fd(conn: &mut Stream, file: &File) -> io::Result<()> {
    conn.write_all(b"zFILDES\0")?;
    let fds = [file.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        &*conn,
        &[IoSlice::new(&[0])],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}
