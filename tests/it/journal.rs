//! Under systemd the daemon writes to the journal with fields: its events
//! as entries carrying `PATH`, `SIGNATURE` and `DIGEST`, its logs with each
//! tracing field as a journal field. The test plays systemd: in a mount
//! namespace (`unshare -m`) a datagram socket stands at journald's path,
//! and the daemon's stdout and stderr are a file named by `JOURNAL_STREAM`,
//! as systemd names the stream it connects.

use std::collections::HashMap;
use std::process::Command;

use crate::testenv::{hex, run, vigil_bin, TestEnv, EICAR, EICAR_NAME};

/// Receives journal entries until a detection and the `ready` log came,
/// then stops the daemon and prints the entries as JSON.
const JOURNALD: &str = r#"
import json, os, socket, struct, subprocess, sys, time
vigil, watch, out_path = sys.argv[1:4]
os.makedirs("/run/systemd/journal")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("/run/systemd/journal/socket")
sock.settimeout(60)
out = open(out_path, "w")
st = os.fstat(out.fileno())
env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
daemon = subprocess.Popen([vigil, "daemon", "--watch", watch], stdout=out, stderr=out, env=env)
def parse(data):
    entry, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = nl + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            value = data[nl + 9:nl + 9 + size]
            i = nl + 9 + size + 1
        entry[key.decode()] = value.decode("utf-8", "replace")
    return entry
entries = []
try:
    while not (any(e.get("VIGIL_EVENT") == "detection" for e in entries)
               and any(e.get("MESSAGE", "").startswith("ready") for e in entries)):
        data = sock.recv(1 << 20)
        if data:
            entries.append(parse(data))
finally:
    daemon.terminate()
    daemon.wait()
print(json.dumps(entries))
"#;

#[test]
fn under_systemd_events_and_logs_reach_the_journal_with_fields() {
    let probe = Command::new("unshare")
        .args(["-m", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !probe {
        if std::env::var_os("CI").is_some() {
            panic!("unshare -m failed: the test needs root and util-linux");
        }
        eprintln!("SKIPPED: unshare -m not allowed here");
        return;
    }
    let env = TestEnv::new();
    let target = env.write("watch/eicar.com", EICAR);
    let out = env.path("daemon.out");
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs tmpfs /run && exec python3 -c \"$0\" \"$@\"")
        .arg(JOURNALD)
        .arg(vigil_bin())
        .arg(env.path("watch"))
        .arg(&out);
    let got = run(cmd, None);
    assert_eq!(got.code(), 0, "{}", got.dump());
    let entries: Vec<HashMap<String, String>> = serde_json::from_str(&got.stdout()).unwrap();

    let detection = entries
        .iter()
        .find(|e| e.get("VIGIL_EVENT").map(String::as_str) == Some("detection"))
        .unwrap();
    let field = |e: &HashMap<String, String>, k: &str| e.get(k).cloned().unwrap_or_default();
    assert_eq!(field(detection, "PATH"), target.to_str().unwrap());
    assert_eq!(field(detection, "SIGNATURE"), EICAR_NAME);
    let algorithm = field(detection, "ALGORITHM");
    let algo = match algorithm.as_str() {
        "md5" => vigil::hash::Algorithm::Md5,
        "sha1" => vigil::hash::Algorithm::Sha1,
        "sha256" => vigil::hash::Algorithm::Sha256,
        other => panic!("algorithm {other:?}"),
    };
    assert_eq!(field(detection, "DIGEST"), hex(algo, EICAR));
    assert_eq!(field(detection, "SOURCE"), "initial");
    assert_eq!(field(detection, "PRIORITY"), "4");
    // The message is the event's JSON line, as on stdout.
    let message: serde_json::Value = serde_json::from_str(&field(detection, "MESSAGE")).unwrap();
    assert_eq!(message["signature"], EICAR_NAME);

    // Logs: the message, and tracing's fields as fields.
    let ready = entries
        .iter()
        .find(|e| field(e, "MESSAGE").starts_with("ready"))
        .unwrap();
    assert_eq!(field(ready, "FOLDERS"), "1");
    assert_eq!(field(ready, "PRIORITY"), "6");
    assert_eq!(field(ready, "SYSLOG_IDENTIFIER"), "vigil");

    // Nothing went to the stream but what the journal already has.
    let stream = std::fs::read_to_string(&out).unwrap();
    assert!(!stream.contains(EICAR_NAME), "{stream}");
}
