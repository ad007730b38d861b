//! The systemd journal: whether the daemon's output goes there, and its
//! events written there as entries with fields of their own (`PATH`,
//! `SIGNATURE`, `DIGEST`, ...) through the journal's native protocol, so
//! that `journalctl -u vigil -o json` shows them and `journalctl
//! SIGNATURE=...` finds them. The entry's message is the event's JSON line,
//! as on stdout, so `journalctl -o cat` reads as before.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;

use crate::report::Event;

/// Where journald listens for native entries.
pub const SOCKET: &str = "/run/systemd/journal/socket";

/// True when `fd` is the stream systemd connected to the journal: it sets
/// `JOURNAL_STREAM=DEVICE:INODE` for the service's stdout and stderr, and
/// the descriptor is still that stream (not redirected by a shell).
pub fn is_journal_stream(fd: impl AsFd) -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stat) = rustix::fs::fstat(fd) else {
        return false;
    };
    stream.to_string_lossy() == format!("{}:{}", stat.st_dev, stat.st_ino)
}

/// A connection to journald's native socket.
pub struct Journal {
    socket: UnixDatagram,
}

impl Journal {
    /// Connects, and checks that journald listens (it drops an empty entry).
    pub fn connect() -> io::Result<Self> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(SOCKET)?;
        socket.send(&[])?;
        Ok(Journal { socket })
    }

    pub fn send(&self, fields: &[(&str, Vec<u8>)]) -> io::Result<()> {
        self.socket.send(&encode(fields)).map(|_| ())
    }
}

/// The native protocol: `KEY=value\n`, or for a value holding a newline,
/// `KEY\n`, its length as 64-bit little-endian, the value and `\n`.
pub fn encode(fields: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in fields {
        out.extend_from_slice(key.as_bytes());
        if value.contains(&b'\n') {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        } else {
            out.push(b'=');
        }
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

/// An event's journal fields, `message` (its JSON line) first. Detections
/// are warnings (priority 4), errors errors (3). Clean files have none.
pub fn event_fields(
    event: &Event<'_>,
    source: &str,
    message: &str,
) -> Vec<(&'static str, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt;
    let text = |s: &str| s.as_bytes().to_vec();
    let mut fields = vec![
        ("MESSAGE", text(message)),
        ("SYSLOG_IDENTIFIER", text("vigil")),
        ("SOURCE", text(source)),
    ];
    match event {
        Event::Detection(d) => {
            fields.push(("PRIORITY", text("4")));
            fields.push(("VIGIL_EVENT", text("detection")));
            fields.push(("PATH", d.path.as_os_str().as_bytes().to_vec()));
            fields.push(("SIGNATURE", text(d.signature)));
            fields.push(("DIGEST", text(&d.digest.to_hex())));
            fields.push(("ALGORITHM", text(d.digest.algorithm().name())));
            fields.push(("SIZE", text(&d.size.to_string())));
            if let Some(moved) = &d.moved {
                fields.push(("QUARANTINE_ID", text(moved.id)));
            }
        }
        Event::Error { path, reason, kind } => {
            fields.push(("PRIORITY", text("3")));
            fields.push(("VIGIL_EVENT", text("error")));
            fields.push(("PATH", path.as_os_str().as_bytes().to_vec()));
            fields.push(("REASON", text(reason)));
            fields.push(("ERROR_KIND", text(kind.name())));
        }
        Event::Clean { .. } => return Vec::new(),
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, Algorithm};
    use crate::report::Detection;
    use std::path::Path;

    #[test]
    fn a_detection_becomes_fields() {
        let digest = hash_bytes(Algorithm::Md5, b"x");
        let event = Event::Detection(Detection {
            path: Path::new("/srv/a\nb"),
            size: 1,
            signature: "Test.Sig",
            official: false,
            also: &[],
            digest: &digest,
            moved: None,
            member: &[],
        });
        let fields = event_fields(&event, "watch", "{}");
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("SIGNATURE").unwrap(), b"Test.Sig");
        assert_eq!(get("DIGEST").unwrap(), digest.to_hex().as_bytes());
        assert_eq!(get("ALGORITHM").unwrap(), b"md5");
        assert_eq!(get("PRIORITY").unwrap(), b"4");
        // A path with a newline takes the length-prefixed form.
        let bytes = encode(&[("PATH", get("PATH").unwrap()), ("SIZE", b"1".to_vec())]);
        let mut want = b"PATH\n".to_vec();
        want.extend_from_slice(&8u64.to_le_bytes());
        want.extend_from_slice(b"/srv/a\nb\nSIZE=1\n");
        assert_eq!(bytes, want);
        assert!(event_fields(
            &Event::Clean {
                path: Path::new("/a")
            },
            "watch",
            ""
        )
        .is_empty());
    }

    #[test]
    fn only_the_stream_systemd_named_is_the_journal() {
        let file = tempfile::tempfile().unwrap();
        let stat = rustix::fs::fstat(&file).unwrap();
        // The variable is read, not set, by the daemon; tests in this
        // process do not look at it otherwise.
        std::env::set_var("JOURNAL_STREAM", format!("{}:{}", stat.st_dev, stat.st_ino));
        assert!(is_journal_stream(&file));
        assert!(!is_journal_stream(tempfile::tempfile().unwrap()));
        std::env::remove_var("JOURNAL_STREAM");
        assert!(!is_journal_stream(&file));
    }
}
