#!/usr/bin/env python3
"""What filling a new verdict cache adds to a first scan, on a machine others
share: `vigil scan -d all-sha256.hsb TREE` without and with `--cache NEW`,
interleaved, each run kept only if the rest of the machine used less than
--others CPU seconds while it ran (read from /proc/stat), until every command
has --runs kept runs. Prints medians of the kept runs (wall and CPU), the
overhead, how many runs were kept, and the load before and after.

    cargo build --release
    python3 benches/cache_first_scan.py [TREE] [SIGDIR] [--runs N] [--others S] [--max-secs T]

TREE and SIGDIR as for benches/cache_measure.py (made if absent). VIGIL=path
picks the binary (default target/release/vigil); several may be compared:
VIGIL=a:b. Every run with the cache starts from no cache file.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
cli = argparse.ArgumentParser(description="First-scan cost of a new verdict cache.")
cli.add_argument("tree", nargs="?", default="/tmp/vigil-corpus")
cli.add_argument("sigdir", nargs="?", default="/tmp/vigil-sigs")
cli.add_argument("--runs", type=int, default=7)
cli.add_argument("--others", type=float, default=0.03,
                 help="keep a run only if other processes used less CPU than this (s)")
cli.add_argument("--max-secs", type=float, default=900, help="give up waiting for quiet runs")
opts = cli.parse_args()
BINS = os.environ.get("VIGIL", os.path.join(HERE, "..", "target", "release", "vigil")).split(":")
TICK = os.sysconf("SC_CLK_TCK")


def prepare():
    if not os.path.isdir(opts.tree):
        subprocess.run([sys.executable, os.path.join(HERE, "make_corpus.py"), opts.tree], check=True)
    if not os.path.isfile(os.path.join(opts.sigdir, "all-sha256.hsb")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_sigs.py"), opts.tree, opts.sigdir],
                       check=True)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def machine_busy():
    """CPU seconds every process has used since boot."""
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / TICK


def run(cmd, cache):
    if cache and os.path.exists(cache):
        os.unlink(cache)
    c, b, t = children_cpu(), machine_busy(), time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.monotonic() - t
    used = children_cpu() - c
    if p.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()}")
    return wall, used, machine_busy() - b - used


def main():
    prepare()
    work = tempfile.mkdtemp(prefix="vigil-first-scan-")
    cache = os.path.join(work, "cache.redb")
    sigs = os.path.join(opts.sigdir, "all-sha256.hsb")
    cmds = []
    for vigil in BINS:
        scan = [vigil, "scan", "-i", "--no-summary", "-d", sigs]
        cmds.append((vigil, "no cache", scan + [opts.tree], None))
        cmds.append((vigil, "new cache", scan + ["--cache", cache, opts.tree], cache))
    kept = {i: [] for i in range(len(cmds))}
    tried = {i: 0 for i in range(len(cmds))}
    load = open("/proc/loadavg").read().split()[:3]
    for _, _, cmd, c in cmds:  # warm-up: page cache, binary
        run(cmd, c)
    began = time.monotonic()
    while min(len(k) for k in kept.values()) < opts.runs and time.monotonic() - began < opts.max_secs:
        for i, (_, _, cmd, c) in enumerate(cmds):
            wall, used, others = run(cmd, c)
            tried[i] += 1
            if others < opts.others:
                kept[i].append((wall, used))
    print(f"{opts.tree}, signatures {sigs}; a run is kept if other processes used < {opts.others} s CPU")
    print(f"load average before {' '.join(load)}, after {' '.join(open('/proc/loadavg').read().split()[:3])}")
    base = None
    for i, (vigil, name, cmd, _) in enumerate(cmds):
        runs = kept[i] or [(float("nan"), float("nan"))]
        wall = statistics.median(r[0] for r in runs)
        used = statistics.median(r[1] for r in runs)
        line = (f"  {name:9} wall {wall:.3f} s [{min(r[0] for r in runs):.3f}-{max(r[0] for r in runs):.3f}]"
                f"  CPU {used:.3f} s  kept {len(kept[i])}/{tried[i]}  {' '.join(cmd)}")
        if cmd[-2:-1] != [cache]:
            base = (wall, used)
        else:
            line += (f"\n  {'':9} => +{1000 * (wall - base[0]):.0f} ms wall ({100 * (wall / base[0] - 1):+.1f}%),"
                     f" CPU {100 * (used / base[1] - 1):+.1f}%")
        print(line)
    os.unlink(cache) if os.path.exists(cache) else None
    os.rmdir(work)


main()
