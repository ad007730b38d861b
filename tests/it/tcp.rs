//! The TCP listener end to end, on 127.0.0.1 only: clamd clients that speak
//! only TCP (`aioclamd`, pip-installed by `.ci/run`; `clamdscan --stream`
//! with `TCPSocket`/`TCPAddr`), `vigil ctl --tcp`, what is refused over TCP
//! by default, `tcp_allow`, the control socket's bad-input and
//! 200-client tests over TCP, and socket activation under systemd's own
//! `systemd-socket-activate`. A missing tool fails these tests under `CI`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::control::{
    bad_input_gets_an_error_and_never_takes_the_daemon_down_over,
    two_hundred_concurrent_clients_all_get_correct_replies_over,
};
use crate::testenv::{
    free_port, read_all, run, vigil_bin, Daemon, Transport, EICAR, EICAR_NAME, GUARD,
};

/// Whether `program` runs; under `CI` a missing tool is a failure.
fn have(program: &str, probe: &[&str], install: &str) -> bool {
    let ok = Command::new(program)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("{program} is missing; .ci/run installs it ({install})");
    }
    if !ok {
        eprintln!("SKIPPED: {program} not available ({install})");
    }
    ok
}

fn tcp_daemon(extra: &str) -> Daemon {
    Daemon::builder()
        .config(extra)
        .transport(Transport::Tcp)
        .start()
}

/// Sends `bytes` to `addr` and reads until the daemon closes.
fn exchange_tcp(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    let _ = s.write_all(bytes);
    read_all(&mut s)
}

#[test]
fn aioclamd_pings_versions_and_scans_streams() {
    if !have(
        "python3",
        &["-c", "import aioclamd"],
        "pip install aioclamd",
    ) {
        return;
    }
    let d = tcp_daemon("");
    let eicar = d.env.write("eicar.com", EICAR);
    let clean = d.env.write("clean.txt", b"nothing to see here\n");
    let script = r#"
import asyncio, io, sys
from aioclamd import ClamdAsyncClient

async def main(port, eicar, clean):
    c = ClamdAsyncClient("127.0.0.1", int(port), timeout=60)
    print(await c.ping())
    print(await c.version())
    for path in (eicar, clean):
        with open(path, "rb") as f:
            print(await c.instream(io.BytesIO(f.read())))

asyncio.run(main(*sys.argv[1:]))
"#;
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(script)
        .arg(d.tcp_addr().port().to_string())
        .arg(&eicar)
        .arg(&clean);
    let out = run(cmd, None);
    out.assert_code(0);
    let lines: Vec<_> = out.stdout().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 4, "{}", out.dump());
    assert_eq!(lines[0], "PONG");
    assert!(
        lines[1].starts_with("ClamAV-compatible vigil "),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], format!("{{'stream': ('FOUND', '{EICAR_NAME}')}}"));
    assert_eq!(lines[3], "{'stream': ('OK', None)}");
}

#[test]
fn clamdscan_streams_over_tcp() {
    if !have("clamdscan", &["--version"], "apt-get install clamdscan") {
        return;
    }
    let d = tcp_daemon("");
    let addr = d.tcp_addr();
    let conf = d.env.write(
        "clamd-tcp.conf",
        format!("TCPSocket {}\nTCPAddr {}\n", addr.port(), addr.ip()),
    );
    let eicar = d.env.write("data/eicar.com", EICAR);
    let clean = d.env.write("data/clean.txt", b"nothing to see here\n");
    let clamdscan = |args: &[&str]| {
        let mut cmd = Command::new("clamdscan");
        cmd.arg(format!("--config-file={}", conf.display()))
            .args(args);
        run(cmd, None)
    };
    let out = clamdscan(&["--stream", "--no-summary", eicar.to_str().unwrap()]);
    out.assert_code(1);
    assert_eq!(
        out.stdout().trim(),
        format!("{}: {EICAR_NAME} FOUND", eicar.display())
    );
    let out = clamdscan(&["--stream", "--no-summary", clean.to_str().unwrap()]);
    out.assert_code(0);
    assert_eq!(out.stdout().trim(), format!("{}: OK", clean.display()));
    // Without --stream clamdscan sends the path: refused over TCP by default.
    let out = clamdscan(&["--no-summary", eicar.to_str().unwrap()]);
    out.assert_code(2);
    assert!(
        out.dump().contains("Access denied. ERROR"),
        "{}",
        out.dump()
    );
}

#[test]
fn path_scans_and_control_over_tcp_are_refused_by_default() {
    let d = tcp_daemon("check_peer_access = true\n");
    let eicar = d.env.write("data/eicar.com", EICAR);
    let eicar = eicar.display();
    for command in ["SCAN", "CONTSCAN", "MULTISCAN", "ALLMATCHSCAN"] {
        assert_eq!(
            d.exchange(format!("z{command} {eicar}\0").as_bytes()),
            format!("{eicar}: Access denied. ERROR\0").as_bytes(),
            "{command}"
        );
    }
    for command in ["FILDES", "RELOAD", "SHUTDOWN"] {
        assert_eq!(
            d.exchange(format!("z{command}\0").as_bytes()),
            b"Command not allowed over TCP. ERROR\0",
            "{command}"
        );
    }
    // Streams, PING, VERSION, STATS and sessions work.
    let mut stream = b"zIDSESSION\0zPING\0zINSTREAM\0".to_vec();
    stream.extend((EICAR.len() as u32).to_be_bytes());
    stream.extend(EICAR);
    stream.extend([0; 4]);
    stream.extend(b"zSCAN /etc/hostname\0zEND\0");
    assert_eq!(
        String::from_utf8(d.exchange(&stream)).unwrap(),
        format!(
            "1: PONG\x002: stream: {EICAR_NAME} FOUND\x003: /etc/hostname: Access denied. ERROR\0"
        )
    );
    assert!(String::from_utf8(d.exchange(b"zSTATS\0"))
        .unwrap()
        .ends_with("END\0"));
    // The Unix socket is as it was.
    let mut s = d.connect();
    s.write_all(format!("zSCAN {eicar}\0").as_bytes()).unwrap();
    assert_eq!(
        read_all(&mut s),
        format!("{eicar}: {EICAR_NAME} FOUND\0").as_bytes()
    );
    // Still running: SHUTDOWN was refused.
    assert_eq!(d.exchange(b"zPING\0"), b"PONG\0");
}

#[test]
fn path_scans_and_control_over_tcp_are_allowed_by_their_keys() {
    let mut d = tcp_daemon("tcp_allow_path_scans = true\ntcp_allow_control = true\n");
    let eicar = d.env.write("data/eicar.com", EICAR);
    let eicar = eicar.display();
    assert_eq!(
        d.exchange(format!("zSCAN {eicar}\0").as_bytes()),
        format!("{eicar}: {EICAR_NAME} FOUND\0").as_bytes()
    );
    assert_eq!(d.exchange(b"zRELOAD\0"), b"RELOADING\0");
    d.wait_log("reloaded");
    assert_eq!(d.exchange(b"zSHUTDOWN\0"), b"");
    let status = d
        .wait_exit(GUARD)
        .expect("SHUTDOWN over TCP stops the daemon");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn tcp_allow_refuses_clients_outside_the_list() {
    use rustix::net::{AddressFamily, SocketType};
    let d = tcp_daemon("tcp_allow = [\"127.0.0.1/32\", \"::1\"]\n");
    assert_eq!(d.exchange(b"zPING\0"), b"PONG\0");
    // A client bound to 127.0.0.2 reaches 127.0.0.1 over loopback.
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    rustix::net::bind(&fd, &SocketAddr::from(([127, 0, 0, 2], 0))).unwrap();
    rustix::net::connect(&fd, &d.tcp_addr()).unwrap();
    let mut s = TcpStream::from(fd);
    s.set_read_timeout(Some(GUARD)).unwrap();
    let _ = s.write_all(b"zPING\0");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert_eq!(got, b"", "a client outside tcp_allow gets nothing");
    assert_eq!(d.exchange(b"zPING\0"), b"PONG\0");
}

#[test]
fn vigil_ctl_over_tcp() {
    let d = tcp_daemon("");
    let eicar = d.env.write("data/eicar.com", EICAR);
    let addr = d.tcp_addr().to_string();
    let ctl = |args: &[&str]| {
        let mut cmd = Command::new(vigil_bin());
        cmd.args(["ctl", "--tcp", &addr]).args(args);
        run(cmd, None)
    };
    assert_eq!(ctl(&["ping"]).assert_code(0).stdout(), "PONG\n");
    let out = ctl(&["scan", "--stream", "--no-summary", eicar.to_str().unwrap()]);
    out.assert_code(1);
    assert_eq!(
        out.stdout(),
        format!("{}: {EICAR_NAME} FOUND\n", eicar.display())
    );
    let out = ctl(&["scan", "--fdpass", eicar.to_str().unwrap()]);
    out.assert_code(2);
    assert!(
        out.stderr()
            .contains("--fdpass needs the daemon's Unix socket"),
        "{}",
        out.dump()
    );
    let out = ctl(&["shutdown"]);
    out.assert_code(2);
    assert!(
        out.stderr().contains("Command not allowed over TCP"),
        "{}",
        out.dump()
    );
    let mut cmd = Command::new(vigil_bin());
    cmd.args([
        "ctl",
        "--tcp",
        &format!("127.0.0.1:{}", free_port()),
        "ping",
    ]);
    let out = run(cmd, None);
    out.assert_code(2);
    assert!(
        out.stderr().contains("nothing is listening"),
        "{}",
        out.dump()
    );
}

#[test]
fn bad_input_over_tcp() {
    bad_input_gets_an_error_and_never_takes_the_daemon_down_over(Transport::Tcp);
}

#[test]
fn two_hundred_concurrent_clients_over_tcp() {
    two_hundred_concurrent_clients_all_get_correct_replies_over(Transport::Tcp);
}

#[test]
fn socket_activation_serves_both_passed_sockets_and_makes_none() {
    if !have(
        "systemd-socket-activate",
        &["--version"],
        "apt-get install systemd",
    ) {
        return;
    }
    let port = free_port();
    let tcp = SocketAddr::from(([127, 0, 0, 1], port));
    let env = crate::testenv::TestEnv::new();
    let socket = env.mkdir("run").join("v.sock");
    // systemd-socket-activate makes both sockets, and starts the daemon at
    // the first connection; this client waits for the socket and makes it.
    let first = {
        let socket = socket.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + GUARD;
            loop {
                if let Ok(mut s) = std::os::unix::net::UnixStream::connect(&socket) {
                    s.set_read_timeout(Some(GUARD)).unwrap();
                    s.write_all(b"zPING\0").unwrap();
                    return read_all(&mut s);
                }
                assert!(
                    Instant::now() < deadline,
                    "no socket at {}",
                    socket.display()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut d = Daemon::builder()
        .env(env)
        .config("")
        .wrapper([
            "systemd-socket-activate",
            "-l",
            socket.to_str().unwrap(),
            "-l",
            &tcp.to_string(),
            "-E",
            "NOTIFY_SOCKET",
        ])
        .start();
    assert_eq!(first.join().unwrap(), b"PONG\0");
    let inode = std::fs::metadata(&socket).unwrap().ino();
    assert_eq!(d.exchange(b"zPING\0"), b"PONG\0");
    assert_eq!(exchange_tcp(tcp, b"zPING\0"), b"PONG\0");
    let mut instream = b"zINSTREAM\0".to_vec();
    instream.extend((EICAR.len() as u32).to_be_bytes());
    instream.extend(EICAR);
    instream.extend([0; 4]);
    assert_eq!(
        exchange_tcp(tcp, &instream),
        format!("stream: {EICAR_NAME} FOUND\0").as_bytes()
    );
    // The daemon made no socket of its own: the Unix one is the same file,
    // and every socket it listens on was passed to it.
    assert_eq!(std::fs::metadata(&socket).unwrap().ino(), inode);
    assert_eq!(listening_sockets(d.pid()), 2, "the passed sockets only");
    assert_eq!(d.terminate().code(), Some(0));
    // A passed socket is systemd's: not removed at exit.
    assert!(socket.exists(), "the passed socket is left in place");
}

/// How many listening sockets process `pid` holds (its descriptors that
/// `/proc/net/{unix,tcp,tcp6}` list as listening).
fn listening_sockets(pid: u32) -> usize {
    let mut listening = std::collections::HashSet::new();
    // unix: "Num RefCount Protocol Flags Type St Inode Path"; flag 0x10000 is
    // a listening socket. tcp: "st" 0A is LISTEN, inode is the 10th column.
    for line in std::fs::read_to_string("/proc/net/unix")
        .unwrap()
        .lines()
        .skip(1)
    {
        let f: Vec<_> = line.split_whitespace().collect();
        if f.len() > 6 && u32::from_str_radix(f[3], 16).unwrap_or(0) & 0x10000 != 0 {
            listening.insert(f[6].to_string());
        }
    }
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let f: Vec<_> = line.split_whitespace().collect();
            if f.len() > 9 && f[3] == "0A" {
                listening.insert(f[9].to_string());
            }
        }
    }
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_str()?.to_string();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .filter(|inode| listening.contains(inode))
        .count()
}

#[test]
fn tcp_socket_in_a_private_network_fails_at_start_and_says_why() {
    if !have("unshare", &["--version"], "apt-get install util-linux") {
        return;
    }
    // As under the shipped unit's PrivateNetwork=yes: a systemd service
    // (INVOCATION_ID) in a network namespace of its own.
    let started = Daemon::builder()
        .config("")
        .transport(Transport::Tcp)
        .wrapper(["unshare", "--net"])
        .var("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
        .try_start();
    let Err((status, stderr)) = started else {
        panic!("the daemon started with a TCP socket nobody can reach");
    };
    assert!(!status.success());
    assert!(
        stderr.contains("this service may not open TCP sockets")
            && stderr.contains("PrivateNetwork")
            && stderr.contains("vigil.socket"),
        "{stderr}"
    );
}
