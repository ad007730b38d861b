//! The control socket: clamd's protocol on a Unix socket, and optionally on
//! TCP, so that `clamdscan`, mail filters and clamd client libraries can use
//! vigil's engine, and `vigil ctl`, vigil's own client.
//!
//! - `protocol`: pure parsing of commands and INSTREAM chunks, and replies.
//! - `server`: the socket's life (bind, mode, group, stale sockets, removal)
//!   and the accept loop with its bound on connections.
//! - `session`: one connection: commands, timeouts, INSTREAM, FILDES.
//! - `inflight`: path scans in flight through the shared queue and pool,
//!   and the way their verdicts come back.
//! - `peer`: the client's credentials and what it may read.
//! - `stream`: a connection, Unix or TCP.
//! - `network`: `tcp_allow`'s client networks.
//! - `activation`: sockets passed by systemd (`LISTEN_FDS`).
//! - `faults`: a test hook that panics at a named point.
//!
//! The server never reaches into the pool: a path scan is admitted to the
//! daemon's bounded queue like the watcher's requests, and its verdicts come
//! back through the sink.

pub mod activation;
pub mod faults;
pub mod inflight;
pub mod network;
pub mod peer;
pub mod protocol;
pub mod server;
mod session;
pub(crate) mod stream;

use std::time::Duration;

pub use server::{Listener, Server, ServerError, ServerParts};
pub(crate) use stream::Stream;

use crate::stats::Snapshot;

/// Where `vigil ctl` looks for the daemon when not told.
pub const DEFAULT_SOCKET: &str = "/run/vigil/vigil.sock";

/// How the control socket behaves (the daemon's configuration keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlSettings {
    /// `socket_mode`: permission bits of the socket file.
    pub mode: u32,
    /// `socket_group`: group of the socket file (default: the daemon's).
    pub group: Option<u32>,
    /// `check_peer_access`: answer SCAN only for what the client could read.
    pub check_peer_access: bool,
    /// `max_connections`: commands worked on at once (scans, streams,
    /// descriptors); more wait for a slot. A connection waiting for its
    /// client's command holds none.
    pub max_connections: usize,
    /// `max_open_connections`: connections held open at once. When one more
    /// arrives, the connection that has waited longest for a command is
    /// closed to make room, so silent clients cannot lock others out.
    pub max_open_connections: usize,
    /// `command_timeout`: the time a client has to send a whole command.
    pub command_timeout: Duration,
    /// `idle_timeout`: the time an IDSESSION may wait for its next command
    /// (clamd's `IdleTimeout`), so that a client such as clamdtop can hold
    /// a session open between requests.
    pub idle_timeout: Duration,
    /// `read_timeout`: the time a client may leave between two reads of
    /// INSTREAM data, and that a reply may wait to be written.
    pub read_timeout: Duration,
    /// `stream_max_length`: the most INSTREAM content accepted.
    pub stream_max_length: u64,
    /// The longest command (a path of PATH_MAX bytes and the command name).
    pub max_command_length: usize,
    /// `tcp_allow_path_scans`: over TCP, answer SCAN, CONTSCAN, MULTISCAN,
    /// ALLMATCHSCAN and FILDES (a TCP client has no credentials: paths are
    /// read with the daemon's own access).
    pub tcp_allow_path_scans: bool,
    /// `tcp_allow_control`: over TCP, answer RELOAD and SHUTDOWN.
    pub tcp_allow_control: bool,
    /// `tcp_allow`: the client networks that may connect over TCP; empty
    /// allows every client that can reach the address.
    pub tcp_allow: Vec<network::Network>,
}

impl Default for ControlSettings {
    fn default() -> Self {
        ControlSettings {
            mode: 0o660,
            group: None,
            check_peer_access: true,
            max_connections: 64,
            max_open_connections: 1024,
            command_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(120),
            stream_max_length: 100 << 20,
            max_command_length: 4096 + 64,
            tcp_allow_path_scans: false,
            tcp_allow_control: false,
            tcp_allow: Vec::new(),
        }
    }
}

/// The daemon's state for `STATS`.
#[derive(Clone, Debug, Default)]
pub struct DaemonStats {
    pub threads: usize,
    pub queue_depth: usize,
    /// Jobs admitted or fanned out and not yet run.
    pub outstanding: i64,
    pub counts: Snapshot,
    pub signatures: usize,
    /// Memory the signature set takes (heap and mapped), bytes.
    pub signature_bytes: u64,
    pub uptime: Duration,
    pub rss_kib: u64,
    /// The daemon's other readings (queue capacity, watches, reloads, ...).
    pub extra: crate::metrics::Readings,
}

impl DaemonStats {
    /// Everything measured, but the control socket's own counts.
    pub fn readings(&self) -> crate::metrics::Readings {
        let mut r = crate::metrics::Readings::new();
        r.count("signatures", self.signatures as u64);
        r.scan_counts(&self.counts);
        r.count("outstanding", self.outstanding.max(0) as u64);
        r.count("uptime", self.uptime.as_secs());
        r.count("threads", self.threads as u64);
        r.count("queue_depth", self.queue_depth as u64);
        r.count("signature_bytes", self.signature_bytes);
        r.count("rss_bytes", self.rss_kib * 1024);
        r.extend(&self.extra);
        r
    }
}

/// What a client asks of the daemon as a whole; the daemon's main thread
/// acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlSignal {
    /// `RELOAD`: as SIGHUP.
    Reload,
    /// `SHUTDOWN`: as SIGTERM.
    Shutdown,
}

/// Seconds since the epoch, now (for `Server::loaded_at`).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Reads a group for `socket_group`: a number, or a name looked up through
/// the system's name service (files, LDAP, sssd, ... as nsswitch.conf says).
pub fn resolve_group(name: &str) -> Option<u32> {
    if let Ok(gid) = name.parse() {
        return Some(gid);
    }
    let group = nix::unistd::Group::from_name(name).ok()??;
    Some(group.gid.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_number_or_name() {
        assert_eq!(resolve_group("123"), Some(123));
        assert_eq!(resolve_group("root"), Some(0));
        assert_eq!(resolve_group("no-such-group-here"), None);
    }
}
