//! What a scan opens and walks: the size prefilter, unreadable files and
//! folders (as an unprivileged user), FIFOs and sockets, symlinks and loops,
//! hard links, files deleted mid-scan, serial versus parallel results,
//! excludes, `--max-filesize`, `--one-file-system`, `--file-list` and stdin.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vigil::hash::Algorithm::{Blake3, Md5};

use crate::testenv::{
    bytes_path, eicar_found, found, hex, ok, vigil_bin, Rng, TestEnv, EICAR, EICAR_NAME,
    RUN_TIMEOUT,
};

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(
        rc,
        0,
        "mkfifo {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// The size prefilter: a file no signature could match by size is never
/// opened. An unprivileged user cannot open a mode-000 file, so an error
/// appears exactly when vigil tries.
#[test]
fn size_prefilter_never_opens_a_file_whose_size_matches_no_signature() {
    let env = TestEnv::new();
    let data = b"locked, fourteen";
    env.write("t/locked", data);
    env.chmod("t/locked", 0o000);
    env.write("t/readable", b"readable");
    let other = hex(Md5, b"some other file");
    env.write("nosize.hdb", format!("{other}:99:NoSuchSize\n"));
    env.write("size.hdb", format!("{other}:{}:SameSize\n", data.len()));

    let run = env.scan_as_nobody(["--json", "-d", "nosize.hdb", "t"]);
    run.assert_code(0);
    assert!(
        run.stderr.is_empty(),
        "the locked file was never opened\n{}",
        run.dump()
    );
    let s = run.json_summary();
    assert_eq!(s["errors"], 0);
    assert_eq!(s["files"], 2);
    assert_eq!(s["cleared_by_size"], 2);
    assert_eq!(s["hashed"], 0);
    assert_eq!(s["bytes_hashed"], 0);

    // Same tree, a signature of the locked file's size: now it must be opened.
    let run = env.scan_as_nobody(["-d", "size.hdb", "t"]);
    run.assert_code(2);
    assert_eq!(
        run.stderr(),
        "t/locked: Permission denied ERROR\n",
        "{}",
        run.dump()
    );
    assert_eq!(run.results(), vec![ok(Path::new("t/readable"))]);
    // And root, who can open it, gets no error: the difference is the open.
    env.scan(["-d", "size.hdb", "t"]).assert_code(0);
}

#[test]
fn unreadable_files_and_folders_are_errors_for_an_unprivileged_user() {
    let env = TestEnv::new();
    env.write("t/clean", b"clean");
    env.write(
        "t/secret",
        b"68 bytes, like EICAR, so the built-in set wants it opened and hashed",
    );
    assert_eq!(fs::metadata(env.path("t/secret")).unwrap().len(), 68);
    env.chmod("t/secret", 0o000);
    env.write("t/closed/inside", EICAR);
    env.chmod("t/closed", 0o000);

    let run = env.scan_as_nobody(["t"]);
    run.assert_code(2);
    let mut errors = run.error_lines();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            "t/closed: Permission denied ERROR",
            "t/secret: Permission denied ERROR"
        ],
        "{}",
        run.dump()
    );
    assert_eq!(run.results(), vec![ok(Path::new("t/clean"))]);
    assert_eq!(run.summary_number("Errors"), 2);

    // A detection wins over the errors: exit 1.
    env.write("t/eicar", EICAR);
    let run = env.scan_as_nobody(["t"]);
    run.assert_code(1);
    assert!(run
        .results()
        .contains(&found(Path::new("t/eicar"), EICAR_NAME)));
    assert_eq!(run.error_lines().len(), 2, "{}", run.dump());
}

/// FIFOs and sockets are never opened (opening a FIFO would block forever),
/// even when a `*` signature makes every size a candidate.
#[test]
fn fifos_and_sockets_are_skipped_and_the_scan_finishes() {
    let env = TestEnv::new();
    env.write("t/eicar", EICAR);
    env.write("t/plain", b"plain");
    mkfifo(&env.path("t/pipe"));
    env.mkdir("t/sub");
    mkfifo(&env.path("t/sub/pipe2"));
    let _socket = std::os::unix::net::UnixListener::bind(env.path("t/socket")).unwrap();
    env.write("any.vsig", format!("md5:{}:*:AnySize\n", hex(Md5, EICAR)));
    for threads in ["1", "2"] {
        let run = env.scan(["--json", "--threads", threads, "-d", "any.vsig", "t"]);
        run.assert_code(1);
        let s = run.json_summary();
        assert_eq!(s["skipped"]["special"], 3, "{}", run.dump());
        assert_eq!(s["files"], 2);
        assert_eq!(s["errors"], 0);
        assert_eq!(run.json_of("detection")[0]["path"], "t/eicar");
    }
    // A FIFO named on the command line is skipped too.
    let run = env.scan(["--json", "-d", "any.vsig", "t/pipe"]);
    run.assert_code(0);
    assert_eq!(run.json_summary()["skipped"]["special"], 1);
}

#[test]
fn symlinks_are_skipped_unless_followed_and_loops_are_reported() {
    let env = TestEnv::new();
    env.write("t/real/eicar", EICAR);
    symlink("real/eicar", env.path("t/link_file")).unwrap();
    symlink("real", env.path("t/link_dir")).unwrap();
    symlink("..", env.path("t/real/loop")).unwrap();
    symlink("self", env.path("t/self")).unwrap();

    let run = env.scan(["--no-summary", "t"]);
    run.assert_code(1);
    assert_eq!(run.results(), eicar_found(&["t/real/eicar"]));
    assert!(run.stderr.is_empty(), "{}", run.dump());
    let s = env.scan(["--json", "t"]).json_summary();
    assert_eq!(s["skipped"]["symlink"], 4);

    let run = env.scan(["--follow-symlinks", "--no-summary", "t"]);
    run.assert_code(1);
    assert_eq!(
        run.sorted_results(),
        eicar_found(&["t/link_dir/eicar", "t/link_file", "t/real/eicar"]),
        "{}",
        run.dump()
    );
    let mut errors = run.error_lines();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            "t/link_dir/loop: Symbolic link loop ERROR",
            "t/real/loop: Symbolic link loop ERROR",
            "t/self: Symbolic link loop ERROR",
        ],
        "{}",
        run.dump()
    );

    // Symlinks named on the command line are followed, even without the flag.
    let run = env.scan(["-i", "--no-summary", "t/link_file", "t/link_dir"]);
    run.assert_code(1);
    assert_eq!(
        run.sorted_results(),
        eicar_found(&["t/link_dir/eicar", "t/link_file"]),
        "{}",
        run.dump()
    );

    // Only a loop: the scan ends with exit 2.
    let env = TestEnv::new();
    env.write("t/a/file", b"x");
    symlink("..", env.path("t/a/up")).unwrap();
    let run = env.scan(["--follow-symlinks", "--threads", "1", "t"]);
    run.assert_code(2);
    assert_eq!(run.error_lines(), vec!["t/a/up: Symbolic link loop ERROR"]);
    assert_eq!(run.summary_number("Scanned files"), 1);
}

#[test]
fn hard_links_are_hashed_once_and_every_name_reported() {
    let env = TestEnv::new();
    env.write("t/a", EICAR);
    fs::create_dir_all(env.path("t/sub")).unwrap();
    fs::hard_link(env.path("t/a"), env.path("t/b")).unwrap();
    fs::hard_link(env.path("t/a"), env.path("t/sub/c")).unwrap();
    env.write("t/other", EICAR);
    let run = env.scan(["--json", "--threads", "2", "t"]);
    run.assert_code(1);
    let paths = run.detection_paths();
    assert_eq!(
        paths,
        ["t/a", "t/b", "t/sub/c", "t/other"]
            .map(String::from)
            .into()
    );
    let s = run.json_summary();
    assert_eq!(s["files"], 4);
    assert_eq!(s["hashed"], 2, "one inode of three names, plus t/other");
    assert_eq!(s["hardlinks_reused"], 2);
    assert_eq!(s["bytes_hashed"], 2 * 68);
}

/// Files deleted while a single-worker scan runs: no abort, every surviving
/// file reported, each deleted one reported at most once (clean if read
/// before it went, else as an error), and the summary printed.
#[test]
fn files_deleted_during_the_scan_do_not_abort_it() {
    const FILES: usize = 1500;
    let env = TestEnv::new();
    let mut rng = Rng::new(7);
    let mut paths = Vec::new();
    for i in 0..FILES {
        paths.push(env.write(format!("d/f{i:04}"), rng.bytes(32 * 1024)));
    }
    // Every file is hashed (md5, slow in debug builds): the scan takes a while.
    env.write(
        "all.hdb",
        format!("{}:*:Never:73\n", hex(Md5, b"no file has this")),
    );

    let mut child = Command::new(vigil_bin())
        .current_dir(env.root())
        .args(["scan", "--threads", "1", "-d", "all.hdb", "missing", "d"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    });
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = tx.send(());
            lines.push(line);
        }
        lines
    });
    // The first error line ("missing") says the scan has started: then delete
    // every other file, last first.
    let started = rx.recv_timeout(RUN_TIMEOUT).is_ok();
    let mut deleted = BTreeSet::new();
    for path in paths.iter().rev().step_by(2) {
        fs::remove_file(path).unwrap();
        deleted.insert(path.strip_prefix(env.root()).unwrap().to_path_buf());
    }
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("scan did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = stdout.join().unwrap();
    let err = stderr.join().unwrap();
    assert!(started, "the scan printed no error for the missing root");
    let dump = || {
        format!(
            "exit {status:?}\nstdout:\n{}\nstderr:\n{}",
            out.join("\n"),
            err.join("\n")
        )
    };
    assert_eq!(
        status.code(),
        Some(2),
        "an error (the missing root), no crash\n{}",
        dump()
    );

    let mut ok_lines: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for line in out.iter().take_while(|l| !l.is_empty()) {
        let path = line
            .strip_suffix(": OK")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        *ok_lines.entry(PathBuf::from(path)).or_default() += 1;
    }
    let mut vanished = 0;
    for line in &err {
        if line == "missing: No such file or directory ERROR" {
            continue;
        }
        let path = line
            .strip_suffix(": No such file or directory ERROR")
            .unwrap_or_else(|| panic!("unexpected error line {line:?}\n{}", dump()));
        let path = PathBuf::from(path);
        assert!(
            deleted.contains(&path),
            "error for a file that was not deleted: {line}"
        );
        assert!(!ok_lines.contains_key(&path), "{line} was also reported OK");
        vanished += 1;
    }
    for rel in paths.iter().map(|p| p.strip_prefix(env.root()).unwrap()) {
        let n = ok_lines.get(rel).copied().unwrap_or(0);
        if deleted.contains(rel) {
            assert!(n <= 1, "{} reported {n} times", rel.display());
        } else {
            assert_eq!(
                n,
                1,
                "surviving file {} reported {n} times\n{}",
                rel.display(),
                dump()
            );
        }
    }
    assert!(
        out.iter()
            .any(|l| l == "----------- SCAN SUMMARY -----------"),
        "{}",
        dump()
    );
    let errors_line = format!("Errors: {}", err.len());
    assert!(
        out.contains(&errors_line),
        "summary counts every error line\n{}",
        dump()
    );
    // Without this the test passes when every deletion came too early (the
    // walk never saw the files) or too late (all read first): it must have
    // caught some files between the walk and the read.
    assert!(
        vanished > 0,
        "no file vanished mid-scan: the deletions missed the scan\n{}",
        dump()
    );
    eprintln!(
        "{} files deleted during the scan: {} vanished before being read, {} read first",
        deleted.len(),
        vanished,
        ok_lines.keys().filter(|p| deleted.contains(*p)).count()
    );
}

/// Serial and parallel scans of thousands of files give the same results.
#[test]
fn one_and_eight_threads_give_identical_results() {
    const FILES: usize = 3000;
    let env = TestEnv::new();
    let mut rng = Rng::new(42);
    let mut hdb = String::new();
    let mut vsig = String::new();
    let mut expected_found = 0;
    for i in 0..FILES {
        let len = rng.range(0, 3000) as usize;
        let data = rng.bytes(len);
        let rel = format!("tree/d{}/e{}/f{i}", i % 7, i % 13);
        env.write(&rel, &data);
        if i % 97 == 0 {
            hdb += &format!("{}:{len}:Sized.{i}\n", hex(Md5, &data));
            expected_found += 1;
        } else if i % 89 == 0 {
            vsig += &format!("blake3:{}:*:Any.{i}\n", hex(Blake3, &data));
            expected_found += 1;
        }
    }
    env.write("db/a.hdb", hdb);
    env.write("db/b.vsig", vsig);
    let one = env.scan(["--threads", "1", "-d", "db", "tree"]);
    let eight = env.scan(["--threads", "8", "-d", "db", "tree"]);
    one.assert_code(1);
    eight.assert_code(1);
    let results = one.sorted_results();
    assert_eq!(results.len(), FILES);
    assert_eq!(
        results.iter().filter(|l| l.ends_with(" FOUND")).count(),
        expected_found
    );
    assert_eq!(results, eight.sorted_results());
    for key in [
        "Scanned files",
        "Scanned directories",
        "Hashed files",
        "Infected files",
        "Errors",
    ] {
        assert_eq!(one.summary_number(key), eight.summary_number(key), "{key}");
    }
    assert_eq!(one.summary_number("Threads"), 1);
    assert_eq!(eight.summary_number("Threads"), 8);
    assert_eq!(one.summary_number("Scanned directories"), 1 + 7 + 7 * 13);
}

#[test]
fn excludes_skip_files_and_folders_by_name_or_path() {
    let env = TestEnv::new();
    for rel in [
        "t/keep.txt",
        "t/skip.log",
        "t/cache/x",
        "t/sub/cache/y",
        "t/sub/z.log",
        "t/sub/keep2",
    ] {
        env.write(rel, EICAR);
    }
    let run = env.scan([
        "--json",
        "--exclude",
        "*.log",
        "--exclude-dir",
        "cache",
        "t",
    ]);
    run.assert_code(1);
    let paths = run.detection_paths();
    assert_eq!(
        paths,
        ["t/keep.txt", "t/sub/keep2"].map(String::from).into()
    );
    assert_eq!(run.json_summary()["skipped"]["excluded"], 4);

    // Globs match paths too; `*` stays inside one component.
    let run = env.scan([
        "-i",
        "--no-summary",
        "--exclude",
        "t/sub/*",
        "--exclude-dir",
        "t/cache",
        "t",
    ]);
    run.assert_code(1);
    assert_eq!(
        run.sorted_results(),
        eicar_found(&["t/keep.txt", "t/skip.log", "t/sub/cache/y"]),
        "{}",
        run.dump()
    );
    // A path named on the command line is never excluded.
    let run = env.scan(["-i", "--no-summary", "--exclude", "*.log", "t/skip.log"]);
    run.assert_code(1);
    assert_eq!(run.results(), eicar_found(&["t/skip.log"]));
}

#[test]
fn max_filesize_skips_and_counts_larger_files() {
    let env = TestEnv::new();
    let big = vec![b'b'; 2000];
    env.write("t/eicar", EICAR);
    env.write("t/big", &big);
    env.write(
        "db.vsig",
        format!(
            "md5:{}:68:Small\nblake3:{}:*:Big\n",
            hex(Md5, EICAR),
            hex(Blake3, &big)
        ),
    );
    let run = env.scan(["--json", "-d", "db.vsig", "t"]);
    run.assert_code(1);
    assert_eq!(run.json_of("detection").len(), 2);
    assert_eq!(run.json_summary()["skipped"]["too_large"], 0);
    for limit in ["1999", "1K", "1k", "100"] {
        let run = env.scan(["--json", "--max-filesize", limit, "-d", "db.vsig", "t"]);
        run.assert_code(1);
        let det = run.json_of("detection");
        assert_eq!(det.len(), 1, "{limit}\n{}", run.dump());
        assert_eq!(det[0]["signature"], "Small");
        let s = run.json_summary();
        assert_eq!(s["skipped"]["too_large"], 1, "{limit}");
        assert_eq!(s["files"], 1);
    }
    // The limit is inclusive: a file of exactly that size is scanned.
    let run = env.scan(["--json", "--max-filesize", "2000", "-d", "db.vsig", "t"]);
    assert_eq!(run.json_of("detection").len(), 2);
    let run = env.scan(["--json", "--max-filesize", "1M", "-d", "db.vsig", "t"]);
    assert_eq!(run.json_of("detection").len(), 2);
}

/// `--one-file-system` with a real second file system: a tmpfs mounted
/// inside the tree in a private mount namespace (`unshare -m`).
#[test]
fn one_file_system_stays_on_the_roots_file_system() {
    let env = TestEnv::new();
    env.write("src/eicar", EICAR);
    env.write("tree/top", EICAR);
    env.mkdir("tree/mnt");
    let scan = |extra: &[&str]| {
        let mut cmd = Command::new("unshare");
        cmd.current_dir(env.root())
            .args(["-m", "sh", "-euc"])
            .arg(r#"mount -t tmpfs tmpfs tree/mnt; cp src/eicar tree/mnt/inside; exec "$0" scan --json "$@" tree"#)
            .arg(vigil_bin())
            .args(extra);
        crate::testenv::run(cmd, None)
    };
    let all = scan(&[]);
    all.assert_code(1);
    let paths = all.detection_paths();
    assert_eq!(
        paths,
        ["tree/mnt/inside", "tree/top"].map(String::from).into(),
        "without -x the mounted tmpfs is scanned (unshare+mount must work here)"
    );
    for flag in ["--one-file-system", "-x"] {
        let run = scan(&[flag]);
        run.assert_code(1);
        let det = run.json_of("detection");
        assert_eq!(det.len(), 1, "{}", run.dump());
        assert_eq!(det[0]["path"], "tree/top");
        let s = run.json_summary();
        assert_eq!(s["skipped"]["other_fs"], 1);
        assert_eq!(s["errors"], 0);
    }
    // Outside a namespace, with one file system, -x changes nothing.
    let plain = env.scan(["--no-summary", "tree"]);
    let x = env.scan(["--no-summary", "-x", "tree"]);
    assert_eq!(plain.sorted_results(), x.sorted_results());
    assert_eq!(plain.code(), x.code());
}

#[test]
fn file_list_names_paths_including_non_utf8_ones() {
    let env = TestEnv::new();
    env.write("t/a", b"clean");
    env.write(bytes_path(b"t/bad\xff name"), EICAR);
    env.write("t/dir/inner", EICAR);
    let mut list = Vec::new();
    list.extend_from_slice(env.path("t/a").as_os_str().as_bytes());
    list.extend_from_slice(b"\n\nt/bad\xff name\r\nt/dir\nt/missing\n");
    env.write("list.txt", &list);
    let run = env.scan(["--no-summary", "--file-list", "list.txt"]);
    run.assert_code(1);
    assert_eq!(
        run.sorted_results(),
        vec![
            ok(&env.path("t/a")),
            format!("t/bad\\xff name: {EICAR_NAME} FOUND"),
            found(Path::new("t/dir/inner"), EICAR_NAME),
        ],
        "{}",
        run.dump()
    );
    assert_eq!(
        run.error_lines(),
        vec!["t/missing: No such file or directory ERROR"]
    );
    // The list adds to paths on the command line.
    env.write("u/extra", EICAR);
    let run = env.scan(["--no-summary", "-i", "--file-list", "list.txt", "u"]);
    assert_eq!(run.results().len(), 3);
    // A list that cannot be read is an error.
    let run = env.scan(["--file-list", "nope.txt"]);
    run.assert_code(2);
    assert!(run.stderr().contains("nope.txt"), "{}", run.dump());
}

#[test]
fn dash_scans_standard_input() {
    let env = TestEnv::new();
    let run = env.scan_stdin(["--no-summary", "-"], EICAR);
    run.assert_code(1);
    assert_eq!(run.stdout(), format!("stdin: {EICAR_NAME} FOUND\n"));
    let run = env.scan_stdin(["--no-summary", "-"], b"harmless");
    run.assert_code(0);
    assert_eq!(run.stdout(), "stdin: OK\n");
    // stdin against a database with sizes and `*`.
    let data = vec![b'z'; 300_000];
    env.write(
        "db.hsb",
        format!("{}:*:Star:73\n", hex(vigil::hash::Algorithm::Sha256, &data)),
    );
    let run = env.scan_stdin(["--json", "-d", "db.hsb", "-"], &data);
    run.assert_code(1);
    let det = &run.json_of("detection")[0];
    assert_eq!(det["path"], "stdin");
    assert_eq!(det["size"], 300_000);
    assert_eq!(det["signature"], "Star.UNOFFICIAL");
    assert_eq!(det["official"], false);
}
