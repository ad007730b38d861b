#!/usr/bin/env bash
# Cold and warm cache, side by side: vigil's default against fixed worker
# counts (-j 2 4 8 16 32), against `find | xargs -P2 b3sum`, `xargs -P2 cat`
# (what the disk gives with no hashing) and fd's listing (what the walk
# alone costs). Every file is hashed with blake3 (one signature of any size
# that matches nothing), as b3sum does.
#
# Cold: the page cache is dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`)
# before every timed run. Warm: one warm-up run, then the timed runs.
# Prints a Markdown table of medians (and min-max), each also over the best
# fixed `vigil -j` of the same binary, with the load average before and
# after and the share of the CPUs other processes took; hyperfine's JSON
# stays in OUT.
#
# Usage: benches/cold.sh [TREE]
#   TREE  default /tmp/vigil-corpus (made by benches/make_corpus.py if absent)
# Environment:
#   VIGIL=path      the vigil binary (default: target/release/vigil, built if missing)
#   BASE=path       another vigil binary (e.g. a build of an older commit) to time beside it
#   BASE_JOBS="..." fixed worker counts to time BASE at too (default: none, only its default)
#   VARIANTS="A;B"  more vigil rows, each with these extra arguments
#                   (default: "--io-depth 0", reading each file only when a worker gets to it)
#   RUNS=N          timed runs per command (default 3)
#   JOBS="2 4 ..."  the fixed worker counts (default: 2 4 8 16 32)
#   MODES="cold warm"  which halves to run (default: both)
#   OUT=DIR         where hyperfine's JSON goes (default: a temp folder)
# Needs root (for drop_caches), hyperfine, python3; b3sum and fd (fdfind)
# when installed (a missing one is reported and left out).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
tree=${1:-/tmp/vigil-corpus}
runs=${RUNS:-3}
jobs=${JOBS:-2 4 8 16 32}
modes=${MODES:-cold warm}
out=${OUT:-$(mktemp -d /tmp/vigil-cold.XXXXXX)}
mkdir -p "$out"

note() { printf '%s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1; }

need hyperfine || { note "cold.sh: hyperfine is required (apt-get install hyperfine)"; exit 2; }
need python3 || { note "cold.sh: python3 is required"; exit 2; }
if [[ " $modes " == *" cold "* && $(id -u) != 0 ]]; then
    note "cold.sh: cold runs need root (they write /proc/sys/vm/drop_caches); run as root or MODES=warm"
    exit 2
fi

vigil=${VIGIL:-$repo/target/release/vigil}
if [[ ! -x $vigil ]]; then
    note "building $vigil"
    (cd "$repo" && cargo build --release --quiet)
fi
if [[ ! -d $tree ]]; then
    note "making the corpus in $tree"
    python3 "$here/make_corpus.py" "$tree" >&2
fi

# One blake3 signature of any size whose digest no file has: every file is
# read and hashed in full, as b3sum does.
sig=$out/matches-nothing.vsig
printf 'blake3:%s:*:Bench.MatchesNothing\n' "$(printf '%064d' 0 | tr 0 e)" >"$sig"

cmds=(-n "vigil (default)" "$vigil scan -i --no-summary -d $sig $tree")
IFS=';' read -r -a variants <<<"${VARIANTS---io-depth 0}"
for v in "${variants[@]}"; do
    [[ -n $v ]] && cmds+=(-n "vigil $v" "$vigil scan -i --no-summary $v -d $sig $tree")
done
for j in $jobs; do
    cmds+=(-n "vigil -j $j" "$vigil scan -i --no-summary -j $j -d $sig $tree")
done
if [[ -n ${BASE:-} ]]; then
    cmds+=(-n "base vigil (default)" "$BASE scan -i --no-summary -d $sig $tree")
    for j in ${BASE_JOBS:-}; do
        cmds+=(-n "base vigil -j $j" "$BASE scan -i --no-summary -j $j -d $sig $tree")
    done
fi
b3sum_bin=$(command -v b3sum || true)
[[ -z $b3sum_bin && -x $HOME/.cargo/bin/b3sum ]] && b3sum_bin=$HOME/.cargo/bin/b3sum
if [[ -n $b3sum_bin ]]; then
    cmds+=(-n "find + xargs -P2 b3sum" "find $tree -type f -print0 | xargs -0 -n 256 -P 2 $b3sum_bin >/dev/null")
else
    note "skipped b3sum: not installed (cargo install b3sum, or apt-get install b3sum)"
fi
cmds+=(-n "find + xargs -P2 cat" "find $tree -type f -print0 | xargs -0 -n 256 -P 2 cat >/dev/null")
fd_bin=$(command -v fd || command -v fdfind || true)
if [[ -n $fd_bin ]]; then
    cmds+=(-n "fd listing" "$fd_bin -u -t f . $tree >/dev/null")
else
    note "skipped fd: not installed (cargo install fd-find, or apt-get install fd-find)"
fi

loads=()
for mode in $modes; do
    loads+=("$mode before: $(cut -d' ' -f1-3 /proc/loadavg)")
    before=$(grep '^cpu ' /proc/stat)
    if [[ $mode == cold ]]; then
        setup=(--prepare 'sync; echo 3 > /proc/sys/vm/drop_caches')
    else
        setup=(--warmup 1)
    fi
    hyperfine --style basic --runs "$runs" "${setup[@]}" --export-json "$out/$mode.json" \
        "${cmds[@]}" >"$out/$mode.log" 2>&1 \
        || { note "hyperfine failed; see $out/$mode.log"; tail -20 "$out/$mode.log" >&2; exit 1; }
    echo "$before" >"$out/$mode.cpu0"
    grep '^cpu ' /proc/stat >"$out/$mode.cpu1"
    loads+=("$mode after: $(cut -d' ' -f1-3 /proc/loadavg)")
done

printf '\n%s, %s cores, %s; %s; %s run(s) each, medians (min-max) in seconds\n' \
    "$(date -u +%FT%TZ)" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "$tree" "$runs"
printf 'load average: %s\n\n' "$(IFS=';'; echo "${loads[*]}")"
python3 - "$out" $modes <<'PY'
import json, os, sys
out, modes = sys.argv[1], sys.argv[2:]
rows, data = [], {}
for mode in modes:
    for r in json.load(open(os.path.join(out, mode + ".json")))["results"]:
        if r["command"] not in rows:
            rows.append(r["command"])
        data[(mode, r["command"])] = r
def cell(mode, name):
    r = data.get((mode, name))
    if r is None:
        return "-"
    return f"{r['median']:.2f} ({min(r['times']):.2f}-{max(r['times']):.2f})"
head = "| command | " + " | ".join(f"{m} s" for m in modes) + " | " + " | ".join(
    f"{m} ÷ best -j" for m in modes) + " |"
print(head)
print("|" + "---|" * (1 + 2 * len(modes)))
best = {}
for m in modes:
    fixed = [data[(m, n)]["median"] for n in rows if n.startswith("vigil -j") and (m, n) in data]
    best[m] = min(fixed) if fixed else None
for n in rows:
    ratios = []
    for m in modes:
        r = data.get((m, n))
        ratios.append(f"{r['median'] / best[m]:.2f}" if r and best[m] else "-")
    print(f"| {n} | " + " | ".join(cell(m, n) for m in modes) + " | " + " | ".join(ratios) + " |")
print()
for m in modes:
    t0 = [int(x) for x in open(os.path.join(out, m + ".cpu0")).read().split()[1:9]]
    t1 = [int(x) for x in open(os.path.join(out, m + ".cpu1")).read().split()[1:9]]
    busy = lambda v: sum(v) - v[3] - v[4]
    total = max(1, sum(t1) - sum(t0))
    ours = sum((r["user"] + r["system"]) * len(r["times"]) for (mm, _), r in data.items() if mm == m) * 100
    others = max(0.0, busy(t1) - busy(t0) - ours) / total
    print(f"{m}: other processes used about {others:.0%} of the CPUs" +
          (" (figures disturbed)" if others > 0.05 else ""))
PY
note "hyperfine JSON and logs in $out"
