//! What a new user meets first: messages that say what happened and what
//! to do, on the paths where a first try goes wrong.

use std::time::Duration;

use crate::testenv::{Daemon, TestEnv, EICAR, EICAR_NAME};

const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";

#[test]
fn warnings_off_a_terminal_read_like_vigil_messages_without_colour() {
    let env = TestEnv::new();
    env.write("db/a.hdb", format!("{EICAR_MD5}:68:Test.Eicar\n"));
    env.write("db/notes.txt", "stray\n");
    env.write("t/eicar", EICAR);
    let run = env.scan(["-d", "db", "t"]);
    run.assert_code(1);
    let err = run.stderr();
    assert!(!err.contains('\x1b'), "colour codes in {err:?}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("vigil: warning: not a signature format")
                && l.ends_with("path=db/notes.txt")),
        "{err}"
    );
}

#[test]
fn unknown_log_levels_are_refused() {
    let env = TestEnv::new();
    env.mkdir("w");
    let run = env.vigil(["daemon", "--watch", "w", "--log-level", "warning"]);
    run.assert_code(2);
    assert!(
        run.stderr().contains("unknown log level \"warning\""),
        "{}",
        run.dump()
    );
    env.write("v.toml", "watch = [\"w\"]\n\nlog_level = \"verbose\"\n");
    let run = env.vigil(["daemon", "--config", "v.toml"]);
    run.assert_code(2);
    assert!(
        run.stderr()
            .contains("v.toml: log_level: unknown log level \"verbose\"")
            && run.stderr().contains("(line 3)"),
        "{}",
        run.dump()
    );
}

#[test]
fn a_socket_in_a_missing_folder_says_which_and_what_to_do() {
    let env = TestEnv::new();
    env.mkdir("w");
    let socket = env.path("run/vigil/vigil.sock");
    let run = env.vigil([
        "daemon",
        "--watch",
        "w",
        "--socket",
        socket.to_str().unwrap(),
    ]);
    run.assert_code(2);
    let err = run.stderr();
    assert!(
        err.contains(&format!(
            "the folder {} does not exist",
            env.path("run/vigil").display()
        )) && err.contains("--socket"),
        "{err}"
    );
}

#[test]
fn ctl_on_a_file_that_is_not_a_socket_says_so() {
    let env = TestEnv::new();
    let file = env.write("not-a-socket", "x");
    let run = env.vigil(["ctl", "--socket", file.to_str().unwrap(), "ping"]);
    run.assert_code(2);
    assert!(
        run.stderr().contains("it is not a socket"),
        "{}",
        run.dump()
    );
    assert!(!run.stderr().contains("earlier one"), "{}", run.dump());
}

#[test]
fn an_empty_quarantine_lists_nothing() {
    let env = TestEnv::new();
    let vault = env.path("never-made");
    for args in [&["list"][..], &["list", "--json"]] {
        let run = env.vigil(
            ["quarantine", "--dir", vault.to_str().unwrap()]
                .iter()
                .chain(args),
        );
        run.assert_code(0);
        assert_eq!(run.stdout(), "", "{}", run.dump());
    }
    assert!(!vault.exists());
}

#[test]
fn json_output_tells_a_failed_load_too() {
    let env = TestEnv::new();
    env.write("bad.vsig", "this is not a signature\n");
    env.write("t/a", "a");
    let run = env.scan(["--json", "-d", "bad.vsig", "t"]);
    run.assert_code(2);
    let errors = run.json_of("error");
    assert_eq!(errors.len(), 1, "{}", run.dump());
    assert_eq!(errors[0]["kind"], "database");
    assert_eq!(errors[0]["path"], "bad.vsig");
    assert_eq!(errors[0]["line"], 1);
}

#[test]
fn a_database_of_other_engine_levels_says_why_it_is_empty() {
    let env = TestEnv::new();
    env.write("old.hdb", format!("{EICAR_MD5}:68:Old.Eicar:20:40\n"));
    let run = env.scan(["-d", "old.hdb", "."]);
    run.assert_code(2);
    assert!(
        run.stderr()
            .contains("no signatures found; 1 line(s) skipped: their functionality-level window"),
        "{}",
        run.dump()
    );
}

#[test]
fn a_named_file_over_max_filesize_gets_a_line() {
    let env = TestEnv::new();
    env.write("big", vec![0u8; 4096]);
    let run = env.scan(["--max-filesize", "1K", "--no-summary", "big"]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "big: OK\n", "{}", run.dump());
}

#[test]
fn clamscan_style_excludes_are_warned_about_and_folder_slashes_accepted() {
    let env = TestEnv::new();
    env.write("t/a.log", "a");
    env.write("t/logs/b", "b");
    env.write("t/c", "c");
    let run = env.scan(["--no-summary", "--exclude", "\\.log$", "t"]);
    assert!(
        run.stderr()
            .contains("--exclude \"\\\\.log$\" looks like a regular expression"),
        "{}",
        run.dump()
    );
    let run = env.scan([
        "--no-summary",
        "--exclude",
        "*.log",
        "--exclude-dir",
        "logs/",
        "t",
    ]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "t/c: OK\n", "{}", run.dump());
    assert_eq!(run.stderr(), "", "{}", run.dump());
}

#[test]
fn restore_hints_at_to_and_to_a_folder_keeps_the_name() {
    let env = TestEnv::new();
    let file = env.write("gone/eicar.com", EICAR);
    let vault = env.path("vault");
    let v = vault.to_str().unwrap();
    env.scan(["--move", v, file.to_str().unwrap()])
        .assert_code(1);
    std::fs::remove_dir(env.path("gone")).unwrap();
    let list = env.vigil(["quarantine", "--dir", v, "list", "--json"]);
    let id = list.json_of("entry")[0]["id"].as_str().unwrap().to_string();
    let run = env.vigil(["quarantine", "--dir", v, "restore", &id]);
    run.assert_code(2);
    assert!(
        run.stderr().contains("its folder is gone") && run.stderr().contains("--to"),
        "{}",
        run.dump()
    );
    env.mkdir("back");
    let to = format!("{}/", env.path("back").display());
    env.vigil(["quarantine", "--dir", v, "restore", &id, "--to", &to])
        .assert_code(0);
    assert_eq!(std::fs::read(env.path("back/eicar.com")).unwrap(), EICAR);
}

#[test]
fn ctl_shutdown_says_so_and_fdpass_events_name_the_file() {
    let mut d = Daemon::with_config("");
    let file = d.env.write("data/eicar.com", EICAR);
    d.ctl(&["scan", "--fdpass", file.to_str().unwrap()])
        .assert_code(1);
    let event = d
        .next_event(Duration::from_secs(30))
        .expect("a detection event");
    assert_eq!(event["signature"], EICAR_NAME);
    assert_eq!(
        event["path"],
        std::fs::canonicalize(&file).unwrap().to_str().unwrap()
    );
    let run = d.ctl(&["shutdown"]);
    run.assert_code(0);
    assert!(run.stdout().contains("is stopping"), "{}", run.dump());
    assert!(d.wait_exit(Duration::from_secs(30)).is_some());
}

#[test]
fn a_bad_value_read_at_sighup_names_its_line() {
    let mut d = Daemon::with_config("");
    let config = d.env.path("vigil.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    let line = text.lines().count() + 1;
    text.push_str("max_filesize = \"lots\"\n");
    std::fs::write(&config, text).unwrap();
    d.signal(libc::SIGHUP);
    let log = d.wait_log("reload failed");
    let message = log["fields"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("max_filesize: bad size \"lots\"")
            && message.contains(&format!("(line {line})")),
        "{message}"
    );
}
