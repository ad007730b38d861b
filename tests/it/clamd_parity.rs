//! vigil's control socket against a real clamd: Debian's `clamav-daemon`
//! (installed by `.ci/run`; if `clamd` is missing these tests fail, they do
//! not skip) is started with a generated `clamd.conf` (a `LocalSocket` in a
//! temporary folder, a `DatabaseDirectory` holding the test's `.hdb`,
//! `Foreground yes`, no freshclam, no network), and the same requests are
//! sent to it and to `vigil daemon`. Replies are compared byte for byte;
//! only what vigil says differently on purpose is normalised (the VERSION
//! text and descriptor numbers; see
//! docs/clamav-differences.md), and a session's replies, which clamd sends in
//! the order its threads finish, are compared as sets.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::testenv::{read_all, vigil_bin, TestEnv, EICAR, GUARD};

/// A running server: vigil or clamd, killed when dropped.
struct Server {
    child: Child,
    socket: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(&self.socket).expect("connect");
        s.set_read_timeout(Some(GUARD)).unwrap();
        s
    }
}

/// The files both servers scan, and the signature database both load.
struct World {
    env: TestEnv,
    data: PathBuf,
    hdb: PathBuf,
}

fn world() -> World {
    let env = TestEnv::new();
    let data = env.mkdir("data");
    env.write("data/eicar.com", EICAR);
    env.write("data/clean.txt", b"hello\n");
    env.mkdir("data/empty");
    env.write("data/dir/a", EICAR);
    env.write("data/dir/b", b"hello\n");
    let fifo = data.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let md5 = crate::testenv::hex(vigil::hash::Algorithm::Md5, EICAR);
    env.mkdir("db");
    let hdb = env.write(
        "db/test.hdb",
        format!("{md5}:{}:Eicar-Test-Signature\n", EICAR.len()),
    );
    // A second signature of the same file, on another digest: ALLMATCHSCAN
    // reports both.
    let sha256 = crate::testenv::hex(vigil::hash::Algorithm::Sha256, EICAR);
    env.write(
        "db/test.hsb",
        format!("{sha256}:{}:Eicar-Test-Sha256\n", EICAR.len()),
    );
    World { env, data, hdb }
}

/// Starts clamd on `world`'s database and waits until it answers PING.
fn clamd(w: &World) -> Server {
    let bin = ["/usr/sbin/clamd", "/usr/bin/clamd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("clamd is missing: install Debian's clamav-daemon (.ci/run does)");
    let run = w.env.mkdir("clamd-run");
    let socket = run.join("clamd.sock");
    let conf = w.env.write(
        "clamd.conf",
        format!(
            "LocalSocket {sock}\nDatabaseDirectory {db}\nForeground yes\nLogFile {run}/clamd.log\n\
             PidFile {run}/clamd.pid\nTemporaryDirectory {run}\nUser root\n",
            sock = socket.display(),
            db = w.hdb.parent().unwrap().display(),
            run = run.display(),
        ),
    );
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server { child, socket };
    let deadline = Instant::now() + GUARD;
    loop {
        if let Ok(mut s) = UnixStream::connect(&server.socket) {
            s.set_read_timeout(Some(GUARD)).unwrap();
            if s.write_all(b"zPING\0").is_ok() && read_all(&mut s) == b"PONG\0" {
                return server;
            }
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("clamd exited with {status}; log:\n{}", log(&run));
        }
        assert!(Instant::now() < deadline, "clamd did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn log(run: &Path) -> String {
    fs::read_to_string(run.join("clamd.log")).unwrap_or_default()
}

/// Starts `vigil daemon` on `world`'s database with `extra` TOML lines.
fn vigil(w: &World, extra: &str) -> Server {
    let run = w.env.mkdir("vigil-run");
    let watch = w.env.mkdir("watch");
    let socket = run.join("v.sock");
    let config = w.env.write(
        "vigil.toml",
        format!(
            "watch = [{watch:?}]\nsocket = {socket:?}\ninitial_scan = false\ndatabases = [{hdb:?}, {hsb:?}]\n{extra}\n",
            watch = watch.to_str().unwrap(),
            socket = socket.to_str().unwrap(),
            hdb = w.hdb.to_str().unwrap(),
            hsb = w.hdb.with_extension("hsb").to_str().unwrap(),
        ),
    );
    let notify_path = run.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut child = Command::new(vigil_bin())
        .args(["daemon", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify_path)
        .env_remove("VIGIL_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + GUARD;
    let mut buf = [0u8; 4096];
    loop {
        if let Ok(n) = notify.recv(&mut buf) {
            if String::from_utf8_lossy(&buf[..n])
                .lines()
                .any(|l| l == "READY=1")
            {
                return Server { child, socket };
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("vigil exited with {status} before READY=1");
        }
        assert!(Instant::now() < deadline, "no READY=1");
    }
}

/// One step of a request: bytes, bytes with a descriptor, or closing the
/// writing side.
enum Step {
    Bytes(Vec<u8>),
    WithFd(Vec<u8>, fs::File),
    ShutWrite,
}

fn send_fd(s: &UnixStream, bytes: &[u8], file: &fs::File) -> std::io::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let fds = [unsafe { std::os::fd::BorrowedFd::borrow_raw(file.as_raw_fd()) }];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
    rustix::net::sendmsg(
        s,
        &[std::io::IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// Sends `steps` on a new connection; everything received until the
/// server closes it.
fn exchange(server: &Server, steps: Vec<Step>) -> Vec<u8> {
    let mut s = server.connect();
    for step in steps {
        let sent = match step {
            Step::Bytes(b) => s.write_all(&b),
            Step::WithFd(b, f) => send_fd(&s, &b, &f),
            Step::ShutWrite => s.shutdown(std::net::Shutdown::Write),
        };
        if sent.is_err() {
            break; // the server answered and closed early
        }
    }
    read_all(&mut s)
}

/// A reply as compared: vigil's VERSION text and descriptor numbers are
/// its own.
fn normalise(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut out = String::new();
    for piece in text.split_inclusive(['\0', '\n']) {
        let mut line = piece.to_string();
        if let Some(at) = line.find("ClamAV") {
            // `ClamAV 1.4.6` / `ClamAV-compatible vigil 0.1.0/1/DATE`.
            let end = line[at..]
                .find(['|', '\0', '\n'])
                .map_or(line.len(), |e| at + e);
            line.replace_range(at..end, "VERSION");
        }
        while let Some(at) = line.find("fd[") {
            let end = at + line[at..].find(']').unwrap();
            line.replace_range(at..=end, "fd#");
        }
        out.push_str(&line);
    }
    out
}

/// A session's replies as a set (clamd answers them as its threads finish).
fn sorted(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .split_inclusive(['\0', '\n'])
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn chunk(bytes: &[u8]) -> Vec<u8> {
    let mut v = (bytes.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(bytes);
    v
}

fn b(s: &str) -> Step {
    Step::Bytes(s.as_bytes().to_vec())
}

/// The requests both servers get, by name.
fn cases(w: &World) -> Vec<(String, Vec<Step>, bool)> {
    let d = w.data.to_str().unwrap();
    let mut cases: Vec<(String, Vec<Step>, bool)> = Vec::new();
    for (form, pre, end) in [("bare", "", "\n"), ("n", "n", "\n"), ("z", "z", "\0")] {
        for cmd in ["SCAN", "CONTSCAN", "MULTISCAN", "ALLMATCHSCAN"] {
            for what in ["fifo", "empty", "missing", "dir", "eicar.com", "clean.txt"] {
                if cmd == "MULTISCAN" && what == "empty" {
                    continue; // see multiscan_of_an_empty_folder
                }
                cases.push((
                    format!("{form} {cmd} {what}"),
                    vec![b(&format!("{pre}{cmd} {d}/{what}{end}"))],
                    false,
                ));
            }
            cases.push((
                format!("{form} {cmd} /dev/null"),
                vec![b(&format!("{pre}{cmd} /dev/null{end}"))],
                false,
            ));
            cases.push((
                format!("{form} {cmd} with an empty path"),
                vec![b(&format!("{pre}{cmd} {end}"))],
                false,
            ));
            cases.push((
                format!("{form} {cmd} without a path"),
                vec![b(&format!("{pre}{cmd}{end}"))],
                false,
            ));
        }
        for cmd in ["PING", "VERSION", "END", "STATSX", "NOPE"] {
            cases.push((
                format!("{form} {cmd}"),
                vec![b(&format!("{pre}{cmd}{end}"))],
                false,
            ));
        }
        if form == "bare" {
            for cmd in ["VERSIONCOMMANDS", "IDSESSION", "INSTREAM", "STATS"] {
                cases.push((format!("bare {cmd}"), vec![b(&format!("{cmd}\n"))], false));
            }
        }
    }
    let open = |p: &str| {
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc_nonblock())
            .open(p)
            .unwrap()
    };
    use std::os::unix::fs::OpenOptionsExt;
    for (name, path) in [
        ("a folder", format!("{d}/dir")),
        ("a FIFO", format!("{d}/fifo")),
        ("/dev/null", "/dev/null".into()),
        ("a file", format!("{d}/eicar.com")),
    ] {
        cases.push((
            format!("FILDES of {name}"),
            vec![b("zFILDES\0"), Step::WithFd(b"x".to_vec(), open(&path))],
            false,
        ));
    }
    cases.push((
        "a descriptor on a non-FILDES command in a session".into(),
        vec![Step::WithFd(
            b"zIDSESSION\0".to_vec(),
            open(&format!("{d}/eicar.com")),
        )],
        false,
    ));
    let mut one_byte = b"zINSTREAM\0".to_vec();
    for byte in EICAR {
        one_byte.extend(chunk(&[*byte]));
    }
    one_byte.extend(chunk(b""));
    let mut whole = b"zINSTREAM\0".to_vec();
    whole.extend(chunk(EICAR));
    whole.extend(chunk(b""));
    let mut truncated = b"zINSTREAM\0".to_vec();
    truncated.extend(&chunk(EICAR)[..20]);
    cases.extend([
        (
            "INSTREAM empty".to_string(),
            vec![Step::Bytes([&b"zINSTREAM\0"[..], &chunk(b"")].concat())],
            false,
        ),
        ("INSTREAM in 1-byte chunks".into(), vec![Step::Bytes(one_byte)], false),
        (
            "INSTREAM truncated, then the client closes".into(),
            vec![Step::Bytes(truncated), Step::ShutWrite],
            false,
        ),
        (
            "IDSESSION with interleaved commands".into(),
            vec![
                b(&format!(
                    "zIDSESSION\0zPING\0zSCAN {d}/eicar.com\0zVERSION\0"
                )),
                Step::Bytes(whole.clone()),
                b(&format!(
                    "zSCAN {d}/fifo\0zSCAN {d}/empty\0zSCAN {d}/missing\0nSCAN {d}/dir\nzSCAN \0zEND\0"
                )),
            ],
            true,
        ),
        (
            "IDSESSION with FILDES".into(),
            vec![
                b("zIDSESSION\0zFILDES\0"),
                Step::WithFd(b"x".to_vec(), open(&format!("{d}/eicar.com"))),
                b("zFILDES\0"),
                Step::WithFd(b"x".to_vec(), open(&format!("{d}/dir"))),
                b("zEND\0"),
            ],
            true,
        ),
        (
            "IDSESSION closed without END".into(),
            vec![b("nIDSESSION\nnPING\n"), Step::ShutWrite],
            false,
        ),
        (
            "a command clamd refuses inside IDSESSION".into(),
            vec![b(&format!("zIDSESSION\0zPING\0zCONTSCAN {d}/dir\0"))],
            false,
        ),
        (
            "a nested IDSESSION".into(),
            vec![b("zIDSESSION\0zIDSESSION\0")],
            false,
        ),
        (
            "commands after END".into(),
            vec![b("zIDSESSION\0zPING\0zEND\0zPING\0")],
            false,
        ),
    ]);
    cases
}

fn libc_nonblock() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

#[test]
fn every_request_gets_the_reply_clamd_gives() {
    let w = world();
    let c = clamd(&w);
    let v = vigil(&w, "");
    let mut differ = Vec::new();
    let mut same = 0;
    for ((name, steps, session), (_, steps2, _)) in cases(&w).into_iter().zip(cases(&w)) {
        let from_clamd = normalise(&exchange(&c, steps));
        let from_vigil = normalise(&exchange(&v, steps2));
        let equal = if session {
            sorted(&from_clamd) == sorted(&from_vigil)
        } else {
            from_clamd == from_vigil
        };
        if equal {
            same += 1;
        } else {
            differ.push(format!(
                "{name}:\n  clamd: {from_clamd:?}\n  vigil: {from_vigil:?}"
            ));
        }
    }
    eprintln!("{same} requests answered as clamd answers them");
    assert!(differ.is_empty(), "replies differ:\n{}", differ.join("\n"));
}

/// clamd 1.4.6 sends nothing at all for `MULTISCAN` of an empty folder
/// (where `SCAN` and `CONTSCAN` say `OK`); vigil answers every path.
#[test]
fn multiscan_of_an_empty_folder() {
    let w = world();
    let c = clamd(&w);
    let v = vigil(&w, "");
    let d = w.data.to_str().unwrap();
    let req = || vec![b(&format!("zMULTISCAN {d}/empty\0"))];
    assert_eq!(exchange(&c, req()), b"");
    assert_eq!(
        String::from_utf8(exchange(&v, req())).unwrap(),
        format!("{d}/empty: OK\0")
    );
}

/// VERSIONCOMMANDS lists what vigil answers, in clamd's order: clamd's list
/// without the undocumented DETSTATS commands.
#[test]
fn versioncommands_lists_what_vigil_answers_in_clamds_order() {
    let w = world();
    let c = clamd(&w);
    let v = vigil(&w, "");
    let list = |s: &Server| {
        let reply = String::from_utf8(exchange(s, vec![b("zVERSIONCOMMANDS\0")])).unwrap();
        let (_, list) = reply.split_once("| COMMANDS: ").unwrap();
        list.trim_end_matches('\0')
            .split(' ')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let from_clamd: Vec<String> = list(&c)
        .into_iter()
        .filter(|c| !c.starts_with("DETSTATS"))
        .collect();
    assert_eq!(list(&v), from_clamd);
    // Every command listed is answered (not UNKNOWN COMMAND).
    for cmd in list(&v) {
        if ["SCAN", "CONTSCAN", "MULTISCAN", "ALLMATCHSCAN"].contains(&cmd.as_str()) {
            continue;
        }
        if [
            "QUIT",
            "SHUTDOWN",
            "RELOAD",
            "FILDES",
            "INSTREAM",
            "IDSESSION",
            "END",
        ]
        .contains(&cmd.as_str())
        {
            continue; // they stop the server, or wait for more
        }
        let reply = exchange(&v, vec![b(&format!("z{cmd}\0"))]);
        assert_ne!(reply, b"UNKNOWN COMMAND\0", "{cmd}");
    }
}

/// An IDSESSION outlives `command_timeout`: it waits `idle_timeout` for its
/// next command, and clamd keeps an idle session as long.
#[test]
fn an_idle_session_outlives_the_command_timeout() {
    let w = world();
    let c = clamd(&w);
    let v = vigil(&w, "command_timeout = \"1s\"\n");
    for server in [&c, &v] {
        let mut s = server.connect();
        s.write_all(b"zIDSESSION\0zPING\0").unwrap();
        let mut reply = [0u8; 8];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"1: PONG\0");
        std::thread::sleep(Duration::from_millis(2500));
        s.write_all(b"zPING\0zEND\0").unwrap();
        assert_eq!(read_all(&mut s), b"2: PONG\0");
    }
    // Past idle_timeout, the session ends as clamd ends it.
    let w2 = world();
    let short = vigil(&w2, "command_timeout = \"1s\"\nidle_timeout = \"2s\"\n");
    let mut s = short.connect();
    s.write_all(b"zIDSESSION\0zPING\0").unwrap();
    let start = Instant::now();
    assert_eq!(read_all(&mut s), b"1: PONG\0COMMAND READ TIMED OUT\n");
    assert!(start.elapsed() >= Duration::from_millis(1900));
}

/// A client that sends 1,024 FILDES in one session and reads no reply is
/// dropped, long before `read_timeout`, as clamd drops it.
#[test]
fn a_client_that_sends_without_reading_is_dropped_at_once() {
    let w = world();
    let c = clamd(&w);
    let v = vigil(&w, "");
    let file = w.data.join("clean.txt");
    for (name, server) in [("clamd", &c), ("vigil", &v)] {
        let start = Instant::now();
        let s = server.connect();
        s.set_write_timeout(Some(GUARD)).unwrap();
        (&s).write_all(b"zIDSESSION\0").unwrap();
        let f = fs::File::open(&file).unwrap();
        let mut sent = 0;
        for _ in 0..1024 {
            if send_fd(&s, b"zFILDES\0", &f).is_err() {
                break;
            }
            if send_fd(&s, b"x", &f).is_err() {
                break;
            }
            sent += 1;
        }
        let _ = (&s).write_all(b"zEND\0");
        drop(s);
        let took = start.elapsed();
        eprintln!("{name}: {sent} FILDES sent before the connection ended; {took:?}");
        assert!(took < Duration::from_secs(30), "{name} took {took:?}");
        // The server still answers others.
        assert_eq!(exchange(server, vec![b("zPING\0")]), b"PONG\0");
    }
}

/// STATS as clamdtop reads it (its `parse_stats`, `parse_queue` and
/// `parse_memstats`): every panel has its figures.
#[test]
fn stats_parse_as_clamdtop_parses_them() {
    let w = world();
    let v = vigil(&w, "idle_timeout = \"45s\"\n");
    // clamdtop holds a session: VERSION, then STATS.
    let mut s = v.connect();
    s.write_all(b"nIDSESSION\nnVERSION\nnSTATS\nnEND\n")
        .unwrap();
    let all = String::from_utf8(read_all(&mut s)).unwrap();
    let (version, stats) = all.split_once('\n').unwrap();
    // The engine and database panel: `ID: NAME VERSION/DB/DATE`.
    let version = version.strip_prefix("1: ").unwrap();
    assert_eq!(version.split('/').count(), 3, "{version}");
    let stats = stats.strip_prefix("2: ").unwrap();
    let mut lines = stats.lines();
    assert_eq!(lines.next(), Some("POOLS: 1"));
    assert_eq!(lines.next(), Some(""));
    assert_eq!(lines.next(), Some("STATE: VALID PRIMARY"));
    let threads = lines.next().unwrap();
    let t: Vec<&str> = threads.split_whitespace().collect();
    assert_eq!(t[..2], ["THREADS:", "live"], "{threads}");
    assert_eq!((t[3], t[5], t[7]), ("idle", "max", "idle-timeout"));
    assert_eq!(t[8], "45", "the real idle timeout: {threads}");
    let queue = lines.next().unwrap();
    let items: u32 = queue
        .strip_prefix("QUEUE: ")
        .and_then(|q| q.strip_suffix(" items"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{queue}"));
    assert_eq!(items, 0, "nothing is queued on an idle daemon: {queue}");
    // Queue lines: `\tCOMMAND SECONDS FILENAME`, read until a line without
    // a tab (which clamdtop drops).
    let mut tasks = Vec::new();
    let mut after = lines.next().unwrap();
    while let Some(task) = after.strip_prefix('\t') {
        let mut parts = task.splitn(3, ' ');
        let name = parts.next().unwrap();
        let secs: f64 = parts.next().unwrap().parse().unwrap();
        assert!(parts.next().is_some(), "a filename field: {task:?}");
        tasks.push((name.to_string(), secs));
        after = lines.next().unwrap();
    }
    assert!(tasks.iter().any(|(n, _)| n == "STATS"), "{tasks:?}");
    assert!(after.starts_with("VIGIL: "), "{after}");
    assert_eq!(lines.next(), Some(""));
    let mem = lines.next().unwrap().strip_prefix("MEMSTATS:").unwrap();
    // clamdtop's first pattern: every figure in MiB.
    let words: Vec<&str> = mem.split_whitespace().collect();
    let keys = [
        "heap",
        "mmap",
        "used",
        "free",
        "releasable",
        "pools",
        "pools_used",
        "pools_total",
    ];
    assert_eq!(words.len(), 16, "{mem}");
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(words[2 * i], *key, "{mem}");
        let value = words[2 * i + 1];
        if *key == "pools" {
            value.parse::<u32>().unwrap();
        } else {
            value.strip_suffix('M').unwrap().parse::<f64>().unwrap();
        }
    }
    assert!(words[1].strip_suffix('M').unwrap().parse::<f64>().unwrap() > 0.0);
    assert_eq!(lines.next(), Some("END"));
}
