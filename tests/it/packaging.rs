//! What the Debian package installs: the man pages and completions kept in
//! `packaging/` are what `vigil generate` writes from the clap definitions
//! now, the pages render without groff warnings, and the `.deb` that
//! `cargo deb` built (`.ci/run` builds it) holds the binary, the units, the
//! conffile and the `vigil` user, and its binary and unit work from an
//! unpacked root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::testenv::{run, TestEnv};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Fails under CI when `tool` is missing; elsewhere says SKIPPED.
fn have(tool: &str, package: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("{tool} is missing; .ci/run installs {package}");
    }
    if !ok {
        eprintln!("SKIPPED: {tool} not installed (apt-get install {package})");
    }
    ok
}

/// Every file in `dir` with its content.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn man_pages_and_completions_are_current() {
    let env = TestEnv::new();
    for (what, kept) in [
        ("man", "packaging/man"),
        ("completions", "packaging/completions"),
    ] {
        let out = env.path(what);
        env.vigil(["generate", what, out.to_str().unwrap()])
            .assert_code(0);
        let (now, kept_files) = (files(&out), files(&repo(kept)));
        assert_eq!(
            now.keys().collect::<Vec<_>>(),
            kept_files.keys().collect::<Vec<_>>(),
            "{kept} is out of date: run `cargo run -- generate {what} {kept}`"
        );
        for (name, text) in &now {
            assert!(
                kept_files[name] == *text,
                "{kept}/{name} is out of date: run `cargo run -- generate {what} {kept}`"
            );
        }
    }
    // One page per subcommand, nested ones too; the hidden one has none.
    let pages = files(&repo("packaging/man"));
    for page in [
        "vigil.1",
        "vigil-scan.1",
        "vigil-daemon.1",
        "vigil-ctl-stats.1",
    ] {
        assert!(pages.contains_key(page), "{page} missing");
    }
    assert!(!pages.contains_key("vigil-generate.1"));
}

#[test]
fn man_pages_render_without_warnings() {
    if !have("groff", "groff-base") {
        return;
    }
    let pages = files(&repo("packaging/man"));
    assert!(pages.len() > 10);
    for name in pages.keys() {
        let mut cmd = Command::new("groff");
        cmd.args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(repo("packaging/man").join(name));
        let out = run(cmd, None);
        out.assert_code(0);
        assert!(out.stderr().is_empty(), "{name}: {}", out.stderr());
    }
}

/// The package `cargo deb` wrote last (`target/debian/vigil_*.deb`).
fn built_package() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo("target"));
    let newest = std::fs::read_dir(target.join("debian"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("vigil_") && name.ends_with(".deb")
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    if newest.is_none() && std::env::var_os("CI").is_some() {
        panic!("no target/debian/vigil_*.deb: .ci/run builds it with `cargo deb`");
    }
    if newest.is_none() {
        eprintln!("SKIPPED: no package built (cargo install cargo-deb && cargo deb)");
    }
    newest
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let mut cmd = Command::new("dpkg-deb");
    cmd.args(args).arg(deb);
    let out = run(cmd, None);
    out.assert_code(0);
    out.stdout()
}

/// One file of the package's control area (`conffiles`, `postinst`, ...).
fn control_file(deb: &Path, name: &str) -> String {
    let mut cmd = Command::new("dpkg-deb");
    cmd.arg("--info").arg(deb).arg(name);
    let out = run(cmd, None);
    assert_eq!(out.code(), 0, "no {name} in the package: {}", out.dump());
    out.stdout()
}

#[test]
fn the_debian_package_installs_a_working_service() {
    if !have("dpkg-deb", "dpkg") {
        return;
    }
    let Some(deb) = built_package() else {
        return;
    };
    let listing = dpkg_deb(&["--contents"], &deb);
    let listed: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .collect();
    for path in [
        "./usr/bin/vigil",
        "./etc/vigil/vigil.toml",
        "./usr/lib/systemd/system/vigil.service",
        "./usr/lib/systemd/system/vigil.socket",
        "./usr/lib/sysusers.d/vigil.conf",
        "./usr/share/bash-completion/completions/vigil",
        "./usr/share/zsh/vendor-completions/_vigil",
        "./usr/share/fish/vendor_completions.d/vigil.fish",
        "./usr/share/doc/vigil/copyright",
        "./usr/share/doc/vigil/examples/vigil-guard.conf",
    ] {
        assert!(
            listed.contains(&path),
            "{path} not in the package:\n{listing}"
        );
    }
    for page in files(&repo("packaging/man")).keys() {
        assert!(
            listed
                .iter()
                .any(|p| p.starts_with(&format!("./usr/share/man/man1/{page}"))),
            "man page {page} not in the package:\n{listing}"
        );
    }
    let conffiles = control_file(&deb, "conffiles");
    assert!(
        conffiles
            .lines()
            .any(|l| l.trim() == "/etc/vigil/vigil.toml"),
        "/etc/vigil/vigil.toml is not marked as a conffile:\n{conffiles}"
    );
    let postinst = control_file(&deb, "postinst");
    assert!(
        postinst.contains("systemd-sysusers") && postinst.contains("vigil.conf"),
        "postinst does not make the vigil user:\n{postinst}"
    );

    // Unpacked into a temporary root: the binary runs, carries no debug
    // info or symbol table, and the unit's ExecStart names it.
    let env = TestEnv::new();
    let root = env.mkdir("root");
    let mut cmd = Command::new("dpkg-deb");
    cmd.arg("-x").arg(&deb).arg(&root);
    run(cmd, None).assert_code(0);
    let bin = root.join("usr/bin/vigil");
    let mut cmd = Command::new(&bin);
    cmd.arg("--version");
    let version = run(cmd, None);
    version.assert_code(0);
    assert_eq!(
        version.stdout().trim(),
        format!("vigil {}", env!("CARGO_PKG_VERSION"))
    );
    if have("readelf", "binutils") {
        let mut cmd = Command::new("readelf");
        cmd.arg("-S").arg(&bin);
        let sections = run(cmd, None);
        sections.assert_code(0);
        for section in [".debug_info", ".symtab"] {
            assert!(
                !sections.stdout().contains(section),
                "the packaged binary has {section}"
            );
        }
    }
    let unit = std::fs::read_to_string(root.join("usr/lib/systemd/system/vigil.service")).unwrap();
    assert!(unit.contains("\nExecStart=/usr/bin/vigil daemon --config /etc/vigil/vigil.toml\n"));
    if have("systemd-analyze", "systemd") {
        // verify checks that ExecStart's program exists: point it into the root.
        let units = env.mkdir("units");
        let root_bin = bin.to_str().unwrap();
        std::fs::write(
            units.join("vigil.service"),
            unit.replace("/usr/bin/vigil", root_bin),
        )
        .unwrap();
        std::fs::copy(
            root.join("usr/lib/systemd/system/vigil.socket"),
            units.join("vigil.socket"),
        )
        .unwrap();
        let mut cmd = Command::new("systemd-analyze");
        cmd.env("SYSTEMD_LOG_COLOR", "0")
            .arg("verify")
            .arg(units.join("vigil.service"))
            .arg(units.join("vigil.socket"));
        let out = run(cmd, None);
        assert_eq!(out.code(), 0, "{}", out.dump());
        assert!(out.stderr().trim().is_empty(), "{}", out.dump());
    }
}
