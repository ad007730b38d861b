//! The verdict cache: `vigil scan --cache FILE`, `vigil cache`, and the
//! daemon's cache in its `state_dir`. What a scan read is told by its
//! summary's `hashed`, `bytes_hashed` and `from_cache` counts (a file
//! answered from the cache is never opened). A `chmod` cannot make a file
//! unreadable to show it, since it changes the file's ctime, hence its key:
//! the counters are the proof, and the container tests scan as a user that
//! loses the group that could read the files.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil::hash::Algorithm;

use crate::testenv::{hex, Daemon, Rng, TestEnv, GUARD, NOBODY};

/// Files in the test tree.
const FILES: usize = 24;

/// A `.vsig` line matching `data` by `algo`, any size.
fn sig(algo: Algorithm, data: &[u8], name: &str) -> String {
    format!("{}:{}:*:{name}\n", algo.name(), hex(algo, data))
}

/// The content of file `i` of the tree.
fn content(i: usize) -> Vec<u8> {
    format!("harmless file number {i:04}\n").into_bytes()
}

/// Bytes of the same length as every file of the tree, matched by `EVIL`.
const EVIL: &[u8] = b"evil payload, same len!!!\n";

/// A tree `d/` of `FILES` small files, and databases: `none.vsig` matches
/// nothing in it, `evil.vsig` matches `EVIL`.
fn tree() -> TestEnv {
    assert_eq!(EVIL.len(), content(0).len());
    let env = TestEnv::new();
    for i in 0..FILES {
        env.write(format!("d/f{i:02}"), content(i));
    }
    env.write(
        "none.vsig",
        sig(Algorithm::Sha256, b"in no file", "Nothing"),
    );
    env.write("evil.vsig", sig(Algorithm::Sha256, EVIL, "Test.Evil"));
    settle();
    env
}

/// Waits out the clock tick in which files were just written: a file
/// changed within the current tick is not remembered (see docs/cache.md).
fn settle() {
    std::thread::sleep(Duration::from_millis(30));
}

/// `vigil scan --json -d DB --cache cache.redb d`, with any extra arguments.
fn scan(env: &TestEnv, db: &str, extra: &[&str]) -> crate::testenv::Run {
    let mut args = vec!["--json", "-d", db, "--cache", "cache.redb"];
    args.extend_from_slice(extra);
    args.push("d");
    env.scan(args)
}

/// (hashed, bytes_hashed, from_cache) of a run's summary.
fn reads(run: &crate::testenv::Run) -> (u64, u64, u64) {
    let s = run.json_summary();
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    (n("hashed"), n("bytes_hashed"), n("from_cache"))
}

#[test]
fn unchanged_files_are_matched_from_the_cache_without_being_read() {
    let env = tree();
    let first = scan(&env, "none.vsig", &[]);
    first.assert_code(0);
    assert_eq!(
        reads(&first),
        (FILES as u64, (FILES * content(0).len()) as u64, 0)
    );
    let second = scan(&env, "none.vsig", &[]);
    second.assert_code(0);
    assert_eq!(reads(&second), (0, 0, FILES as u64), "{}", second.dump());
    assert_eq!(second.json_summary()["files"], FILES as u64);
}

#[test]
fn a_new_signature_detects_a_cached_clean_file_without_reading_it() {
    let env = tree();
    scan(&env, "none.vsig", &[]).assert_code(0);
    env.write(
        "more.vsig",
        format!(
            "{}{}",
            sig(Algorithm::Sha256, b"in no file", "Nothing"),
            sig(Algorithm::Sha256, &content(7), "Test.Seven")
        ),
    );
    let run = scan(&env, "more.vsig", &[]);
    run.assert_code(1);
    assert_eq!(reads(&run), (0, 0, FILES as u64), "not one file read");
    let found = run.json_of("detection");
    assert_eq!(found.len(), 1, "{}", run.dump());
    assert_eq!(found[0]["path"], "d/f07");
    assert_eq!(found[0]["signature"], "Test.Seven");
    assert_eq!(found[0]["digest"], hex(Algorithm::Sha256, &content(7)));
}

/// Sets `path`'s mtime with `touch -d @SECS.NANOS`.
fn touch_mtime(path: &Path, sec: i64, nsec: i64) {
    let status = Command::new("touch")
        .arg("-d")
        .arg(format!("@{sec}.{nsec:09}"))
        .arg(path)
        .status()
        .expect("run touch");
    assert!(status.success());
}

#[test]
fn a_rewrite_with_its_mtime_put_back_is_seen_by_its_ctime() {
    let env = tree();
    scan(&env, "evil.vsig", &[]).assert_code(0);
    let path = env.path("d/f03");
    let before = fs::metadata(&path).unwrap();
    fs::write(&path, EVIL).unwrap();
    touch_mtime(&path, before.mtime(), before.mtime_nsec());
    let after = fs::metadata(&path).unwrap();
    assert_eq!(
        (after.ino(), after.len(), after.mtime(), after.mtime_nsec()),
        (
            before.ino(),
            before.len(),
            before.mtime(),
            before.mtime_nsec()
        ),
        "same inode, size and mtime: only the ctime tells"
    );
    settle();
    let run = scan(&env, "evil.vsig", &[]);
    run.assert_code(1);
    assert_eq!(
        run.detection_paths().into_iter().collect::<Vec<_>>(),
        ["d/f03"]
    );
    assert_eq!(reads(&run).0, 1, "the changed file alone was read");
}

#[test]
fn a_file_replaced_by_another_is_read_again() {
    let env = tree();
    scan(&env, "evil.vsig", &[]).assert_code(0);
    let path = env.path("d/f05");
    let before = fs::metadata(&path).unwrap();
    let new = env.write("d/.incoming", EVIL);
    touch_mtime(&new, before.mtime(), before.mtime_nsec());
    fs::rename(&new, &path).unwrap();
    assert_ne!(fs::metadata(&path).unwrap().ino(), before.ino());
    settle();
    let run = scan(&env, "evil.vsig", &[]);
    run.assert_code(1);
    assert_eq!(
        run.detection_paths().into_iter().collect::<Vec<_>>(),
        ["d/f05"]
    );
    assert_eq!(reads(&run).0, 1);
}

#[test]
fn a_set_needing_another_algorithm_reads_each_file_once_more_then_never() {
    let env = tree();
    env.write(
        "md5.vsig",
        sig(Algorithm::Md5, b"in no file", "Nothing.Md5"),
    );
    let n = FILES as u64;
    assert_eq!(reads(&scan(&env, "none.vsig", &[])).0, n, "sha256: read");
    assert_eq!(
        reads(&scan(&env, "md5.vsig", &[])).0,
        n,
        "md5 too: read once more"
    );
    assert_eq!(
        reads(&scan(&env, "md5.vsig", &[])),
        (0, 0, n),
        "then not again"
    );
    assert_eq!(
        reads(&scan(&env, "none.vsig", &[])),
        (0, 0, n),
        "sha256 was kept"
    );
    // Both at once, and a match by md5 among them.
    env.write(
        "both.vsig",
        format!(
            "{}{}",
            sig(Algorithm::Sha256, b"in no file", "Nothing"),
            sig(Algorithm::Md5, &content(11), "Test.Md5")
        ),
    );
    let run = scan(&env, "both.vsig", &[]);
    run.assert_code(1);
    assert_eq!(reads(&run), (0, 0, n));
    assert_eq!(
        run.detection_paths().into_iter().collect::<Vec<_>>(),
        ["d/f11"]
    );
}

#[test]
fn a_cached_detection_is_moved_to_quarantine_after_its_identity_is_checked() {
    let env = tree();
    env.write("d/f01", EVIL);
    settle();
    scan(&env, "none.vsig", &[]).assert_code(0);
    let run = scan(&env, "evil.vsig", &["--move", "vault"]);
    run.assert_code(1);
    assert_eq!(reads(&run).0, 0, "answered from the cache");
    let found = run.json_of("detection");
    assert_eq!(found.len(), 1, "{}", run.dump());
    assert!(found[0]["quarantine"]["id"].is_string(), "{}", run.dump());
    assert!(!env.path("d/f01").exists());
}

/// The detections of a scan of the tree without any cache.
fn truth(env: &TestEnv, db: &str) -> std::collections::BTreeSet<String> {
    let run = env.scan(["--json", "-d", db, "d"]);
    run.detection_paths()
}

/// A tree with some detected files, and its cache filled by one scan.
fn cached_tree() -> TestEnv {
    let env = tree();
    for i in [2, 9, 17] {
        env.write(format!("d/f{i:02}"), EVIL);
    }
    settle();
    scan(&env, "evil.vsig", &[]).assert_code(1);
    env
}

/// Scans the tree with its (damaged) cache twice: both must give the
/// detections a scan without the cache gives, with no panic.
fn assert_right_results(env: &TestEnv, what: &str) -> String {
    let want = truth(env, "evil.vsig");
    assert_eq!(want.len(), 3);
    let mut stderr = String::new();
    for round in 0..2 {
        let run = scan(env, "evil.vsig", &[]);
        assert_eq!(run.code(), 1, "{what}, round {round}: {}", run.dump());
        assert_eq!(run.detection_paths(), want, "{what}, round {round}");
        assert!(!run.stderr().contains("panicked"), "{what}: {}", run.dump());
        stderr += &run.stderr();
    }
    stderr
}

#[test]
fn a_scan_killed_midway_leaves_a_cache_that_opens_and_gives_the_right_results() {
    let env = cached_tree();
    // Half the files change: the next scan reads them and writes new
    // entries, which it commits but does not yet make durable.
    for i in (0..FILES).step_by(2) {
        let bytes = if i % 4 == 0 {
            EVIL.to_vec()
        } else {
            content(i + 100)
        };
        env.write(format!("d/f{i:02}"), bytes);
    }
    settle();
    // That scan also reads its standard input, which stays open: it is
    // killed there, after its tree was read and its entries committed.
    let mut child = env
        .command()
        .args(["scan", "-d", "evil.vsig", "--cache", "cache.redb", "d", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start vigil scan");
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().expect("kill the scan");
    child.wait().expect("reap the scan");

    let want = truth(&env, "evil.vsig");
    assert_eq!(
        want.len(),
        FILES / 4 + 2,
        "f09 and f17 as before, and every fourth file"
    );
    let after = scan(&env, "evil.vsig", &[]);
    assert_eq!(after.code(), 1, "{}", after.dump());
    assert_eq!(after.detection_paths(), want);
    assert!(
        !after.stderr().contains("set aside") && !after.stderr().contains("cache not used"),
        "the cache opens as it is: {}",
        after.dump()
    );
    let (_, _, from_cache) = reads(&after);
    assert!(
        from_cache >= (FILES / 2) as u64,
        "the unchanged files' entries, made durable before, are kept: {}",
        after.dump()
    );
    let again = scan(&env, "evil.vsig", &[]);
    assert_eq!(again.detection_paths(), want);
    assert_eq!(reads(&again), (0, 0, FILES as u64), "{}", again.dump());
}

#[test]
fn random_bytes_written_into_the_cache_file_change_no_result() {
    for seed in 1..=3u64 {
        let env = cached_tree();
        let path = env.path("cache.redb");
        let mut bytes = fs::read(&path).unwrap();
        let mut rng = Rng::new(seed);
        for _ in 0..50 {
            let at = rng.range(0, bytes.len() as u64) as usize;
            bytes[at] = rng.next_u64() as u8;
        }
        fs::write(&path, &bytes).unwrap();
        assert_right_results(&env, &format!("seed {seed}"));
    }
}

#[test]
fn a_truncated_cache_file_is_set_aside_and_a_new_one_started() {
    for keep in [100u64, 4096, 0] {
        let env = cached_tree();
        let path = env.path("cache.redb");
        let len = fs::metadata(&path).unwrap().len();
        let keep = if keep == 0 { len / 2 } else { keep };
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(keep)
            .unwrap();
        let stderr = assert_right_results(&env, &format!("truncated to {keep}"));
        assert!(stderr.contains("set aside"), "{stderr}");
        assert!(aside_files(&env) >= 1);
    }
}

/// Files set aside beside the cache.
fn aside_files(env: &TestEnv) -> usize {
    fs::read_dir(env.root())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("cache.redb.bad-")
        })
        .count()
}

#[test]
fn a_file_of_another_format_is_kept_aside_untouched() {
    let env = tree();
    for i in [2, 9, 17] {
        env.write(format!("d/f{i:02}"), EVIL);
    }
    let theirs = b"SQLite format 3\0not a vigil cache at all".repeat(100);
    env.write("cache.redb", &theirs);
    settle();
    let stderr = assert_right_results(&env, "another format");
    assert!(stderr.contains("set aside"), "{stderr}");
    let aside: Vec<_> = fs::read_dir(env.root())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("cache.redb.bad-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        fs::read(&aside[0]).unwrap(),
        theirs,
        "nothing the user owns is lost"
    );
}

#[test]
fn a_read_only_cache_folder_gives_a_warning_and_the_same_results() {
    let env = tree();
    for i in [4, 8] {
        env.write(format!("d/f{i:02}"), EVIL);
    }
    env.mkdir("ro");
    env.chmod("ro", 0o555);
    let want = truth(&env, "evil.vsig");
    for _ in 0..2 {
        let run =
            env.scan_as_nobody(["--json", "-d", "evil.vsig", "--cache", "ro/cache.redb", "d"]);
        assert_eq!(run.code(), 1, "{}", run.dump());
        assert_eq!(run.detection_paths(), want);
        assert!(run.stderr().contains("cache not used"), "{}", run.dump());
    }
    // A damaged cache in a folder where it cannot be set aside: the same.
    env.chmod("ro", 0o755);
    env.write("ro/cache.redb", b"garbage".repeat(1000));
    std::os::unix::fs::chown(env.path("ro/cache.redb"), Some(NOBODY), Some(NOBODY)).unwrap();
    env.chmod("ro", 0o555);
    let run = env.scan_as_nobody(["--json", "-d", "evil.vsig", "--cache", "ro/cache.redb", "d"]);
    assert_eq!(run.code(), 1, "{}", run.dump());
    assert_eq!(run.detection_paths(), want);
    assert!(
        run.stderr().contains("cannot be set aside"),
        "{}",
        run.dump()
    );
    assert_eq!(
        fs::read(env.path("ro/cache.redb")).unwrap(),
        b"garbage".repeat(1000)
    );
}

#[test]
fn a_cache_file_others_could_write_is_not_used() {
    let env = cached_tree();
    env.chmod("cache.redb", 0o666);
    let run = scan(&env, "evil.vsig", &[]);
    run.assert_code(1);
    assert_eq!(run.detection_paths().len(), 3);
    assert!(
        run.stderr().contains("can be written by other users"),
        "{}",
        run.dump()
    );
    assert_eq!(reads(&run).2, 0, "nothing taken from it");
    env.chmod("cache.redb", 0o644);
    assert_eq!(reads(&scan(&env, "evil.vsig", &[])).2, FILES as u64);
}

#[test]
fn a_cache_held_by_another_process_is_waited_for_then_done_without() {
    let env = cached_tree();
    let held = fs::File::open(env.path("cache.redb")).unwrap();
    // The lock redb takes: an exclusive flock on the file.
    // SAFETY: flock(2) on a descriptor we own.
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let before = fs::read(env.path("cache.redb")).unwrap();
    let began = Instant::now();
    let run = scan(&env, "evil.vsig", &[]);
    assert!(
        began.elapsed() >= Duration::from_secs(2),
        "waited briefly first"
    );
    run.assert_code(1);
    assert_eq!(run.detection_paths().len(), 3);
    assert!(
        run.stderr().contains("in use by another process"),
        "{}",
        run.dump()
    );
    assert_eq!(reads(&run).2, 0, "ran without the cache");
    assert_eq!(
        fs::read(env.path("cache.redb")).unwrap(),
        before,
        "left alone"
    );
    drop(held);
    assert_eq!(reads(&scan(&env, "evil.vsig", &[])).2, FILES as u64);
}

#[test]
fn the_cache_command_shows_prunes_and_clears() {
    let env = cached_tree();
    let stats = env.vigil(["cache", "--file", "cache.redb", "stats", "--json"]);
    stats.assert_code(0);
    let s: Value = serde_json::from_str(stats.stdout().trim()).unwrap();
    assert_eq!(s["entries"], FILES as u64);
    assert_eq!(s["damaged"], 0);
    env.vigil([
        "cache",
        "--file",
        "cache.redb",
        "prune",
        "--older-than",
        "30d",
    ])
    .assert_code(0);
    assert_eq!(
        reads(&scan(&env, "evil.vsig", &[])).2,
        FILES as u64,
        "nothing pruned"
    );
    let cleared = env.vigil(["cache", "--file", "cache.redb", "clear"]);
    cleared.assert_code(0);
    assert!(cleared
        .stdout()
        .contains(&format!("{FILES} entries removed")));
    assert_eq!(
        reads(&scan(&env, "evil.vsig", &[])).0,
        FILES as u64,
        "read again"
    );
    let missing = env.vigil(["cache", "--file", "nowhere.redb", "stats"]);
    missing.assert_code(2);
}

/// `vigil daemon` watching `env/w` with its state in `env/state`, matching
/// `evil.vsig`.
fn daemon(env: TestEnv) -> Daemon {
    let root = env.path("w");
    let state = env.mkdir("state");
    let db = env.path("evil.vsig");
    Daemon::builder()
        .args([
            "--watch".as_ref(),
            root.as_os_str(),
            "--state-dir".as_ref(),
            state.as_os_str(),
            "-d".as_ref(),
            db.as_os_str(),
            "--settle".as_ref(),
            "200ms".as_ref(),
        ])
        .env(env)
        .start()
}

/// A watched tree `w/` of `n` files, one of them `EVIL`.
fn watched_tree(n: usize) -> TestEnv {
    let env = TestEnv::new();
    for i in 0..n {
        let body = if i == 3 { EVIL.to_vec() } else { content(i) };
        env.write(format!("w/{:02}/f{i:04}", i % 16), body);
    }
    env.write("evil.vsig", sig(Algorithm::Sha256, EVIL, "Test.Evil"));
    settle();
    env
}

/// Waits for the initial scan's detection and for the daemon to be idle;
/// returns its statistics.
fn initial(d: &mut Daemon) -> Value {
    let ev = d.next_event(GUARD).expect("the initial scan's detection");
    assert_eq!(ev["source"], "initial");
    assert!(ev["path"].as_str().unwrap().ends_with("/f0003"));
    d.wait_idle()
}

#[test]
fn a_restarted_daemon_matches_its_tree_from_the_cache() {
    let n = 200;
    let env = watched_tree(n);
    let mut d = daemon(env);
    let first = initial(&mut d);
    assert_eq!(first["hashed"], n as u64, "{first}");
    let env = d.stop_keeping_env();
    let mut d = daemon(env);
    let second = initial(&mut d);
    assert_eq!(second["hashed"], 0, "{second}");
    assert_eq!(second["from_cache"], n as u64, "{second}");
    assert!(d.stop().success());
}

#[test]
fn a_reload_reports_a_newly_matching_cached_file_without_reading_it() {
    let n = 40;
    let env = watched_tree(n);
    let mut d = daemon(env);
    let first = initial(&mut d);
    assert_eq!(first["hashed"], n as u64);
    let db = d.env.path("evil.vsig");
    fs::write(
        &db,
        format!(
            "{}{}",
            sig(Algorithm::Sha256, EVIL, "Test.Evil"),
            sig(Algorithm::Sha256, &content(7), "Test.Seven")
        ),
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    let ev = d
        .next_event(GUARD)
        .expect("the new detection after the reload");
    assert_eq!(ev["source"], "reload", "{ev}");
    assert!(ev["path"].as_str().unwrap().ends_with("/f0007"), "{ev}");
    assert_eq!(ev["signature"], "Test.Seven", "{ev}");
    let after = d.wait_idle();
    assert_eq!(after["hashed"], n as u64, "nothing read again: {after}");
    assert_eq!(after["from_cache"], n as u64, "{after}");
    // f0003 matched again, but was reported before the reload.
    if let Some(again) = d.next_event(Duration::from_millis(500)) {
        panic!("reported again after the reload: {again}");
    }
    // Another reload that adds nothing reports nothing.
    d.signal(libc::SIGHUP);
    d.wait_log("reloaded");
    let idle = d.wait_idle();
    assert_eq!(idle["from_cache"], 2 * n as u64, "{idle}");
    if let Some(again) = d.next_event(Duration::from_millis(500)) {
        panic!("reported again after the second reload: {again}");
    }
    assert!(d.stop().success());
}

#[test]
fn a_control_client_is_refused_a_cached_file_it_may_not_open() {
    let env = TestEnv::new();
    let state = env.mkdir("state");
    env.mkdir("shut");
    let secret = env.write("shut/secret", EVIL);
    let open = env.write("open/plain", EVIL);
    env.write("evil.vsig", sig(Algorithm::Sha256, EVIL, "Test.Evil"));
    settle();
    let mut d = Daemon::builder()
        .env(env)
        .config(&format!(
            "state_dir = {:?}\ndatabases = [{:?}]\nsocket_mode = \"0666\"\n",
            state.to_str().unwrap(),
            secret
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("evil.vsig")
                .to_str()
                .unwrap()
        ))
        .start();
    // Root's scans fill the cache.
    for p in [&secret, &open] {
        let run = d.ctl(&["scan", p.to_str().unwrap()]);
        assert_eq!(run.code(), 1, "{}", run.dump());
    }
    // Writes are committed in batches; a reload commits what is pending.
    d.signal(libc::SIGHUP);
    d.wait_log("reloaded");
    let filled = d.wait_idle();
    // The folder is shut (the file itself, and so its key, is unchanged).
    d.env.chmod("shut", 0o700);
    let refused = d.ctl_as_nobody(&["scan", secret.to_str().unwrap()]);
    assert_eq!(refused.code(), 2, "{}", refused.dump());
    assert!(!refused.stdout().contains("FOUND"), "{}", refused.dump());
    let allowed = d.ctl_as_nobody(&["scan", open.to_str().unwrap()]);
    assert_eq!(allowed.code(), 1, "{}", allowed.dump());
    let after = d.wait_idle();
    assert_eq!(
        after["from_cache"].as_u64().unwrap(),
        filled["from_cache"].as_u64().unwrap() + 1,
        "the readable file was answered from the cache after its open: {after}"
    );
    assert!(d.stop().success());
}

// Containers. Their members' names, sizes and digests are kept in their
// entry, so an unchanged container is judged without being opened. These
// tests make the files unreadable to the second scan without touching them
// (a `chmod` would change their ctime, hence their key): the files belong
// to a group the first scan runs in and the second does not.

/// The group that may read the archives of `archive_tree`.
const READERS: u32 = 4242;

/// A member of `a.zip`, matched by `one.vsig`.
const NASTY: &[u8] = b"nasty member of a zip\n";
/// A member of a tar in a gzip in `b.zip`, matched by `two.vsig` only.
const DEEP: &[u8] = b"deep member, a tar in a gzip in a zip\n";
/// A member of `b.zip` of a length no other file has, matched by md5 in
/// `md5.vsig` only.
const ODD: &[u8] = b"odd-sized member!\n";

/// `d/` with archives (`a.zip` holding `NASTY`, `b.zip` holding `DEEP`
/// three levels down and `ODD`, `c.tar.gz`, and `many.zip` of `members`
/// small members) and plain files, readable by root and group `READERS`
/// only; and databases: `one.vsig` matches `NASTY`, `two.vsig` also `DEEP`,
/// `md5.vsig` also `ODD` by md5 at its size.
fn archive_tree(members: usize) -> TestEnv {
    let env = TestEnv::new();
    env.write("d/plain.txt", b"plain text\n");
    env.write("d/other.bin", Rng::new(3).bytes(5000));
    env.write("nasty", NASTY);
    env.write("deep", DEEP);
    env.write("odd", ODD);
    let script = r#"
import sys, os, io, zipfile, tarfile, gzip
root = sys.argv[1]
members = int(sys.argv[2])
read = lambda n: open(os.path.join(root, n), 'rb').read()
def tar(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode='w', format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_600_000_000
            t.addfile(info, io.BytesIO(data))
    return b.getvalue()
def zip_(path, files):
    with zipfile.ZipFile(os.path.join(root, 'd', path), 'w', zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            z.writestr(name, data)
zip_('a.zip', [('readme.txt', b'hello'), ('bad/nasty.bin', read('nasty'))])
inner = gzip.compress(tar([('x.txt', b'x' * 300), ('deep.bin', read('deep'))]), mtime=0)
zip_('b.zip', [('notes.txt', b'notes'), ('inner.tar.gz', inner), ('odd.bin', read('odd'))])
open(os.path.join(root, 'd', 'c.tar.gz'), 'wb').write(
    gzip.compress(tar([('one', b'1' * 100), ('two', b'2' * 200)]), mtime=0))
zip_('many.zip', [('m%05d.txt' % i, b'%d' % i) for i in range(members)])
"#;
    env.python(script, &[&members.to_string()]);
    for entry in fs::read_dir(env.path("d")).unwrap() {
        let path = entry.unwrap().path();
        std::os::unix::fs::chown(&path, Some(0), Some(READERS)).unwrap();
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    }
    let one = sig(Algorithm::Sha256, NASTY, "Test.Nasty");
    let two = format!("{one}{}", sig(Algorithm::Sha256, DEEP, "Test.Deep"));
    let md5 = format!(
        "{one}md5:{}:{}:Test.Odd\n",
        hex(Algorithm::Md5, ODD),
        ODD.len()
    );
    env.write("one.vsig", one);
    env.write("two.vsig", two);
    env.write("md5.vsig", md5);
    // The cache belongs to the user scanning (`nobody`).
    let c = env.mkdir("c");
    std::os::unix::fs::chown(&c, Some(NOBODY), Some(NOBODY)).unwrap();
    fs::set_permissions(&c, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    settle();
    env
}

/// `vigil scan --json -d DB --cache c/cache.redb d` as `nobody`, in group
/// `READERS` (`readable`) or in no group (the archives cannot be opened).
fn scan_as_reader(env: &TestEnv, db: &str, readable: bool) -> crate::testenv::Run {
    scan_as_reader_with(env, db, readable, &[])
}

/// `scan_as_reader` with `extra` arguments.
fn scan_as_reader_with(
    env: &TestEnv,
    db: &str,
    readable: bool,
    extra: &[&str],
) -> crate::testenv::Run {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"));
    if readable {
        cmd.arg(format!("--groups={READERS}"));
    } else {
        cmd.arg("--clear-groups");
    }
    cmd.arg(env.public_bin(".vigil-bin"))
        .current_dir(env.root())
        .args(["scan", "--json", "-d", db, "--cache", "c/cache.redb"])
        .args(extra)
        .arg("d");
    crate::testenv::run(cmd, None)
}

/// The detections of a run, as printed, sorted by path.
fn detections(run: &crate::testenv::Run) -> Vec<Value> {
    let mut found = run.json_of("detection");
    found.sort_by(|a, b| a["path"].to_string().cmp(&b["path"].to_string()));
    found
}

/// What a scan's summary says was found and looked at.
fn verdicts(run: &crate::testenv::Run) -> Vec<(&'static str, Value)> {
    let s = run.json_summary();
    [
        "files",
        "detections",
        "errors",
        "containers",
        "members",
        "limits_exceeded",
    ]
    .into_iter()
    .map(|k| (k, s[k].clone()))
    .collect()
}

#[test]
fn an_unchanged_container_is_judged_from_the_cache_without_being_opened() {
    let env = archive_tree(5);
    let first = scan_as_reader(&env, "one.vsig", true);
    assert_eq!(first.code(), 1, "{}", first.dump());
    let found = detections(&first);
    assert_eq!(found.len(), 1, "{}", first.dump());
    assert_eq!(found[0]["path"], "d/a.zip");
    assert_eq!(found[0]["member"], serde_json::json!(["bad/nasty.bin"]));
    assert_eq!(first.json_summary()["errors"], 0, "{}", first.dump());

    // Nothing can be opened now: every verdict comes from the cache, the
    // same as the first scan's.
    let again = scan_as_reader(&env, "one.vsig", false);
    assert_eq!(again.code(), 1, "{}", again.dump());
    assert_eq!(detections(&again), found);
    assert_eq!(verdicts(&again), verdicts(&first), "{}", again.dump());
    let files = first.json_summary()["files"].as_u64().unwrap();
    assert_eq!(reads(&again), (0, 0, files), "{}", again.dump());

    // A new signature matching a member three levels down: found from the
    // cache, as a scan that reads everything finds it.
    let truth = env.scan(["--json", "-d", "two.vsig", "d"]);
    assert_eq!(truth.code(), 1, "{}", truth.dump());
    let want = detections(&truth);
    assert_eq!(want.len(), 2, "{}", truth.dump());
    assert_eq!(want[1]["path"], "d/b.zip", "{}", truth.dump());
    let chain = want[1]["member"].as_array().unwrap();
    assert_eq!(chain.first().unwrap(), "inner.tar.gz", "{}", truth.dump());
    assert_eq!(chain.last().unwrap(), "deep.bin", "{}", truth.dump());
    let newer = scan_as_reader(&env, "two.vsig", false);
    assert_eq!(newer.code(), 1, "{}", newer.dump());
    assert_eq!(detections(&newer), want);
    assert_eq!(verdicts(&newer), verdicts(&truth), "{}", newer.dump());
    assert_eq!(reads(&newer), (0, 0, files), "{}", newer.dump());
}

#[test]
fn a_member_needing_another_algorithm_reads_its_container_once_more_then_never() {
    let env = archive_tree(5);
    scan_as_reader(&env, "one.vsig", true).assert_code(1);
    // `md5.vsig` needs md5 at `ODD`'s length, which only a member of
    // `b.zip` has: that container alone is read again.
    let first = scan_as_reader(&env, "md5.vsig", true);
    assert_eq!(first.code(), 1, "{}", first.dump());
    let files = first.json_summary()["files"].as_u64().unwrap();
    assert_eq!(reads(&first).0, 1, "{}", first.dump());
    let found = detections(&first);
    assert_eq!(found.len(), 2, "{}", first.dump());
    assert_eq!(found[1]["path"], "d/b.zip");
    assert_eq!(found[1]["signature"], "Test.Odd");
    assert_eq!(found[1]["member"], serde_json::json!(["odd.bin"]));
    // Then neither set reads anything, and both find what they found.
    let again = scan_as_reader(&env, "md5.vsig", false);
    assert_eq!(detections(&again), found, "{}", again.dump());
    assert_eq!(reads(&again), (0, 0, files), "{}", again.dump());
    let back = scan_as_reader(&env, "one.vsig", false);
    assert_eq!(back.code(), 1, "{}", back.dump());
    assert_eq!(detections(&back), found[..1], "{}", back.dump());
    assert_eq!(reads(&back), (0, 0, files), "{}", back.dump());
}

#[test]
fn a_container_of_more_members_than_a_record_holds_is_read_at_every_scan() {
    for (members, read_again) in [(1_000, 0), (1_001, 1)] {
        let env = archive_tree(members);
        let first = scan_as_reader(&env, "one.vsig", true);
        first.assert_code(1);
        let files = first.json_summary()["files"].as_u64().unwrap();
        let again = scan_as_reader(&env, "one.vsig", true);
        again.assert_code(1);
        assert_eq!(
            reads(&again).0,
            read_again,
            "{members} members: {}",
            again.dump()
        );
        assert_eq!(reads(&again).2, files - read_again);
        assert_eq!(detections(&again), detections(&first));
        assert_eq!(verdicts(&again), verdicts(&first), "{}", again.dump());
    }
}

#[test]
fn a_damaged_container_entry_is_a_miss() {
    let env = archive_tree(5);
    let want = detections(&env.scan(["--json", "-d", "two.vsig", "d"]));
    scan_as_reader(&env, "one.vsig", true).assert_code(1);
    // Damage `b.zip`'s entry where it names a member.
    let cache = env.path("c/cache.redb");
    let mut bytes = fs::read(&cache).unwrap();
    let at = bytes
        .windows(b"deep.bin".len())
        .position(|w| w == b"deep.bin")
        .expect("the member's name is in the cache file");
    bytes[at] ^= 0x01;
    fs::write(&cache, &bytes).unwrap();
    let run = scan_as_reader(&env, "two.vsig", true);
    assert_eq!(run.code(), 1, "{}", run.dump());
    assert_eq!(detections(&run), want, "{}", run.dump());
    assert!(reads(&run).0 >= 1, "b.zip read again: {}", run.dump());
    // Written again, it is found again.
    let files = run.json_summary()["files"].as_u64().unwrap();
    let again = scan_as_reader(&env, "two.vsig", false);
    assert_eq!(detections(&again), want, "{}", again.dump());
    assert_eq!(reads(&again), (0, 0, files), "{}", again.dump());
}

/// A file of a size no signature has is opened only to look at its first
/// bytes (is it a container?); once the cache knows it is not, it is not
/// opened again. A container of such a size is unpacked once, then judged
/// from its members.
#[test]
fn a_file_known_not_to_be_a_container_is_never_opened_again_for_its_magic() {
    let env = archive_tree(5);
    // Signatures at `NASTY`'s length only: no file of the tree has it.
    env.write(
        "sized.vsig",
        format!(
            "sha256:{}:{}:Test.Nasty\n",
            hex(Algorithm::Sha256, NASTY),
            NASTY.len()
        ),
    );
    let first = scan_as_reader(&env, "sized.vsig", true);
    assert_eq!(first.code(), 1, "{}", first.dump());
    let s = first.json_summary();
    let files = s["files"].as_u64().unwrap();
    // The containers are counted as hashed (they were unpacked), the
    // others as cleared by size (only their first bytes were read).
    assert_eq!(s["bytes_hashed"], 0, "{}", first.dump());
    assert_eq!(s["cleared_by_size"], 2, "{}", first.dump());
    assert_eq!(s["hashed"], files - 2, "{}", first.dump());
    assert_eq!(detections(&first)[0]["path"], "d/a.zip");
    let again = scan_as_reader(&env, "sized.vsig", false);
    assert_eq!(again.code(), 1, "{}", again.dump());
    let s = again.json_summary();
    assert_eq!(s["cleared_by_size"], 0, "{}", again.dump());
    assert_eq!(reads(&again), (0, 0, files), "{}", again.dump());
    assert_eq!(detections(&again), detections(&first));
    assert_eq!(verdicts(&again), verdicts(&first), "{}", again.dump());
}

/// A container cut short by a limit is cut short the same way from the
/// cache: the same count, and with `--alert-exceeds-max` the same
/// detection; other limits are another unpacking, read again.
#[test]
fn a_limit_reached_in_a_container_is_reported_the_same_from_the_cache() {
    let env = archive_tree(8);
    for extra in [
        &["--max-files", "4"][..],
        &["--max-files", "4", "--alert-exceeds-max"],
    ] {
        let first = scan_as_reader_with(&env, "one.vsig", true, extra);
        let again = scan_as_reader_with(&env, "one.vsig", false, extra);
        assert_eq!(again.code(), first.code(), "{extra:?}: {}", again.dump());
        assert_eq!(detections(&again), detections(&first), "{extra:?}");
        assert_eq!(
            verdicts(&again),
            verdicts(&first),
            "{extra:?}: {}",
            again.dump()
        );
        assert_eq!(
            again.json_summary()["limits_exceeded"],
            1,
            "{}",
            again.dump()
        );
        assert_eq!(reads(&again).0, 0, "{extra:?}: {}", again.dump());
    }
    let alert = scan_as_reader_with(
        &env,
        "one.vsig",
        false,
        &["--max-files", "4", "--alert-exceeds-max"],
    );
    let found = detections(&alert);
    assert!(
        found.iter().any(|d| d["path"] == "d/many.zip"
            && d["signature"] == "Heuristics.Limits.Exceeded.MaxFiles"),
        "{}",
        alert.dump()
    );
    // Another limit: the record says nothing, the containers are read.
    let other = scan_as_reader_with(&env, "one.vsig", true, &["--max-files", "5"]);
    assert!(reads(&other).0 >= 1, "{}", other.dump());
}

#[test]
fn a_reload_finds_a_new_signature_in_a_cached_container_without_reading_it() {
    let n = 20;
    let env = watched_tree(n);
    env.write("deep", DEEP);
    env.python(
        r#"
import sys, os, io, zipfile, tarfile
root = sys.argv[1]
b = io.BytesIO()
with tarfile.open(fileobj=b, mode='w') as t:
    data = open(os.path.join(root, 'deep'), 'rb').read()
    info = tarfile.TarInfo('deep.bin')
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))
with zipfile.ZipFile(os.path.join(root, 'w', 'box.zip'), 'w') as z:
    z.writestr('readme.txt', b'hello')
    z.writestr('inner.tar', b.getvalue())
"#,
        &[],
    );
    settle();
    let mut d = daemon(env);
    let first = initial(&mut d);
    assert_eq!(first["hashed"], n as u64 + 1, "{first}");
    fs::write(
        d.env.path("evil.vsig"),
        format!(
            "{}{}",
            sig(Algorithm::Sha256, EVIL, "Test.Evil"),
            sig(Algorithm::Sha256, DEEP, "Test.Deep")
        ),
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    let ev = d
        .next_event(GUARD)
        .expect("the member found after the reload");
    assert_eq!(ev["source"], "reload", "{ev}");
    assert!(ev["path"].as_str().unwrap().ends_with("/box.zip"), "{ev}");
    assert_eq!(
        ev["member"],
        serde_json::json!(["inner.tar", "deep.bin"]),
        "{ev}"
    );
    let after = d.wait_idle();
    assert_eq!(after["hashed"], n as u64 + 1, "nothing read again: {after}");
    assert_eq!(after["from_cache"], n as u64 + 1, "{after}");
    assert!(d.stop().success());
}
