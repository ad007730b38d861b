//! Signature databases as `vigil scan` loads them: every format, `*` sizes and
//! their FLEVEL field, CRLF, upper-case hex, comments, allow-list precedence,
//! `-d` with files, folders and repeats, and malformed lines (reported as
//! `file:line`, exit 2, nothing scanned).

use vigil::hash::Algorithm::{self, Blake3, Md5, Sha1, Sha256};

use crate::testenv::{found, hex, ok, TestEnv, EICAR, EICAR_NAME};

#[test]
fn builtin_set_detects_eicar() {
    let env = TestEnv::new();
    let eicar = env.write("tree/eicar.com", EICAR);
    let clean = env.write("tree/clean.txt", b"nothing to see");
    let run = env.scan(["tree"]);
    run.assert_code(1);
    let eicar_rel = std::path::Path::new("tree/eicar.com");
    assert_eq!(
        run.sorted_results(),
        vec![
            ok(std::path::Path::new("tree/clean.txt")),
            found(eicar_rel, EICAR_NAME)
        ],
        "{}",
        run.dump()
    );
    // Absolute paths are printed as given.
    let run = env.scan([&eicar, &clean]);
    run.assert_code(1);
    assert!(
        run.results().contains(&found(&eicar, EICAR_NAME)),
        "{}",
        run.dump()
    );
    assert_eq!(run.summary_number("Infected files"), 1);
    assert_eq!(
        run.summary_number("Known viruses"),
        1,
        "one file, EICAR, under all four algorithms"
    );
}

#[test]
fn builtin_set_matches_eicar_in_every_algorithm() {
    // The built-in set must hold exactly these digests of EICAR.
    let expected = [
        (Md5, "44d88612fea8a8f36de82e1278abb02f"),
        (Sha1, "3395856ce81f2b7382dee72602f798b642f14140"),
        (
            Sha256,
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
        ),
        (
            Blake3,
            "460c1ec9a3e1b5536927aac78cee9c39782626d30f0ae0917ce95dda77068e09",
        ),
    ];
    // The compiled-in file has each one as a 68-byte signature, and the
    // loaded set wants files of that size hashed in every algorithm.
    let builtin = include_str!("../../signatures/eicar.vsig");
    let lines: Vec<&str> = builtin
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(lines.len(), expected.len(), "{builtin}");
    let set = vigil::signature::load_builtin();
    assert_eq!(set.stats().total_detections(), expected.len());
    for (algo, digest) in expected {
        assert_eq!(hex(algo, EICAR), digest, "{algo}");
        let line = format!("{algo}:{digest}:68:{EICAR_NAME}");
        assert!(lines.contains(&line.as_str()), "{line} in {builtin}");
        assert!(set.algorithms_for_size(68).contains(algo), "{algo}");
    }
    let env = TestEnv::new();
    env.write("e", EICAR);
    let run = env.scan(["--json", "e"]);
    run.assert_code(1);
    let det = &run.json_of("detection")[0];
    assert_eq!(det["size"], 68);
    assert_eq!(det["signature"], EICAR_NAME);
    let algo = Algorithm::from_name(det["algorithm"].as_str().unwrap()).unwrap();
    assert_eq!(det["digest"], hex(algo, EICAR));
}

/// One file per (format, algorithm), and a database per format: each database
/// detects exactly its own files, and a folder of all of them detects all.
#[test]
fn every_format_detects_and_folders_and_repeats_load() {
    let env = TestEnv::new();
    // (database file, algorithm, native?)
    let cases: &[(&str, Algorithm, bool)] = &[
        ("a.vsig", Md5, true),
        ("a.vsig", Sha1, true),
        ("a.vsig", Sha256, true),
        ("a.vsig", Blake3, true),
        ("b.hdb", Md5, false),
        ("c.hsb", Sha256, false),
        ("c.hsb", Sha1, false),
        ("d.hdu", Md5, false),
        ("e.hsu", Sha256, false),
    ];
    let mut dbs: std::collections::BTreeMap<&str, String> = Default::default();
    let mut expected: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (i, (db, algo, native)) in cases.iter().enumerate() {
        let data = format!("file {i} for {db} in {algo}").into_bytes();
        let rel = format!("tree/f{i}");
        env.write(&rel, &data);
        let name = format!("Test.{}.{algo}", db.replace('.', "_"));
        let line = if *native {
            format!("{algo}:{}:{}:{name}\n", hex(*algo, &data), data.len())
        } else {
            format!("{}:{}:{name}\n", hex(*algo, &data), data.len())
        };
        dbs.entry(db).or_default().push_str(&line);
        expected.entry(db).or_default().push(found(
            std::path::Path::new(&rel),
            // ClamAV's formats are unsigned here; vigil's own print as written.
            &if *native {
                name
            } else {
                format!("{name}.UNOFFICIAL")
            },
        ));
    }
    for (db, text) in &dbs {
        env.write(format!("db/{db}"), text);
    }
    for (db, want) in &expected {
        let run = env.scan(["-i", "--no-summary", "-d", &format!("db/{db}"), "tree"]);
        run.assert_code(1);
        let mut want = want.clone();
        want.sort();
        assert_eq!(run.sorted_results(), want, "database {db}\n{}", run.dump());
    }
    let mut all: Vec<String> = expected.values().flatten().cloned().collect();
    all.sort();
    // A folder loads every database in it.
    let run = env.scan(["-i", "--no-summary", "-d", "db", "tree"]);
    run.assert_code(1);
    assert_eq!(run.sorted_results(), all, "{}", run.dump());
    // Repeated -d: files and a folder together (the same signatures twice are fine).
    let mut args: Vec<String> = vec!["-i".into(), "--no-summary".into()];
    for db in dbs.keys() {
        args.push("-d".into());
        args.push(format!("db/{db}"));
    }
    args.extend(["-d".into(), "db".into(), "tree".into()]);
    let run = env.scan(&args);
    run.assert_code(1);
    assert_eq!(run.sorted_results(), all, "{}", run.dump());
    // Two of the files' databases only: the union of their detections.
    let run = env.scan([
        "-i",
        "--no-summary",
        "-d",
        "db/b.hdb",
        "-d",
        "db/e.hsu",
        "tree",
    ]);
    let mut want: Vec<String> = expected["b.hdb"]
        .iter()
        .chain(&expected["e.hsu"])
        .cloned()
        .collect();
    want.sort();
    assert_eq!(run.sorted_results(), want, "{}", run.dump());
    // With -d, the built-in set is not loaded.
    env.write("tree/eicar", EICAR);
    let run = env.scan(["-i", "--no-summary", "-d", "db/b.hdb", "tree/eicar"]);
    run.assert_code(0);
    assert!(run.stdout.is_empty(), "{}", run.dump());
}

#[test]
fn sizes_must_agree_and_wildcards_match_any_size() {
    let env = TestEnv::new();
    let data = b"sized content";
    env.write("t/a", data);
    let md5 = hex(Md5, data);
    // Right digest, wrong size: no detection (and the file is never hashed).
    env.write("wrong.hdb", format!("{md5}:{}:Wrong\n", data.len() + 1));
    let run = env.scan(["--json", "-d", "wrong.hdb", "t"]);
    run.assert_code(0);
    let s = run.json_summary();
    assert_eq!(s["detections"], 0);
    assert_eq!(s["hashed"], 0);
    assert_eq!(s["cleared_by_size"], 1);

    // `*` in .hsb with MINFL 73: detected at any size.
    let sha = hex(Sha256, data);
    env.write("star.hsb", format!("{sha}:*:Star:73\n"));
    let run = env.scan(["-i", "--no-summary", "-d", "star.hsb", "t"]);
    run.assert_code(1);
    assert_eq!(
        run.results(),
        vec![found("t/a".as_ref(), "Star.UNOFFICIAL")]
    );
    // `*` in .hdb with MINFL and an open MAXFL field.
    env.write("star.hdb", format!("{md5}:*:StarMd5:73:\n"));
    let run = env.scan(["-i", "--no-summary", "-d", "star.hdb", "t"]);
    run.assert_code(1);
    assert_eq!(
        run.results(),
        vec![found("t/a".as_ref(), "StarMd5.UNOFFICIAL")]
    );
    // `*` in .vsig needs no FLEVEL.
    env.write(
        "star.vsig",
        format!("blake3:{}:*:StarB3\n", hex(Blake3, data)),
    );
    let run = env.scan(["-i", "--no-summary", "-d", "star.vsig", "t"]);
    run.assert_code(1);
    assert_eq!(run.results(), vec![found("t/a".as_ref(), "StarB3")]);

    // ClamAV refuses `*` without a MINFL of at least 73: so does vigil.
    for (i, line) in [format!("{sha}:*:NoFlevel"), format!("{sha}:*:LowFlevel:72")]
        .iter()
        .enumerate()
    {
        let db = format!("bad{i}.hsb");
        env.write(&db, format!("{line}\n"));
        let run = env.scan(["-d", &db, "t"]);
        run.assert_code(2);
        assert!(run.stdout.is_empty(), "nothing scanned\n{}", run.dump());
        assert!(
            run.stderr().contains(&format!("{db}:1:")),
            "names file:line\n{}",
            run.dump()
        );
    }
}

#[test]
fn flevel_window_skips_lines_for_other_engines() {
    let env = TestEnv::new();
    let data = b"flevel";
    env.write("t/a", data);
    let md5 = hex(Md5, data);
    let n = data.len();
    // Skipped, as by ClamAV 1.4.6 (FLEVEL 216): a MINFL above, a MAXFL below.
    env.write(
        "skip.hdb",
        format!(
            "{md5}:{n}:TooNew:217\n{md5}:{n}:TooOld:73:215\n{}:1:Other\n",
            hex(Md5, b"x")
        ),
    );
    let run = env.scan(["--json", "-d", "skip.hdb", "t"]);
    run.assert_code(0);
    assert_eq!(run.json_summary()["detections"], 0, "{}", run.dump());
    // Inside the window: used.
    env.write("use.hdb", format!("{md5}:{n}:InWindow:216:216\n"));
    let run = env.scan(["-i", "--no-summary", "-d", "use.hdb", "t"]);
    run.assert_code(1);
    assert_eq!(
        run.results(),
        vec![found("t/a".as_ref(), "InWindow.UNOFFICIAL")]
    );
}

#[test]
fn crlf_uppercase_hex_comments_and_blank_lines() {
    let env = TestEnv::new();
    let a = b"crlf file a";
    let b = b"crlf file bb";
    env.write("t/a", a);
    env.write("t/b", b);
    env.write(
        "x.hdb",
        format!(
            "# a comment\r\n\r\n   \r\n{}:{}:Crlf.A\r\n# {}:{}:Commented.Out\r\n",
            hex(Md5, a).to_uppercase(),
            a.len(),
            hex(Md5, b),
            b.len()
        ),
    );
    env.write(
        "y.vsig",
        format!(
            "#comment\r\nSHA256:{}:{}:Crlf.B\r\n",
            hex(Sha256, b).to_uppercase(),
            b.len()
        ),
    );
    let run = env.scan(["-i", "--no-summary", "-d", "x.hdb", "t/a", "t/b"]);
    run.assert_code(1);
    // The name carries no stray `\r`; the commented-out line detects nothing.
    assert_eq!(run.stdout(), "t/a: Crlf.A.UNOFFICIAL FOUND\n");
    let run = env.scan(["-i", "--no-summary", "-d", "y.vsig", "t"]);
    run.assert_code(1);
    assert_eq!(run.stdout(), "t/b: Crlf.B FOUND\n");
}

#[test]
fn allow_lists_win_over_detections() {
    let env = TestEnv::new();
    let files: Vec<Vec<u8>> = (0..4)
        .map(|i| format!("allow-list file {i}").into_bytes())
        .collect();
    let mut detect = String::new();
    for (i, data) in files.iter().enumerate() {
        env.write(format!("t/f{i}"), data);
        detect += &format!("{}:{}:Bad.{i}\n", hex(Md5, data), data.len());
    }
    env.write("db/detect.hdb", detect);
    // f0 allowed by .fp (md5), f1 by .sfp (sha256), f2 by .vallow (blake3, `*`);
    // f3 has a .fp entry of the wrong size, so it is still detected.
    env.write(
        "db/allow.fp",
        format!(
            "{}:{}:Good.0\n{}:{}:Good.3\n",
            hex(Md5, &files[0]),
            files[0].len(),
            hex(Md5, &files[3]),
            files[3].len() + 1
        ),
    );
    env.write(
        "db/allow.sfp",
        format!("{}:{}:Good.1\n", hex(Sha256, &files[1]), files[1].len()),
    );
    env.write(
        "db/allow.vallow",
        format!("blake3:{}:*:Good.2\n", hex(Blake3, &files[2])),
    );
    let run = env.scan(["--no-summary", "-d", "db", "t"]);
    run.assert_code(1);
    assert_eq!(
        run.sorted_results(),
        vec![
            "t/f0: OK".to_string(),
            "t/f1: OK".into(),
            "t/f2: OK".into(),
            "t/f3: Bad.3.UNOFFICIAL FOUND".into(),
        ],
        "{}",
        run.dump()
    );
    // Each allow-list file also works on its own, named with -d.
    for (allow, file) in [
        ("db/allow.fp", 0),
        ("db/allow.sfp", 1),
        ("db/allow.vallow", 2),
    ] {
        let run = env.scan([
            "--no-summary",
            "-d",
            "db/detect.hdb",
            "-d",
            allow,
            &format!("t/f{file}"),
        ]);
        run.assert_code(0);
        assert_eq!(run.stdout(), format!("t/f{file}: OK\n"), "{allow}");
    }
    let run = env.scan(["--json", "-d", "db", "t"]);
    assert_eq!(run.json_summary()["allow_entries"], 4);
}

#[test]
fn malformed_lines_are_reported_with_file_and_line_and_nothing_is_scanned() {
    let env = TestEnv::new();
    env.write("t/eicar", EICAR);
    let good = format!("{}:68:Good", hex(Md5, EICAR));
    env.write(
        "db/bad.hdb",
        format!("# comment\n{good}\nnot a signature\n\n{good}:seven\n"),
    );
    let run = env.scan(["-d", "db/bad.hdb", "t"]);
    run.assert_code(2);
    assert!(
        run.stdout.is_empty(),
        "nothing scanned, no summary\n{}",
        run.dump()
    );
    let err = run.stderr();
    assert!(err.contains("db/bad.hdb:3:"), "{err}");
    assert!(
        err.contains("db/bad.hdb:5:"),
        "every fault is listed: {err}"
    );
    assert!(!err.contains("db/bad.hdb:2:"), "{err}");

    // A bad file in a folder spoils the whole load, and good files don't hide it.
    env.write("db/good.vsig", format!("md5:{}:68:G\n", hex(Md5, EICAR)));
    env.write(
        "db2/x.vsig",
        "md5:44d88612fea8a8f36de82e1278abb02f:68:Ok\ncrc32:00:1:Nope\n",
    );
    for (args, fault) in [
        (vec!["-d", "db", "t"], "db/bad.hdb:3:"),
        (
            vec!["-d", "db/good.vsig", "-d", "db2", "t"],
            "db2/x.vsig:2:",
        ),
        (vec!["--json", "-d", "db2/x.vsig", "t"], "db2/x.vsig:2:"),
    ] {
        let run = env.scan(&args);
        run.assert_code(2);
        if args.contains(&"--json") {
            // Nothing scanned; the fault as a JSON error object.
            let errors = run.json_of("error");
            assert_eq!(errors.len(), run.json().len(), "{}", run.dump());
            assert_eq!(errors[0]["kind"], "database", "{}", run.dump());
        } else {
            assert!(run.stdout.is_empty(), "{args:?}\n{}", run.dump());
        }
        assert!(run.stderr().contains(fault), "{args:?}\n{}", run.dump());
    }
    let err = env.scan(["-d", "db2", "t"]).stderr();
    assert!(err.contains("db2/x.vsig:2:"), "{err}");
    assert!(
        err.to_lowercase().contains("algorithm"),
        "says what is wrong: {err}"
    );

    // Other faults: bad hex, bad size, a hex length that fits no algorithm.
    for (i, line) in [
        format!("{}:68:X", "zz".repeat(16)),
        format!("{}:-1:X", hex(Md5, EICAR)),
        "abcdef:68:X".to_string(),
        format!("{}:68", hex(Md5, EICAR)),
    ]
    .iter()
    .enumerate()
    {
        let db = format!("fault{i}.hdb");
        env.write(&db, format!("# header\n{line}\n"));
        let run = env.scan(["-d", &db, "t"]);
        run.assert_code(2);
        assert!(run.stdout.is_empty());
        assert!(
            run.stderr().contains(&format!("{db}:2:")),
            "{line}: {}",
            run.dump()
        );
    }
}

#[test]
fn missing_and_unknown_databases_are_errors() {
    let env = TestEnv::new();
    env.write("t/eicar", EICAR);
    env.write("sigs.txt", format!("{}:68:X\n", hex(Md5, EICAR)));
    for db in ["missing.hdb", "sigs.txt"] {
        let run = env.scan(["-d", db, "t"]);
        run.assert_code(2);
        assert!(run.stdout.is_empty(), "{db}\n{}", run.dump());
        assert!(run.stderr().contains(db), "{db}\n{}", run.dump());
    }
    // Unknown files inside a folder are passed over; the known ones load.
    env.write("db/main.ndb", "Foo:0:*:414243\n");
    env.write("db/x.hdb", format!("{}:68:InFolder\n", hex(Md5, EICAR)));
    let run = env.scan(["-i", "--no-summary", "-d", "db", "t"]);
    run.assert_code(1);
    assert_eq!(run.stdout(), "t/eicar: InFolder.UNOFFICIAL FOUND\n");
}
