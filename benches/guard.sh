#!/usr/bin/env bash
# The on-access guard's cost: open and read every file of a tree of small
# files (`find DIR -type f -exec cat {} +`, as `nobody`), unguarded, then
# under `vigil daemon --guard DIR` on its first pass (every open decided:
# the signatures are any-size sha256, so each first open is hashed) and its
# second pass (the kernel's ignore marks answer), then the same against
# clamonacc (OnAccessPrevention) where it is installed. Also:
#
# - the added latency of one open (p50, p99), measured by a small Python
#   loop that opens and closes each file, first and second pass;
# - a parallel pass (`xargs -P 4 cat`), which the pool decides in parallel;
# - the cost of opens elsewhere on the same filesystem (a second tree
#   beside the guarded one, not guarded: the filesystem mark sees it too).
#
# The trees are on a tmpfs of their own, so that the filesystem mark sees
# only the benchmark's opens (on a real system it sees every open on the
# guarded folder's filesystem: that is the "elsewhere" figure).
#
# Usage (root): benches/guard.sh
# Environment:
#   VIGIL=path  the vigil binary (default target/release/vigil)
#   FILES=N     files in the tree (default 10000)
#   RUNS=N      timed runs of each pass (default 3; the median is printed)
#   SIGS=N      any-size sha256 signatures (default 1000)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
vigil=${VIGIL:-$repo/target/release/vigil}
files=${FILES:-10000}
runs=${RUNS:-3}
nsigs=${SIGS:-1000}

note() { printf '%s\n' "$*" >&2; }
[[ $(id -u) == 0 ]] || { note "guard.sh: needs root (fanotify permission events, a tmpfs)"; exit 2; }
[[ -x $vigil ]] || { note "guard.sh: no $vigil (cargo build --release)"; exit 2; }
command -v setpriv >/dev/null || { note "guard.sh: setpriv is required (util-linux)"; exit 2; }

work=$(mktemp -d /tmp/guard-bench.XXXXXX)
chmod 755 "$work"
mount -t tmpfs -o mode=0755,size=512m guard-bench "$work"
daemon_pid=""
clamd_pid=""
onacc_pid=""
cleanup() {
    for pid in $onacc_pid $daemon_pid $clamd_pid; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    umount -l "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Trees: guarded/ and elsewhere/ (same sizes), and the signatures.
python3 - "$work" "$files" "$nsigs" <<'PY'
import os, random, sys
work, files, nsigs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(7)
for tree in ("guarded", "elsewhere"):
    for i in range(files):
        d = os.path.join(work, tree, f"d{i % 100:02}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.txt"), "wb") as f:
            f.write(rnd.randbytes(rnd.randint(200, 8192)))
os.makedirs(os.path.join(work, "db"))
with open(os.path.join(work, "db", "any.vsig"), "w") as f:
    for i in range(nsigs):
        f.write(f"sha256:{rnd.randbytes(32).hex()}:*:Bench.Sha256.{i}\n")
with open(os.path.join(work, "db", "any.hsb"), "w") as f:
    rnd = random.Random(7)
    for i in range(nsigs):
        f.write(f"{rnd.randbytes(32).hex()}:*:Bench.Sha256.{i}:73\n")
PY
chmod -R a+rX "$work"

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# Seconds for one pass of `find DIR -type f -exec cat {} +`, as nobody.
pass() { # DIR
    local t0 t1
    t0=$(date +%s.%N)
    as_nobody find "$1" -type f -exec cat {} + >/dev/null
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}
# The same with 4 cats at once.
pass_parallel() { # DIR
    local t0 t1
    t0=$(date +%s.%N)
    as_nobody sh -c 'find "$0" -type f -print0 | xargs -0 -P 4 -n 250 cat' "$1" >/dev/null
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}
median() { sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] }'; }
# p50 and p99 of one open+close of each file, in microseconds.
latency() { # DIR
    as_nobody /usr/bin/python3 - "$1" <<'PY'
import os, sys, time
paths = []
for root, _, names in os.walk(sys.argv[1]):
    paths += [os.path.join(root, n) for n in names]
lat = []
for p in paths:
    t = time.perf_counter_ns()
    fd = os.open(p, os.O_RDONLY)
    os.close(fd)
    lat.append(time.perf_counter_ns() - t)
lat.sort()
print(f"{lat[len(lat) // 2] / 1000:.1f} {lat[len(lat) * 99 // 100] / 1000:.1f}")
PY
}

log=$work/daemon.log
start_vigil() {
    "$vigil" daemon -d "$work/db" --guard "$work/guarded" --log-format json >/dev/null 2>"$log" &
    daemon_pid=$!
    for _ in $(seq 1 200); do
        grep -q '"ready' "$log" 2>/dev/null && return 0
        sleep 0.05
    done
    note "vigil did not start:"; cat "$log" >&2; exit 1
}
# Drops every ignore mark (a reload does) and waits until it is done.
flush_marks() {
    local before
    before=$(grep -c 'reloaded signatures' "$log" || true)
    kill -HUP "$daemon_pid"
    for _ in $(seq 1 400); do
        [[ $(grep -c 'reloaded signatures' "$log" || true) -gt $before ]] && return 0
        sleep 0.025
    done
    note "no reload"; exit 1
}

echo "machine: $(nproc) cores; load: $(uptime | sed 's/.*load average: //')"
echo "tree: $files files of 200 B to 8 KiB; $nsigs any-size sha256 signatures; $runs runs, median"

# Unguarded: once to warm the cache, then timed.
pass "$work/guarded" >/dev/null
unguarded=$(for _ in $(seq "$runs"); do pass "$work/guarded"; done | median)
unguarded_par=$(for _ in $(seq "$runs"); do pass_parallel "$work/guarded"; done | median)
read -r lat0_50 lat0_99 < <(latency "$work/guarded")

start_vigil
first=$(for _ in $(seq "$runs"); do flush_marks; pass "$work/guarded"; done | median)
second=$(for _ in $(seq "$runs"); do pass "$work/guarded"; done | median)
first_par=$(for _ in $(seq "$runs"); do flush_marks; pass_parallel "$work/guarded"; done | median)
flush_marks
read -r lat1_50 lat1_99 < <(latency "$work/guarded")
read -r lat2_50 lat2_99 < <(latency "$work/guarded")
flush_marks
elsewhere_first=$(pass "$work/elsewhere" | median)
elsewhere_second=$(pass "$work/elsewhere" | median)
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$daemon_pid/status")
kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""
grep -o '"fields":{[^}]*"message":"guard stopped"[^}]*}' "$log" || true

ratio() { echo "scale=2; $1 / $2" | bc -l; }
printf '\n%-44s %8s %8s\n' "pass (find -exec cat, as nobody)" "seconds" "x unguarded"
printf '%-44s %8s %8s\n' "unguarded" "$unguarded" "1.00"
printf '%-44s %8s %8s\n' "vigil guard, first pass (every open hashed)" "$first" "$(ratio "$first" "$unguarded")"
printf '%-44s %8s %8s\n' "vigil guard, second pass (ignore marks)" "$second" "$(ratio "$second" "$unguarded")"
printf '%-44s %8s %8s\n' "unguarded, xargs -P 4 cat" "$unguarded_par" "1.00"
printf '%-44s %8s %8s\n' "vigil guard, first pass, xargs -P 4 cat" "$first_par" "$(ratio "$first_par" "$unguarded_par")"
printf '%-44s %8s %8s\n' "elsewhere on the fs, first pass" "$elsewhere_first" "$(ratio "$elsewhere_first" "$unguarded")"
printf '%-44s %8s %8s\n' "elsewhere on the fs, second pass" "$elsewhere_second" "$(ratio "$elsewhere_second" "$unguarded")"
printf '\nlatency of one open (us)     p50     p99\n'
printf 'unguarded               %8s %8s\n' "$lat0_50" "$lat0_99"
printf 'guarded, first open     %8s %8s\n' "$lat1_50" "$lat1_99"
printf 'guarded, second open    %8s %8s\n' "$lat2_50" "$lat2_99"
echo "vigil daemon RSS at the end: ${rss} KiB"

# clamonacc, where installed: clamd with the same signatures (.hsb), and
# clamonacc blocking opens under the tree (OnAccessPrevention).
if ! command -v clamonacc >/dev/null || [[ ! -x /usr/sbin/clamd ]]; then
    echo "clamonacc: skipped (not installed; Debian: clamav-daemon)"
    exit 0
fi
cdir=$work/clamd
mkdir -p "$cdir/db"
cp "$work/db/any.hsb" "$cdir/db/"
echo "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:68:Eicar-Test:73" >"$cdir/db/eicar.hsb"
cat >"$cdir/clamd.conf" <<CONF
LocalSocket $cdir/clamd.sock
DatabaseDirectory $cdir/db
Foreground yes
MaxThreads $(nproc)
LogFile $cdir/clamd.log
OnAccessIncludePath $work/guarded
OnAccessPrevention yes
OnAccessExcludeRootUID yes
OnAccessMaxThreads $(nproc)
CONF
/usr/sbin/clamd --config-file="$cdir/clamd.conf" >/dev/null 2>&1 &
clamd_pid=$!
for _ in $(seq 1 300); do
    [[ -S $cdir/clamd.sock ]] && break
    sleep 0.1
done
[[ -S $cdir/clamd.sock ]] || { echo "clamonacc: skipped (clamd did not start)"; tail -3 "$cdir/clamd.log"; exit 0; }
clamonacc --config-file="$cdir/clamd.conf" --foreground --fdpass --log="$cdir/onacc.log" >/dev/null 2>&1 &
onacc_pid=$!
ready="ClamInotif: watching\|Listening for events"
for _ in $(seq 1 300); do
    grep -q "$ready" "$cdir/onacc.log" 2>/dev/null && break
    sleep 0.1
done
grep -q "$ready" "$cdir/onacc.log" 2>/dev/null || { echo "clamonacc: skipped (did not start)"; tail -3 "$cdir/onacc.log"; exit 0; }
sleep 1 # its marks are placed as it walks the tree
onacc=$(pass "$work/guarded" | median)
onacc_second=$(pass "$work/guarded" | median)
# Is it refusing anything? A planted EICAR under its path, opened as nobody.
printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' >"$work/guarded/eicar.com"
chmod 644 "$work/guarded/eicar.com"
sleep 0.5
if as_nobody cat "$work/guarded/eicar.com" >/dev/null 2>&1; then refused=no; else refused=yes; fi
printf '%-44s %8s %8s\n' "clamonacc (OnAccessPrevention), first pass" "$onacc" "$(ratio "$onacc" "$unguarded")"
printf '%-44s %8s %8s\n' "clamonacc, second pass" "$onacc_second" "$(ratio "$onacc_second" "$unguarded")"
echo "clamonacc refused a planted EICAR: $refused"
