#!/usr/bin/env bash
# Before and after: two vigil binaries on the Performance section's cases
# (blake3 and sha256 any-size, sized md5 beside `fdfind -u -tf .`), each case
# in ROUNDS hyperfine runs that hold both binaries and alternate which goes
# first, so that a neighbour's load falls on both alike. Prints, per command,
# the median of every timed run of every round, and the load average before
# each round.
#
# Usage: benches/ab.sh BEFORE AFTER [TREE] [SIGDIR]
#   BEFORE, AFTER   vigil binaries (e.g. a release build of an older commit
#                   in its own worktree, and target/release/vigil)
#   TREE    default /tmp/vigil-corpus  (benches/make_corpus.py)
#   SIGDIR  default /tmp/vigil-sigs    (benches/make_sigs.py)
# Environment:
#   ROUNDS=N   hyperfine runs per case (default 3), alternating the order
#   RUNS=N     timed runs per command per round (default 10), after 3 warm-ups
#   AFTER_ARGS extra arguments for AFTER only, as a second AFTER command
#              (e.g. AFTER_ARGS=--scan-archive=no); empty: none
#   CASES="..." of: blake3 sha256 md5 (default: all three)
set -euo pipefail

before=${1:?usage: benches/ab.sh BEFORE AFTER [TREE] [SIGDIR]}
after=${2:?usage: benches/ab.sh BEFORE AFTER [TREE] [SIGDIR]}
tree=${3:-/tmp/vigil-corpus}
sigdir=${4:-/tmp/vigil-sigs}
rounds=${ROUNDS:-3}
runs=${RUNS:-10}
extra=${AFTER_ARGS:-}
out=$(mktemp -d /tmp/vigil-ab.XXXXXX)

command -v hyperfine >/dev/null || { echo "ab.sh: hyperfine is required" >&2; exit 2; }

for case in ${CASES:-blake3 sha256 md5}; do
    case $case in
        blake3) db=$sigdir/all-blake3.vsig ;;
        sha256) db=$sigdir/all-sha256.hsb ;;
        md5) db=$sigdir/sized-md5.hdb ;;
        *) echo "ab.sh: unknown case $case" >&2; exit 2 ;;
    esac
    cmds=(-n before "$before scan -i --no-summary -d $db $tree"
          -n after "$after scan -i --no-summary -d $db $tree")
    [[ -n $extra ]] && cmds+=(-n "after $extra" "$after scan -i --no-summary $extra -d $db $tree")
    [[ $case == md5 ]] && cmds+=(-n fd "fdfind -u -tf . $tree")
    for ((r = 1; r <= rounds; r++)); do
        # Odd rounds as listed, even rounds reversed.
        order=("${cmds[@]}")
        if ((r % 2 == 0)); then
            order=()
            for ((i = ${#cmds[@]} - 3; i >= 0; i -= 3)); do order+=("${cmds[@]:i:3}"); done
        fi
        echo "$case round $r: $(uptime)"
        hyperfine -N -i --warmup 3 --runs "$runs" --style none \
            --export-json "$out/$case.$r.json" "${order[@]}" >/dev/null 2>"$out/err" \
            || { cat "$out/err" >&2; exit 1; }
    done
    python3 - "$case" "$out" "$rounds" <<'EOF'
import json, statistics, sys
case, out, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
times, cpu = {}, {}
for r in range(1, rounds + 1):
    for x in json.load(open(f"{out}/{case}.{r}.json"))["results"]:
        times.setdefault(x["command"], []).extend(x["times"])
        cpu.setdefault(x["command"], []).append(x["user"] + x["system"])
med = {k: statistics.median(v) for k, v in times.items()}
for k, v in med.items():
    line = f"{case:7} {k:28} median {v * 1000:8.1f} ms  CPU {statistics.median(cpu[k]) * 1000:8.1f} ms"
    if k != "before":
        line += f"  x before {v / med['before']:.2f}"
    if "fd" in med and k != "fd":
        line += f"  x fd {v / med['fd']:.2f}"
    print(line)
EOF
done
