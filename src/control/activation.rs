//! Sockets passed by systemd (socket activation: `LISTEN_PID`, `LISTEN_FDS`,
//! `LISTEN_FDNAMES`), as `vigil.socket` passes them. systemd makes them
//! outside the service's sandbox, so a service with `PrivateNetwork=yes` and
//! `RestrictAddressFamilies=AF_UNIX` can still serve TCP. The `listenfd`
//! crate takes the descriptors over (checking that each is a listening
//! socket of the kind asked for) and clears the variables, so no child
//! process inherits them.

use super::server::{Listener, ServerError};

/// The sockets systemd passed: at most one Unix and one TCP listener.
#[derive(Debug, Default)]
pub struct Passed {
    pub unix: Option<Listener>,
    pub tcp: Option<Listener>,
}

impl Passed {
    /// Takes the sockets passed to this process, if any. More than one of a
    /// kind, or a descriptor that is neither kind, is an error: the unit
    /// and the daemon disagree, and guessing would serve the wrong socket.
    pub fn from_env() -> Result<Passed, ServerError> {
        let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
        std::env::remove_var("LISTEN_FDNAMES");
        let mut fds = listenfd::ListenFd::from_env();
        let name = |i: usize| names.split(':').nth(i).unwrap_or("unknown").to_string();
        let mut passed = Passed::default();
        for i in 0..fds.len() {
            let bad = |what: String| {
                ServerError::Activation(format!("descriptor {} ({}): {what}", 3 + i, name(i)))
            };
            let listener = if let Ok(Some(tcp)) = fds.take_tcp_listener(i) {
                Listener::tcp(tcp, true)?
            } else {
                match fds.take_unix_listener(i) {
                    Ok(Some(unix)) => Listener::passed_unix(unix)?,
                    Ok(None) => continue,
                    Err(_) => return Err(bad("not a listening TCP or Unix stream socket".into())),
                }
            };
            let slot = if listener.tcp_addr().is_some() {
                &mut passed.tcp
            } else {
                &mut passed.unix
            };
            if slot.is_some() {
                return Err(bad(format!(
                    "a second {} socket ({}): vigil serves one of each kind",
                    if listener.tcp_addr().is_some() {
                        "TCP"
                    } else {
                        "Unix"
                    },
                    listener.describe()
                )));
            }
            *slot = Some(listener);
        }
        Ok(passed)
    }
}
