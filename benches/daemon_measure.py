#!/usr/bin/env python3
"""Measures `vigil daemon`: detection latency, burst throughput
against `vigil scan` on the same files, idle CPU, and RSS with many watched
folders. Uses the release binary; prints one line per figure.

    cargo build --release && python3 benches/daemon_measure.py [--quick]
"""
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

VIGIL = os.path.join(os.path.dirname(__file__), "..", "target", "release", "vigil")
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
QUICK = "--quick" in sys.argv


class Daemon:
    def __init__(self, args, work):
        self.sock_path = tempfile.mktemp(prefix="notify-", dir=work)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        env = dict(os.environ, NOTIFY_SOCKET=self.sock_path)
        self.p = subprocess.Popen(
            [VIGIL, "daemon", "--log-format", "json", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.out = self.p.stdout
        self.sock.settimeout(600)
        while True:
            msg = self.sock.recv(4096).decode()
            if "READY=1" in msg.splitlines():
                break

    def event(self, timeout=60):
        r, _, _ = select.select([self.out], [], [], timeout)
        if not r:
            raise TimeoutError("no event")
        return json.loads(self.out.readline())

    def stats(self):
        self.p.send_signal(signal.SIGUSR1)
        while True:
            line = json.loads(self.p.stderr.readline())
            if line.get("fields", {}).get("message") == "stats":
                return line["fields"]

    def cpu_ticks(self):
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(30)


def latency(work):
    root = os.path.join(work, "lat")
    os.mkdir(root)
    d = Daemon(["--watch", root, "--no-initial-scan"], work)
    samples = []
    for i in range(30 if QUICK else 200):
        path = os.path.join(root, f"f{i}.com")
        with open(path, "wb") as f:
            f.write(EICAR)
        t = time.monotonic()
        ev = d.event()
        samples.append(time.monotonic() - t)
        assert ev["path"] == path
    d.stop()
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"latency close->event (settle 250ms): p50 {p50*1000:.0f} ms, p99 {p99*1000:.0f} ms, "
          f"over settle: p50 {(p50-0.25)*1000:.1f} ms, p99 {(p99-0.25)*1000:.1f} ms (n={len(samples)})")


def burst(work):
    n = 5000 if QUICK else 20000
    root = os.path.join(work, "burst")
    os.mkdir(root)
    d = Daemon(["--watch", root, "--no-initial-scan", "--queue-capacity", "64"], work)
    t0 = time.monotonic()
    for i in range(n):
        with open(os.path.join(root, f"b{i:06}.com"), "wb") as f:
            f.write(EICAR)
    created = time.monotonic() - t0
    seen = set()
    while len(seen) < n:
        ev = d.event()
        seen.add(ev["path"])
    total = time.monotonic() - t0
    s = d.stats()
    d.stop()
    t1 = time.monotonic()
    out = subprocess.run([VIGIL, "scan", "--json", "-i", "--no-summary", root],
                         stdout=subprocess.PIPE, check=False).stdout
    scan = time.monotonic() - t1
    assert out.count(b"\n") == n
    print(f"burst {n} files: creating took {created:.2f} s; daemon reported all {total:.2f} s after the "
          f"first create = {n/total:.0f} files/s (incl. 250ms settle; queue full {s['queue_full']} times, "
          f"rss {s['rss_kib']} KiB); vigil scan on the same files: {scan:.2f} s = {n/scan:.0f} files/s")


def idle_cpu(work):
    root = os.path.join(work, "idle")
    os.mkdir(root)
    for i in range(100):
        os.mkdir(os.path.join(root, f"d{i}"))
    d = Daemon(["--watch", root], work)
    time.sleep(1)
    hz = os.sysconf("SC_CLK_TCK")
    a = d.cpu_ticks()
    secs = 5 if QUICK else 20
    time.sleep(secs)
    b = d.cpu_ticks()
    d.stop()
    print(f"idle CPU over {secs} s: {(b-a)/hz:.3f} s of CPU ({100*(b-a)/hz/secs:.2f} %)")


def many_dirs(work):
    n = 10000 if QUICK else 100000
    root = os.path.join(work, "dirs")
    os.mkdir(root)
    for i in range(n // 1000):
        top = os.path.join(root, f"t{i:03}")
        os.mkdir(top)
        for j in range(1000 - (1 if i == 0 else 0)):
            os.mkdir(os.path.join(top, f"d{j:03}"))
    t = time.monotonic()
    d = Daemon(["--watch", root, "--no-initial-scan"], work)
    ready = time.monotonic() - t
    s = d.stats()
    d.stop()
    print(f"{n} watched folders: READY after {ready:.2f} s, RSS {s['rss_kib']/1024:.1f} MiB")


def main():
    with tempfile.TemporaryDirectory() as work:
        latency(work)
        burst(work)
        idle_cpu(work)
        many_dirs(work)


if __name__ == "__main__":
    main()
