#!/usr/bin/env bash
# Container throughput: vigil against clamscan on a tree of zips, both given
# the same one-file database (the sha256 and size of the planted members).
# First checks that both report exactly the zips that hold a planted member,
# then times both in one hyperfine run and prints the medians, their ratio
# and the load average.
#
# Usage: benches/archives.sh [TREE]
#   TREE    default /tmp/vigil-archives (made by benches/make_archives.py if
#           absent; its database and expected list go to TREE/../archives-db)
# Environment:
#   VIGIL=path   the vigil binary (default: target/release/vigil, built if missing)
#   RUNS=N       timed runs per command (default 3), after one warm-up run
#   OUT=DIR      where hyperfine's JSON goes (default: a temp folder)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
tree=${1:-/tmp/vigil-archives}
tree=${tree%/}
runs=${RUNS:-3}
out=${OUT:-$(mktemp -d /tmp/vigil-archives-bench.XXXXXX)}
mkdir -p "$out"

need() { command -v "$1" >/dev/null 2>&1; }
note() { printf '%s\n' "$*" >&2; }
need hyperfine || { note "archives.sh: hyperfine is required (apt-get install hyperfine)"; exit 2; }
need clamscan || { note "archives.sh: clamscan is required (apt-get install clamav)"; exit 2; }

vigil=${VIGIL:-$repo/target/release/vigil}
if [[ ! -x $vigil ]]; then
    note "building $vigil"
    (cd "$repo" && cargo build --release --quiet)
fi
if [[ ! -d $tree ]]; then
    note "making the archives in $tree"
    python3 "$here/make_archives.py" "$tree" >&2
fi
db=$(dirname "$tree")/archives-db/planted.hsb
expected=$(dirname "$tree")/archives-db/expected.txt

# Which files each reports (the path before ": NAME FOUND").
found() { sed -n 's/^\(.*\): [^ ]* FOUND$/\1/p' | sort; }
"$vigil" scan -i --no-summary -d "$db" "$tree" | found >"$out/vigil.found" || true
clamscan --no-summary -r -i -d "$db" "$tree" | found >"$out/clamscan.found" || true
status=0
for tool in vigil clamscan; do
    if cmp -s "$out/$tool.found" "$expected"; then
        echo "$tool found the $(wc -l <"$expected") expected files"
    else
        echo "$tool found other files than expected:"
        diff "$expected" "$out/$tool.found" || true
        status=1
    fi
done

echo "load before: $(uptime)"
hyperfine -N -i --warmup 1 --runs "$runs" --export-json "$out/archives.json" \
    -n vigil "$vigil scan -i --no-summary -d $db $tree" \
    -n clamscan "clamscan --no-summary -r -i -d $db $tree"
echo "load after: $(uptime)"
python3 - "$out/archives.json" <<'EOF'
import json, statistics, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
med = {k: statistics.median(v["times"]) for k, v in r.items()}
cpu = {k: v["user"] + v["system"] for k, v in r.items()}
for k in ("vigil", "clamscan"):
    print(f"{k:9} median {med[k]:8.3f} s   mean CPU {cpu[k]:7.3f} s")
print(f"clamscan / vigil: {med['clamscan'] / med['vigil']:.1f}x wall, {cpu['clamscan'] / cpu['vigil']:.1f}x CPU")
EOF
exit $status
