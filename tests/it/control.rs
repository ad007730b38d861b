//! The control socket end to end: the real daemon, the real `clamdscan`
//! client (Debian's `clamdscan`, installed by `.ci/run`; if it is missing these
//! tests fail, they do not skip), raw sockets for bad and heavy input, and
//! `vigil ctl`. Each test starts its own daemon (`testenv::Daemon`, which
//! waits for `READY=1` on a `NOTIFY_SOCKET`) and asserts on replies; timeouts
//! are only hang guards.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::testenv::{
    read_all, run, vigil_bin, Daemon, TestEnv, Transport, EICAR, EICAR_NAME, GUARD, NOBODY,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// INSTREAM chunks for `content`, in pieces of `piece` bytes, and the end.
fn chunks(content: &[u8], piece: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for part in content.chunks(piece) {
        v.extend_from_slice(&(part.len() as u32).to_be_bytes());
        v.extend_from_slice(part);
    }
    v.extend_from_slice(&[0, 0, 0, 0]);
    v
}

/// `PATH: NAME FOUND` lines of some output, sorted.
fn found_lines(out: &str) -> BTreeSet<String> {
    out.lines()
        .filter(|l| l.ends_with(" FOUND"))
        .map(str::to_string)
        .collect()
}

/// A tree with detections at several depths, clean files, and a name with a
/// space, outside the watched folder; returns its (real) path.
fn tree(env: &TestEnv) -> PathBuf {
    env.write("data/t/eicar.com", EICAR);
    env.write("data/t/a/b/deep eicar", EICAR);
    env.write("data/t/a/clean.txt", b"nothing to see here\n");
    env.write("data/t/a/b/c/clean2", vec![7u8; 10_000]);
    env.write("data/t/a/same-size", vec![b'x'; EICAR.len()]);
    fs::canonicalize(env.path("data/t")).unwrap()
}

#[test]
fn clamdscan_finds_what_vigil_scan_finds() {
    let d = Daemon::with_config("");
    let root = tree(&d.env);
    let r = |p: &str| root.join(p).to_str().unwrap().to_string();
    let expected = d
        .env
        .scan(["--no-summary", "-i", root.to_str().unwrap()])
        .stdout();
    let expected = found_lines(&expected);
    assert_eq!(expected.len(), 2, "{expected:?}");

    // A whole tree, spread over the pool.
    let multi = d.clamdscan(&["--multiscan", "--no-summary", root.to_str().unwrap()]);
    multi.assert_code(1);
    assert_eq!(found_lines(&multi.stdout()), expected, "{}", multi.dump());
    // The same tree as CONTSCAN (clamdscan's default for a folder).
    let cont = d.clamdscan(&["--no-summary", root.to_str().unwrap()]);
    assert_eq!(found_lines(&cont.stdout()), expected, "{}", cont.dump());

    // One file, by path, by content and by descriptor; and a clean one.
    let eicar = r("eicar.com");
    let one: BTreeSet<String> = [format!("{eicar}: {EICAR_NAME} FOUND")].into();
    for mode in [None, Some("--stream"), Some("--fdpass")] {
        let mut args = vec!["--no-summary"];
        args.extend(mode);
        let hit = d.clamdscan(&[&args[..], &[eicar.as_str()]].concat());
        hit.assert_code(1);
        assert_eq!(found_lines(&hit.stdout()), one, "{mode:?}\n{}", hit.dump());
        let clean = r("a/clean.txt");
        let miss = d.clamdscan(&[&args[..], &[clean.as_str()]].concat());
        miss.assert_code(0);
        assert_eq!(miss.stdout(), format!("{clean}: OK\n"), "{mode:?}");
    }
    // A tree by content and by descriptor (an IDSESSION per tree).
    for mode in ["--stream", "--fdpass"] {
        let run = d.clamdscan(&["--multiscan", mode, "--no-summary", root.to_str().unwrap()]);
        run.assert_code(1);
        assert_eq!(
            found_lines(&run.stdout()),
            expected,
            "{mode}\n{}",
            run.dump()
        );
    }
}

/// A file two signatures match: `ALLMATCHSCAN` (clamdscan `--allmatch`)
/// reports both, one line each; every other scan command reports one.
#[test]
fn allmatchscan_reports_every_signature_and_other_scans_one() {
    let env = TestEnv::new();
    let md5 = crate::testenv::hex(vigil::hash::Algorithm::Md5, EICAR);
    let sha256 = crate::testenv::hex(vigil::hash::Algorithm::Sha256, EICAR);
    let hdb = env.write("db/two.hdb", format!("{md5}:68:Two.Md5\n"));
    let hsb = env.write("db/two.hsb", format!("{sha256}:68:Two.Sha256\n"));
    let d = Daemon::builder()
        .env(env)
        .config(&format!("databases = [{hdb:?}, {hsb:?}]"))
        .start();
    let root = tree(&d.env);
    let eicar = root.join("eicar.com");
    let e = eicar.to_str().unwrap();
    let both = format!("{e}: Two.Md5.UNOFFICIAL FOUND\n{e}: Two.Sha256.UNOFFICIAL FOUND\n");
    let run = d.clamdscan(&["--allmatch", "--no-summary", e]);
    run.assert_code(1);
    assert_eq!(run.stdout(), both, "{}", run.dump());
    assert_eq!(
        text(&d.exchange(format!("nALLMATCHSCAN {e}\n").as_bytes())),
        both
    );
    // A folder: every file, every signature.
    let r = root.to_str().unwrap();
    let all = text(&d.exchange(format!("nALLMATCHSCAN {r}\n").as_bytes()));
    assert_eq!(all.lines().count(), 4, "{all}");
    assert!(all.contains(": Two.Sha256.UNOFFICIAL FOUND\n"), "{all}");
    // One name per file for every other way of asking.
    let one = format!("{e}: Two.Md5.UNOFFICIAL FOUND\n");
    for cmd in ["SCAN", "CONTSCAN", "MULTISCAN"] {
        let reply = text(&d.exchange(format!("n{cmd} {e}\n").as_bytes()));
        assert_eq!(reply, one, "{cmd}");
    }
    let cont = text(&d.exchange(format!("nCONTSCAN {r}\n").as_bytes()));
    assert_eq!(cont.lines().count(), 2, "{cont}");
    assert!(!cont.contains("Two.Sha256"), "{cont}");
    for mode in [
        None,
        Some("--stream"),
        Some("--fdpass"),
        Some("--multiscan"),
    ] {
        let mut args = vec!["--no-summary"];
        args.extend(mode);
        let run = d.clamdscan(&[&args[..], &[e]].concat());
        run.assert_code(1);
        assert_eq!(run.stdout(), one, "{mode:?}\n{}", run.dump());
    }
}

#[test]
fn clamdscan_ping_and_version() {
    let d = Daemon::with_config("");
    let ping = d.clamdscan(&["--ping", "1"]);
    ping.assert_code(0);
    assert_eq!(ping.stdout(), "PONG\n");
    let version = d.clamdscan(&["--version"]);
    version.assert_code(0);
    let line = version.stdout();
    assert!(
        line.starts_with(&format!(
            "ClamAV-compatible vigil {}/4/",
            env!("CARGO_PKG_VERSION")
        )),
        "{line:?}"
    );
    // clamdscan --reload wants RELOADING.
    d.clamdscan(&["--reload"]).assert_code(0);
}

#[test]
fn replies_are_clamd_shaped_in_every_form() {
    let d = Daemon::with_config("");
    let root = tree(&d.env);
    let eicar = root.join("eicar.com");
    let e = eicar.to_str().unwrap();
    assert_eq!(d.exchange(b"zPING\0"), b"PONG\0");
    assert_eq!(d.exchange(b"nPING\n"), b"PONG\n");
    assert_eq!(d.exchange(b"PING\n"), b"PONG\n");
    assert_eq!(d.exchange(b"PING"), b"PONG\n");
    assert_eq!(d.exchange(b"nRELOAD\n"), b"RELOADING\n");
    let found = format!("{e}: {EICAR_NAME} FOUND");
    assert_eq!(
        text(&d.exchange(format!("zSCAN {e}\0").as_bytes())),
        format!("{found}\0")
    );
    let clean = root.join("a/clean.txt");
    let c = clean.to_str().unwrap();
    assert_eq!(
        text(&d.exchange(format!("nCONTSCAN {c}\n").as_bytes())),
        format!("{c}: OK\n")
    );
    assert_eq!(
        text(&d.exchange(format!("zALLMATCHSCAN {e}\0").as_bytes())),
        format!("{found}\0")
    );
    // SCAN of a folder stops at the first detection; CONTSCAN does not.
    let r = root.to_str().unwrap();
    let scan = text(&d.exchange(format!("nSCAN {r}\n").as_bytes()));
    assert_eq!(scan.lines().count(), 1, "{scan:?}");
    assert!(scan.ends_with(&format!(": {EICAR_NAME} FOUND\n")));
    let cont = text(&d.exchange(format!("nCONTSCAN {r}\n").as_bytes()));
    assert_eq!(cont.lines().count(), 2, "{cont:?}");
    // Missing paths and relative paths are errors, in clamd's shape.
    assert_eq!(
        text(&d.exchange(format!("zSCAN {r}/nope\0").as_bytes())),
        format!("{r}/nope: File path check failure: No such file or directory. ERROR\0")
    );
    assert_eq!(
        d.exchange(b"zSCAN eicar.com\0"),
        b"eicar.com: Relative paths are not allowed. ERROR\0"
    );
    // INSTREAM.
    let mut stream = b"zINSTREAM\0".to_vec();
    stream.extend(chunks(EICAR, 10));
    assert_eq!(
        text(&d.exchange(&stream)),
        format!("stream: {EICAR_NAME} FOUND\0")
    );
    let mut stream = b"nINSTREAM\n".to_vec();
    stream.extend(chunks(b"clean content", 4));
    assert_eq!(d.exchange(&stream), b"stream: OK\n");
    // VERSIONCOMMANDS and STATS.
    let v = text(&d.exchange(b"nVERSIONCOMMANDS\n"));
    assert!(
        v.starts_with("ClamAV-compatible vigil ") && v.contains("| COMMANDS: SCAN QUIT RELOAD"),
        "{v:?}"
    );
    let stats = text(&d.exchange(b"zSTATS\0"));
    assert!(stats.starts_with("POOLS: 1\n\nSTATE: VALID PRIMARY\nTHREADS: live "));
    assert!(stats.ends_with("\nEND\0"), "{stats:?}");
    // IDSESSION: numbered replies, commands on one connection, until END.
    let mut s = d.connect();
    let mut session = b"zIDSESSION\0zPING\0zVERSION\0".to_vec();
    session.extend(format!("zSCAN {e}\0").as_bytes());
    session.extend(b"zINSTREAM\0");
    session.extend(chunks(EICAR, 30));
    session.extend(b"zEND\0");
    s.write_all(&session).unwrap();
    let replies = text(&read_all(&mut s));
    let replies: Vec<&str> = replies.split('\0').collect();
    assert_eq!(replies[0], "1: PONG");
    assert!(replies[1].starts_with("2: ClamAV-compatible vigil"));
    assert_eq!(replies[2], format!("3: {found}"));
    assert_eq!(replies[3], format!("4: stream: {EICAR_NAME} FOUND"));
    assert_eq!(&replies[4..], [""]);
    // Commands clamd refuses in a session end it.
    assert_eq!(
        d.exchange(b"zIDSESSION\0zPING\0zRELOAD\0"),
        b"1: PONG\x002: Command invalid inside IDSESSION. ERROR\0"
    );
    // A bare command in a session is never answered (as in clamd).
    assert_eq!(d.exchange(b"zIDSESSION\0PING\n"), b"");
}

#[test]
fn bad_input_gets_an_error_and_never_takes_the_daemon_down() {
    bad_input_gets_an_error_and_never_takes_the_daemon_down_over(Transport::Unix);
}

/// Garbage, limits, timeouts and partial input over `transport`; over TCP,
/// FILDES is refused (no descriptor can come) instead of being tried.
pub fn bad_input_gets_an_error_and_never_takes_the_daemon_down_over(transport: Transport) {
    let d = Daemon::builder()
        .config(
            "stream_max_length = 1000\ncommand_timeout = \"1s\"\nread_timeout = \"1s\"\nmax_connections = 4\n",
        )
        .transport(transport)
        .start();
    let fds_before = d.open_fds();
    // Garbage.
    assert_eq!(d.exchange(b"hello\n"), b"UNKNOWN COMMAND\n");
    assert_eq!(d.exchange(b"zSCAN\0"), b"UNKNOWN COMMAND\0");
    assert_eq!(d.exchange(b"nEND\n"), b"UNKNOWN COMMAND\n");
    assert_eq!(d.exchange(b"INSTREAM\n"), b"UNKNOWN COMMAND\n");
    assert_eq!(d.exchange(b"\xff\xfe\x00\x01garbage"), b"UNKNOWN COMMAND\n");
    assert_eq!(d.exchange(b"\0\0\0\0"), b"UNKNOWN COMMAND\n");
    // A command past the length limit, with and without its terminator.
    let mut long = b"zSCAN /".to_vec();
    long.extend(vec![b'a'; 100_000]);
    assert_eq!(d.exchange(&long), b"Command too long. ERROR\0");
    long.push(0);
    assert_eq!(d.exchange(&long), b"Command too long. ERROR\0");
    // INSTREAM: one chunk, or chunks adding up, past stream_max_length.
    let mut huge = b"zINSTREAM\0".to_vec();
    huge.extend(0xffff_ffffu32.to_be_bytes());
    huge.extend(vec![0u8; 1000]);
    assert_eq!(d.exchange(&huge), b"INSTREAM size limit exceeded. ERROR\0");
    let mut many = b"zINSTREAM\0".to_vec();
    many.extend(chunks(&[1u8; 1001], 100));
    assert_eq!(d.exchange(&many), b"INSTREAM size limit exceeded. ERROR\0");
    let mut exact = b"zINSTREAM\0".to_vec();
    exact.extend(chunks(&[1u8; 1000], 300));
    assert_eq!(d.exchange(&exact), b"stream: OK\0");
    // A client that disconnects mid-stream, mid-header and mid-command.
    for partial in [
        &b"zINSTREAM\0\0\0\x01\0abc"[..],
        b"zINSTREAM\0\0\0",
        b"zSCAN /tm",
    ] {
        let mut s = d.client();
        s.write_all(partial).unwrap();
        drop(s);
    }
    // A client that stops sending: the command timeout answers it.
    let mut idle = d.client();
    idle.write_all(b"zPI").unwrap();
    assert_eq!(read_all(&mut idle), b"COMMAND READ TIMED OUT\n");
    let mut slow = d.client();
    slow.write_all(b"zINSTREAM\0\0\0\0\x10abc").unwrap();
    assert_eq!(read_all(&mut slow), b"COMMAND READ TIMED OUT\0");
    if transport == Transport::Tcp {
        assert_eq!(
            d.exchange(b"zFILDES\0x"),
            b"Command not allowed over TCP. ERROR\0"
        );
    } else {
        descriptors_without_their_command(&d);
    }
    // Random bytes, many times.
    let mut rng = crate::testenv::Rng::new(4);
    for _ in 0..50 {
        let len = rng.range(1, 200) as usize;
        let mut s = d.client();
        let _ = s.write_all(&rng.bytes(len));
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = read_all(&mut s);
    }
    // Still up, and every descriptor it opened for all that is closed again.
    assert_eq!(d.exchange(b"zPING\0"), b"PONG\0");
    wait_for_fds(&d, fds_before);
}

/// FILDES without a descriptor, and a descriptor without FILDES.
fn descriptors_without_their_command(d: &Daemon) {
    assert_eq!(
        d.exchange(b"zFILDES\0x"),
        b"No file descriptor received. ERROR\0"
    );
    let file = fs::File::open(d.env.write("f", b"x")).unwrap();
    let mut s = d.connect();
    send_fd(&s, b"zPING\0", &file);
    assert_eq!(read_all(&mut s), b"PONG\0", "the first command is served");
    let mut s = d.connect();
    s.write_all(b"zIDSESSION\0").unwrap();
    send_fd(&s, b"zPING\0", &file);
    assert_eq!(
        read_all(&mut s),
        b"1: PONG\x002: PROTOCOL ERROR: ancillary data sent without FILDES. ERROR\0"
    );
}

/// Waits (bounded) until the daemon has `want` descriptors open again:
/// connection threads close theirs as they end, just after their reply.
fn wait_for_fds(d: &Daemon, want: usize) {
    let deadline = Instant::now() + GUARD;
    loop {
        let now = d.open_fds();
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "descriptor leak: {want} open before, {now} after"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `bytes` with `file`'s descriptor attached (SCM_RIGHTS).
fn send_fd(s: &UnixStream, bytes: &[u8], file: &fs::File) {
    use std::mem::MaybeUninit;
    use std::os::fd::AsFd;
    let fds = [file.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
    control.push(rustix::net::SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        s,
        &[std::io::IoSlice::new(bytes)],
        &mut control,
        rustix::net::SendFlags::empty(),
    )
    .unwrap();
}

#[test]
fn two_hundred_concurrent_clients_all_get_correct_replies() {
    two_hundred_concurrent_clients_all_get_correct_replies_over(Transport::Unix);
}

/// PING, INSTREAM, SCAN and FILDES from 200 clients at once over
/// `transport` (over TCP path scans are allowed for this, and FILDES is
/// answered that no descriptor came).
pub fn two_hundred_concurrent_clients_all_get_correct_replies_over(transport: Transport) {
    let d = Daemon::builder()
        .config("max_connections = 16\ntcp_allow_path_scans = true\n")
        .transport(transport)
        .start();
    let root = tree(&d.env);
    let eicar = root.join("eicar.com");
    let fds_before = d.open_fds();
    let found = format!("{}: {EICAR_NAME} FOUND\0", eicar.display());
    let barrier = std::sync::Barrier::new(200);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..200)
            .map(|i| {
                let (d, eicar, found, barrier) = (&d, &eicar, &found, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let (request, want) = match i % 4 {
                        0 => (b"zPING\0".to_vec(), b"PONG\0".to_vec()),
                        1 => {
                            let mut r = b"zINSTREAM\0".to_vec();
                            r.extend(chunks(EICAR, 7));
                            (r, format!("stream: {EICAR_NAME} FOUND\0").into_bytes())
                        }
                        2 => (
                            format!("zSCAN {}\0", eicar.display()).into_bytes(),
                            found.clone().into_bytes(),
                        ),
                        _ if transport == Transport::Tcp => {
                            let mut r = b"zFILDES\0".to_vec();
                            r.push(0);
                            (r, b"No file descriptor received. ERROR\0".to_vec())
                        }
                        _ => {
                            let file = fs::File::open(eicar).unwrap();
                            let mut s = d.connect();
                            s.write_all(b"zFILDES\0").unwrap();
                            send_fd(&s, b"\0", &file);
                            let got = text(&read_all(&mut s));
                            assert!(
                                got.starts_with("fd[")
                                    && got.ends_with(&format!("]: {EICAR_NAME} FOUND\0")),
                                "client {i}: {got:?}"
                            );
                            return;
                        }
                    };
                    let got = d.exchange(&request);
                    assert_eq!(text(&got), text(&want), "client {i}");
                })
            })
            .collect();
        for h in handles {
            h.join().expect("every client got its reply");
        }
    });
    assert_eq!(d.exchange(b"zPING\0"), b"PONG\0");
    wait_for_fds(&d, fds_before);
}

#[test]
fn peer_access_is_checked_as_the_connecting_user() {
    let d = Daemon::with_config("socket_mode = \"0666\"\n");
    let env = &d.env;
    env.write("data/pub/eicar.com", EICAR);
    env.write("data/pub/secret/eicar.com", EICAR);
    env.write("data/pub/private.com", EICAR);
    env.chmod("data/pub/secret", 0o700);
    env.chmod("data/pub/private.com", 0o600);
    let as_nobody = |args: &[&str]| d.ctl_as_nobody(args);
    let p = |rel: &str| env.path(rel).to_str().unwrap().to_string();
    // What nobody may read is scanned; what nobody may not is refused, and
    // nothing inside a folder nobody may not list is named.
    let pub_dir = p("data/pub");
    let r = as_nobody(&["scan", "--no-summary", &pub_dir]);
    r.assert_code(1);
    assert_eq!(
        r.stdout(),
        format!("{pub_dir}/eicar.com: {EICAR_NAME} FOUND\n"),
        "{}",
        r.dump()
    );
    let mut errors = r.error_lines();
    errors.sort();
    assert_eq!(
        errors,
        [
            format!("{pub_dir}/private.com: Permission denied ERROR"),
            format!("{pub_dir}/secret: Permission denied ERROR"),
        ]
    );
    for path in ["data/pub/private.com", "data/pub/secret/eicar.com"] {
        let r = as_nobody(&["scan", "--no-summary", &p(path)]);
        r.assert_code(2);
        assert_eq!(r.stdout(), "");
        assert!(
            r.stderr().ends_with(": Permission denied ERROR\n"),
            "{}",
            r.dump()
        );
    }
    // Root (the test) is answered for everything.
    let all = d.ctl(&["scan", "--no-summary", &pub_dir]);
    all.assert_code(1);
    assert_eq!(found_lines(&all.stdout()).len(), 3, "{}", all.dump());
    // A file nobody cannot open cannot be streamed or passed either, but one
    // nobody can is, whoever the daemon is.
    let r = as_nobody(&["scan", "--stream", "--no-summary", &p("data/pub/eicar.com")]);
    r.assert_code(1);
}

#[test]
fn peer_checks_can_be_turned_off() {
    let d = Daemon::with_config("socket_mode = 0o666\ncheck_peer_access = false\n");
    let env = &d.env;
    env.write("watch/private.com", EICAR);
    env.chmod("watch/private.com", 0o600);
    let private = env.path("watch/private.com");
    d.ctl_as_nobody(&["scan", "--no-summary", private.to_str().unwrap()])
        .assert_code(1);
}

#[test]
fn vigil_ctl_scan_prints_what_vigil_scan_prints() {
    let d = Daemon::with_config("");
    let root = tree(&d.env);
    let r = root.to_str().unwrap();
    let scan = d.env.scan(["--no-summary", "-i", r]);
    scan.assert_code(1);
    for mode in [None, Some("--stream"), Some("--fdpass")] {
        let mut args = vec!["scan", "--no-summary"];
        args.extend(mode);
        args.push(r);
        let ctl = d.ctl(&args);
        ctl.assert_code(1);
        assert_eq!(
            found_lines(&ctl.stdout()),
            found_lines(&scan.stdout()),
            "{mode:?}\n{}",
            ctl.dump()
        );
        assert_eq!(ctl.stderr(), "");
    }
    // Relative paths are printed as given, as vigil scan does.
    let mut cmd = Command::new(vigil_bin());
    cmd.current_dir(root.join("a"))
        .args(["ctl", "--socket"])
        .arg(d.socket())
        .args(["scan", "--no-summary", "b"]);
    let rel = run(cmd, None);
    rel.assert_code(1);
    assert_eq!(rel.stdout(), format!("b/deep eicar: {EICAR_NAME} FOUND\n"));
    // Clean, missing, and the summary.
    let clean = d.ctl(&["scan", root.join("a/clean.txt").to_str().unwrap()]);
    clean.assert_code(0);
    assert!(
        clean.stdout().contains("Infected files: 0"),
        "{}",
        clean.dump()
    );
    let missing = d.ctl(&["scan", "--no-summary", &format!("{r}/nope")]);
    missing.assert_code(2);
    assert_eq!(
        missing.stderr(),
        format!("{r}/nope: No such file or directory ERROR\n")
    );
    // The other commands.
    let ping = d.ctl(&["ping"]);
    ping.assert_code(0);
    assert_eq!(ping.stdout(), "PONG\n");
    assert!(d
        .ctl(&["version"])
        .stdout()
        .starts_with("ClamAV-compatible vigil"));
    assert!(d.ctl(&["stats"]).stdout().contains("QUEUE: "));
    assert_eq!(d.ctl(&["reload"]).stdout(), "RELOADING\n");
}

#[test]
fn vigil_ctl_says_why_it_cannot_reach_the_daemon() {
    let env = TestEnv::new();
    let missing = env.path("none.sock");
    let mut cmd = Command::new(vigil_bin());
    cmd.args(["ctl", "--socket"]).arg(&missing).arg("ping");
    let r = run(cmd, None);
    r.assert_code(2);
    assert!(r.stderr().contains("no such socket"), "{}", r.dump());
    // A socket left by a daemon that is gone.
    let stale = env.path("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    let mut cmd = Command::new(vigil_bin());
    cmd.args(["ctl", "--socket"]).arg(&stale).arg("ping");
    let r = run(cmd, None);
    r.assert_code(2);
    assert!(r.stderr().contains("nothing is listening"), "{}", r.dump());
    // A socket this user may not use.
    let d = Daemon::with_config("socket_mode = \"0600\"\n");
    let r = d.ctl_as_nobody(&["ping"]);
    r.assert_code(2);
    assert!(r.stderr().contains("permission denied"), "{}", r.dump());
}

#[test]
fn stale_socket_replaced_live_one_kept_and_removed_at_exit() {
    // A socket left by a crash is replaced.
    let env = TestEnv::new();
    env.mkdir("run");
    drop(UnixListener::bind(env.path("run/v.sock")).unwrap());
    let mut d = Daemon::builder()
        .env(env)
        .config("")
        .try_start()
        .unwrap_or_else(|(s, e)| panic!("{s}: {e}"));
    assert_eq!(d.exchange(b"zPING\0"), b"PONG\0");
    let mode = fs::metadata(d.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    // A second daemon on the same socket refuses to start.
    let mut cmd = Command::new(vigil_bin());
    cmd.args(["daemon", "--watch"])
        .arg(d.env.path("watch"))
        .arg("--socket")
        .arg(d.socket());
    let r = run(cmd, None);
    r.assert_code(2);
    assert!(
        r.stderr().contains("another process is listening"),
        "{}",
        r.dump()
    );
    // Removed at exit.
    assert!(d.terminate().success());
    assert!(!d.socket().exists());
    // Anything but a socket is left alone, and the daemon does not start.
    let env = TestEnv::new();
    env.write("run/v.sock", b"not a socket");
    match Daemon::builder().env(env).config("").try_start() {
        Ok(_) => panic!("started over a regular file"),
        Err((status, err)) => {
            assert_eq!(status.code(), Some(2));
            assert!(err.contains("not a socket"), "{err}");
        }
    }
}

#[test]
fn shutdown_over_the_socket_stops_the_daemon_cleanly() {
    let mut d = Daemon::with_config("");
    let r = d.ctl(&["shutdown"]);
    r.assert_code(0);
    assert!(d.wait_exit(GUARD).expect("daemon exits").success());
    assert!(!d.socket().exists());
}

#[test]
fn clamdscan_reports_a_daemon_that_is_not_running() {
    let env = TestEnv::new();
    let conf = env.write(
        "clamd.conf",
        format!("LocalSocket {}\n", env.path("none.sock").display()),
    );
    let mut cmd = Command::new("clamdscan");
    cmd.arg(format!("--config-file={}", conf.display()))
        .args(["--no-summary"])
        .arg(env.path("clamd.conf"));
    let r = run(cmd, None);
    assert_eq!(r.code(), 2, "{}", r.dump());
    let _: &Path = env.root();
}

/// A client flips a symlink of its own between a file (or folder) it may
/// read and one it may not, while it asks for scans of the link. Whatever the
/// timing, it must learn nothing of what it may not read: no detection in the
/// root-only file, no name from inside the root-only folder. Run with the
/// daemon as root, and as the shipped unit runs it.
fn symlink_flips_leak_nothing(d: &Daemon) {
    use std::os::unix::fs::{chown, symlink};
    use std::sync::atomic::{AtomicBool, Ordering};
    const ROUNDS: usize = 2000;
    let env = &d.env;
    env.write("data/private.com", EICAR);
    env.chmod("data/private.com", 0o600);
    env.write("data/shut/hidden-name.com", EICAR);
    env.chmod("data/shut", 0o700);
    env.write("race/mine.txt", b"mine");
    env.write("race/mydir/also-mine.txt", b"mine");
    for rel in [
        "race",
        "race/mine.txt",
        "race/mydir",
        "race/mydir/also-mine.txt",
    ] {
        chown(env.path(rel), Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let link = env.path("race/link");
    let link_name = link.to_str().unwrap().to_string();
    for (mine, theirs) in [
        ("race/mine.txt", "data/private.com"),
        ("race/mydir", "data/shut"),
    ] {
        let (mine, theirs) = (env.path(mine), env.path(theirs));
        symlink(&mine, &link).unwrap();
        let stop = AtomicBool::new(false);
        let r = std::thread::scope(|s| {
            s.spawn(|| {
                let tmp = env.path("race/.link.tmp");
                let mut flips = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for target in [&theirs, &mine] {
                        let _ = fs::remove_file(&tmp);
                        symlink(target, &tmp).unwrap();
                        fs::rename(&tmp, &link).unwrap();
                        flips += 1;
                    }
                }
                assert!(flips > 0);
            });
            let mut args = vec!["scan", "--no-summary"];
            args.extend(std::iter::repeat(link_name.as_str()).take(ROUNDS));
            let r = d.ctl_as_nobody(&args);
            stop.store(true, Ordering::Relaxed);
            r
        });
        fs::remove_file(&link).unwrap();
        let out = format!("{}{}", r.stdout(), r.stderr());
        let leaks: Vec<&str> = out
            .lines()
            .filter(|l| l.contains("FOUND") || l.contains("hidden-name"))
            .collect();
        assert!(
            leaks.is_empty(),
            "{} leaks, e.g. {:?}",
            leaks.len(),
            &leaks[..leaks.len().min(5)]
        );
        // Both sides of the flip were met: the client's own answered OK,
        // the other refused with the kernel's word for it.
        let ok = out.lines().filter(|l| l.ends_with(": OK")).count();
        let refused = out
            .lines()
            .filter(|l| l.ends_with(": Permission denied ERROR"))
            .count();
        assert!(
            ok > 0 && refused > 0,
            "ok {ok}, refused {refused}:\n{}",
            r.dump()
        );
        assert_eq!(
            out.lines().count(),
            ROUNDS,
            "one answer per request:\n{}",
            r.dump()
        );
    }
}

#[test]
fn symlink_flips_leak_nothing_with_the_daemon_as_root() {
    let d = Daemon::with_config("socket_mode = \"0666\"\n");
    symlink_flips_leak_nothing(&d);
}

#[test]
fn symlink_flips_leak_nothing_with_the_daemon_as_the_unit_runs_it() {
    let d = Daemon::builder()
        .config("socket_mode = \"0666\"\n")
        .service_user(61234)
        .start();
    symlink_flips_leak_nothing(&d);
}

/// The answer for a symlink into a folder the client may not search is the
/// kernel's answer, the same whether the name exists there or not.
#[test]
fn a_shut_folder_does_not_tell_which_names_exist() {
    use std::os::unix::fs::{chown, symlink};
    let d = Daemon::with_config("socket_mode = \"0666\"\n");
    let env = &d.env;
    env.write("data/shut/there.txt", b"x");
    env.chmod("data/shut", 0o700);
    env.mkdir("mine");
    chown(env.path("mine"), Some(NOBODY), Some(NOBODY)).unwrap();
    symlink(env.path("data/shut/there.txt"), env.path("mine/to-there")).unwrap();
    symlink(
        env.path("data/shut/not-there.txt"),
        env.path("mine/to-nothing"),
    )
    .unwrap();
    let answer = |rel: &str| {
        let path = env.path(rel);
        let r = d.ctl_as_nobody(&["scan", "--no-summary", path.to_str().unwrap()]);
        r.assert_code(2);
        r.stderr().replace(path.to_str().unwrap(), "PATH")
    };
    let there = answer("mine/to-there");
    assert_eq!(answer("mine/to-nothing"), there);
    assert_eq!(answer("data/shut/not-there.txt"), there);
    assert_eq!(there, "PATH: Permission denied ERROR\n");
}

/// Clients that connect and send nothing, and sessions held open between
/// commands, take no slot a working client needs: a new client's PING is
/// answered at once, not after a command timeout frees a slot.
#[test]
fn silent_clients_and_idle_sessions_do_not_hold_the_socket() {
    let d = Daemon::with_config(
        "command_timeout = \"60s\"\nmax_connections = 4\nmax_open_connections = 256\n",
    );
    let silent: Vec<UnixStream> = (0..500).map(|_| d.connect()).collect();
    let mut sessions: Vec<UnixStream> = (0..64)
        .map(|_| {
            let mut s = d.connect();
            s.write_all(b"zIDSESSION\0zPING\0").unwrap();
            let mut reply = [0u8; 8];
            s.read_exact(&mut reply).unwrap();
            assert_eq!(&reply, b"1: PONG\0");
            s
        })
        .collect();
    let start = Instant::now();
    let got = d.exchange(b"zPING\0");
    let took = start.elapsed();
    assert_eq!(text(&got), "PONG\0");
    eprintln!("a new client's PING, beside 500 silent clients and 64 sessions: {took:?}");
    // A daemon that let them hold slots would answer only when the command
    // timeout (60 s) freed one; this bound only guards against that.
    assert!(took < Duration::from_secs(20), "PING took {took:?}");
    // The sessions were not the ones closed to make room: the silent
    // clients had waited longer.
    for (i, s) in sessions.iter_mut().enumerate() {
        s.write_all(b"zPING\0").unwrap();
        let mut reply = [0u8; 8];
        s.read_exact(&mut reply)
            .unwrap_or_else(|e| panic!("session {i}: {e}"));
        assert_eq!(&reply, b"2: PONG\0", "session {i}");
    }
    drop(silent);
}

/// A client that stops reading the replies of a long CONTSCAN gets whole
/// lines only, and a last line that says its replies are incomplete,
/// never a clean end that looks like a complete answer.
#[test]
fn a_client_that_stops_reading_gets_whole_lines_and_a_last_error() {
    const FILES: usize = 12_000;
    let d = Daemon::with_config("read_timeout = \"500ms\"\n");
    let first = d.env.write("many/0.com", EICAR);
    for i in 1..FILES {
        fs::hard_link(&first, d.env.path(format!("many/{i}.com"))).unwrap();
    }
    let dir = d.env.path("many");
    let mut s = d.connect();
    s.write_all(format!("zCONTSCAN {}\0", dir.display()).as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let got = read_all(&mut s);
    assert_eq!(got.last(), Some(&0), "the replies end with a whole line");
    let lines: Vec<String> = got[..got.len() - 1]
        .split(|&b| b == 0)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let (last, found) = lines.split_last().unwrap();
    assert_eq!(
        last,
        &format!(
            "{}: Replies were not read in time; scan cancelled. ERROR",
            dir.display()
        )
    );
    assert!(
        found
            .iter()
            .all(|l| l.ends_with(&format!(".com: {EICAR_NAME} FOUND"))),
        "{:?}",
        found.iter().find(|l| !l.ends_with(" FOUND"))
    );
    assert!(
        !found.is_empty() && found.len() < FILES,
        "{} lines",
        found.len()
    );
}

#[test]
fn a_panic_while_reloading_is_a_failed_reload_and_the_daemon_keeps_working() {
    let mut d = Daemon::builder()
        .config("")
        .var("VIGIL_TEST_PANIC", "reload")
        .start();
    let eicar = d.env.write("watch/eicar.com", EICAR);
    assert_eq!(text(&d.exchange(b"zRELOAD\0")), "RELOADING\0");
    d.wait_log("reload failed (it panicked");
    // Every part of the daemon still answers, with the old set.
    assert_eq!(text(&d.exchange(b"zPING\0")), "PONG\0");
    let scan = text(&d.exchange(format!("zSCAN {}\0", eicar.display()).as_bytes()));
    assert!(scan.contains(&format!("{EICAR_NAME} FOUND")), "{scan}");
    // RELOAD is still obeyed (and fails the same way), and so is SHUTDOWN.
    assert_eq!(text(&d.exchange(b"zRELOAD\0")), "RELOADING\0");
    d.wait_log("reload failed (it panicked");
    assert_eq!(text(&d.exchange(b"zSHUTDOWN\0")), "");
    assert_eq!(d.wait_exit(GUARD).map(|s| s.code()), Some(Some(0)));
}

#[test]
fn a_panic_on_a_control_connection_ends_the_daemon_with_an_error() {
    let mut d = Daemon::builder()
        .config("")
        .var("VIGIL_TEST_PANIC", "stats")
        .start();
    let mut s = d.connect();
    s.write_all(b"zSTATS\0").unwrap();
    let _ = read_all(&mut s);
    // Within the hang guard: the process ends, and says it failed.
    let status = d.wait_exit(GUARD).expect("the daemon ends after a panic");
    assert_eq!(status.code(), Some(70), "{status}");
}
