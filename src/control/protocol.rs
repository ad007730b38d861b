//! The clamd protocol, as pure functions: splitting a byte buffer into
//! commands (`zCMD\0`, `nCMD\n`, or a bare `CMD` that ends at a newline or
//! with the packet), parsing a command, decoding INSTREAM's chunks (4-byte
//! big-endian length, then that many bytes; a zero length ends the stream),
//! and formatting replies byte for byte as clamd 1.x does. No I/O here: the
//! server feeds bytes in and writes what comes out.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How a command was delimited; its replies are delimited the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delimiter {
    /// `zCMD\0`: replies end with NUL.
    Nul,
    /// `nCMD\n`: replies end with a newline.
    Newline,
    /// An old-style command without a prefix: one packet, optionally ended by
    /// a newline. Replies end with a newline.
    Bare,
}

impl Delimiter {
    /// The byte that ends each reply.
    pub fn terminator(self) -> u8 {
        match self {
            Delimiter::Nul => 0,
            Delimiter::Newline | Delimiter::Bare => b'\n',
        }
    }
}

/// The four ways to scan a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanKind {
    /// Stop at the first detection.
    Scan,
    /// Go on after detections.
    ContScan,
    /// Go on after detections, spread over the pool (every vigil scan is).
    MultiScan,
    /// Report every match (vigil reports one signature per file).
    AllMatchScan,
}

/// A command a client sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Ping,
    Version,
    VersionCommands,
    Reload,
    /// `SHUTDOWN`, or its old name `QUIT`.
    Shutdown,
    Scan {
        kind: ScanKind,
        path: PathBuf,
    },
    Instream,
    Fildes,
    Stats,
    IdSession,
    End,
}

impl Command {
    /// Whether clamd accepts the command inside an IDSESSION.
    pub fn is_allowed_in_session(&self) -> bool {
        matches!(
            self,
            Command::Scan {
                kind: ScanKind::Scan,
                ..
            } | Command::Instream
                | Command::Fildes
                | Command::Version
                | Command::VersionCommands
                | Command::Ping
                | Command::Stats
                | Command::End
        )
    }
}

/// The commands vigil answers, in clamd's order, for `VERSIONCOMMANDS`.
pub const COMMANDS: &[&str] = &[
    "SCAN",
    "QUIT",
    "RELOAD",
    "PING",
    "CONTSCAN",
    "VERSIONCOMMANDS",
    "VERSION",
    "END",
    "SHUTDOWN",
    "MULTISCAN",
    "FILDES",
    "STATS",
    "IDSESSION",
    "INSTREAM",
    "ALLMATCHSCAN",
];

/// One command cut out of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole command: its text (without prefix and terminator), how it was
    /// delimited, and how many input bytes it used.
    Command {
        text: &'a [u8],
        delimiter: Delimiter,
        consumed: usize,
    },
    /// More input is needed.
    Incomplete,
    /// The command is longer than the limit (or its terminator did not come
    /// within the limit).
    TooLong,
}

/// Cuts the next command out of `buf`. `max_len` bounds the command's text.
/// A bare command ends at a newline (a trailing CR is dropped) or, as in
/// clamd, with the packet: pass `packet_end` when `buf` holds all that has
/// arrived, and a bare command without a newline is then taken whole.
pub fn next_command(buf: &[u8], max_len: usize, packet_end: bool) -> Frame<'_> {
    let Some(&first) = buf.first() else {
        return Frame::Incomplete;
    };
    let (delimiter, terminator, start) = match first {
        b'z' => (Delimiter::Nul, 0u8, 1),
        b'n' => (Delimiter::Newline, b'\n', 1),
        _ => (Delimiter::Bare, b'\n', 0),
    };
    // Look no further than a maximal command and its terminator.
    let window = &buf[start..buf.len().min(start + max_len + 1)];
    let end = match delimiter {
        // A C string ends at NUL too: clamd never sees past it.
        Delimiter::Bare => window.iter().position(|&b| b == b'\n' || b == 0),
        _ => window.iter().position(|&b| b == terminator),
    };
    let (text, consumed) = match end {
        Some(i) => (&window[..i], start + i + 1),
        None if window.len() > max_len => return Frame::TooLong,
        None if delimiter == Delimiter::Bare && packet_end => (window, buf.len()),
        None => return Frame::Incomplete,
    };
    let text = match delimiter {
        Delimiter::Nul => text,
        _ => chomp(text),
    };
    Frame::Command {
        text,
        delimiter,
        consumed,
    }
}

/// Drops trailing CR and LF, as clamd's `cli_chomp`.
fn chomp(mut text: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = text {
        text = rest;
    }
    text
}

/// A command clamd would answer with `UNKNOWN COMMAND`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownCommand;

/// Parses a command's text. Commands that clamd accepts only with an `n` or
/// `z` prefix (`IDSESSION`, `END`, `INSTREAM`, `VERSIONCOMMANDS`, `STATS`,
/// `ALLMATCHSCAN`) are unknown in bare form, as in clamd.
pub fn parse_command(text: &[u8], delimiter: Delimiter) -> Result<Command, UnknownCommand> {
    let bare = delimiter == Delimiter::Bare;
    // An empty path is a path (clamd answers it with a path check failure).
    let scan = |kind, rest: &[u8]| match rest {
        [b' ', path @ ..] => Ok(Command::Scan {
            kind,
            path: PathBuf::from(OsStr::from_bytes(path)),
        }),
        _ => Err(UnknownCommand),
    };
    let command = match text {
        b"PING" => Command::Ping,
        b"VERSION" => Command::Version,
        b"VERSIONCOMMANDS" if !bare => Command::VersionCommands,
        b"RELOAD" => Command::Reload,
        b"SHUTDOWN" | b"QUIT" => Command::Shutdown,
        b"INSTREAM" if !bare => Command::Instream,
        b"FILDES" => Command::Fildes,
        b"STATS" if !bare => Command::Stats,
        b"IDSESSION" if !bare => Command::IdSession,
        b"END" if !bare => Command::End,
        _ => {
            if let Some(rest) = text.strip_prefix(b"CONTSCAN") {
                return scan(ScanKind::ContScan, rest);
            }
            if let Some(rest) = text.strip_prefix(b"MULTISCAN") {
                return scan(ScanKind::MultiScan, rest);
            }
            if let Some(rest) = text.strip_prefix(b"ALLMATCHSCAN") {
                if bare {
                    return Err(UnknownCommand);
                }
                return scan(ScanKind::AllMatchScan, rest);
            }
            if let Some(rest) = text.strip_prefix(b"SCAN") {
                return scan(ScanKind::Scan, rest);
            }
            return Err(UnknownCommand);
        }
    };
    Ok(command)
}

/// INSTREAM went past `stream_max_length`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeLimitExceeded;

impl fmt::Display for SizeLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(INSTREAM_LIMIT)
    }
}

impl std::error::Error for SizeLimitExceeded {}

/// What the chunk decoder found in the input it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Stream content.
    Data(&'a [u8]),
    /// The zero-length chunk: the stream is complete.
    End,
    /// All input was used; give more.
    NeedMore,
}

/// Decodes INSTREAM framing: `<u32 length, big-endian><data>`... `<0u32>`.
/// A chunk whose length would take the stream past the limit is refused as
/// soon as its header is read, as clamd does.
#[derive(Clone, Debug)]
pub struct ChunkDecoder {
    header: [u8; 4],
    /// Header bytes collected so far (0..4).
    header_len: usize,
    /// Bytes of the current chunk still to come.
    in_chunk: u64,
    /// Bytes of content allowed from here on.
    quota: u64,
    done: bool,
}

impl ChunkDecoder {
    /// A decoder allowing at most `limit` bytes of content.
    pub fn new(limit: u64) -> Self {
        ChunkDecoder {
            header: [0; 4],
            header_len: 0,
            in_chunk: 0,
            quota: limit,
            done: false,
        }
    }

    /// Whether the end chunk has been seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Takes what it can from `input`: returns the bytes used and what they
    /// were. Every call with non-empty input, before the end, uses at least
    /// one byte, so a loop over the input always ends.
    pub fn feed<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Chunk<'a>), SizeLimitExceeded> {
        if self.done {
            return Ok((0, Chunk::End));
        }
        let mut used = 0;
        while self.in_chunk == 0 {
            if used == input.len() {
                return Ok((used, Chunk::NeedMore));
            }
            let take = (4 - self.header_len).min(input.len() - used);
            self.header[self.header_len..self.header_len + take]
                .copy_from_slice(&input[used..used + take]);
            self.header_len += take;
            used += take;
            if self.header_len < 4 {
                return Ok((used, Chunk::NeedMore));
            }
            self.header_len = 0;
            let len = u64::from(u32::from_be_bytes(self.header));
            if len == 0 {
                self.done = true;
                return Ok((used, Chunk::End));
            }
            if len > self.quota {
                return Err(SizeLimitExceeded);
            }
            self.quota -= len;
            self.in_chunk = len;
        }
        let rest = &input[used..];
        let n = usize::try_from(self.in_chunk).map_or(rest.len(), |c| c.min(rest.len()));
        if n == 0 {
            return Ok((used, Chunk::NeedMore));
        }
        self.in_chunk -= n as u64;
        Ok((used + n, Chunk::Data(&rest[..n])))
    }
}

/// clamd's reply when INSTREAM passes `StreamMaxLength`.
pub const INSTREAM_LIMIT: &str = "INSTREAM size limit exceeded. ERROR";
/// clamd's reply to a command it does not know.
pub const UNKNOWN_COMMAND: &str = "UNKNOWN COMMAND";
/// clamd's reply when a command does not arrive within the command timeout.
pub const COMMAND_TIMEOUT: &str = "COMMAND READ TIMED OUT";
/// vigil's reply to a command longer than the limit (clamd has none).
pub const COMMAND_TOO_LONG: &str = "Command too long. ERROR";
/// clamd's reply to a command it refuses inside an IDSESSION.
pub const INVALID_IN_SESSION: &str = "Command invalid inside IDSESSION. ERROR";
/// clamd's reply to descriptors sent without FILDES.
pub const UNCLAIMED_FD: &str = "PROTOCOL ERROR: ancillary data sent without FILDES. ERROR";
/// clamd's reason for a named path that is not a file or a folder.
pub const NOT_SUPPORTED: &str = "Not supported file type";
/// clamd's reason for a SCAN path that cannot be looked up (`REASON`: the
/// system's).
pub fn path_check_failure(reason: &str) -> String {
    format!("File path check failure: {reason}.")
}
/// clamd's reply to FILDES without a descriptor.
pub const NO_FD: &str = "No file descriptor received. ERROR";
/// vigil's reply to a command that arrives as the daemon stops.
/// A command that a TCP client may not send (no clamd wording exists: clamd
/// serves every command on every socket).
pub const NOT_OVER_TCP: &str = "Command not allowed over TCP. ERROR";
/// clamd's reply for a path it will not answer for.
pub const ACCESS_DENIED: &str = "Access denied.";
pub const STOPPING: &str = "vigil is stopping. ERROR";
/// vigil's last reason for a scan whose client stopped reading its replies.
pub const REPLIES_NOT_READ: &str = "Replies were not read in time; scan cancelled.";

/// One reply line: `[ID: ]BODY` and the terminator.
pub fn reply(id: Option<u64>, body: &str, delimiter: Delimiter) -> Vec<u8> {
    let mut line = Vec::with_capacity(body.len() + 12);
    if let Some(id) = id {
        line.extend_from_slice(format!("{id}: ").as_bytes());
    }
    line.extend_from_slice(body.as_bytes());
    line.push(delimiter.terminator());
    line
}

/// `NAME: SIGNATURE FOUND` (NAME is an escaped path, `stream` or `fd[N]`).
pub fn found(name: &str, signature: &str) -> String {
    format!("{name}: {signature} FOUND")
}

/// `NAME: OK`.
pub fn ok(name: &str) -> String {
    format!("{name}: OK")
}

/// `NAME: REASON ERROR`.
pub fn error(name: &str, reason: &str) -> String {
    format!("{name}: {reason} ERROR")
}

/// A path as it appears in replies: escaped as in `vigil scan`'s output, so
/// that no file name can forge a reply line.
pub fn display_path(path: &Path) -> String {
    crate::report::escape_path(path).into_owned()
}

/// The `VERSION` reply: `ClamAV-compatible vigil VERSION/SIGNATURES/DATE`,
/// shaped as clamd's `ClamAV VERSION/DBVERSION/DBDATE` (clients split it at
/// `/`). The middle field is the number of signatures loaded, the date is
/// when they were loaded (UTC, in `ctime` form, as clamd prints its
/// database's date).
pub fn version(signatures: usize, loaded: SystemTime) -> String {
    format!(
        "ClamAV-compatible vigil {}/{signatures}/{}",
        env!("CARGO_PKG_VERSION"),
        crate::timefmt::ctime(loaded)
    )
}

/// What `STATS` reports, laid out as clamd 1.x lays it out (clamdtop parses
/// it), with vigil's own counters on a `VIGIL:` line that clamdtop skips.
pub struct Stats<'a> {
    /// Scan workers.
    pub threads: usize,
    /// Whether the workers are busy.
    pub busy: bool,
    /// Sessions' idle timeout.
    pub idle_timeout: std::time::Duration,
    /// Requests waiting in the queue.
    pub queued: usize,
    /// Commands being worked on (`NAME [PATH]`) and how long each has been.
    pub tasks: &'a [(String, std::time::Duration)],
    /// Resident memory, MiB.
    pub rss_mib: f64,
    /// Memory of the signature set, MiB.
    pub signatures_mib: f64,
    /// vigil's counters.
    pub vigil: String,
}

impl fmt::Display for Stats<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idle = if self.busy { 0 } else { self.threads };
        write!(
            f,
            "POOLS: 1\n\nSTATE: VALID PRIMARY\n\
             THREADS: live {t}  idle {idle} max {t} idle-timeout {it}\n\
             QUEUE: {q} items\n",
            t = self.threads,
            it = self.idle_timeout.as_secs(),
            q = self.queued,
        )?;
        for (task, age) in self.tasks {
            // clamd: `\tCOMMAND SECONDS FILENAME`; the name is `COMMAND` or
            // `COMMAND PATH` here.
            let (name, path) = task.split_once(' ').unwrap_or((task, ""));
            writeln!(f, "\t{name} {:.6} {path}", age.as_secs_f64())?;
        }
        write!(
            f,
            "VIGIL: {}\n\n\
             MEMSTATS: heap {rss:.3}M mmap 0.000M used {rss:.3}M free 0.000M releasable 0.000M \
             pools 1 pools_used {sig:.3}M pools_total {sig:.3}M\nEND",
            self.vigil,
            rss = self.rss_mib,
            sig = self.signatures_mib,
        )
    }
}

/// The `VERSIONCOMMANDS` reply: the version, `| COMMANDS:` and the list.
pub fn version_commands(version: &str) -> String {
    format!("{version}| COMMANDS: {}", COMMANDS.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn cmd(buf: &[u8]) -> (Result<Command, UnknownCommand>, Delimiter, usize) {
        match next_command(buf, 64, true) {
            Frame::Command {
                text,
                delimiter,
                consumed,
            } => (parse_command(text, delimiter), delimiter, consumed),
            other => panic!("no command in {buf:?}: {other:?}"),
        }
    }

    #[test]
    fn three_forms_of_each_command() {
        assert_eq!(cmd(b"zPING\0"), (Ok(Command::Ping), Delimiter::Nul, 6));
        assert_eq!(cmd(b"nPING\n"), (Ok(Command::Ping), Delimiter::Newline, 6));
        assert_eq!(cmd(b"PING\n"), (Ok(Command::Ping), Delimiter::Bare, 5));
        assert_eq!(cmd(b"PING\r\n"), (Ok(Command::Ping), Delimiter::Bare, 6));
        assert_eq!(cmd(b"PING"), (Ok(Command::Ping), Delimiter::Bare, 4));
        assert_eq!(cmd(b"nVERSION\r\n").0, Ok(Command::Version));
        assert_eq!(cmd(b"zVERSIONCOMMANDS\0").0, Ok(Command::VersionCommands));
        assert_eq!(cmd(b"RELOAD").0, Ok(Command::Reload));
        assert_eq!(cmd(b"zSHUTDOWN\0").0, Ok(Command::Shutdown));
        assert_eq!(cmd(b"QUIT\n").0, Ok(Command::Shutdown));
        assert_eq!(cmd(b"zINSTREAM\0").0, Ok(Command::Instream));
        assert_eq!(cmd(b"FILDES\n").0, Ok(Command::Fildes));
        assert_eq!(cmd(b"zSTATS\0").0, Ok(Command::Stats));
        assert_eq!(cmd(b"STATS\n").0, Err(UnknownCommand));
        assert_eq!(cmd(b"zIDSESSION\0").0, Ok(Command::IdSession));
        assert_eq!(cmd(b"nEND\n").0, Ok(Command::End));
    }

    #[test]
    fn scan_commands_take_an_absolute_or_any_path() {
        let scan = |kind, p: &str| {
            Ok(Command::Scan {
                kind,
                path: p.into(),
            })
        };
        assert_eq!(cmd(b"zSCAN /a b\0").0, scan(ScanKind::Scan, "/a b"));
        assert_eq!(cmd(b"nCONTSCAN /x\n").0, scan(ScanKind::ContScan, "/x"));
        assert_eq!(cmd(b"MULTISCAN /x\n").0, scan(ScanKind::MultiScan, "/x"));
        assert_eq!(
            cmd(b"zALLMATCHSCAN /x\0").0,
            scan(ScanKind::AllMatchScan, "/x")
        );
        // An empty path is answered as a missing one, as in clamd.
        assert_eq!(cmd(b"nSCAN \n").0, scan(ScanKind::Scan, ""));
        // The server, not the parser, refuses relative paths.
        assert_eq!(cmd(b"SCAN rel\n").0, scan(ScanKind::Scan, "rel"));
        // Non-UTF-8 bytes are kept.
        let (c, _, _) = cmd(b"zSCAN /\xff\0");
        assert_eq!(
            c,
            Ok(Command::Scan {
                kind: ScanKind::Scan,
                path: PathBuf::from(OsStr::from_bytes(b"/\xff"))
            })
        );
    }

    #[test]
    fn unknown_commands() {
        for bad in [
            &b"zPINGX\0"[..],
            b"zping\0",
            b"zSCAN\0",
            b"zSCANX/a\0",
            b"nPING \n",
            b"hello\n",
            b"\n",
            b"INSTREAM\n",
            b"IDSESSION\n",
            b"END\n",
            b"VERSIONCOMMANDS\n",
            b"ALLMATCHSCAN /a\n",
            b"zSTREAM\0",
        ] {
            assert_eq!(cmd(bad).0, Err(UnknownCommand), "{bad:?}");
        }
    }

    #[test]
    fn framing_waits_for_the_terminator_and_bounds_the_length() {
        assert_eq!(next_command(b"", 64, true), Frame::Incomplete);
        assert_eq!(next_command(b"zPING", 64, true), Frame::Incomplete);
        assert_eq!(next_command(b"nPING", 64, true), Frame::Incomplete);
        assert_eq!(next_command(b"PING", 64, false), Frame::Incomplete);
        let long = [b'z']
            .iter()
            .chain(&[b'A'; 65])
            .copied()
            .collect::<Vec<_>>();
        assert_eq!(next_command(&long, 64, false), Frame::TooLong);
        let bare = vec![b'A'; 65];
        assert_eq!(next_command(&bare, 64, true), Frame::TooLong);
        // Exactly the limit is fine.
        let mut ok = vec![b'z'];
        ok.extend_from_slice(&[b'A'; 64]);
        ok.push(0);
        assert!(matches!(
            next_command(&ok, 64, false),
            Frame::Command { consumed: 66, .. }
        ));
        // Two commands in one buffer: the first is cut, the rest is left.
        match next_command(b"zIDSESSION\0zPING\0", 64, true) {
            Frame::Command { text, consumed, .. } => {
                assert_eq!(text, b"IDSESSION");
                assert_eq!(consumed, 11);
            }
            f => panic!("{f:?}"),
        }
    }

    fn chunks(parts: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for p in parts {
            v.extend_from_slice(&(p.len() as u32).to_be_bytes());
            v.extend_from_slice(p);
        }
        v.extend_from_slice(&[0, 0, 0, 0]);
        v
    }

    /// Feeds `input` in pieces of `step` bytes; returns the content, whether
    /// the end was seen, and the bytes left after it.
    fn decode(
        limit: u64,
        input: &[u8],
        step: usize,
    ) -> Result<(Vec<u8>, bool, usize), SizeLimitExceeded> {
        let mut d = ChunkDecoder::new(limit);
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < input.len() {
            let piece = &input[pos..(pos + step).min(input.len())];
            let mut at = 0;
            loop {
                let (used, chunk) = d.feed(&piece[at..])?;
                at += used;
                match chunk {
                    Chunk::Data(b) => out.extend_from_slice(b),
                    Chunk::End => return Ok((out, true, input.len() - pos - at)),
                    Chunk::NeedMore => break,
                }
            }
            pos += piece.len();
        }
        Ok((out, d.is_done(), 0))
    }

    #[test]
    fn instream_chunks_in_any_pieces() {
        let input = chunks(&[b"hello ", b"", b"world"]);
        // An empty chunk in the middle ends the stream, as in clamd.
        assert_eq!(
            decode(100, &input, 1).unwrap(),
            (b"hello ".to_vec(), true, 13)
        );
        let input = chunks(&[b"hello ", b"world"]);
        for step in 1..input.len() + 1 {
            assert_eq!(
                decode(100, &input, step).unwrap(),
                (b"hello world".to_vec(), true, 0)
            );
        }
        // Exactly the limit is fine; one byte more is not.
        assert!(decode(11, &input, 3).is_ok());
        assert_eq!(decode(10, &input, 3), Err(SizeLimitExceeded));
        // A huge announced chunk is refused at its header, before any data.
        let mut d = ChunkDecoder::new(1 << 20);
        assert_eq!(d.feed(&[0xff, 0xff, 0xff, 0xff]), Err(SizeLimitExceeded));
    }

    #[test]
    fn replies_are_clamd_shaped() {
        assert_eq!(reply(None, "PONG", Delimiter::Nul), b"PONG\0");
        assert_eq!(reply(None, "PONG", Delimiter::Bare), b"PONG\n");
        assert_eq!(
            reply(
                Some(3),
                &found("/a", "Eicar-Test-Signature"),
                Delimiter::Newline
            ),
            b"3: /a: Eicar-Test-Signature FOUND\n"
        );
        assert_eq!(ok("stream"), "stream: OK");
        assert_eq!(error("/a", "Access denied."), "/a: Access denied. ERROR");
        assert_eq!(display_path(Path::new("/a\nb")), "/a\\nb");
        let t = UNIX_EPOCH + Duration::from_secs(1_763_025_824);
        let v = version(3, t);
        assert_eq!(
            v,
            format!(
                "ClamAV-compatible vigil {}/3/Thu Nov 13 09:23:44 2025",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert!(version_commands(&v).contains("| COMMANDS: SCAN QUIT RELOAD PING"));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Any bytes: framing and parsing never panic, and every complete
        /// frame uses at least one byte and no more than there is.
        #[test]
        fn random_bytes_never_panic_the_parser(
            buf in proptest::collection::vec(any::<u8>(), 0..300),
            max in 1usize..100,
            packet_end in any::<bool>(),
        ) {
            let mut rest = &buf[..];
            let mut rounds = 0;
            while let Frame::Command { text, delimiter, consumed } =
                next_command(rest, max, packet_end)
            {
                prop_assert!(consumed >= 1 && consumed <= rest.len());
                prop_assert!(text.len() <= max);
                let _ = parse_command(text, delimiter);
                rest = &rest[consumed..];
                rounds += 1;
                prop_assert!(rounds <= buf.len());
            }
        }

        /// Commands built from known words and random paths round-trip.
        #[test]
        fn built_commands_parse(
            word in prop::sample::select(vec!["SCAN", "CONTSCAN", "MULTISCAN", "ALLMATCHSCAN"]),
            path in proptest::collection::vec(1u8..=255, 1..50),
            z in any::<bool>(),
        ) {
            prop_assume!(z || !path.contains(&b'\n'));
            prop_assume!(!path.contains(&0));
            let mut buf = vec![if z { b'z' } else { b'n' }];
            buf.extend_from_slice(word.as_bytes());
            buf.push(b' ');
            buf.extend_from_slice(&path);
            buf.push(if z { 0 } else { b'\n' });
            let Frame::Command { text, delimiter, consumed } = next_command(&buf, 200, false) else {
                return Err(TestCaseError::fail("no frame"));
            };
            prop_assert_eq!(consumed, buf.len());
            match parse_command(text, delimiter) {
                Ok(Command::Scan { path: p, .. }) => {
                    // `n` commands lose trailing CRs, as in clamd.
                    let expect = if z { &path[..] } else { chomp(&path) };
                    prop_assert_eq!(p.as_os_str().as_bytes(), expect);
                }
                Ok(other) => return Err(TestCaseError::fail(format!("{other:?}"))),
                Err(_) => return Err(TestCaseError::fail("a scan command was not parsed")),
            }
        }

        /// Any bytes fed in any pieces: the decoder never panics, always
        /// makes progress, and never yields more content than the limit.
        #[test]
        fn random_bytes_never_panic_or_stall_the_decoder(
            buf in proptest::collection::vec(any::<u8>(), 0..600),
            step in 1usize..64,
            limit in 0u64..400,
        ) {
            let mut d = ChunkDecoder::new(limit);
            let mut content = 0u64;
            'outer: for piece in buf.chunks(step) {
                let mut at = 0;
                while at < piece.len() {
                    match d.feed(&piece[at..]) {
                        Err(SizeLimitExceeded) => break 'outer,
                        Ok((used, chunk)) => {
                            match chunk {
                                Chunk::Data(b) => {
                                    prop_assert!(used >= b.len() && !b.is_empty());
                                    content += b.len() as u64;
                                }
                                Chunk::End => break 'outer,
                                Chunk::NeedMore => prop_assert_eq!(used, piece.len() - at),
                            }
                            prop_assert!(used >= 1);
                            at += used;
                        }
                    }
                }
            }
            prop_assert!(content <= limit);
        }

        /// Framed content comes back whole, however it is cut.
        #[test]
        fn framed_content_round_trips(
            parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 0..8),
            step in 1usize..50,
        ) {
            let refs: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
            let input = chunks(&refs);
            let all: Vec<u8> = parts.concat();
            let (out, done, left) = decode(all.len() as u64, &input, step).unwrap();
            prop_assert_eq!(out, all);
            prop_assert!(done);
            prop_assert_eq!(left, 0);
        }
    }
}
