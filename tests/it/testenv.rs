//! Shared helpers for the integration tests: a `TestEnv` owning a temporary
//! folder that tests fill with files and signature databases, and ways to run
//! the real `vigil` binary on it (optionally as an unprivileged user) with a
//! time limit, so that a hang fails the test instead of hanging CI.

#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vigil::hash::{hash_bytes, Algorithm};

/// The EICAR anti-malware test file: 68 bytes, no newline.
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The name the built-in set gives EICAR.
pub const EICAR_NAME: &str = "Eicar-Test-Signature";

/// The longest a single run of the binary may take before the test fails.
/// Generous: debug builds on a loaded 2-core machine.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The unprivileged user and group the permission tests run as (`nobody`).
pub const NOBODY: u32 = 65534;

/// Path to the binary under test.
pub fn vigil_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vigil"))
}

/// Lower-case hex digest of `data`.
pub fn hex(algo: Algorithm, data: &[u8]) -> String {
    hash_bytes(algo, data).to_hex()
}

/// A path from raw bytes (for non-UTF-8 names).
pub fn bytes_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}

/// Deterministic pseudo-random bytes (the bench corpus's splitmix64), so
/// trees are reproducible.
pub struct Rng(vigil::app::bench::corpus::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(vigil::app::bench::corpus::SplitMix64::new(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

/// A temporary folder for one test, removed when dropped. It is mode 0755
/// (a plain `tempdir()` is 0700) so an unprivileged user can walk it.
pub struct TestEnv {
    dir: tempfile::TempDir,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// A fresh folder under `/tmp`, which every user can traverse (the
    /// unprivileged tests need each ancestor of the tree to be searchable).
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("vigil-test-")
            .tempdir_in("/tmp")
            .expect("create temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        TestEnv { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` inside the folder (`rel` may be absolute-free bytes via `bytes_path`).
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root().join(rel)
    }

    /// Creates a folder (and its parents), mode 0755.
    pub fn mkdir(&self, rel: impl AsRef<Path>) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(&path).expect("create dir");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod dir");
        path
    }

    /// Writes a file (creating its parent folders), mode 0644.
    pub fn write(&self, rel: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            if !parent.exists() {
                fs::create_dir_all(parent).expect("create parent dir");
            }
        }
        fs::write(&path, bytes).expect("write file");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod file");
        path
    }

    /// Runs a Python script in the folder: `sys.argv[1]` is the folder,
    /// `args` follow. Panics with the script's stderr if it fails.
    pub fn python(&self, script: &str, args: &[&str]) {
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(self.root())
            .args(args)
            .output()
            .expect("python3 (.ci/run installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn chmod(&self, rel: impl AsRef<Path>, mode: u32) {
        fs::set_permissions(self.path(rel), fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// A `vigil` command (any subcommand, no arguments yet) run in the folder.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(vigil_bin());
        cmd.current_dir(self.root());
        cmd
    }

    /// `vigil ARGS...` (any subcommand), run in the folder, with no standard input.
    pub fn vigil<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command();
        cmd.args(args);
        run(cmd, None)
    }

    /// `vigil scan ARGS...`, run in the folder, with no standard input.
    pub fn scan<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(vigil_bin());
        cmd.current_dir(self.root()).arg("scan").args(args);
        run(cmd, None)
    }

    /// `vigil scan ARGS...` with `input` on standard input.
    pub fn scan_stdin<I, S>(&self, args: I, input: &[u8]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(vigil_bin());
        cmd.current_dir(self.root()).arg("scan").args(args);
        run(cmd, Some(input.to_vec()))
    }

    /// `vigil scan ARGS...` as user and group `nobody` with no supplementary
    /// groups, through `setpriv` (the tests run as root, who can read
    /// anything). The binary is copied into the folder first, so that it is
    /// reachable by `nobody` wherever the build tree lives. Panics if setpriv
    /// is missing: these tests must not be skipped silently.
    pub fn scan_as_nobody<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = as_nobody(self.public_bin(".vigil-bin"));
        cmd.current_dir(self.root()).arg("scan").args(args);
        run(cmd, None)
    }

    /// `vigil scan ARGS...` with the environment variables `vars` set, as
    /// root or (`nobody`) as `scan_as_nobody` runs it.
    pub fn scan_with_env<I, S>(&self, vars: &[(&str, &str)], nobody: bool, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = match nobody {
            true => as_nobody(self.public_bin(".vigil-bin")),
            false => Command::new(vigil_bin()),
        };
        cmd.current_dir(self.root()).arg("scan").args(args);
        cmd.envs(vars.iter().copied());
        run(cmd, None)
    }

    /// A copy of the binary at `rel`, mode 0755, so that any user may run it
    /// wherever the build tree lives; made once per folder.
    pub fn public_bin(&self, rel: &str) -> PathBuf {
        let bin = self.path(rel);
        if !bin.exists() {
            // Copied by `cp`, not by this process: a child another test
            // thread forks meanwhile would inherit our descriptor open for
            // writing, and running the copy would fail with "Text file busy".
            let copied = Command::new("cp")
                .arg(vigil_bin())
                .arg(&bin)
                .status()
                .expect("run cp");
            assert!(copied.success(), "copy the vigil binary");
            fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod binary");
        }
        bin
    }
}

/// `program` as user and group `nobody` with no supplementary groups,
/// through `setpriv` (the tests run as root, who can read anything). Panics
/// when run if setpriv is missing: these tests must not be skipped silently.
pub fn as_nobody(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg(program);
    cmd
}

/// What a finished run printed and how it exited.
pub struct Run {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// `None` if killed by a signal.
    pub code: Option<i32>,
}

/// Runs `cmd` to completion with `RUN_TIMEOUT` as a hang guard.
pub fn run(mut cmd: Command, stdin: Option<Vec<u8>>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    wait_with_output(child, RUN_TIMEOUT, &format!("{cmd:?}"))
}

/// Collects a child's output, killing it (and failing the test) if it has
/// not exited within `limit`.
pub fn wait_with_output(mut child: Child, limit: Duration, what: &str) -> Run {
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out after {limit:?} (hang?): {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
        code: status.code(),
    }
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            p.read_to_end(&mut buf).expect("read child output");
        }
        buf
    })
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8 (paths are escaped)")
    }

    pub fn stderr(&self) -> String {
        String::from_utf8(self.stderr.clone()).expect("stderr is UTF-8 (paths are escaped)")
    }

    /// The exit code; fails the test if the process died from a signal.
    #[track_caller]
    pub fn code(&self) -> i32 {
        match self.code {
            Some(c) => c,
            None => panic!("vigil was killed by a signal\n{}", self.dump()),
        }
    }

    #[track_caller]
    pub fn assert_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code\n{}",
            self.dump()
        );
        self
    }

    /// Everything printed, for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "--- exit: {:?}\n--- stdout:\n{}--- stderr:\n{}",
            self.code,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }

    /// The result lines of text output (`PATH: ... FOUND`, `PATH: OK`), that
    /// is stdout up to the blank line that opens the summary block.
    pub fn results(&self) -> Vec<String> {
        self.stdout()
            .lines()
            .take_while(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The result lines, sorted.
    pub fn sorted_results(&self) -> Vec<String> {
        let mut v = self.results();
        v.sort();
        v
    }

    /// The lines of stderr.
    pub fn error_lines(&self) -> Vec<String> {
        self.stderr().lines().map(str::to_string).collect()
    }

    pub fn has_summary(&self) -> bool {
        self.stdout()
            .contains("----------- SCAN SUMMARY -----------")
    }

    /// A number from the text summary: the first integer after `key: `.
    #[track_caller]
    pub fn summary_number(&self, key: &str) -> u64 {
        let out = self.stdout();
        let prefix = format!("{key}: ");
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {key:?} in summary\n{}", self.dump()));
        line.split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no number in {line:?}"))
    }

    /// Every stdout line parsed as JSON (fails the test on a line that isn't).
    #[track_caller]
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}\n{}", self.dump()))
            })
            .collect()
    }

    /// The JSON summary object, which must be the last line.
    #[track_caller]
    pub fn json_summary(&self) -> serde_json::Value {
        let all = self.json();
        let last = all
            .last()
            .cloned()
            .unwrap_or_else(|| panic!("no JSON output\n{}", self.dump()));
        assert_eq!(
            last["type"],
            "summary",
            "summary is the last line\n{}",
            self.dump()
        );
        last
    }

    /// The `path` of every JSON detection, as a set.
    #[track_caller]
    pub fn detection_paths(&self) -> std::collections::BTreeSet<String> {
        self.json_of("detection")
            .iter()
            .map(|d| {
                d["path"]
                    .as_str()
                    .unwrap_or_else(|| panic!("detection without a path: {d}"))
                    .to_string()
            })
            .collect()
    }

    /// JSON objects of one `type`.
    pub fn json_of(&self, kind: &str) -> Vec<serde_json::Value> {
        self.json()
            .into_iter()
            .filter(|v| v["type"] == kind)
            .collect()
    }
}

/// `PATH: NAME FOUND` for a path written with no characters that need escaping.
pub fn found(path: &Path, name: &str) -> String {
    format!("{}: {name} FOUND", path.display())
}

/// `PATH: Eicar-Test-Signature FOUND` for each of `paths`, sorted (to
/// compare with `Run::sorted_results`).
pub fn eicar_found(paths: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = paths
        .iter()
        .map(|p| found(Path::new(p), EICAR_NAME))
        .collect();
    v.sort();
    v
}

/// `PATH: OK` for a path written with no characters that need escaping.
pub fn ok(path: &Path) -> String {
    format!("{}: OK", path.display())
}

/// Hang guard for a daemon step that should take well under a second.
/// Generous: debug builds on a loaded 2-core machine.
pub const GUARD: Duration = Duration::from_secs(60);

/// Which of the daemon's listeners a test's clients use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// The control socket.
    #[default]
    Unix,
    /// The TCP listener on 127.0.0.1.
    Tcp,
}

/// A free TCP port on 127.0.0.1 (bound once, then released for the daemon).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client connection to the daemon, over either transport.
pub enum Client {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Client {
    /// The Unix socket (descriptor passing); panics over TCP.
    pub fn unix(&self) -> &UnixStream {
        match self {
            Client::Unix(s) => s,
            Client::Tcp(_) => panic!("descriptors pass only on the Unix socket"),
        }
    }

    pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
        match self {
            Client::Unix(s) => s.shutdown(how),
            Client::Tcp(s) => s.shutdown(how),
        }
    }
}

impl Read for Client {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Client::Unix(s) => s.read(buf),
            Client::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Client {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Client::Unix(s) => s.write(buf),
            Client::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How to start a `vigil daemon`: see `Daemon::builder`.
#[derive(Default)]
pub struct DaemonBuilder {
    transport: Transport,
    env: Option<TestEnv>,
    args: Vec<OsString>,
    toml: Option<String>,
    wrapper: Vec<OsString>,
    service_user: Option<u32>,
    vars: Vec<(OsString, OsString)>,
}

impl DaemonBuilder {
    /// Runs the daemon on `env` (already filled by the test) instead of a
    /// fresh one.
    pub fn env(mut self, env: TestEnv) -> Self {
        self.env = Some(env);
        self
    }

    /// Command-line arguments after `vigil daemon`.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Serves the control socket: a `vigil.toml` watching `env/watch` and
    /// serving `env/run/v.sock`, with no initial scan, then the `extra`
    /// TOML lines; and a `clamd.conf` that points `clamdscan` at the socket.
    pub fn config(mut self, extra: &str) -> Self {
        self.toml = Some(extra.to_string());
        self
    }

    /// Runs the daemon through a command prefix (`unshare ...`, `setpriv
    /// ...`), which gets the binary's path as its next argument.
    pub fn wrapper<I, S>(mut self, wrapper: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.wrapper = wrapper.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// Runs the daemon as the shipped unit does: user and group `uid` (not
    /// root), with `CAP_DAC_READ_SEARCH` as its only capability. Needs
    /// `config`, whose socket folder then belongs to `uid`.
    pub fn service_user(mut self, uid: u32) -> Self {
        self.service_user = Some(uid);
        self
    }

    /// Also listens on TCP (127.0.0.1, a free port) when `transport` is
    /// `Tcp`, and `Daemon::client` and `exchange` use that transport. Needs
    /// `config`.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Adds `key=value` to the daemon's environment (the test hooks).
    pub fn var(mut self, key: &str, value: &str) -> Self {
        self.vars.push((key.into(), value.into()));
        self
    }

    /// Starts the daemon and waits for `READY=1`; panics if it exits first.
    #[track_caller]
    pub fn start(self) -> Daemon {
        self.try_start().unwrap_or_else(|(status, err)| {
            panic!("daemon exited with {status} before READY=1:\n{err}")
        })
    }

    /// Starts the daemon and waits for `READY=1`; if it exits first, its
    /// status and what it wrote to stderr.
    pub fn try_start(self) -> Result<Daemon, (ExitStatus, String)> {
        let env = self.env.unwrap_or_default();
        let mut control = None;
        let mut args = self.args;
        let tcp = (self.transport == Transport::Tcp)
            .then(|| SocketAddr::from(([127, 0, 0, 1], free_port())));
        if let Some(extra) = &self.toml {
            let extra = match tcp {
                Some(addr) => format!(
                    "tcp_addr = \"{}\"\ntcp_socket = {}\n{extra}",
                    addr.ip(),
                    addr.port()
                ),
                None => extra.clone(),
            };
            let watch = env.mkdir("watch");
            // The socket's folder belongs to whoever runs the daemon.
            let run_dir = env.mkdir("run");
            let socket = env.path("run/v.sock");
            let config = env.write(
                "vigil.toml",
                format!(
                    "watch = [{watch:?}]\nsocket = {socket:?}\ninitial_scan = false\n{extra}\n",
                    watch = watch.to_str().unwrap(),
                    socket = socket.to_str().unwrap(),
                ),
            );
            let clamd_conf = env.write(
                "clamd.conf",
                format!("LocalSocket {}\n", socket.to_str().unwrap()),
            );
            args.splice(0..0, ["--config".into(), config.into_os_string()]);
            control = Some((run_dir, socket, clamd_conf));
        }
        let notify_dir = tempfile::tempdir().unwrap();
        let notify_path = notify_dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut cmd = if let Some(uid) = self.service_user {
            let (run_dir, _, _) = control.as_ref().expect("a service user needs .config()");
            std::os::unix::fs::chown(run_dir, Some(uid), Some(uid)).unwrap();
            std::os::unix::fs::chown(notify_dir.path(), Some(uid), Some(uid)).unwrap();
            fs::set_permissions(&notify_path, fs::Permissions::from_mode(0o777)).unwrap();
            let mut cmd = Command::new("setpriv");
            cmd.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={uid}"))
                .arg("--clear-groups")
                .arg("--inh-caps=-all,+dac_read_search")
                .arg("--ambient-caps=-all,+dac_read_search")
                .arg("--bounding-set=-all,+dac_read_search")
                .arg(env.public_bin(".vigil-daemon-bin"));
            cmd
        } else if let Some((program, rest)) = self.wrapper.split_first() {
            let mut cmd = Command::new(program);
            cmd.args(rest).arg(vigil_bin());
            cmd
        } else {
            Command::new(vigil_bin())
        };
        let mut child = cmd
            .arg("daemon")
            .args(&args)
            .args(["--log-format", "json"])
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("VIGIL_LOG")
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
        // Both pipes are always drained, so the daemon never blocks on them.
        let events = json_lines(child.stdout.take().unwrap());
        let logs = json_lines(child.stderr.take().unwrap());
        let (socket, clamd_conf) = match control {
            Some((_, socket, clamd_conf)) => (Some(socket), Some(clamd_conf)),
            None => (None, None),
        };
        let mut d = Daemon {
            child,
            env,
            transport: self.transport,
            tcp,
            socket,
            clamd_conf,
            notify,
            events: Mutex::new(events),
            logs: Mutex::new(logs),
            seen_logs: Vec::new(),
            _notify_dir: notify_dir,
        };
        let deadline = Instant::now() + GUARD;
        loop {
            if let Some(msg) = d.try_notify() {
                if msg.lines().any(|l| l == "READY=1") {
                    return Ok(d);
                }
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                let mut text = String::new();
                while let Ok(v) = d
                    .logs
                    .get_mut()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(5))
                {
                    match v {
                        serde_json::Value::String(line) => text += &line,
                        v => text += &v.to_string(),
                    }
                    text.push('\n');
                }
                return Err((status, text));
            }
            assert!(Instant::now() < deadline, "no READY=1 within {GUARD:?}");
        }
    }
}

/// Each line read from `reader`, parsed as JSON (a line that is not JSON
/// comes as a JSON string), on a channel; the thread ends at end of file.
fn json_lines(reader: impl Read + Send + 'static) -> Receiver<serde_json::Value> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            let value = serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line));
            if tx.send(value).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running `vigil daemon`, started by `Daemon::builder()...start()`, with
/// its `NOTIFY_SOCKET`, its events (stdout) and its JSON logs (stderr).
/// Killed when dropped.
pub struct Daemon {
    child: Child,
    /// The test's folder (the control socket's `watch/` and `run/` are in it).
    pub env: TestEnv,
    /// What `client` and `exchange` connect through.
    transport: Transport,
    /// The TCP listener's address, with `Transport::Tcp`.
    tcp: Option<SocketAddr>,
    socket: Option<PathBuf>,
    clamd_conf: Option<PathBuf>,
    notify: UnixDatagram,
    // In mutexes so that threads of a test may share the daemon (a
    // `Receiver` is not `Sync`).
    events: Mutex<Receiver<serde_json::Value>>,
    logs: Mutex<Receiver<serde_json::Value>>,
    /// Log lines seen while waiting for others, kept for later checks.
    seen_logs: Vec<serde_json::Value>,
    _notify_dir: tempfile::TempDir,
}

impl Daemon {
    pub fn builder() -> DaemonBuilder {
        DaemonBuilder::default()
    }

    /// `vigil daemon ARGS`, started and `READY=1`.
    #[track_caller]
    pub fn start<I, S>(args: I) -> Daemon
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::builder().args(args).start()
    }

    /// A daemon serving the control socket (see `DaemonBuilder::config`),
    /// started and `READY=1`.
    #[track_caller]
    pub fn with_config(extra: &str) -> Daemon {
        Self::builder().config(extra).start()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(self.pid() as i32, signal) }, 0);
    }

    /// The control socket (only with `DaemonBuilder::config`).
    pub fn socket(&self) -> &Path {
        self.socket
            .as_deref()
            .expect("a daemon started with .config()")
    }

    pub fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(self.socket()).expect("connect to the control socket");
        s.set_read_timeout(Some(GUARD)).unwrap();
        s
    }

    /// The TCP listener's address (with `Transport::Tcp`).
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp
            .expect("a daemon started with .transport(Transport::Tcp)")
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// A connection over the daemon's transport (see `transport`).
    pub fn client(&self) -> Client {
        match self.transport {
            Transport::Unix => Client::Unix(self.connect()),
            Transport::Tcp => {
                let s = TcpStream::connect(self.tcp_addr()).expect("connect to the TCP listener");
                s.set_read_timeout(Some(GUARD)).unwrap();
                Client::Tcp(s)
            }
        }
    }

    /// Sends `bytes` on a new connection (over the daemon's transport) and
    /// returns everything received until the daemon closes it.
    pub fn exchange(&self, bytes: &[u8]) -> Vec<u8> {
        let mut s = self.client();
        // The daemon may answer and close before it has read everything.
        if let Err(e) = s.write_all(bytes) {
            let k = e.kind();
            assert!(
                k == std::io::ErrorKind::BrokenPipe || k == std::io::ErrorKind::ConnectionReset,
                "sending a request: {e}"
            );
        }
        read_all(&mut s)
    }

    /// `clamdscan --config-file=CONF ARGS...`.
    pub fn clamdscan(&self, args: &[&str]) -> Run {
        let conf = self
            .clamd_conf
            .as_ref()
            .expect("a daemon started with .config()");
        let mut cmd = Command::new("clamdscan");
        cmd.arg(format!("--config-file={}", conf.display()))
            .args(args);
        run(cmd, None)
    }

    /// `vigil ctl --socket SOCK ARGS...`.
    pub fn ctl(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(vigil_bin());
        cmd.arg("ctl").arg("--socket").arg(self.socket()).args(args);
        run(cmd, None)
    }

    /// `vigil ctl --socket SOCK ARGS...` as `nobody`.
    pub fn ctl_as_nobody(&self, args: &[&str]) -> Run {
        let mut cmd = as_nobody(self.env.public_bin(".vigil-bin"));
        cmd.args(["ctl", "--socket"]).arg(self.socket()).args(args);
        run(cmd, None)
    }

    pub fn open_fds(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    fn try_notify(&self) -> Option<String> {
        let mut buf = [0u8; 4096];
        match self.notify.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => None,
        }
    }

    /// Waits for a notification with a line starting with `line`; returns
    /// the message.
    pub fn wait_notify(&self, line: &str) -> String {
        let deadline = Instant::now() + GUARD;
        while Instant::now() < deadline {
            if let Some(msg) = self.try_notify() {
                if msg.lines().any(|l| l.starts_with(line)) {
                    return msg;
                }
            }
        }
        panic!("no {line} notification within {GUARD:?}");
    }

    /// The next event (a detection or an error) on stdout.
    pub fn next_event(&self, timeout: Duration) -> Option<serde_json::Value> {
        match self.events.lock().unwrap().recv_timeout(timeout) {
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("daemon stdout closed"),
        }
    }

    /// Collects detections until `want` distinct paths are seen; returns the
    /// number of times each path was reported.
    pub fn detections(&self, want: usize, guard: Duration) -> HashMap<String, usize> {
        let mut seen = HashMap::new();
        let deadline = Instant::now() + guard;
        while seen.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(ev) = self.next_event(left) else {
                panic!("only {} of {want} detections within {guard:?}", seen.len());
            };
            if ev["type"] == "detection" {
                *seen
                    .entry(ev["path"].as_str().unwrap().to_string())
                    .or_insert(0) += 1;
            }
        }
        seen
    }

    /// Waits for a log line whose message starts with `prefix`.
    pub fn wait_log(&mut self, prefix: &str) -> serde_json::Value {
        let deadline = Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = match self.logs.get_mut().unwrap().recv_timeout(left) {
                Ok(v) => v,
                Err(_) => panic!(
                    "no log {prefix:?} within {GUARD:?}; saw {:#?}",
                    self.seen_logs
                ),
            };
            let hit = log_starts_with(&v, prefix);
            self.seen_logs.push(v.clone());
            if hit {
                return v;
            }
        }
    }

    /// Waits for a log line starting with `prefix`, unless one was seen already.
    pub fn seen_or_wait_log(&mut self, prefix: &str) {
        if !self.seen_logs.iter().any(|v| log_starts_with(v, prefix)) {
            self.wait_log(prefix);
        }
    }

    /// Statistics, through SIGUSR1.
    pub fn stats(&mut self) -> serde_json::Value {
        self.signal(libc::SIGUSR1);
        self.wait_log("stats")["fields"].clone()
    }

    /// Waits until nothing is pending, queued or running.
    pub fn wait_idle(&mut self) -> serde_json::Value {
        let deadline = Instant::now() + GUARD;
        loop {
            let s = self.stats();
            if s["pending"] == 0 && s["outstanding"] == 0 && s["queued"] == 0 {
                return s;
            }
            assert!(Instant::now() < deadline, "not idle within {GUARD:?}: {s}");
            std::thread::sleep(Duration::from_millis(100)); // poll interval, not an assertion
        }
    }

    /// Waits up to `timeout` for the daemon to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(GUARD).expect("daemon exits after SIGTERM")
    }

    pub fn stop(mut self) -> ExitStatus {
        self.terminate()
    }

    /// SIGTERM; once the daemon has exited (successfully), the test's
    /// folder, for another daemon to start on.
    #[track_caller]
    pub fn stop_keeping_env(mut self) -> TestEnv {
        let status = self.terminate();
        assert!(status.success(), "daemon stopped with {status}");
        std::mem::take(&mut self.env)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_starts_with(v: &serde_json::Value, prefix: &str) -> bool {
    v["fields"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with(prefix))
}

/// Everything the peer sends until it closes the connection.
pub fn read_all(s: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => {}
        // The daemon may close with our unread data in its buffer.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("reading replies: {e} (after {out:?})"),
    }
    out
}

/// The header of a ClamAV container (`.cvd`, `.cld`): 512 bytes, space
/// padded, whose MD5 field `md5` must be the body's for a `.cvd` (a `.cld`
/// is not checked).
pub fn cvd_header(md5: &str) -> Vec<u8> {
    let mut head =
        format!("ClamAV-VDB:26 Nov 2025 10-00 +0000:62:7:90:{md5}:dsig:tester:1764151200")
            .into_bytes();
    head.resize(512, b' ');
    head
}

/// A ClamAV container: the header with the MD5 of `body`, then `body` (a
/// tar, gzip'd or not; see `tar_of`).
pub fn cvd(body: &[u8]) -> Vec<u8> {
    let mut out = cvd_header(&hex(Algorithm::Md5, body));
    out.extend_from_slice(body);
    out
}

/// A tar of `members` (name, content; mode 0644), gzip'd if `gzip`.
pub fn tar_of(members: &[(&str, &[u8])], gzip: bool) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, *data).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    if !gzip {
        return tar;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}
