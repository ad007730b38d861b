//! Shared helpers for the integration tests: a `TestEnv` owning a temporary
//! folder that tests fill with files and signature databases, and ways to run
//! the real `vigil` binary on it (optionally as an unprivileged user) with a
//! time limit, so that a hang fails the test instead of hanging CI.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// Deterministic pseudo-random bytes (splitmix64), so trees are reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
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
        let bin = self.path(".vigil-bin");
        if !bin.exists() {
            fs::copy(vigil_bin(), &bin).expect("copy the vigil binary");
            fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod binary");
        }
        let mut cmd = Command::new("setpriv");
        cmd.current_dir(self.root())
            .arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .arg("--clear-groups")
            .arg(&bin)
            .arg("scan")
            .args(args);
        run(cmd, None)
    }
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
