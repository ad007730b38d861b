//! The on-access guard, through the real binary: the daemon guards a folder
//! and another process, run as `nobody` through `setpriv`, opens and runs
//! files in it. A known-bad file is refused (EPERM) on open and on exec, a
//! clean one opens unchanged, a file written later is refused once closed, a
//! reload that adds a signature refuses a file allowed before, a slow
//! decision is answered by `guard_timeout`, a small file is decided while
//! large ones wait, and a daemon killed with SIGKILL lets every open through.
//!
//! The tests run as root (CI does): the guard needs CAP_SYS_ADMIN. Each
//! guarded folder is on a tmpfs of its own, so the filesystem mark sees the
//! test's opens only, and each daemon is killed when its test ends, however
//! it ends (`Daemon`'s `Drop`): a dead guard lets every open through.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil::hash::Algorithm::Md5;

use crate::testenv::{as_nobody, hex, run, Daemon, Run, TestEnv, EICAR, EICAR_NAME, NOBODY};

/// A tmpfs mounted for one test, unmounted when dropped.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// A tmpfs every user may write in (mode 1777, like /tmp).
    pub(crate) fn new() -> Self {
        if !nix_is_root() {
            panic!("the guard tests need root (CAP_SYS_ADMIN), as CI runs them");
        }
        let dir = tempfile::Builder::new()
            .prefix("vigil-guard-")
            .tempdir_in("/tmp")
            .unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "mode=1777,size=64m",
                "vigil-guard-test",
            ])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "cannot mount a tmpfs");
        Tmpfs { dir }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file, mode 0755 (so that it may be run).
    pub(crate) fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `cat PATH` as nobody.
fn cat_as_nobody(path: &Path) -> Run {
    let mut cmd = as_nobody("cat");
    cmd.arg(path);
    run(cmd, None)
}

/// Asserts `run` failed with EPERM.
#[track_caller]
fn assert_refused(run: &Run) {
    assert_ne!(run.code(), 0, "{}", run.dump());
    assert!(
        run.stderr().contains("Operation not permitted"),
        "{}",
        run.dump()
    );
}

/// Asserts `run` printed `content` and succeeded.
#[track_caller]
fn assert_opened(run: &Run, content: &[u8]) {
    assert_eq!(run.code(), 0, "{}", run.dump());
    assert_eq!(run.stdout().as_bytes(), content, "{}", run.dump());
}

/// A guard on `dir`, with `toml` lines (and the control socket the builder
/// adds).
fn guard(dir: &Path, toml: &str) -> Daemon {
    Daemon::builder()
        .config(&format!("guard = [{:?}]\n{toml}", dir.to_str().unwrap()))
        .start()
}

/// The `blocked` event for `path` (other events are passed over).
fn blocked_event(d: &Daemon, path: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = d
            .next_event(left)
            .unwrap_or_else(|| panic!("no blocked event for {}", path.display()));
        if ev["action"] == "blocked" && ev["path"] == path.to_str().unwrap() {
            return ev;
        }
    }
}

#[test]
fn a_planted_file_cannot_be_opened_or_run_and_a_clean_one_opens_unchanged() {
    let fs = Tmpfs::new();
    let bad = fs.write("g/sub/planted.com", EICAR);
    let clean = fs.write("g/sub/clean.txt", b"just text\n");
    let d = guard(&fs.path("g"), "");

    assert_refused(&cat_as_nobody(&bad));
    let ev = blocked_event(&d, &bad);
    assert_eq!(ev["type"], "detection");
    assert_eq!(ev["source"], "guard");
    assert_eq!(ev["signature"], EICAR_NAME);
    assert!(!ev["digest"].as_str().unwrap().is_empty());
    assert_eq!(ev["uid"], NOBODY);
    assert!(ev["pid"].as_i64().unwrap() > 0);
    assert_eq!(ev["executable"], "/usr/bin/cat");

    assert_refused(&run(as_nobody(&bad), None));

    // Twice: the second open is the one the ignore mark lets through.
    assert_opened(&cat_as_nobody(&clean), b"just text\n");
    assert_opened(&cat_as_nobody(&clean), b"just text\n");
    assert_eq!(fs::read(&clean).unwrap(), b"just text\n");
    // Still refused after the clean opens.
    assert_refused(&cat_as_nobody(&bad));
    // The daemon itself reads it (a control-socket scan by path).
    let scan = d.ctl(&["scan", bad.to_str().unwrap()]);
    assert!(scan.stdout().contains(EICAR_NAME), "{}", scan.dump());
}

#[test]
fn a_file_written_later_by_another_user_is_refused_once_closed() {
    let fs = Tmpfs::new();
    fs::create_dir_all(fs.path("g")).unwrap();
    fs::set_permissions(fs.path("g"), fs::Permissions::from_mode(0o1777)).unwrap();
    let _d = guard(&fs.path("g"), "");
    let file = fs.path("g/later.txt");
    let write_as_nobody = |path: &Path, bytes: &[u8]| {
        let mut cmd = as_nobody("sh");
        cmd.args(["-c", "cat > \"$0\""]).arg(path);
        run(cmd, Some(bytes.to_vec())).assert_code(0);
    };
    write_as_nobody(&file, b"harmless\n");
    assert_opened(&cat_as_nobody(&file), b"harmless\n");
    // Rewritten: the write clears the ignore mark the clean open left.
    write_as_nobody(&file, EICAR);
    assert_refused(&cat_as_nobody(&file));
    // A folder made after the start, written and opened at once.
    let mut cmd = as_nobody("sh");
    cmd.args(["-c", "mkdir -p \"$0/new/deeper\" && cat > \"$0/new/deeper/x.com\" && cat \"$0/new/deeper/x.com\""])
        .arg(fs.path("g"));
    assert_refused(&run(cmd, Some(EICAR.to_vec())));
}

#[test]
fn a_guard_in_a_private_mount_namespace_refuses_opens_from_outside_it() {
    let fs = Tmpfs::new();
    let bad = fs.write("g/planted.com", EICAR);
    let clean = fs.write("g/clean.txt", b"fine\n");
    let _d = Daemon::builder()
        .wrapper(["unshare", "-m", "--propagation", "private"])
        .args(["--guard", fs.path("g").to_str().unwrap()])
        .start();
    assert_refused(&cat_as_nobody(&bad));
    assert_opened(&cat_as_nobody(&clean), b"fine\n");
}

#[test]
fn a_reload_that_adds_a_signature_refuses_a_file_allowed_before() {
    let fs = Tmpfs::new();
    let file = fs.write("g/fine-until-now.bin", b"a file nobody knew about\n");
    let env = TestEnv::new();
    let db = env.mkdir("db");
    fs::write(db.join("a.hdb"), format!("{}:68:Eicar\n", hex(Md5, EICAR))).unwrap();
    let mut d = Daemon::builder()
        .env(env)
        .config(&format!(
            "guard = [{:?}]\ndatabases = [{:?}]",
            fs.path("g").to_str().unwrap(),
            db.to_str().unwrap()
        ))
        .start();
    // Its size matches no signature: allowed, and an ignore mark is left.
    assert_opened(&cat_as_nobody(&file), b"a file nobody knew about\n");
    assert_opened(&cat_as_nobody(&file), b"a file nobody knew about\n");
    let line = format!(
        "{}:{}:Now-Known\n",
        hex(Md5, b"a file nobody knew about\n"),
        b"a file nobody knew about\n".len()
    );
    fs::write(db.join("b.hdb"), line).unwrap();
    d.signal(libc::SIGHUP);
    d.wait_log("reloaded");
    assert_refused(&cat_as_nobody(&file));
}

#[test]
fn a_slow_decision_is_answered_by_guard_timeout() {
    let fs = Tmpfs::new();
    let bad = fs.write("g/planted.com", EICAR);
    let toml = |answer: &str| {
        format!(
            "guard = [{:?}]\nguard_timeout = \"300ms\"\nguard_on_timeout = \"{answer}\"",
            fs.path("g").to_str().unwrap()
        )
    };
    // Every verdict comes 3 s late.
    let mut allow = Daemon::builder()
        .config(&toml("allow"))
        .var("VIGIL_TEST_DELAY", "guard:3000")
        .start();
    let began = Instant::now();
    assert_opened(&cat_as_nobody(&bad), EICAR);
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    allow.wait_log("guard: no verdict within guard_timeout");
    drop(allow);

    let clean = fs.write("g/clean.txt", b"fine\n");
    // A clean file whose size a signature could match: it waits for a verdict.
    let same_size = fs.write("g/same-size.txt", &[b'a'; 68]);
    let _deny = Daemon::builder()
        .config(&toml("deny"))
        .var("VIGIL_TEST_DELAY", "guard:3000")
        .start();
    assert_refused(&cat_as_nobody(&same_size));
    // A size no signature can match is decided at once, not timed out.
    assert_opened(&cat_as_nobody(&clean), b"fine\n");
}

/// The guard's counts, through SIGUSR1 (its `guard` line follows `stats`).
fn guard_counts(d: &mut Daemon) -> Value {
    d.signal(libc::SIGUSR1);
    loop {
        let line = d.wait_log("guard");
        if line["fields"]["message"] == "guard" {
            return line["fields"].clone();
        }
    }
}

#[test]
fn a_small_file_is_decided_while_two_large_ones_wait() {
    // Two workers: large files get one of them, the other is kept for small
    // files. Large files are decided 5 s late (the daemon is killed
    // before), small ones at once.
    const LARGE: usize = 2 << 20;
    let fs = Tmpfs::new();
    let large_a = fs.write("g/a.iso", &vec![b'a'; LARGE]);
    let large_b = fs.write("g/b.iso", &vec![b'b'; LARGE]);
    let bad = fs.write("g/planted.com", EICAR);
    let env = TestEnv::new();
    let db = env.mkdir("db");
    // A signature of the large files' size, so that they are read.
    let sigs = format!(
        "{}:68:Eicar\n{}:{LARGE}:Large-Decoy\n",
        hex(Md5, EICAR),
        hex(Md5, &vec![b'z'; LARGE])
    );
    fs::write(db.join("a.hdb"), sigs).unwrap();
    let mut d = Daemon::builder()
        .env(env)
        .config(&format!(
            "guard = [{:?}]\ndatabases = [{:?}]\nthreads = 2\nguard_timeout = \"60s\"",
            fs.path("g").to_str().unwrap(),
            db.to_str().unwrap()
        ))
        .var("VIGIL_TEST_DELAY", "guard-large:5000")
        .start();
    let open_as_nobody = |path: &Path| {
        as_nobody("cat")
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut waiting = [open_as_nobody(&large_a), open_as_nobody(&large_b)];
    // Both large opens are on their way to the pool before the small one:
    // they reach the feeder first.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let counts = guard_counts(&mut d);
        if counts["decided"].as_u64() == Some(2) {
            break;
        }
        assert!(Instant::now() < deadline, "{counts}");
        std::thread::sleep(Duration::from_millis(20)); // poll interval, not an assertion
    }
    assert_refused(&cat_as_nobody(&bad));
    for (child, path) in waiting.iter_mut().zip([&large_a, &large_b]) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{} was answered before the small file",
            path.display()
        );
    }
    // A dead guard lets them through.
    drop(d);
    for mut child in waiting {
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn after_sigkill_of_the_daemon_every_open_goes_through() {
    let fs = Tmpfs::new();
    let bad = fs.write("g/planted.com", EICAR);
    let other = fs.write("g/other.com", EICAR);
    let toml = format!(
        "guard = [{:?}]\nguard_timeout = \"60s\"",
        fs.path("g").to_str().unwrap()
    );
    let d = Daemon::builder()
        .config(&toml)
        .var("VIGIL_TEST_DELAY", "guard:60000")
        .start();
    // An open that waits on a decision that will not come in time.
    let mut waiting = as_nobody("cat")
        .arg(&bad)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500)); // let it reach the kernel
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "the open waits on the guard"
    );
    let pid = d.pid();
    let killed = Instant::now();
    // SAFETY: kill(2) on the daemon, our child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let status = loop {
        if let Some(status) = waiting.try_wait().unwrap() {
            break status;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "the waiting open was not let through within 10 s of SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let released = killed.elapsed();
    let mut out = Vec::new();
    std::io::Read::read_to_end(waiting.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(status.success());
    assert_eq!(out, EICAR);
    // And a new open, after the daemon is gone.
    assert_opened(&cat_as_nobody(&other), EICAR);
    let after = killed.elapsed();
    eprintln!("SIGKILL: the waiting open went through after {released:?}, a new one by {after:?}");
    assert!(after < Duration::from_secs(10));
    drop(d);
}

#[test]
fn a_refused_file_is_moved_to_quarantine() {
    let fs = Tmpfs::new();
    let bad = fs.write("g/planted.com", EICAR);
    // The vault inside the guarded folder: the daemon's own opens of it
    // (the move, the record) are never held.
    let vault = fs.path("g/.vault");
    let d = Daemon::builder()
        .config(&format!(
            "guard = [{:?}]\naction = \"quarantine\"\nquarantine_dir = {:?}",
            fs.path("g").to_str().unwrap(),
            vault.to_str().unwrap()
        ))
        .start();
    assert_refused(&cat_as_nobody(&bad));
    let ev = blocked_event(&d, &bad);
    assert!(ev["quarantine"]["id"].is_string(), "{ev}");
    assert!(!bad.exists(), "moved out of its place");
    let content = ev["quarantine"]["path"].as_str().unwrap();
    assert!(content.starts_with(vault.to_str().unwrap()), "{ev}");
    // Another process, root here, may not open the quarantined content.
    let mut cat = Command::new("cat");
    cat.arg(content);
    assert_refused(&run(cat, None));
}

#[test]
fn without_cap_sys_admin_the_guard_refuses_to_start_with_one_line() {
    let fs = Tmpfs::new();
    let env = TestEnv::new();
    let bin = env.public_bin(".vigil-bin");
    let mut cmd = as_nobody(bin);
    cmd.args(["daemon", "--guard"]).arg(fs.path(""));
    let out = run(cmd, None);
    assert_ne!(out.code(), 0, "{}", out.dump());
    let stderr = out.stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.dump());
    assert!(lines[0].contains("CAP_SYS_ADMIN"), "{}", out.dump());
}

/// 8 processes open guarded files in a loop for 30 s while the daemon
/// reloads: none hangs, none is refused a clean file, every open of the
/// planted one is refused, and the daemon's memory stays flat. Long: run it
/// with `cargo test --test it guard::stress -- --ignored --nocapture`.
#[test]
#[ignore]
fn stress_eight_openers_through_reloads() {
    let fs = Tmpfs::new();
    for i in 0..200 {
        fs.write(
            &format!("g/d{}/f{i}.txt", i % 10),
            format!("file {i}\n").as_bytes(),
        );
    }
    // Same size as EICAR: each of these is hashed until marked.
    for i in 0..50 {
        fs.write(&format!("g/h/f{i}.bin"), &[b'0' + (i % 10) as u8; 68]);
    }
    fs.write("g/planted.com", EICAR);
    let mut d = guard(&fs.path("g"), "");
    let script = r#"
        end=$(( $(date +%s) + 30 )); n=0; wrong=0; opened=0
        while [ "$(date +%s)" -lt "$end" ]; do
            for f in "$0"/d*/*.txt "$0"/h/*.bin; do
                if cat "$f" > /dev/null 2>&1; then opened=$((opened+1)); else wrong=$((wrong+1)); fi
            done
            if cat "$0/planted.com" > /dev/null 2>&1; then wrong=$((wrong+1)); fi
            n=$((n+1))
        done
        echo "$n $opened $wrong"
    "#;
    let openers: Vec<_> = (0..8)
        .map(|_| {
            let mut cmd = as_nobody("sh");
            cmd.args(["-c", script])
                .arg(fs.path("g"))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let rss = |pid: u32| -> u64 {
        fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    let mut samples = Vec::new();
    for second in 0..30 {
        std::thread::sleep(Duration::from_secs(1));
        samples.push(rss(d.pid()));
        if second % 10 == 5 {
            d.signal(libc::SIGHUP);
        }
    }
    let mut total = 0u64;
    for child in openers {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let nums: Vec<u64> = text
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(nums.len(), 3, "{text}");
        assert_eq!(nums[2], 0, "wrong answers: {text}");
        total += nums[1];
    }
    // Memory is reported, not asserted (see benches/guard.sh for figures).
    eprintln!(
        "stress: {total} clean opens by 8 processes in 30 s; RSS KiB each second: {samples:?}"
    );
    assert!(total > 0);
    d.seen_or_wait_log("reloaded");
}
