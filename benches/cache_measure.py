#!/usr/bin/env python3
"""Measures the verdict cache on the benchmark corpus: scans with and without
`--cache`, against a listing that stats every file, and the daemon's restart
and reload with its cache. Prints medians of several runs (after one warm-up,
page cache warm), each figure's command, and the machine's load before and
after.

    cargo build --release
    python3 benches/cache_measure.py [TREE] [SIGDIR] [--runs N] [--no-daemon]

TREE defaults to /tmp/vigil-corpus (made by benches/make_corpus.py if
absent), SIGDIR to /tmp/vigil-sigs (made by benches/make_sigs.py if absent):
`all-sha256.hsb` (sha256 signatures of any size: every file is read and
hashed) and `sized-md5.hdb` (md5 signatures whose sizes no file has: the
no-read baseline). VIGIL=path picks the binary (default target/release/vigil).

Rounds interleave the commands (each round runs every command once), so that
a change in the machine's load spreads over all of them.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VIGIL = os.environ.get("VIGIL", os.path.join(HERE, "..", "target", "release", "vigil"))
_cli = argparse.ArgumentParser(description="Measure the verdict cache.")
_cli.add_argument("tree", nargs="?", default="/tmp/vigil-corpus")
_cli.add_argument("sigdir", nargs="?", default="/tmp/vigil-sigs")
_cli.add_argument("--runs", type=int, default=5)
_cli.add_argument("--no-daemon", action="store_true")
_opts = _cli.parse_args()
TREE, SIGDIR, RUNS, DAEMON = _opts.tree, _opts.sigdir, _opts.runs, not _opts.no_daemon
# How often the daemon is asked whether its scan is done (SIGUSR1, a stats line): the resolution of
# the daemon's figures. At 20 ms a 25 ms scan read as 40 ms; each poll costs the daemon about 0.1 ms.
POLL = float(os.environ.get("POLL", "0.003"))


def load():
    return open("/proc/loadavg").read().split()[:3]


def prepare():
    if not os.path.isdir(TREE):
        subprocess.run([sys.executable, os.path.join(HERE, "make_corpus.py"), TREE], check=True)
    if not os.path.isfile(os.path.join(SIGDIR, "all-sha256.hsb")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_sigs.py"), TREE, SIGDIR], check=True)


def count_files():
    n, size = 0, 0
    for d, _, files in os.walk(TREE):
        for f in files:
            n += 1
            size += os.lstat(os.path.join(d, f)).st_size
    return n, size


def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, before=None):
    """Wall seconds and CPU seconds (user + system, all threads) of one run."""
    if before:
        before()
    c = cpu()
    t = time.monotonic()
    p = subprocess.run(cmd, shell=isinstance(cmd, str), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    took = time.monotonic() - t
    if p.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed ({p.returncode}): {p.stderr.decode()}")
    return took, cpu() - c


def scans(work):
    cache = os.path.join(work, "scan-cache.redb")
    sha = os.path.join(SIGDIR, "all-sha256.hsb")
    plus = os.path.join(work, "plus-one.hsb")
    picked = added_file()
    with open(plus, "w") as out:
        out.write(open(sha).read())
        out.write(added_line(picked))

    def fresh():
        for f in os.listdir(work):
            if f.startswith("scan-cache.redb"):
                os.unlink(os.path.join(work, f))

    scan = [VIGIL, "scan", "-i", "--no-summary"]
    cmds = [
        ("listing", f"find {TREE} -type f -printf '%i %s %T@ %C@\\n' > /dev/null", None),
        ("sized-md5, no cache", scan + ["-d", os.path.join(SIGDIR, "sized-md5.hdb"), TREE], None),
        ("first scan, no cache", scan + ["-d", sha, TREE], None),
        ("first scan, new cache", scan + ["-d", sha, "--cache", cache, TREE], fresh),
        ("second scan, cached", scan + ["-d", sha, "--cache", cache, TREE], None),
        # Without the I/O workers at all: what reading ahead may cost here.
        ("second scan, cached, io-depth 0",
         scan + ["--io-depth", "0", "-d", sha, "--cache", cache, TREE], None),
        ("one signature added, cached", scan + ["-d", plus, "--cache", cache, TREE], None),
    ]
    times = {name: [] for name, _, _ in cmds}
    cpus = {name: [] for name, _, _ in cmds}
    for name, cmd, before in cmds:  # warm-up, and the cache filled
        timed(cmd, before)
    for _ in range(RUNS):
        for name, cmd, before in cmds:
            # "first scan, new cache" leaves a full cache for the two after it.
            wall, used = timed(cmd, before)
            times[name].append(wall)
            cpus[name].append(used)
    med = {k: statistics.median(v) for k, v in times.items()}
    mcpu = {k: statistics.median(v) for k, v in cpus.items()}
    for name, cmd, _ in cmds:
        shown = cmd if isinstance(cmd, str) else " ".join(cmd)
        print(f"  {name:30} median {med[name]:.3f} s  [{min(times[name]):.3f}-{max(times[name]):.3f}]"
              f"  CPU {mcpu[name]:.3f} s  {shown}")
    cached = med["second scan, cached"]
    ccached = mcpu["second scan, cached"]
    print("ratios:")
    print(f"  cached rescan / listing            {cached / med['listing']:.2f}   (target <= 1.5)")
    print(f"  cached rescan / with --io-depth 0  {cached / med['second scan, cached, io-depth 0']:.2f}")
    print(f"  cached rescan / sized-md5 scan     {cached / med['sized-md5, no cache']:.2f}   (target <= 1.5)")
    print(f"  first scan / cached rescan         {med['first scan, no cache'] / cached:.1f}   (target >= 3)")
    print(f"  one sig added / cached rescan      {med['one signature added, cached'] / cached:.2f}   (target <= 2)")
    print(f"  first scan with cache / without    {med['first scan, new cache'] / med['first scan, no cache']:.3f}   (target <= 1.10)")
    print("  the same in CPU seconds (less disturbed by other processes):")
    print(f"    cached / listing {ccached / mcpu['listing']:.2f}, cached / sized-md5 {ccached / mcpu['sized-md5, no cache']:.2f}, "
          f"first / cached {mcpu['first scan, no cache'] / ccached:.1f}, "
          f"one sig added / cached {mcpu['one signature added, cached'] / ccached:.2f}, "
          f"first with cache / without {mcpu['first scan, new cache'] / mcpu['first scan, no cache']:.3f}")
    print(f"  cache file after a first scan: {os.path.getsize(cache) / 2**20:.1f} MiB")
    return med


def added_file():
    """A corpus file whose sha256 is not in the set already."""
    listed = {line.split()[0] for line in open(os.path.join(SIGDIR, "sha256-hashes.txt"))}
    for d, _, files in sorted(os.walk(TREE)):
        for f in sorted(files):
            path = os.path.join(d, f)
            if sha256(path) not in listed:
                return path
    raise SystemExit("every file is in the set")


def sha256(path):
    import hashlib
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def added_line(path):
    return f"{sha256(path)}:*:Bench.Added:73\n"


class Daemon:
    def __init__(self, work, db, state):
        self.notify = os.path.join(work, "notify.sock")
        if os.path.exists(self.notify):
            os.unlink(self.notify)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.notify)
        self.sock.settimeout(600)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify)
        self.started = time.monotonic()
        self.p = subprocess.Popen(
            [VIGIL, "daemon", "--log-format", "json", "--watch", TREE, "--state-dir", state,
             "-d", db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        while "READY=1" not in self.sock.recv(4096).decode().splitlines():
            pass
        self.ready = time.monotonic()

    def stats(self):
        self.p.send_signal(signal.SIGUSR1)
        while True:
            line = self.p.stderr.readline()
            if not line:
                raise SystemExit("daemon ended")
            fields = json.loads(line).get("fields", {})
            if fields.get("message") == "stats":
                return fields

    def until(self, files):
        """Polls (every POLL seconds) until `files` files were examined and nothing is left."""
        while True:
            s = self.stats()
            if s["files"] >= files and s["outstanding"] == 0 and s["pending"] == 0 and s["queued"] == 0:
                return time.monotonic(), s
            time.sleep(POLL)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(60)
        self.sock.close()


def daemon(work, n, listing):
    state = os.path.join(work, "state")
    os.makedirs(state, exist_ok=True)
    db = os.path.join(work, "db.hsb")
    shutil.copy(os.path.join(SIGDIR, "all-sha256.hsb"), db)
    # The first start fills the cache.
    d = Daemon(work, db, state)
    done, s = d.until(n)
    first = done - d.ready
    d.stop()
    print(f"  first start (empty cache): initial scan {first:.3f} s after READY, hashed {s['hashed']}")
    restarts, totals, last = [], [], None
    for _ in range(RUNS):
        d = Daemon(work, db, state)
        done, s = d.until(n)
        restarts.append(done - d.ready)
        totals.append(done - d.started)
        last = (d, s)
        if _ < RUNS - 1:
            d.stop()
    d, s = last
    r = statistics.median(restarts)
    print(f"  restart: initial scan median {r:.3f} s after READY [{min(restarts):.3f}-{max(restarts):.3f}], "
          f"{statistics.median(totals):.3f} s from start (watches set up before READY); "
          f"hashed {s['hashed']}, from cache {s['from_cache']}")
    print(f"  restart initial scan / listing      {r / listing:.2f}   (target <= 1.5)")
    # A reload with one signature added.
    picked = added_file()
    with open(db, "a") as out:
        out.write(added_line(picked))
    before = s
    t = time.monotonic()
    d.p.send_signal(signal.SIGHUP)
    seen = None
    while seen is None:
        line = d.p.stdout.readline()
        ev = json.loads(line)
        if ev.get("type") == "detection" and ev.get("path") == picked:
            seen = time.monotonic() - t
            assert ev["source"] == "reload", ev
    done, after = d.until(before["files"] + n)
    print(f"  reload with one signature added: its file reported after {seen:.3f} s, "
          f"whole tree re-matched after {done - t:.3f} s; read {after['hashed'] - before['hashed']} files, "
          f"{after['from_cache'] - before['from_cache']} from the cache")
    d.stop()


def main():
    prepare()
    if not os.path.exists(VIGIL):
        raise SystemExit(f"{VIGIL} missing: cargo build --release")
    n, size = count_files()
    print(f"corpus {TREE}: {n} files, {size / 2**20:.0f} MiB; {os.cpu_count()} cores; "
          f"{RUNS} runs per figure after a warm-up (page cache warm)")
    print(f"load average before: {' '.join(load())}")
    with tempfile.TemporaryDirectory(prefix="vigil-cache-bench-") as work:
        print("scans:")
        med = scans(work)
        if DAEMON:
            print("daemon (cache in state_dir):")
            daemon(work, n, med["listing"])
    print(f"load average after: {' '.join(load())}")


if __name__ == "__main__":
    main()
