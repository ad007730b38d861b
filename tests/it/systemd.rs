//! The shipped units pass `systemd-analyze verify`, and the service rates
//! 0.9 or better on `systemd-analyze security --offline=true` (with socket
//! activation it keeps `PrivateNetwork=yes` and `RestrictAddressFamilies=AF_UNIX`). Both run without
//! systemd as PID 1; `.ci/run` installs the `systemd` package for them.

use std::path::Path;
use std::process::Command;

/// The unit, with ExecStart pointing at the binary just built (verify checks
/// that the command exists), in a folder of its own.
fn unit_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/vigil.service"),
    )
    .unwrap();
    assert!(text.contains("ExecStart=/usr/bin/vigil daemon"));
    let text = text.replace("/usr/bin/vigil", env!("CARGO_BIN_EXE_vigil"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.service");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn systemd_analyze() -> Command {
    let mut cmd = Command::new("systemd-analyze");
    cmd.env("SYSTEMD_LOG_COLOR", "0").env("SYSTEMD_PAGER", "");
    cmd
}

fn have_systemd_analyze() -> bool {
    let ok = systemd_analyze()
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("systemd-analyze is missing; .ci/run installs the systemd package");
    }
    if !ok {
        eprintln!("SKIPPED: systemd-analyze not installed (apt-get install systemd)");
    }
    ok
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    if !have_systemd_analyze() {
        return;
    }
    let (_dir, unit) = unit_copy();
    let out = systemd_analyze().arg("verify").arg(&unit).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.trim().is_empty(), "verify printed warnings:\n{text}");
}

#[test]
fn unit_rates_0_9_or_better_on_systemd_analyze_security() {
    if !have_systemd_analyze() {
        return;
    }
    let (_dir, unit) = unit_copy();
    let out = systemd_analyze()
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no rating in:\n{text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the rating in {line:?}"));
    assert!(score <= 0.9, "{line}");
}

#[test]
fn socket_unit_passes_systemd_analyze_verify() {
    if !have_systemd_analyze() {
        return;
    }
    // The service it activates sits beside it, as once installed.
    let (dir, service) = unit_copy();
    let socket = dir.path().join("vigil.socket");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/vigil.socket"),
        &socket,
    )
    .unwrap();
    let out = systemd_analyze()
        .arg("verify")
        .arg(&socket)
        .arg(&service)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.trim().is_empty(), "verify printed warnings:\n{text}");
    let unit = std::fs::read_to_string(&socket).unwrap();
    assert!(unit
        .lines()
        .any(|l| l == "ListenStream=/run/vigil/vigil.sock"));
    assert!(unit.lines().any(|l| l == "#ListenStream=127.0.0.1:3310"));
}

#[test]
fn unit_has_the_required_type_sandboxing_and_capability() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/vigil.service"),
    )
    .unwrap();
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=vigil",
        "StateDirectory=vigil",
        "AmbientCapabilities=CAP_DAC_READ_SEARCH",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "RestrictAddressFamilies=AF_UNIX",
        "PrivateNetwork=yes",
        "RuntimeDirectoryPreserve=yes",
        "SystemCallFilter=@system-service",
        "WatchdogSec=",
    ] {
        assert!(text.lines().any(|l| l.starts_with(line)), "missing {line}");
    }
}

#[test]
fn the_guard_drop_in_passes_systemd_analyze_verify() {
    if !have_systemd_analyze() {
        return;
    }
    let (dir, unit) = unit_copy();
    let drop_in = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/vigil-guard.conf"),
    )
    .unwrap();
    assert!(drop_in.contains("CAP_SYS_ADMIN") && drop_in.contains("fanotify_init"));
    // A second [Service] section merges as a drop-in does.
    let merged = std::fs::read_to_string(&unit).unwrap() + &drop_in;
    let path = dir.path().join("vigil-guarded.service");
    std::fs::write(&path, merged).unwrap();
    let out = systemd_analyze().arg("verify").arg(&path).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.trim().is_empty(), "verify printed warnings:\n{text}");
}
