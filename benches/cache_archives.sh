#!/usr/bin/env bash
# The verdict cache on a tree of containers: a scan without the cache, a
# first scan filling a new cache, a second scan from it, and one with a
# signature added (at a size the set already has, so no new algorithm is
# needed). First checks that every scan reports the same files and that the
# cached ones read nothing, then times each with hyperfine and prints the
# medians and the load average.
#
# Usage: benches/cache_archives.sh [TREE]
#   TREE    default /tmp/vigil-archives (made by benches/make_archives.py if
#           absent; its database goes to TREE/../archives-db)
# Environment:
#   VIGIL=path   the vigil binary (default: target/release/vigil, built if missing)
#   RUNS=N       timed runs per case (default 5), after one warm-up run
#   OUT=DIR      where the cache file and hyperfine's JSON go (default: a temp folder)
#   DB=file      the database (default: the tree's planted.hsb, sized, so
#                few members are hashed; a `.vsig` of `sha256:HEX:*:NAME`
#                lines makes every member hashed and recorded with its digest)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
tree=${1:-/tmp/vigil-archives}
tree=${tree%/}
runs=${RUNS:-5}
out=${OUT:-$(mktemp -d /tmp/vigil-cache-archives.XXXXXX)}
mkdir -p "$out"
chmod 700 "$out"

need() { command -v "$1" >/dev/null 2>&1; }
note() { printf '%s\n' "$*" >&2; }
need hyperfine || { note "cache_archives.sh: hyperfine is required (apt-get install hyperfine)"; exit 2; }

vigil=${VIGIL:-$repo/target/release/vigil}
if [[ ! -x $vigil ]]; then
    note "building $vigil"
    (cd "$repo" && cargo build --release --quiet)
fi
if [[ ! -d $tree ]]; then
    note "making the archives in $tree"
    python3 "$here/make_archives.py" "$tree" >&2
fi
db=${DB:-$(dirname "$tree")/archives-db/planted.hsb}
cache=$out/cache.redb
# One more signature, of an algorithm and size the set has already.
plus="$out/plus-one.${db##*.}"
case $db in
*.vsig) { cat "$db"; printf 'sha256:%064d:*:Bench.Added\n' 0; } >"$plus" ;;
*) { cat "$db"; head -1 "$db" | awk -F: '{ printf "%064d:%s:Bench.Added\n", 0, $2 }'; } >"$plus" ;;
esac

# vigil exits 1 when it finds something: not a failure here.
found() { { "$vigil" scan -i --no-summary "$@" "$tree" || true; } | sort; }
summary() {
    { "$vigil" scan --json -i "$@" "$tree" || true; } | tail -1 | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(" ".join(f"{k}={s[k]}" for k in ("files", "hashed", "from_cache", "detections", "containers", "members")))'
}
want=$(found -d "$db")
rm -f "$cache"
echo "first:  $(summary -d "$db" --cache "$cache")"
echo "second: $(summary -d "$db" --cache "$cache")"
echo "added:  $(summary -d "$plus" --cache "$cache")"
for args in "-d $db --cache $cache" "-d $plus --cache $cache"; do
    # shellcheck disable=SC2086
    if [[ $(found $args | grep -v Bench.Added) != "$want" ]]; then
        echo "different results with $args"
        exit 1
    fi
done

echo "load before: $(uptime)"
time_case() {
    local name=$1
    shift
    # (-i: vigil exits 1 when it finds something; hyperfine warns of it.)
    hyperfine -N -i --warmup 1 --runs "$runs" --export-json "$out/$name.json" "$@" >/dev/null 2>&1
    python3 - "$out/$name.json" "$name" <<'EOF'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"][0]
t = r["times"]
print(f"{sys.argv[2]:<22} median {statistics.median(t):.3f} s  [{min(t):.3f}-{max(t):.3f}]  "
      f"user {r['user']:.3f} s  system {r['system']:.3f} s")
EOF
}
time_case no-cache "$vigil scan -i --no-summary -d $db $tree"
time_case first-new-cache --prepare "rm -f $cache" "$vigil scan -i --no-summary --cache $cache -d $db $tree"
"$vigil" scan -i --no-summary --cache "$cache" -d "$db" "$tree" >/dev/null || true
time_case second-cached "$vigil scan -i --no-summary --cache $cache -d $db $tree"
time_case one-sig-added "$vigil scan -i --no-summary --cache $cache -d $plus $tree"
echo "cache file: $(stat -c %s "$cache") bytes"
echo "load after: $(uptime)"
