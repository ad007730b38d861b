#!/usr/bin/env bash
# Signatures at scale: load time and resident memory for 1M and 10M
# signatures as feeds ship them, as text and as a compiled index.
#
# Usage: benches/sigs_scale.sh [COUNTS...]        (default: 1000000 10000000)
#   SHAPES="sha256-unique md5-unique sha256-repeated"   the feeds (all by default):
#       sha256-unique    ClamAV .hsb, sha256 with `*` sizes, a name per signature
#                        (Win.Trojan.Agent-6612345-0: 3,000 families, ids rising)
#       md5-unique       ClamAV .hdb, md5 with file sizes (mostly distinct), a
#                        name per signature, as ClamAV's main.hdb
#       sha256-repeated  the .hsb shape with 1,000 names used over and over
#   RUNS=5             runs per case (the table shows the median and the best)
#   WORK=/tmp/vigil-sigs-scale   where the generated databases go (never the repo)
#   VIGIL=target/release/vigil   the binary (built with `cargo build --release` if missing)
#
# The feeds come from `benches/make_sigs.py --feed SHAPE COUNT OUT` (seeded).
# Each run is `vigil sigs stats --json DB` under `/usr/bin/time -f '%e %U %S %M'`:
#   load   the set's load time as vigil measures it (open to ready)
#   wall   the whole process, start to exit
#   cpu    user + system seconds
#   rss    peak resident set (%M), that divided by the signature count, and
#          the same less the baseline (the process with a one-line database)
# Other jobs on the machine skew timings: the load average is printed with
# every case; run it on a quiet machine and compare the best with the median.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
WORK=${WORK:-/tmp/vigil-sigs-scale}
VIGIL=${VIGIL:-target/release/vigil}
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(1000000 10000000)

[ -x "$VIGIL" ] || cargo build --release --quiet
mkdir -p "$WORK"

generate() { # SHAPE COUNT FILE
    python3 benches/make_sigs.py --feed "$1" "$2" "$3"
}

# One run: prints "load wall cpu rss_kb".
run() {
    local out
    out=$( { /usr/bin/time -f '%e %U %S %M' "$VIGIL" sigs stats --json "$1" >"$WORK/stats.json"; } 2>&1 | tail -1)
    local load
    load=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["load_secs"])' "$WORK/stats.json")
    read -r wall user sys rss <<<"$out"
    echo "$load $wall $(python3 -c "print($user + $sys)") $rss"
}

summary() { # SHAPE N FORM FILE
    local shape=$1 n=$2 form=$3 file=$4 rows=()
    for _ in $(seq "$RUNS"); do rows+=("$(run "$file")"); done
    printf '%s\n' "${rows[@]}" | python3 -c '
import sys, statistics as st
shape, n, form, load, base = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]) * 1024
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
col = lambda i: [r[i] for r in rows]
rss = max(col(3)) * 1024
print(f"| {shape:<15} | {n:>10,} | {form:<8} | {st.median(col(0)):6.3f} s (best {min(col(0)):.3f}) | "
      f"{st.median(col(1)):6.3f} s | {st.median(col(2)):5.2f} s | {rss/2**20:7.1f} MiB | "
      f"{rss/n:6.1f} | {(rss - base)/n:6.1f} | {load} |")
' "$shape" "$n" "$form" "$(cut -d' ' -f1-3 /proc/loadavg)" "$base"
}

echo "vigil sigs scale: $(nproc) cores, $RUNS runs per case, $(date -u +%FT%TZ)"
# The process alone, with a one-line database: what every row pays regardless of N.
echo "44d88612fea8a8f36de82e1278abb02f:68:Eicar" >"$WORK/one.hdb"
read -r _ _ _ base <<<"$(run "$WORK/one.hdb")"
echo "baseline peak RSS (one signature): $((base / 1024)) MiB"
echo
echo "| feed            | signatures | form     | load (median, best)   | wall     | cpu     | peak RSS    | B/sig  | net B/sig | load avg (1 5 15) |"
echo "|-----------------|-----------:|----------|-----------------------|----------|---------|-------------|--------|-----------|-------------------|"
SHAPES=${SHAPES:-sha256-unique md5-unique sha256-repeated}
for n in "${COUNTS[@]}"; do
    for shape in $SHAPES; do
        case $shape in md5-*) ext=hdb ;; *) ext=hsb ;; esac
        text="$WORK/$shape-$n.$ext"
        index="$WORK/$shape-$n.vidx"
        [ -s "$text" ] || generate "$shape" "$n" "$text"
        # Compiled again when older than the text or the binary (whose index
        # format may be newer).
        if ! [ "$index" -nt "$text" ] || ! [ "$index" -nt "$VIGIL" ]; then
            "$VIGIL" sigs compile -o "$index" "$text" >/dev/null
        fi
        summary "$shape" "$n" text "$text"
        summary "$shape" "$n" compiled "$index"
    done
done
echo
echo "text  $(du -h "$WORK"/*.hsb "$WORK"/*.hdb | grep -v one.hdb | tr '\n' ' ')"
echo "index $(du -h "$WORK"/*.vidx | tr '\n' ' ')"
