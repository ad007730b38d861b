//! Reading ahead (`--io-depth`): files found on disk are opened and their
//! reads started before a worker hashes them. It must change no verdict:
//! the same output with it off, with a window of one file, and with the
//! default, for unreadable files and folders, FIFOs, symlinks, and files
//! that vanish or grow while the scan runs; and a control client gets the
//! same answer (its files are read with its own access, never the
//! daemon's). The trees here are in memory (just written), where a scan
//! reads nothing ahead; `VIGIL_TEST_COLD` makes every probe find its file
//! on disk, so that the I/O workers read every batch ahead.

use std::collections::HashSet;
use std::os::unix::fs::symlink;
use std::process::Command;

use crate::testenv::{Daemon, Run, TestEnv, EICAR, EICAR_NAME};

/// Makes every probe find its file on disk (see `engine::prefetch`).
const COLD: (&str, &str) = ("VIGIL_TEST_COLD", "1");

/// The files a run's summary says were read ahead (0 if it does not say).
fn read_ahead(run: &Run) -> u64 {
    run.stdout()
        .lines()
        .find_map(|l| l.strip_prefix("Read ahead: "))
        .map_or(0, |rest| {
            rest.split_whitespace().next().unwrap().parse().unwrap()
        })
}

/// Folders of more files than one batch holds, with a few EICAR copies,
/// FIFOs, symlinks, files and a folder only root may read, and empty files.
fn mixed_tree(env: &TestEnv, top: &str) {
    for d in 0..3 {
        for f in 0..45 {
            let rel = format!("{top}/d{d}/f{f:02}");
            if f % 20 == 7 {
                env.write(&rel, EICAR);
            } else if f % 11 == 3 {
                env.write(&rel, b"");
            } else {
                env.write(&rel, format!("file {d}/{f} ").repeat(f * 40));
            }
        }
        let fifo = env.path(format!("{top}/d{d}/fifo"));
        assert!(Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        symlink("f07", env.path(format!("{top}/d{d}/link"))).unwrap();
    }
    env.write(format!("{top}/d0/locked.com"), EICAR);
    env.chmod(format!("{top}/d0/locked.com"), 0o600);
    // No signature has its size: never opened, so no error either.
    env.write(format!("{top}/d1/locked"), b"only root reads this");
    env.chmod(format!("{top}/d1/locked"), 0o600);
    env.write(format!("{top}/d2/shut/inside.com"), EICAR);
    env.chmod(format!("{top}/d2/shut"), 0o700);
}

/// Exit code, sorted results and sorted error lines.
fn outcome(run: &Run) -> (Option<i32>, Vec<String>, Vec<String>) {
    let mut errors = run.error_lines();
    errors.sort();
    (run.code, run.sorted_results(), errors)
}

#[test]
fn reading_ahead_changes_no_verdict() {
    let env = TestEnv::new();
    mixed_tree(&env, "t");
    // (arguments, every file found on disk)
    let settings: [(&[&str], bool); 6] = [
        (&["--io-depth", "0"], false),
        (&[], false),
        (&[], true),
        (&["-j", "1", "--io-depth", "1"], true),
        (&["-j", "3", "--io-depth", "7"], true),
        (&["--io-depth", "0"], true),
    ];
    for as_nobody in [false, true] {
        let mut seen = None;
        for (extra, cold) in settings {
            let args = [extra, &["t"]].concat();
            let vars: &[(&str, &str)] = if cold { &[COLD] } else { &[] };
            let run = env.scan_with_env(vars, as_nobody, &args);
            // Found on disk, every batch is read ahead by the I/O workers
            // (none when reading ahead is off).
            let ahead = read_ahead(&run);
            match (cold, extra.first()) {
                (false, _) | (true, Some(&"--io-depth")) => {
                    assert_eq!(ahead, 0, "{extra:?} {}", run.dump())
                }
                // The default window holds every batch; a small one the
                // first few files of each.
                (true, None) => assert!(ahead >= 100, "{}", run.dump()),
                (true, _) => assert!(ahead > 0, "{extra:?} {}", run.dump()),
            }
            let got = outcome(&run);
            match &seen {
                None => {
                    // What the scan without reading ahead says, checked once.
                    let found = got.1.iter().filter(|l| l.ends_with(" FOUND")).count();
                    let (code, errors) = match as_nobody {
                        false => (1, vec![]),
                        true => (
                            1,
                            vec![
                                "t/d0/locked.com: Permission denied ERROR".to_string(),
                                "t/d2/shut: Permission denied ERROR".to_string(),
                            ],
                        ),
                    };
                    assert_eq!(found, if as_nobody { 6 } else { 8 }, "{}", run.dump());
                    assert_eq!((got.0, &got.2), (Some(code), &errors), "{}", run.dump());
                    assert!(!got
                        .1
                        .iter()
                        .any(|l| l.contains("fifo") || l.contains("link")));
                    seen = Some(got);
                }
                Some(first) => assert_eq!(
                    &got, first,
                    "as nobody: {as_nobody}, {extra:?}, cold: {cold}"
                ),
            }
        }
    }
}

#[test]
fn files_that_vanish_or_grow_during_the_scan_are_each_reported_once() {
    let env = TestEnv::new();
    let files = 400;
    for i in 0..files {
        env.write(format!("t/d{}/f{i:03}", i % 4), vec![b'x'; 2000 + i * 10]);
    }
    for (extra, cold) in [
        (&["--io-depth", "0"][..], false),
        (&[], false),
        (&[], true),
        (&["-j", "1", "--io-depth", "2"], true),
    ] {
        // Remove every third file and grow every third-plus-one, from the
        // end, while the scan runs.
        let root = env.path("t");
        let changer = std::thread::spawn(move || {
            for i in (0..files).rev() {
                let path = root.join(format!("d{}/f{i:03}", i % 4));
                match i % 3 {
                    0 => {
                        let _ = std::fs::remove_file(&path);
                    }
                    1 => {
                        use std::io::Write;
                        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&path) {
                            let _ = f.write_all(&[b'y'; 5000]);
                        }
                    }
                    _ => {}
                }
            }
        });
        let vars: &[(&str, &str)] = if cold { &[COLD] } else { &[] };
        let run = env.scan_with_env(vars, false, [extra, &["--no-summary", "t"]].concat());
        changer.join().unwrap();
        assert!(matches!(run.code, Some(0 | 2)), "{}", run.dump());
        let mut reported = HashSet::new();
        for line in run.results() {
            let path = line
                .strip_suffix(": OK")
                .unwrap_or_else(|| panic!("{line}"));
            assert!(reported.insert(path.to_string()), "twice: {path}");
        }
        for line in run.error_lines() {
            let (path, reason) = line.split_once(": ").unwrap();
            assert!(
                reason == "No such file or directory ERROR"
                    || reason.starts_with("file changed size while being read"),
                "{line}"
            );
            let i: usize = path[path.len() - 3..].parse().unwrap();
            assert_ne!(i % 3, 2, "an untouched file failed: {line}");
            assert!(reported.insert(path.to_string()), "twice: {path}");
        }
        for i in (0..files).filter(|i| i % 3 != 0) {
            let path = format!("t/d{}/f{i:03}", i % 4);
            assert!(
                reported.contains(&path),
                "not reported: {path}\n{}",
                run.dump()
            );
        }
        // Put the tree back for the next setting.
        for i in 0..files {
            env.write(format!("t/d{}/f{i:03}", i % 4), vec![b'x'; 2000 + i * 10]);
        }
    }
}

#[test]
fn a_control_client_gets_the_same_answer_with_reading_ahead() {
    let mut answers = Vec::new();
    for (config, cold) in [("io_depth = 0\n", false), ("", false), ("", true)] {
        let mut builder = Daemon::builder().config(&format!("socket_mode = \"0666\"\n{config}"));
        if cold {
            builder = builder.var(COLD.0, COLD.1);
        }
        let d = builder.start();
        let env = &d.env;
        mixed_tree(env, "data/pub");
        let dir = env.path("data/pub");
        let dir = dir.to_str().unwrap();
        let client = d.ctl_as_nobody(&["scan", "--no-summary", dir]);
        client.assert_code(1);
        assert_eq!(
            client
                .stdout()
                .matches(&format!("{EICAR_NAME} FOUND"))
                .count(),
            6,
            "{}",
            client.dump()
        );
        let root = d.ctl(&["scan", "--no-summary", dir]);
        root.assert_code(1);
        assert!(root.stderr().is_empty(), "{}", root.dump());
        let relative = |lines: Vec<String>| -> Vec<String> {
            let mut v: Vec<String> = lines.iter().map(|l| l.replace(dir, "DIR")).collect();
            v.sort();
            v
        };
        answers.push((
            relative(client.results()),
            relative(client.error_lines()),
            relative(root.results()),
        ));
    }
    let errors = &answers[0].1;
    assert!(errors.contains(&"DIR/d0/locked.com: Permission denied ERROR".to_string()));
    assert!(errors.contains(&"DIR/d2/shut: Permission denied ERROR".to_string()));
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);
}
