//! What `vigil scan` prints and how it exits: exit codes (1 wins over 2),
//! `-i`, `--no-summary`, `--quiet`, `--json` and its documented fields,
//! escaping of newline, backslash and non-UTF-8 names in text and JSON
//! (`path_bytes`), and clear errors for bad option values.

use std::path::Path;

use base64::Engine as _;
use vigil::hash::Algorithm::Md5;

use crate::testenv::{bytes_path, found, hex, ok, TestEnv, EICAR, EICAR_NAME};

fn b64_decode(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("valid base64")
}

#[test]
fn exit_codes_follow_clamscan_and_found_wins_over_errors() {
    let env = TestEnv::new();
    env.write("clean/a", b"a");
    env.write("dirty/eicar", EICAR);

    let run = env.scan(["clean"]);
    run.assert_code(0);
    assert!(run.stderr.is_empty());
    assert_eq!(run.summary_number("Infected files"), 0);
    assert_eq!(run.summary_number("Errors"), 0);

    let run = env.scan(["dirty", "clean"]);
    run.assert_code(1);
    assert_eq!(run.summary_number("Infected files"), 1);

    let run = env.scan(["clean", "missing"]);
    run.assert_code(2);
    assert_eq!(
        run.error_lines(),
        vec!["missing: No such file or directory ERROR"]
    );
    assert_eq!(run.summary_number("Errors"), 1);
    assert_eq!(
        run.results(),
        vec![ok(Path::new("clean/a"))],
        "the scan went on"
    );

    // Something found and an error: 1 wins, in both orders.
    for args in [["missing", "dirty"], ["dirty", "missing"]] {
        let run = env.scan(args);
        run.assert_code(1);
        assert_eq!(run.summary_number("Errors"), 1);
        assert_eq!(run.summary_number("Infected files"), 1);
    }
    // The same with --json and with --quiet.
    env.scan(["--json", "missing", "dirty"]).assert_code(1);
    env.scan(["--quiet", "missing", "dirty"]).assert_code(1);
    env.scan(["--quiet", "missing", "clean"]).assert_code(2);
}

#[test]
fn infected_only_no_summary_and_the_text_summary() {
    let env = TestEnv::new();
    env.write("t/a", b"a");
    env.write("t/b", b"b");
    env.write("t/eicar", EICAR);

    let run = env.scan(["t"]);
    run.assert_code(1);
    assert_eq!(
        run.sorted_results(),
        vec![
            ok(Path::new("t/a")),
            ok(Path::new("t/b")),
            found(Path::new("t/eicar"), EICAR_NAME)
        ]
    );
    assert!(run.has_summary());
    assert_eq!(run.summary_number("Scanned files"), 3);
    assert_eq!(run.summary_number("Scanned directories"), 1);
    // The built-in set: EICAR under four algorithms, one known virus.
    assert_eq!(run.summary_number("Known viruses"), 1);
    assert_eq!(
        run.summary_number("Hashed files"),
        1,
        "only the 68-byte file is opened"
    );

    let run = env.scan(["-i", "t"]);
    run.assert_code(1);
    assert_eq!(run.results(), vec![found(Path::new("t/eicar"), EICAR_NAME)]);
    assert!(run.has_summary());
    let run = env.scan(["--infected", "t"]);
    assert_eq!(run.results(), vec![found(Path::new("t/eicar"), EICAR_NAME)]);

    let run = env.scan(["--no-summary", "t"]);
    run.assert_code(1);
    assert!(!run.has_summary());
    assert_eq!(run.stdout().lines().count(), 3);

    let run = env.scan(["-i", "--no-summary", "t"]);
    assert_eq!(run.stdout(), format!("t/eicar: {EICAR_NAME} FOUND\n"));
}

/// clamscan's `--quiet` prints only errors: no results, no summary. The exit
/// code still tells the outcome.
#[test]
fn quiet_prints_only_errors() {
    let env = TestEnv::new();
    env.write("t/a", b"a");
    env.write("t/eicar", EICAR);
    let run = env.scan(["--quiet", "t"]);
    run.assert_code(1);
    assert!(run.stdout.is_empty(), "{}", run.dump());
    assert!(run.stderr.is_empty(), "{}", run.dump());

    let run = env.scan(["--quiet", "t", "missing"]);
    run.assert_code(1);
    assert!(run.stdout.is_empty(), "{}", run.dump());
    assert_eq!(run.stderr(), "missing: No such file or directory ERROR\n");

    // With --json, only error objects.
    let run = env.scan(["--quiet", "--json", "t", "missing"]);
    run.assert_code(1);
    let all = run.json();
    assert_eq!(all.len(), 1, "{}", run.dump());
    assert_eq!(all[0]["type"], "error");
    assert_eq!(all[0]["path"], "missing");
}

#[test]
fn json_lines_carry_the_documented_fields_and_the_summary_comes_last() {
    let env = TestEnv::new();
    env.write("t/a", b"clean");
    env.write("t/eicar", EICAR);
    env.write("t/sub/eicar2", EICAR);
    let run = env.scan(["--json", "--threads", "3", "t", "missing"]);
    run.assert_code(1);
    let all = run.json();
    assert_eq!(
        all.len(),
        4,
        "two detections, one error, the summary; no clean files\n{}",
        run.dump()
    );
    let mut detections = run.json_of("detection");
    detections.sort_by_key(|d| d["path"].as_str().unwrap().to_string());
    assert_eq!(detections.len(), 2);
    for (d, path) in detections.iter().zip(["t/eicar", "t/sub/eicar2"]) {
        assert_eq!(d["path"], path);
        assert!(d.get("path_bytes").is_none(), "only for non-UTF-8 paths");
        assert_eq!(d["size"], 68);
        assert_eq!(d["signature"], EICAR_NAME);
        let algo = d["algorithm"].as_str().unwrap();
        assert!(["md5", "sha1", "sha256", "blake3"].contains(&algo));
        let algo = vigil::hash::Algorithm::from_name(algo).unwrap();
        assert_eq!(d["digest"], hex(algo, EICAR));
    }
    let errors = run.json_of("error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["path"], "missing");
    assert_eq!(errors[0]["error"], "No such file or directory");
    assert_eq!(errors[0]["kind"], "not_found");
    assert!(
        run.stderr.is_empty(),
        "JSON mode writes errors as objects\n{}",
        run.dump()
    );

    let s = run.json_summary();
    for key in [
        "version",
        "signatures",
        "allow_entries",
        "threads",
        "directories",
        "files",
        "hashed",
        "cleared_by_size",
        "hardlinks_reused",
        "skipped",
        "bytes_hashed",
        "detections",
        "errors",
        "moved",
        "not_moved",
        "elapsed_secs",
        "mib_per_sec",
        "files_per_sec",
    ] {
        assert!(s.get(key).is_some(), "summary lacks {key}: {s}");
    }
    for key in ["special", "too_large", "excluded", "symlink", "other_fs"] {
        assert_eq!(s["skipped"][key], 0, "{key}");
    }
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["signatures"], 1);
    assert_eq!(s["threads"], 3);
    assert_eq!(s["directories"], 2);
    assert_eq!(s["files"], 3);
    assert_eq!(s["hashed"], 2);
    assert_eq!(s["cleared_by_size"], 1);
    assert_eq!(s["bytes_hashed"], 136);
    assert_eq!(s["detections"], 2);
    assert_eq!(s["errors"], 1);
    assert_eq!(s["moved"], 0);
    assert_eq!(s["not_moved"], 0);

    let run = env.scan(["--json", "--no-summary", "t"]);
    run.assert_code(1);
    assert!(run.json().iter().all(|v| v["type"] == "detection"));
    assert_eq!(run.json().len(), 2);
}

#[test]
fn odd_file_names_are_escaped_in_text_and_exact_in_json() {
    let env = TestEnv::new();
    let bad = b"t/bad\xff\n.bin".as_slice();
    let newline = "t/new\nline: OK\nforged";
    let backslash = "t/back\\slash";
    env.write(bytes_path(bad), EICAR);
    env.write(newline, EICAR);
    env.write(backslash, EICAR);
    env.write("t/clean\tname\r", b"clean");

    let run = env.scan(["--no-summary", "t"]);
    run.assert_code(1);
    assert_eq!(
        run.sorted_results(),
        vec![
            format!("t/back\\\\slash: {EICAR_NAME} FOUND"),
            format!("t/bad\\xff\\n.bin: {EICAR_NAME} FOUND"),
            "t/clean\\tname\\r: OK".to_string(),
            format!("t/new\\nline: OK\\nforged: {EICAR_NAME} FOUND"),
        ],
        "one line per file, none forged\n{}",
        run.dump()
    );

    let run = env.scan(["--json", "t"]);
    run.assert_code(1);
    let det = run.json_of("detection");
    assert_eq!(det.len(), 3);
    let by_path = |p: &str| {
        det.iter()
            .find(|d| d["path"] == p)
            .unwrap_or_else(|| panic!("no detection for {p:?}\n{}", run.dump()))
            .clone()
    };
    // Not UTF-8: escaped text, and the exact bytes in base64.
    let d = by_path("t/bad\\xff\\n.bin");
    assert_eq!(b64_decode(d["path_bytes"].as_str().unwrap()), bad);
    // Valid UTF-8 (newlines included): the exact text, no path_bytes.
    let d = by_path(newline);
    assert!(d.get("path_bytes").is_none());
    let d = by_path(backslash);
    assert!(d.get("path_bytes").is_none());

    // Errors on non-UTF-8 paths carry the bytes too.
    env.write("list", b"t/gone\xfe\n");
    let run = env.scan(["--json", "--file-list", "list"]);
    run.assert_code(2);
    let err = &run.json_of("error")[0];
    assert_eq!(err["path"], "t/gone\\xfe");
    assert_eq!(
        b64_decode(err["path_bytes"].as_str().unwrap()),
        b"t/gone\xfe"
    );
    let run = env.scan(["--file-list", "list"]);
    assert_eq!(
        run.stderr(),
        "t/gone\\xfe: No such file or directory ERROR\n"
    );
}

#[test]
fn bad_option_values_are_clear_errors_with_exit_2() {
    let env = TestEnv::new();
    env.write("t/eicar", EICAR);
    let cases: &[(&[&str], &str)] = &[
        (&["--threads", "0"], "--threads"),
        (&["--threads", "many"], "--threads"),
        (&["--max-filesize", "10X"], "--max-filesize"),
        (&["--max-filesize=-1"], "--max-filesize"),
        (&["--max-filesize", ""], "--max-filesize"),
        (&["--exclude", "a[b"], "a[b"),
        (&["--exclude-dir", "{x"], "{x"),
        (&["--no-such-option"], "--no-such-option"),
    ];
    for (args, mention) in cases {
        let mut all: Vec<&str> = args.to_vec();
        all.push("t");
        let run = env.scan(&all);
        run.assert_code(2);
        assert!(
            run.stdout.is_empty(),
            "{args:?}: nothing scanned\n{}",
            run.dump()
        );
        assert!(
            run.stderr().contains(mention),
            "{args:?}: names the problem\n{}",
            run.dump()
        );
    }
}

#[test]
fn detections_report_the_matching_database_name() {
    // The signature name is printed verbatim, including spaces and colons
    // (a .vsig name is everything after the third colon).
    let env = TestEnv::new();
    env.write("t/f", b"payload");
    env.write(
        "db.vsig",
        format!(
            "md5:{}:7:Name with spaces:and:colons\n",
            hex(Md5, b"payload")
        ),
    );
    let run = env.scan(["-i", "--no-summary", "-d", "db.vsig", "t"]);
    run.assert_code(1);
    assert_eq!(run.stdout(), "t/f: Name with spaces:and:colons FOUND\n");
}

#[test]
fn without_paths_the_current_folder_is_scanned() {
    let env = TestEnv::new();
    env.write("sub/eicar", EICAR);
    let run = env.scan(["-i", "--no-summary"]);
    run.assert_code(1);
    assert_eq!(run.stdout(), format!("./sub/eicar: {EICAR_NAME} FOUND\n"));
}

/// Output that goes away (`vigil scan | head -1`) ends the scan quietly with
/// exit 0: no panic, no error message.
#[test]
fn a_closed_stdout_ends_the_scan_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let env = TestEnv::new();
    // Far more output than a pipe holds, so vigil must write after the close.
    for i in 0..3000 {
        env.write(
            format!("t/d{}/a-rather-long-file-name-{i:05}", i % 10),
            b"x",
        );
    }
    let mut child = Command::new(crate::testenv::vigil_bin())
        .current_dir(env.root())
        .args(["scan", "--threads", "2", "t"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.ends_with(": OK\n"), "{first:?}");
    // The reader is dropped here: the pipe is closed.
    let run = crate::testenv::wait_with_output(
        child,
        crate::testenv::RUN_TIMEOUT,
        "vigil scan | head -1",
    );
    run.assert_code(0);
    assert!(run.stderr.is_empty(), "{}", run.dump());
}
