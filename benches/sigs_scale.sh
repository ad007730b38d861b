#!/usr/bin/env bash
# Signatures at scale: load time and resident memory for 1M and 10M
# sha256 signatures (a ClamAV .hsb with `*` sizes), as text and as a compiled
# index.
#
# Usage: benches/sigs_scale.sh [COUNTS...]        (default: 1000000 10000000)
#   RUNS=5             runs per case (the table shows the median and the best)
#   WORK=/tmp/vigil-sigs-scale   where the generated databases go (never the repo)
#   VIGIL=target/release/vigil   the binary (built with `cargo build --release` if missing)
#
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

generate() { # COUNT FILE: COUNT random sha256 lines, 1000 family names, seeded
    python3 - "$1" "$2" <<'EOF'
import random, sys
n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
names = [f"Feed.Family{i}" for i in range(1000)]
with open(out + ".tmp", "w") as f:
    f.write("# generated sha256 feed (benches/sigs_scale.sh)\n")
    done = 0
    while done < n:
        k = min(200_000, n - done)
        blob = rng.randbytes(32 * k).hex()
        f.write("".join(f"{blob[64*i:64*i+64]}:*:{names[(done+i) % 1000]}:73\n" for i in range(k)))
        done += k
import os
os.replace(out + ".tmp", out)
EOF
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

summary() { # N FORM FILE
    local n=$1 form=$2 file=$3 rows=()
    for _ in $(seq "$RUNS"); do rows+=("$(run "$file")"); done
    printf '%s\n' "${rows[@]}" | python3 -c '
import sys, statistics as st
n, form, load, base = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]) * 1024
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
col = lambda i: [r[i] for r in rows]
rss = max(col(3)) * 1024
print(f"| {n:>10,} | {form:<8} | {st.median(col(0)):6.3f} s (best {min(col(0)):.3f}) | "
      f"{st.median(col(1)):6.3f} s | {st.median(col(2)):5.2f} s | {rss/2**20:7.1f} MiB | "
      f"{rss/n:6.1f} | {(rss - base)/n:6.1f} | {load} |")
' "$n" "$form" "$(cut -d' ' -f1-3 /proc/loadavg)" "$base"
}

echo "vigil sigs scale: $(nproc) cores, $RUNS runs per case, $(date -u +%FT%TZ)"
# The process alone, with a one-line database: what every row pays regardless of N.
echo "44d88612fea8a8f36de82e1278abb02f:68:Eicar" >"$WORK/one.hdb"
read -r _ _ _ base <<<"$(run "$WORK/one.hdb")"
echo "baseline peak RSS (one signature): $((base / 1024)) MiB"
echo
echo "| signatures | form     | load (median, best)   | wall     | cpu     | peak RSS    | B/sig  | net B/sig | load avg (1 5 15) |"
echo "|-----------:|----------|-----------------------|----------|---------|-------------|--------|-----------|-------------------|"
for n in "${COUNTS[@]}"; do
    text="$WORK/sha256-$n.hsb"
    index="$WORK/sha256-$n.vidx"
    [ -s "$text" ] || generate "$n" "$text"
    [ "$index" -nt "$text" ] || "$VIGIL" sigs compile -o "$index" "$text" >/dev/null
    summary "$n" text "$text"
    summary "$n" compiled "$index"
done
echo
echo "text $(du -h "$WORK"/*.hsb | tr '\n' ' ')"
echo "index $(du -h "$WORK"/*.vidx | tr '\n' ' ')"
