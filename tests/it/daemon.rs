//! `vigil daemon` end to end: the real binary, real trees, real signals. Each
//! test starts a daemon with `testenv::Daemon`, which waits for `READY=1` on a
//! `NOTIFY_SOCKET`, and then waits for events (detections on stdout, JSON logs
//! on stderr) — never for a fixed time. Timeouts are only hang guards,
//! generous for a loaded machine.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::testenv::{vigil_bin, Daemon, EICAR, GUARD};

fn write(path: &Path, content: &[u8]) {
    fs::write(path, content).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn watch_args<'a>(root: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--watch", s(root), "--settle", "200ms", "--no-initial-scan"];
    args.extend_from_slice(extra);
    args
}

#[test]
fn detects_a_new_file_within_a_second_after_settling() {
    let root = tempfile::tempdir().unwrap();
    let d = Daemon::start(watch_args(root.path(), &[]));
    let path = root.path().join("eicar.com");
    write(&path, EICAR);
    let closed = Instant::now();
    let ev = d.next_event(GUARD).expect("a detection");
    let latency = closed.elapsed();
    assert_eq!(ev["type"], "detection");
    assert_eq!(ev["path"], s(&path));
    assert_eq!(ev["source"], "watch");
    assert_eq!(ev["signature"], "Eicar-Test-Signature");
    assert_eq!(ev["size"], 68);
    assert!(ev["time"].as_str().unwrap().ends_with('Z'));
    assert!(
        latency < Duration::from_millis(200) + Duration::from_secs(1),
        "{latency:?} from close to event"
    );
    assert!(d.stop().success());
}

#[test]
fn a_file_written_slowly_is_scanned_once_when_complete() {
    let root = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(watch_args(root.path(), &[]));
    let path = root.path().join("slow.com");
    let mut f = fs::File::create(&path).unwrap();
    // Pauses longer than the settle time, with the file held open: only the
    // close says it is complete. A scan before then would see a partial,
    // clean file and count it.
    for chunk in EICAR.chunks(17) {
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(f);
    let seen = d.detections(1, GUARD);
    assert_eq!(seen[s(&path)], 1);
    let stats = d.wait_idle();
    assert_eq!(stats["files"], 1, "scanned once: {stats}");
    assert_eq!(stats["detections"], 1);
    assert!(d.stop().success());
}

#[test]
fn ten_thousand_files_with_a_small_queue_are_each_reported_once() {
    let root = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(watch_args(root.path(), &["--queue-capacity", "64"]));
    let n = 10_000;
    let mut want = Vec::new();
    for i in 0..n {
        let p = root.path().join(format!("f{i:05}.com"));
        write(&p, EICAR);
        want.push(p);
    }
    // Every report, by path and by source, until each file was seen.
    let mut reports: HashMap<String, Vec<String>> = HashMap::new();
    let note = |reports: &mut HashMap<String, Vec<String>>, ev: Value| {
        if ev["type"] == "detection" {
            let path = ev["path"].as_str().unwrap().to_string();
            let source = ev["source"].as_str().unwrap().to_string();
            reports.entry(path).or_default().push(source);
        }
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    while reports.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = d.next_event(left).unwrap_or_else(|| {
            panic!("only {} of {n} files reported", reports.len());
        });
        note(&mut reports, ev);
    }
    let stats = d.wait_idle();
    // Events are written before a job counts as done: anything reported
    // twice is in the pipe by now; the short wait only drains it.
    while let Some(ev) = d.next_event(Duration::from_millis(500)) {
        note(&mut reports, ev);
    }
    // A burst of 10,000 files is about 30,000 inotify events, more than the
    // kernel queue holds (fs.inotify.max_queued_events, 16384 by default) if
    // the daemon falls behind on a loaded machine. Then the kernel drops
    // events and the daemon walks the root again, as documented, and that
    // walk reports again files already reported: a second report is right
    // only then, and only from that walk.
    let overflows = stats["overflows"].as_u64().unwrap();
    let mut total = 0;
    for p in &want {
        let sources = reports.get(s(p)).map(Vec::as_slice).unwrap_or_default();
        total += sources.len();
        let watched = sources.iter().filter(|s| *s == "watch").count();
        assert!(watched <= 1, "{} reported {sources:?}", p.display());
        if sources.len() > 1 {
            assert!(
                overflows >= 1 && sources.iter().any(|s| s == "rescan"),
                "{} reported {sources:?} with no events lost: {stats}",
                p.display()
            );
        }
    }
    assert_eq!(reports.len(), n, "only the files written are reported");
    assert_eq!(stats["detections"], total, "{stats}");
    let rss = stats["rss_kib"].as_u64().unwrap();
    assert!(rss < 100 * 1024, "RSS {rss} KiB");
    assert!(d.stop().success());
}

#[test]
fn kernel_queue_overflow_rescans_and_misses_nothing() {
    let max: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let n = max + max / 8;
    assert!(
        n < 200_000,
        "max_queued_events is {max}: too many files to create here"
    );
    let root = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(watch_args(root.path(), &[]));
    d.signal(libc::SIGSTOP);
    // Files in the root itself: each is at least one event (create, modify,
    // close) for the watch on the root, more than the kernel queue holds.
    for i in 0..n {
        write(&root.path().join(format!("o{i:06}.com")), EICAR);
    }
    d.signal(libc::SIGCONT);
    let seen = d.detections(n, Duration::from_secs(600));
    assert_eq!(seen.len(), n);
    let stats = d.wait_idle();
    assert!(stats["overflows"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["rescans"].as_u64().unwrap() >= 1, "{stats}");
    assert!(d.stop().success());
}

#[test]
fn deep_new_folders_are_walked_and_all_files_found() {
    let root = tempfile::tempdir().unwrap();
    let d = Daemon::start(watch_args(root.path(), &[]));
    let mut want = Vec::new();
    let mut dir = root.path().to_path_buf();
    for level in 0..10 {
        dir.push(format!("level{level}"));
        fs::create_dir(&dir).unwrap();
        for i in 0..3 {
            let p = dir.join(format!("f{i}.com"));
            write(&p, EICAR);
            want.push(p);
        }
    }
    let seen = d.detections(want.len(), GUARD);
    for p in &want {
        assert!(seen.contains_key(s(p)), "missed {}", p.display());
    }
    assert!(d.stop().success());
}

#[test]
fn the_daemons_own_reads_cause_no_events_and_no_rescan() {
    let root = tempfile::tempdir().unwrap();
    let n = 20_000;
    for d in 0..20 {
        let dir = root.path().join(format!("d{d:02}"));
        fs::create_dir(&dir).unwrap();
        for i in 0..n / 20 {
            write(&dir.join(format!("f{i:04}.com")), EICAR);
        }
    }
    // The initial scan opens and reads all 20,000 files under the watch.
    let mut d = Daemon::start(["--watch", s(root.path()), "--settle", "200ms"]);
    let seen = d.detections(n, Duration::from_secs(600));
    assert!(seen.values().all(|&c| c == 1));
    let stats = d.wait_idle();
    assert_eq!(stats["files"], n, "{stats}");
    assert_eq!(stats["changes"], 0, "reads came back as changes: {stats}");
    assert_eq!(stats["rescans"], 0, "{stats}");
    assert_eq!(stats["overflows"], 0, "{stats}");
    assert!(d.stop().success());
}

#[test]
fn sighup_swaps_signatures_and_keeps_the_old_set_when_the_new_is_broken() {
    use vigil::hash::{hash_bytes, Algorithm};
    let root = tempfile::tempdir().unwrap();
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("test.vsig");
    let sig = |content: &[u8], name: &str| {
        format!(
            "md5:{}:{}:{name}\n",
            hash_bytes(Algorithm::Md5, content).to_hex(),
            content.len()
        )
    };
    write(&db, sig(b"alpha content", "Test.Alpha").as_bytes());
    let mut d = Daemon::start(watch_args(root.path(), &["-d", s(&db)]));

    write(&root.path().join("a1"), b"alpha content");
    let seen = d.detections(1, GUARD);
    assert!(seen.contains_key(s(&root.path().join("a1"))));

    // A new database: the new signature detects.
    write(
        &db,
        format!(
            "{}{}",
            sig(b"alpha content", "Test.Alpha"),
            sig(b"beta content", "Test.Beta")
        )
        .as_bytes(),
    );
    d.signal(libc::SIGHUP);
    let msg = d.wait_notify("RELOADING=1");
    assert!(msg.contains("MONOTONIC_USEC="), "{msg}");
    d.wait_notify("READY=1");
    d.wait_log("reloaded");
    write(&root.path().join("b1"), b"beta content");
    let ev = d.next_event(GUARD).unwrap();
    assert_eq!(ev["signature"], "Test.Beta");

    // A broken database: logged, and the old set still detects.
    write(&db, b"md5:nothex:12:Broken\n");
    d.signal(libc::SIGHUP);
    let err = d.wait_log("reload failed");
    assert_eq!(err["level"], "ERROR");
    assert!(
        err["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("test.vsig"),
        "{err}"
    );
    write(&root.path().join("b2"), b"beta content");
    let ev = d.next_event(GUARD).unwrap();
    assert_eq!(ev["signature"], "Test.Beta");
    assert!(d.stop().success());
}

/// Writes `config` (TOML) to `file`, sends SIGHUP and waits for the reload
/// to end (`READY=1`); returns the log line that says how it went.
fn reload(d: &mut Daemon, file: &Path, config: &str) -> Value {
    write(file, config.as_bytes());
    d.signal(libc::SIGHUP);
    d.wait_notify("RELOADING=1");
    d.wait_notify("READY=1");
    loop {
        let v = d.wait_log("re");
        let m = v["fields"]["message"].as_str().unwrap_or_default();
        if m.starts_with("reloaded") || m.starts_with("reload failed") {
            return v;
        }
    }
}

/// Once the daemon is idle, the paths of the detections it reported.
fn detected_when_idle(d: &mut Daemon) -> Vec<String> {
    d.wait_idle();
    let mut paths = Vec::new();
    // Events are written before a job counts as done: whatever was reported
    // is already in the pipe; the short wait only drains it.
    while let Some(ev) = d.next_event(Duration::from_millis(500)) {
        if ev["type"] == "detection" {
            paths.push(ev["path"].as_str().unwrap().to_string());
        }
    }
    paths
}

#[test]
fn sighup_applies_a_new_exclude() {
    let root = tempfile::tempdir().unwrap();
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("vigil.toml");
    write(&conf, b"");
    let mut d = Daemon::start(watch_args(root.path(), &["--config", s(&conf)]));
    let path = |name: &str| root.path().join(name).to_str().unwrap().to_string();

    write(&root.path().join("a.skip"), EICAR);
    assert!(d.detections(1, GUARD).contains_key(&path("a.skip")));

    let done = reload(&mut d, &conf, "exclude = [\"*.skip\"]\n");
    assert_eq!(
        done["fields"]["message"],
        "reloaded signatures and configuration"
    );
    write(&root.path().join("b.skip"), EICAR);
    write(&root.path().join("b.txt"), EICAR);
    assert_eq!(
        d.detections(1, GUARD).keys().collect::<Vec<_>>(),
        [&path("b.txt")]
    );
    assert_eq!(detected_when_idle(&mut d), Vec::<String>::new());
    assert!(d.stop().success());
}

#[test]
fn sighup_applies_a_new_max_filesize() {
    let root = tempfile::tempdir().unwrap();
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("vigil.toml");
    write(&conf, b"");
    let mut d = Daemon::start(watch_args(root.path(), &["--config", s(&conf)]));
    let path = |name: &str| root.path().join(name).to_str().unwrap().to_string();

    write(&root.path().join("a"), EICAR);
    assert!(d.detections(1, GUARD).contains_key(&path("a")));

    reload(&mut d, &conf, "max_filesize = 67\n"); // EICAR is 68 bytes
    write(&root.path().join("b"), EICAR);
    assert_eq!(detected_when_idle(&mut d), Vec::<String>::new());
    let stats = d.stats();
    assert_eq!(stats["detections"], 1, "{stats}");

    reload(&mut d, &conf, "max_filesize = \"1K\"\n");
    write(&root.path().join("c"), EICAR);
    assert!(d.detections(1, GUARD).contains_key(&path("c")));
    assert!(d.stop().success());
}

#[test]
fn sighup_with_a_bad_value_keeps_the_whole_old_configuration() {
    let root = tempfile::tempdir().unwrap();
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("vigil.toml");
    write(&conf, b"exclude = [\"*.skip\"]\n");
    let mut d = Daemon::start(watch_args(root.path(), &["--config", s(&conf)]));
    let path = |name: &str| root.path().join(name).to_str().unwrap().to_string();

    // A good key beside a bad glob: neither applies.
    let err = reload(&mut d, &conf, "max_filesize = 1\nexclude = [\"a[\"]\n");
    assert_eq!(err["level"], "ERROR");
    let message = err["fields"]["message"].as_str().unwrap();
    assert!(message.starts_with("reload failed"), "{err}");
    assert!(message.contains("exclude"), "{err}");

    write(&root.path().join("a.skip"), EICAR);
    write(&root.path().join("a.txt"), EICAR);
    assert_eq!(
        d.detections(1, GUARD).keys().collect::<Vec<_>>(),
        [&path("a.txt")]
    );
    assert_eq!(detected_when_idle(&mut d), Vec::<String>::new());
    assert!(d.stop().success());
}

#[test]
fn sighup_applies_new_watch_roots() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write(&b.path().join("old"), EICAR);
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("vigil.toml");
    let roots = |dirs: &[&Path]| {
        let list: Vec<String> = dirs.iter().map(|d| format!("{:?}", s(d))).collect();
        format!("watch = [{}]\n", list.join(", "))
    };
    write(&conf, roots(&[a.path()]).as_bytes());
    let mut d = Daemon::start(["--config", s(&conf), "--settle", "200ms"]);
    let path = |dir: &Path, name: &str| s(&dir.join(name)).to_string();
    d.wait_idle(); // the initial scan (of nothing) is done

    write(&a.path().join("a1"), EICAR);
    assert!(d.detections(1, GUARD).contains_key(&path(a.path(), "a1")));

    // A new root is watched, and walked (initial_scan is on).
    let done = reload(&mut d, &conf, &roots(&[a.path(), b.path()]));
    assert_eq!(
        done["fields"]["message"],
        "reloaded signatures and configuration"
    );
    d.seen_or_wait_log("now watching");
    assert!(d.detections(1, GUARD).contains_key(&path(b.path(), "old")));
    write(&b.path().join("b1"), EICAR);
    let seen = d.detections(1, GUARD);
    assert!(seen.contains_key(&path(b.path(), "b1")), "{seen:?}");

    // A root left out is no longer watched.
    reload(&mut d, &conf, &roots(&[b.path()]));
    d.seen_or_wait_log("no longer watching");
    write(&a.path().join("a2"), EICAR);
    write(&b.path().join("b2"), EICAR);
    let seen = d.detections(1, GUARD);
    assert_eq!(seen.keys().collect::<Vec<_>>(), [&path(b.path(), "b2")]);
    assert_eq!(detected_when_idle(&mut d), Vec::<String>::new());
    assert!(d.stop().success());
}

#[test]
fn sigterm_in_a_burst_exits_0_within_5_seconds() {
    let root = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(watch_args(root.path(), &["--queue-capacity", "8"]));
    for i in 0..3000 {
        write(&root.path().join(format!("t{i:05}.com")), EICAR);
    }
    // Mid-burst: scanning has begun, much is still pending or queued.
    d.detections(1, GUARD);
    let sent = Instant::now();
    d.signal(libc::SIGTERM);
    d.wait_notify("STOPPING=1");
    let status = d.wait_exit(Duration::from_secs(30)).expect("exits");
    let took = sent.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_second_sigterm_exits_at_once() {
    let root = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(watch_args(root.path(), &[]));
    d.signal(libc::SIGSTOP);
    d.signal(libc::SIGTERM);
    d.signal(libc::SIGTERM);
    d.signal(libc::SIGCONT);
    let status = d.wait_exit(GUARD).expect("exits");
    // Either the second TERM's immediate exit (143), or a clean stop if both
    // were taken as one: never a hang.
    assert!(matches!(status.code(), Some(0) | Some(143)), "{status}");
}

#[test]
fn a_removed_root_is_watched_again_when_it_reappears() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("root");
    fs::create_dir(&root).unwrap();
    let mut d = Daemon::start(watch_args(&root, &[]));
    fs::remove_dir(&root).unwrap();
    d.wait_log("watched folder is gone");
    fs::create_dir(&root).unwrap();
    write(&root.join("early.com"), EICAR);
    d.wait_log("watched folder is back");
    write(&root.join("late.com"), EICAR);
    let seen = d.detections(2, GUARD);
    assert!(seen.contains_key(s(&root.join("early.com"))));
    assert!(seen.contains_key(s(&root.join("late.com"))));
    assert!(d.stop().success());
}

/// A command prefix that runs the daemon in a private user namespace whose
/// inotify watch limit is `limit`; `None` (the test is skipped) where user
/// namespaces are not allowed, except on CI, where that is a failure.
fn watch_limit_wrapper(limit: u32) -> Option<[String; 6]> {
    let set = format!("echo {limit} > /proc/sys/user/max_inotify_watches");
    let probe = Command::new("unshare")
        .args(["-U", "-r", "sh", "-c", &set])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        // CI (and this project's machines) allow it: there a failure is real.
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot lower max_inotify_watches in a user namespace (unshare -U -r)"
        );
        eprintln!("SKIPPED: cannot lower max_inotify_watches in a user namespace here");
        return None;
    }
    let exec = format!("{set} && exec \"$0\" \"$@\"");
    Some(["unshare", "-U", "-r", "sh", "-c", exec.as_str()].map(String::from))
}

#[test]
fn watch_limit_is_a_clear_error_naming_the_sysctl_and_path() {
    // A private user namespace has its own inotify watch limit, which its
    // root may lower: 8 watches for a tree of 1 + 20 folders.
    let Some(wrapper) = watch_limit_wrapper(8) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    for i in 0..20 {
        fs::create_dir(root.path().join(format!("d{i:02}"))).unwrap();
    }
    let err = match Daemon::builder()
        .wrapper(&wrapper)
        .args(watch_args(root.path(), &[]))
        .try_start()
    {
        Ok(_) => panic!("started with a partial watch"),
        Err(e) => e,
    };
    assert_eq!(err.0.code(), Some(2), "{}", err.1);
    assert!(err.1.contains("fs.inotify.max_user_watches"), "{}", err.1);
    assert!(err.1.contains(s(root.path())), "{}", err.1);
}

#[test]
fn config_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("vigil.toml");
    write(&conf, b"watch = [\"/tmp\"]\nsettle = 5\n");
    let out = Command::new(vigil_bin())
        .args(["daemon", "--config", s(&conf)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("vigil.toml: settle: "), "{err}");
    write(&conf, b"watch = [\"/tmp\"]\nwatch_dirs = 5\n");
    let out = Command::new(vigil_bin())
        .args(["daemon", "--config", s(&conf)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("watch_dirs"), "{err}");
}

#[test]
fn watch_limit_at_run_time_falls_back_to_polling_the_root() {
    let Some(wrapper) = watch_limit_wrapper(5) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    for i in 0..2 {
        fs::create_dir(root.path().join(format!("d{i}"))).unwrap();
    }
    // 3 watches at start; room for 2 more.
    let args = watch_args(root.path(), &["--poll-interval", "1s"]);
    let mut d = match Daemon::builder().wrapper(&wrapper).args(args).try_start() {
        Ok(d) => d,
        Err((status, logs)) => panic!("{status}: {logs}"),
    };
    for i in 0..4 {
        fs::create_dir(root.path().join(format!("new{i}"))).unwrap();
    }
    let err = d.wait_log("cannot watch");
    assert_eq!(err["level"], "ERROR");
    let msg = err["fields"]["message"].as_str().unwrap();
    assert!(msg.contains("fs.inotify.max_user_watches"), "{msg}");
    assert!(msg.contains(s(root.path())), "{msg}");
    d.wait_idle();
    // new3 has no watch: only the poll of the root can find this file.
    let late = root.path().join("new3/late.com");
    write(&late, EICAR);
    let deadline = Instant::now() + GUARD;
    loop {
        let ev = d.next_event(deadline.saturating_duration_since(Instant::now()));
        let ev = ev.expect("the polled root finds the file");
        if ev["path"] == s(&late) {
            assert_eq!(ev["source"], "poll");
            break;
        }
    }
    let stats = d.stats();
    assert!(stats["watch_limit_hits"].as_u64().unwrap() >= 1, "{stats}");
    assert!(d.stop().success());
}

#[test]
fn quarantine_action_moves_a_dropped_file_and_the_event_names_the_entry() {
    let root = tempfile::tempdir().unwrap();
    // The vault sits inside the watched tree: the daemon must never scan it.
    let vault = root.path().join("vault");
    let d = Daemon::start(watch_args(
        root.path(),
        &["--action", "quarantine", "--quarantine-dir", s(&vault)],
    ));
    let path = root.path().join("dropped.com");
    write(&path, EICAR);
    let ev = d.next_event(GUARD).expect("a detection");
    assert_eq!(ev["type"], "detection", "{ev}");
    assert_eq!(ev["path"], s(&path));
    let id = ev["quarantine"]["id"]
        .as_str()
        .expect("a quarantine id")
        .to_string();
    let content = ev["quarantine"]["path"].as_str().unwrap().to_string();
    assert!(!path.exists(), "the original was moved");
    assert_eq!(fs::read(&content).unwrap(), EICAR);

    // The vault's own files (written by the move) bring no events.
    let clean = root.path().join("clean.txt");
    write(&clean, b"nothing to see");
    let mut d = d;
    d.wait_idle();
    assert!(
        d.next_event(Duration::from_millis(500)).is_none(),
        "no event from the vault or the clean file"
    );
    assert!(d.stop().success());

    let out = Command::new(vigil_bin())
        .args(["quarantine", "--dir", s(&vault), "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let listed = String::from_utf8(out.stdout).unwrap();
    let entry: Value = listed
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "entry")
        .expect("one entry");
    assert_eq!(entry["id"], id.as_str());
    assert_eq!(entry["path"], s(&path));
    assert_eq!(entry["signature"], "Eicar-Test-Signature");
}

#[test]
fn an_unreadable_subfolder_is_reported_and_the_rest_is_still_watched() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let locked = root.path().join("locked");
    fs::create_dir(&locked).unwrap();
    write(&locked.join("inside.com"), EICAR);
    // Owned by nobody, mode 000: root without its DAC capabilities cannot list it.
    std::os::unix::fs::chown(&locked, Some(65534), Some(65534)).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    // The daemon runs as root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH,
    // so the folder is unreadable to it while everything else stays reachable.
    let wrapper = [
        "setpriv",
        "--bounding-set",
        "-dac_override,-dac_read_search",
        "--inh-caps",
        "-all",
    ];
    let args = ["--watch", s(root.path()), "--settle", "200ms"];
    let mut d = Daemon::builder()
        .wrapper(wrapper)
        .args(args)
        .try_start()
        .unwrap_or_else(|(status, logs)| {
            panic!("daemon exited with {status} before READY=1:\n{logs}")
        });
    let log = d.wait_log("cannot watch");
    let message = log["fields"]["message"].as_str().unwrap();
    assert!(
        message.contains(s(&locked)) && message.contains("Permission denied"),
        "{message}"
    );
    // The initial scan reports the folder as an error event too.
    let ev = d
        .next_event(GUARD)
        .expect("an error event for the locked folder");
    assert_eq!(ev["type"], "error", "{ev}");
    assert_eq!(ev["path"], s(&locked));
    // The rest of the tree is watched.
    let path = root.path().join("dropped.com");
    write(&path, EICAR);
    let ev = d.next_event(GUARD).expect("a detection");
    assert_eq!(ev["type"], "detection", "{ev}");
    assert_eq!(ev["path"], s(&path));
    // A folder made later in the piecewise-watched root gets a watch of its
    // own: a file written in it after it was walked is still seen.
    let fresh = root.path().join("fresh");
    fs::create_dir(&fresh).unwrap();
    d.wait_idle();
    let late = fresh.join("late.com");
    write(&late, EICAR);
    let ev = d.next_event(GUARD).expect("a detection in the new folder");
    assert_eq!(ev["type"], "detection", "{ev}");
    assert_eq!(ev["path"], s(&late));
    assert!(d.stop().success());
}
