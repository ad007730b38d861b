//! `vigil bench` driven through the built binary: the documented JSON and CSV
//! fields, and a clear error (exit 2, no panic) for each bad input.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::testenv::{as_nobody, run, Run, TestEnv};

/// `vigil bench ARGS...` in the folder, which is also its `TMPDIR` (where a
/// generated corpus goes).
fn bench(env: &TestEnv, args: &[&str]) -> Run {
    let mut cmd = env.command();
    cmd.arg("bench").args(args).env("TMPDIR", env.root());
    run(cmd, None)
}

/// Exit 2 with `needle` in the message and no panic.
fn assert_refused(out: &Run, needle: &str) {
    let err = out.stderr();
    assert_eq!(out.code, Some(2), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty(), "no table on refusal");
}

const SMALL: [&str; 6] = ["--generate", "2M", "--threads", "1,2", "--repeat", "1"];

#[test]
fn table_json_csv_and_plot_carry_the_documented_fields() {
    let env = TestEnv::new();
    let (json, csv, plot) = (env.path("b.json"), env.path("b.csv"), env.path("b.svg"));
    let out = bench(
        &env,
        &[
            &SMALL[..],
            &[
                "--json",
                json.to_str().unwrap(),
                "--csv",
                csv.to_str().unwrap(),
            ],
            &["--plot", plot.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr());
    let table = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "threads",
        "files/s",
        "MiB/s",
        "speedup",
        "efficiency",
        "read-only",
        "hash-only xN",
        "limits",
        "verdict",
    ] {
        assert!(table.contains(needle), "{needle:?} missing from:\n{table}");
    }

    let j: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in [
        "other_load",
        "vigil_version",
        "date",
        "machine",
        "corpus",
        "signatures",
        "repeat",
        "cache",
        "rows",
        "limits",
        "errors",
    ] {
        assert!(j.get(key).is_some(), "JSON lacks {key}: {j}");
    }
    for key in ["cores", "cpu", "kernel"] {
        assert!(j["machine"].get(key).is_some(), "machine.{key}");
    }
    assert_eq!(j["corpus"]["generated"], true);
    assert_eq!(j["corpus"]["seed"], 1);
    assert_eq!(j["corpus"]["bytes"], 2 << 20);
    assert!(j["corpus"]["files"].as_u64().unwrap() > 10);
    assert_eq!(j["signatures"]["source"], "bench");
    assert_eq!(j["signatures"]["algorithm"], "blake3");
    assert_eq!(j["signatures"]["count"], 1);
    assert_eq!(j["cache"], "warm");
    assert_eq!(j["errors"], 0);
    for algo in ["blake3", "sha256", "sha1", "md5"] {
        assert!(
            j["limits"]["hash_only_mib_per_sec"][algo].as_f64().unwrap() > 0.0,
            "{algo}"
        );
    }
    let rows = j["rows"].as_array().unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| r["threads"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2]
    );
    for r in rows {
        // CPU time comes in 10 ms steps: a tiny run may show 0.
        for stat in ["median", "min", "max"] {
            assert!(
                r["cpu_secs"][stat].as_f64().unwrap() >= 0.0,
                "cpu_secs.{stat}: {r}"
            );
        }
        for spread in [
            "files_per_sec",
            "mib_per_sec",
            "elapsed_secs",
            "read_only_mib_per_sec",
            "read_only_files_per_sec",
        ] {
            for stat in ["median", "min", "max"] {
                assert!(
                    r[spread][stat].as_f64().unwrap() > 0.0,
                    "{spread}.{stat}: {r}"
                );
            }
        }
        for key in [
            "speedup",
            "efficiency",
            "hash_bound_mib_per_sec",
            "read_plus_hash_mib_per_sec",
            "of_limit",
        ] {
            assert!(r[key].as_f64().unwrap() > 0.0, "{key}: {r}");
        }
    }
    assert_eq!(rows[0]["speedup"], 1.0);

    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(
        header,
        [
            "threads",
            "files",
            "bytes",
            "files_per_sec_median",
            "files_per_sec_min",
            "files_per_sec_max",
            "mib_per_sec_median",
            "mib_per_sec_min",
            "mib_per_sec_max",
            "elapsed_secs_median",
            "cpu_secs_median",
            "speedup",
            "efficiency",
            "read_only_mib_per_sec_median",
            "read_only_mib_per_sec_min",
            "read_only_mib_per_sec_max",
            "hash_bound_mib_per_sec",
            "read_plus_hash_mib_per_sec",
            "of_limit",
        ]
    );
    assert_eq!(lines.len(), 3, "{text}");
    for (line, threads) in lines[1..].iter().zip(["1", "2"]) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), header.len(), "{line}");
        assert_eq!(cells[0], threads);
        assert_eq!(cells[2], (2 << 20).to_string());
        assert!(
            cells[1..].iter().all(|c| c.parse::<f64>().is_ok()),
            "{line}"
        );
    }

    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("<svg"));
    assert!(svg.contains("vigil scan throughput against worker threads"));
    assert!(svg.contains("worker threads (--threads)"));
    assert!(svg.contains("ideal: the 1-worker rate"));

    let corpus = j["corpus"]["path"].as_str().unwrap();
    assert!(
        !Path::new(corpus).exists(),
        "the generated corpus is removed"
    );
}

#[test]
fn keep_leaves_the_generated_corpus() {
    let env = TestEnv::new();
    let json = env.path("b.json");
    let out = bench(
        &env,
        &[&SMALL[..], &["--keep", "--json", json.to_str().unwrap()]].concat(),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr());
    let j: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(j["corpus"]["kept"], true);
    assert!(Path::new(j["corpus"]["path"].as_str().unwrap()).is_dir());
}

#[test]
fn bad_thread_lists_are_refused() {
    let env = TestEnv::new();
    for (list, why) in [
        ("0", "0 workers"),
        ("a,b", "\"a\" is not a whole number"),
        ("", "it is empty"),
        ("1,,2", "an empty entry"),
        ("2,-1", "\"-1\" is not a whole number"),
        ("100000", "more than 1024 workers"),
    ] {
        let out = bench(&env, &["--generate", "2M", "--threads", list]);
        assert_refused(&out, "bad --threads list");
        assert_refused(&out, why);
    }
    assert!(
        std::fs::read_dir(env.root()).unwrap().next().is_none(),
        "no corpus was made"
    );
}

#[test]
fn other_bad_options_are_refused() {
    let env = TestEnv::new();
    assert_refused(
        &bench(&env, &["--generate", "lots"]),
        "bad --generate \"lots\"",
    );
    assert_refused(
        &bench(&env, &["--generate", "2M:0"]),
        "FILES must be at least 1",
    );
    assert_refused(
        &bench(&env, &["--repeat", "0"]),
        "--repeat must be at least 1",
    );
    // clap's own refusals also exit 2.
    assert_refused(&bench(&env, &["--algo", "crc32"]), "crc32");
    assert_refused(
        &bench(&env, &["--algo", "md5", "-d", "x.vsig"]),
        "cannot be used with",
    );
}

#[test]
fn missing_corpus_is_refused() {
    let env = TestEnv::new();
    let out = bench(&env, &["--corpus", "/no/such/corpus", "--threads", "1"]);
    assert_refused(
        &out,
        "corpus folder /no/such/corpus: No such file or directory",
    );
    let file = env.path("file");
    std::fs::write(&file, b"x").unwrap();
    let out = bench(
        &env,
        &["--corpus", file.to_str().unwrap(), "--threads", "1"],
    );
    assert_refused(&out, "is not a folder");
}

#[test]
fn unwritable_outputs_are_refused_before_any_work() {
    let env = TestEnv::new();
    let missing_dir = env.path("no/such/dir/plot.svg");
    let out = bench(
        &env,
        &[&SMALL[..], &["--plot", missing_dir.to_str().unwrap()]].concat(),
    );
    assert_refused(&out, "cannot write the plot file");
    assert_refused(&out, "No such file or directory");
    let a_dir = env.root().to_str().unwrap().to_string();
    assert_refused(
        &bench(&env, &[&SMALL[..], &["--json", &a_dir]].concat()),
        "cannot write the JSON file",
    );
    assert_refused(
        &bench(&env, &[&SMALL[..], &["--csv", &a_dir]].concat()),
        "cannot write the CSV file",
    );
    let entries: Vec<_> = std::fs::read_dir(env.root()).unwrap().collect();
    assert!(
        entries.is_empty(),
        "nothing generated, nothing left: {entries:?}"
    );
}

#[test]
fn databases_replace_the_bench_signature() {
    let env = TestEnv::new();
    let db = env.path("any.vsig");
    std::fs::write(&db, format!("sha1:{}:*:Nothing\n", "ab".repeat(20))).unwrap();
    let json = env.path("b.json");
    let out = bench(
        &env,
        &[
            &SMALL[..],
            &["-d", db.to_str().unwrap(), "--json", json.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr());
    let j: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(j["signatures"]["source"], "databases");
    assert_eq!(j["signatures"]["algorithm"], Value::Null);
    assert_eq!(j["rows"][0]["hash_bound_mib_per_sec"], Value::Null);

    // A set whose sizes no file has reads nothing: there is nothing to time.
    let sized = env.path("sized.hdb");
    std::fs::write(&sized, format!("{}:1:Tiny\n", "cd".repeat(16))).unwrap();
    let out = bench(
        &env,
        &[&SMALL[..], &["-d", sized.to_str().unwrap()]].concat(),
    );
    assert_refused(&out, "holds no file that the signatures make vigil read");
}

#[test]
fn cold_without_root_says_so() {
    let env = TestEnv::new();
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let out = if is_root {
        // Run as nobody, if this system can.
        let mut cmd = as_nobody(env.public_bin(".vigil-bin"));
        cmd.args(["bench", "--cold", "--generate", "2M", "--threads", "1"])
            .env("TMPDIR", "/tmp");
        match run(cmd, None) {
            out if !out.stderr().contains("setpriv:") => out,
            _ => {
                eprintln!("skipped: cannot run as another user here");
                return;
            }
        }
    } else {
        bench(
            &env,
            &["--drop-caches", "--generate", "2M", "--threads", "1"],
        )
    };
    assert_refused(&out, "--cold needs root");
}
