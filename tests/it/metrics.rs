//! The metrics in Prometheus' text format: what `vigil scan --metrics-file`
//! writes, what the daemon writes to `metrics_file` and what `vigil ctl
//! stats --prometheus` prints are read back with Prometheus' own parsers
//! (Python's `prometheus_client`, and `promtool check metrics`) and checked
//! against a scan whose counts are known. `.ci/run` installs both.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::testenv::{run, Daemon, TestEnv, EICAR};

/// Every sample, as `name{label="value",...}` → value, as
/// `prometheus_client.parser` reads the text.
fn parse(text: &str) -> BTreeMap<String, f64> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        out[s.name + ("{%s}" % labels if labels else "")] = s.value
print(json.dumps(out))
"#;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", SCRIPT]);
    let out = run(cmd, Some(text.as_bytes().to_vec()));
    if out.code() != 0 && out.stderr().contains("No module named 'prometheus_client'") {
        if std::env::var_os("CI").is_some() {
            panic!("prometheus_client is missing; .ci/run installs it");
        }
        eprintln!("SKIPPED: pip install prometheus_client");
        return BTreeMap::new();
    }
    assert_eq!(
        out.code(),
        0,
        "the parser refused the metrics: {}",
        out.dump()
    );
    serde_json::from_str(&out.stdout()).unwrap()
}

/// `promtool check metrics` finds no fault (it also lints names and help).
fn promtool_accepts(text: &str) {
    let found = Command::new("promtool").arg("--version").output().is_ok();
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("promtool is missing; .ci/run installs the prometheus package");
        }
        eprintln!("SKIPPED: promtool not installed (apt-get install prometheus)");
        return;
    }
    let mut cmd = Command::new("promtool");
    cmd.args(["check", "metrics"]);
    let out = run(cmd, Some(text.as_bytes().to_vec()));
    assert_eq!(out.code(), 0, "{}\n{text}", out.dump());
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
}

#[test]
fn a_scan_writes_its_counts_as_prometheus_metrics() {
    let env = TestEnv::new();
    env.write("t/eicar.com", EICAR);
    env.write("t/a.txt", b"hello\n");
    env.write("t/big.bin", vec![1u8; 4096]);
    env.write("t/same-size", vec![b'x'; EICAR.len()]);
    let file = env.path("out/vigil.prom");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    env.scan([
        "--max-filesize",
        "1K",
        "--metrics-file",
        file.to_str().unwrap(),
        env.path("t").to_str().unwrap(),
    ])
    .assert_code(1);
    let text = std::fs::read_to_string(&file).unwrap();
    promtool_accepts(&text);
    let m = parse(&text);
    if m.is_empty() {
        return;
    }
    // eicar.com and same-size are hashed; a.txt no signature's size fits.
    assert_eq!(value(&m, "vigil_files_scanned_total"), 3.0);
    assert_eq!(value(&m, "vigil_files_hashed_total"), 2.0);
    assert_eq!(
        value(&m, "vigil_scanned_bytes_total"),
        2.0 * EICAR.len() as f64
    );
    assert_eq!(value(&m, "vigil_detections_total"), 1.0);
    assert_eq!(value(&m, "vigil_errors_total"), 0.0);
    assert_eq!(
        value(&m, "vigil_files_skipped_total{reason=\"too_large\"}"),
        1.0
    );
    // Every file inspected is timed, the one found too large too.
    assert_eq!(value(&m, "vigil_file_scan_duration_seconds_count"), 4.0);
    assert_eq!(
        value(&m, "vigil_file_scan_duration_seconds_bucket{le=\"+Inf\"}"),
        4.0
    );
    assert!(value(&m, "vigil_signatures") >= 1.0);
    assert!(value(&m, "vigil_scan_duration_seconds") > 0.0);
    // Written atomically: nothing else is left in the folder.
    assert_eq!(
        std::fs::read_dir(file.parent().unwrap()).unwrap().count(),
        1
    );

    // A file that cannot be written is an error of the scan.
    let bad = env.scan([
        "--metrics-file",
        "/nonexistent/m.prom",
        env.path("t/a.txt").to_str().unwrap(),
    ]);
    bad.assert_code(2);
    assert!(
        bad.stderr()
            .contains("cannot write metrics to /nonexistent/m.prom"),
        "{}",
        bad.dump()
    );
}

/// Waits until `path` holds metrics where `series` is `want`.
fn wait_for(path: &Path, series: &str, want: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let line = text.lines().find(|l| l.split(' ').next() == Some(series));
        if line.and_then(|l| l.split(' ').nth(1)?.parse::<f64>().ok()) == Some(want) {
            return text;
        }
        assert!(Instant::now() < deadline, "{series} not {want} in:\n{text}");
        std::thread::sleep(Duration::from_millis(50)); // poll interval, not an assertion
    }
}

#[test]
fn the_daemon_writes_its_metrics_and_ctl_stats_prints_the_same() {
    let env = TestEnv::new();
    let file = env.path("metrics/vigil.prom");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let d = Daemon::builder()
        .env(env)
        .config(&format!(
            "metrics_file = {:?}\nmetrics_interval = \"100ms\"\n",
            file.to_str().unwrap()
        ))
        .start();
    // Written at start, before anything was scanned.
    wait_for(&file, "vigil_files_scanned_total", 0.0);
    d.env.write("data/eicar.com", EICAR);
    d.env.write("data/clean", b"clean\n");
    d.ctl(&["scan", d.env.path("data").to_str().unwrap()])
        .assert_code(1);
    d.ctl(&["reload"]).assert_code(0);
    let text = wait_for(&file, "vigil_reloads_total{result=\"ok\"}", 1.0);
    promtool_accepts(&text);
    let m = parse(&text);
    if m.is_empty() {
        return;
    }
    assert_eq!(value(&m, "vigil_files_scanned_total"), 2.0);
    assert_eq!(value(&m, "vigil_detections_total"), 1.0);
    assert_eq!(value(&m, "vigil_reloads_total{result=\"failed\"}"), 0.0);
    assert!(value(&m, "vigil_queue_capacity") >= 1.0);
    assert_eq!(value(&m, "vigil_watched_folders"), 1.0);
    assert!(value(&m, "vigil_control_connections_total") >= 2.0);
    assert_eq!(value(&m, "vigil_file_scan_duration_seconds_count"), 2.0);

    // The same metrics, from STATS's VIGIL line.
    let ctl = d.ctl(&["stats", "--prometheus"]);
    ctl.assert_code(0);
    promtool_accepts(&ctl.stdout());
    let c = parse(&ctl.stdout());
    for series in [
        "vigil_files_scanned_total",
        "vigil_detections_total",
        "vigil_scanned_bytes_total",
        "vigil_file_scan_duration_seconds_count",
        "vigil_reloads_total{result=\"ok\"}",
        "vigil_signatures",
        "vigil_queue_capacity",
    ] {
        assert_eq!(value(&c, series), value(&m, series), "{series}");
    }
    assert_eq!(value(&c, "vigil_control_connections"), 1.0);
}
