#!/usr/bin/env bash
# Side by side: vigil against the peers installed here, on one tree, each
# given the same signature set, timed with hyperfine. Prints, per signature
# set, each tool's mean wall time and its ratio to vigil's (ratio > 1: the
# peer is slower), and, before timing, how many files each tool matched (the
# same set should give the same count).
#
# CPU s is user + system time (the command's and its children's), which
# other processes on a shared machine disturb far less than wall time.
#
# Usage: benches/compare.sh [TREE] [SIGDIR]
#   TREE    default /tmp/vigil-corpus  (made by benches/make_corpus.py if absent)
#   SIGDIR  default /tmp/vigil-sigs    (made by benches/make_sigs.py if absent)
# Environment:
#   VIGIL=path   the vigil binary (default: target/release/vigil, built if missing)
#   RUNS=N       timed runs per command (default 3), after one warm-up run
#   COLD=1       drop the page cache before every run (root only)
#   JOBS=N       workers for every parallel tool (default: nproc)
#   OUT=DIR      where hyperfine's JSON and Markdown go (default: a temp folder)
#   SETS="..."   which comparisons to run, of: blake3-any-size sha256-any-size md5-sized
#                (default: all three)
#
# Peers, when installed: b3sum (find | xargs -P | b3sum, matched with grep -F),
# sha256deep -m and md5deep -m (hashdeep; -j JOBS), clamscan (one thread), and
# clamdscan --multiscan against a private clamd (MaxThreads JOBS) loaded with
# the same database. A peer that is missing, or a clamd that will not start,
# is reported as skipped.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
tree=${1:-/tmp/vigil-corpus}
sigdir=${2:-/tmp/vigil-sigs}
runs=${RUNS:-3}
jobs=${JOBS:-$(nproc)}
out=${OUT:-$(mktemp -d /tmp/vigil-compare.XXXXXX)}
mkdir -p "$out"
work=$(mktemp -d /tmp/vigil-compare-work.XXXXXX)
clamd_pid=""
cleanup() {
    if [[ -n $clamd_pid ]]; then kill "$clamd_pid" 2>/dev/null || true; wait "$clamd_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1; }
note() { printf '%s\n' "$*" >&2; }

need hyperfine || { note "compare.sh: hyperfine is required (apt-get install hyperfine)"; exit 2; }
need python3 || { note "compare.sh: python3 is required"; exit 2; }

vigil=${VIGIL:-$repo/target/release/vigil}
if [[ ! -x $vigil ]]; then
    note "building $vigil"
    (cd "$repo" && cargo build --release --quiet)
fi
b3sum_bin=$(command -v b3sum || true)
[[ -z $b3sum_bin && -x $HOME/.cargo/bin/b3sum ]] && b3sum_bin=$HOME/.cargo/bin/b3sum

if [[ ! -d $tree ]]; then
    note "making the corpus in $tree"
    python3 "$here/make_corpus.py" "$tree" >&2
fi
if [[ ! -f $sigdir/all-blake3.vsig ]]; then
    note "making the signature sets in $sigdir"
    python3 "$here/make_sigs.py" "$tree" "$sigdir" >&2
fi

# The same sets in each peer's format.
cut -d: -f2 "$sigdir/all-blake3.vsig" >"$work/blake3.list"
awk -F: '{ print $1 "  " $3 }' "$sigdir/sized-md5.hdb" >"$work/md5-hashes.txt"

prepare=()
if [[ ${COLD:-0} == 1 ]]; then
    [[ $(id -u) == 0 ]] || { note "compare.sh: COLD=1 needs root (it writes /proc/sys/vm/drop_caches)"; exit 2; }
    prepare=(--prepare 'sync; echo 3 > /proc/sys/vm/drop_caches')
fi

# A private clamd, loaded with one database; sets clamd_conf, or says why not.
clamd_conf=""
start_clamd() { # DB
    stop_clamd
    need clamd && need clamdscan || { note "skipped clamdscan: clamd/clamdscan not installed"; return 1; }
    local dir=$work/clamd
    rm -rf "$dir"; mkdir -p "$dir/db"
    cp "$1" "$dir/db/"
    cat >"$dir/clamd.conf" <<CONF
LocalSocket $dir/clamd.sock
DatabaseDirectory $dir/db
Foreground yes
MaxThreads $jobs
LogFile $dir/clamd.log
PidFile $dir/clamd.pid
CONF
    clamd --config-file="$dir/clamd.conf" >/dev/null 2>&1 &
    clamd_pid=$!
    for _ in $(seq 1 100); do
        if [[ -S $dir/clamd.sock ]] && clamdscan --config-file="$dir/clamd.conf" --ping 1 >/dev/null 2>&1; then
            clamd_conf=$dir/clamd.conf
            return 0
        fi
        kill -0 "$clamd_pid" 2>/dev/null || break
        sleep 0.2
    done
    note "skipped clamdscan: clamd did not start (see below)"
    tail -5 "$dir/clamd.log" >&2 2>/dev/null || true
    stop_clamd
    return 1
}
# CPU ticks (user + system) clamd has used so far; 0 without a clamd.
clamd_ticks() {
    if [[ -n $clamd_pid && -r /proc/$clamd_pid/stat ]]; then
        sed 's/.*) //' "/proc/$clamd_pid/stat" | awk '{ print $12 + $13 }'
    else
        echo 0
    fi
}
stop_clamd() {
    if [[ -n $clamd_pid ]]; then kill "$clamd_pid" 2>/dev/null || true; wait "$clamd_pid" 2>/dev/null || true; fi
    clamd_pid=""; clamd_conf=""
}

sets=${SETS:-blake3-any-size sha256-any-size md5-sized}
wanted() { [[ " $sets " == *" $1 "* ]]; }

# One signature set: NAME, then pairs of (label, command); vigil comes first.
compare() {
    local name=$1; shift
    local labels=() cmds=()
    while (($#)); do labels+=("$1"); cmds+=("$2"); shift 2; done
    printf '\n== %s: %s\n' "$name" "$tree"
    printf '%-34s %s\n' "tool" "files matched (one run, before timing)"
    local i
    for i in "${!cmds[@]}"; do
        printf '%-34s %s\n' "${labels[$i]}" "$(bash -c "${cmds[$i]}" 2>/dev/null | grep -c . || true)"
    done
    local args=()
    for i in "${!cmds[@]}"; do args+=(--command-name "${labels[$i]}" "${cmds[$i]}"); done
    local before clamd_before
    before=$(grep '^cpu ' /proc/stat)
    clamd_before=$(clamd_ticks)
    hyperfine --style basic --ignore-failure --warmup 1 --runs "$runs" "${prepare[@]}" \
        --export-json "$out/$name.json" --export-markdown "$out/$name.md" "${args[@]}" >"$out/$name.log" 2>&1 \
        || { note "hyperfine failed; see $out/$name.log"; tail -20 "$out/$name.log" >&2; return 1; }
    python3 - "$out/$name.json" "$before" "$(grep '^cpu ' /proc/stat)" "$(getconf CLK_TCK)" \
        "$(( $(clamd_ticks) - clamd_before ))" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]
ticks = float(sys.argv[4])
clamd_ticks = int(sys.argv[5])
print(f"{'tool':34} {'wall s':>8} {'± s':>7} {'x vigil':>8} {'CPU s':>8} {'x vigil':>8}")
def cpu(r):
    own = r["user"] + r["system"]
    if r["command"].startswith("clamdscan"):
        # The work happens in clamd: add its CPU time, per run (warm-up included).
        own += clamd_ticks / ticks / (len(r["times"]) + 1)
    return own
for r in results:
    print(f"{r['command']:34} {r['mean']:8.3f} {r['stddev'] or 0:7.3f} {r['mean'] / base['mean']:8.2f}"
          f" {cpu(r):8.3f} {cpu(r) / cpu(base):8.2f}")
# How much of the machine other processes took meanwhile (warm-up runs count as one more run).
t0, t1 = ([int(x) for x in a.split()[1:9]] for a in sys.argv[2:4])
busy = lambda v: sum(v) - v[3] - v[4]
ours = sum(cpu(r) * (len(r["times"]) + 1) for r in results) * ticks
others = max(0.0, busy(t1) - busy(t0) - ours) / max(1, sum(t1) - sum(t0))
print(f"other processes used about {others:.0%} of the CPUs during these runs"
      + (" (figures disturbed)" if others > 0.05 else ""))
PY
}

tee_note=$(printf 'compare.sh: %s cores (%s), %s, %s run(s) each after a warm-up, %s cache; JSON in %s' \
    "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" "$(date -u +%FT%TZ)" \
    "$runs" "$([[ ${COLD:-0} == 1 ]] && echo cold || echo warm)" "$out")
echo "$tee_note"
echo "vigil: $("$vigil" --version)"

# 1. blake3, any size: every file is hashed.
if wanted blake3-any-size; then
set1=(vigil "$vigil scan -i --no-summary -d $sigdir/all-blake3.vsig $tree")
if [[ -n $b3sum_bin ]]; then
    set1+=("find | xargs -P$jobs b3sum | grep" "find $tree -type f -print0 | xargs -0 -n 256 -P $jobs $b3sum_bin | grep -F -f $work/blake3.list")
else
    note "skipped b3sum: not installed"
fi
compare blake3-any-size "${set1[@]}"
fi

# 2. sha256, any size: every file is hashed.
if wanted sha256-any-size; then
set2=(vigil "$vigil scan -i --no-summary -d $sigdir/all-sha256.hsb $tree")
need sha256deep && set2+=("sha256deep -j$jobs -m" "sha256deep -r -j $jobs -m $sigdir/sha256-hashes.txt $tree") \
    || note "skipped sha256deep: not installed"
need clamscan && set2+=("clamscan (1 thread)" "clamscan -i --no-summary -r -d $sigdir/all-sha256.hsb $tree") \
    || note "skipped clamscan: not installed"
if start_clamd "$sigdir/all-sha256.hsb"; then
    set2+=("clamdscan --multiscan" "clamdscan -i --no-summary --multiscan --config-file=$clamd_conf $tree")
fi
compare sha256-any-size "${set2[@]}"
stop_clamd
fi

# 3. md5 with sizes (100,000 ClamAV .hdb lines): files whose size no
#    signature has need not be read at all.
if wanted md5-sized; then
set3=(vigil "$vigil scan -i --no-summary -d $sigdir/sized-md5.hdb $tree")
need md5deep && set3+=("md5deep -j$jobs -m" "md5deep -r -j $jobs -m $work/md5-hashes.txt $tree") \
    || note "skipped md5deep: not installed"
need clamscan && set3+=("clamscan (1 thread)" "clamscan -i --no-summary -r -d $sigdir/sized-md5.hdb $tree")
if start_clamd "$sigdir/sized-md5.hdb"; then
    set3+=("clamdscan --multiscan" "clamdscan -i --no-summary --multiscan --config-file=$clamd_conf $tree")
fi
compare md5-sized "${set3[@]}"
stop_clamd
fi
