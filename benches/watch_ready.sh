#!/usr/bin/env bash
# Time from start to READY for `vigil daemon --watch TREE` on a tree of many
# folders (default 100,000), with the inotify backend (one watch per folder,
# added at start) and the fanotify one (one mark per filesystem). The tree
# is on a tmpfs of its own; no initial scan, so only the watch set-up counts.
#
# Usage (root): benches/watch_ready.sh
# Environment: VIGIL=path (default target/release/vigil), FOLDERS=N (default 100000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vigil=${VIGIL:-$(dirname "$here")/target/release/vigil}
folders=${FOLDERS:-100000}
[[ $(id -u) == 0 ]] || { echo "watch_ready.sh: needs root (fanotify, a tmpfs)" >&2; exit 2; }
[[ -x $vigil ]] || { echo "watch_ready.sh: no $vigil (cargo build --release)" >&2; exit 2; }
work=$(mktemp -d /tmp/watch-ready.XXXXXX)
mount -t tmpfs -o size=1g watch-ready "$work"
pid=""
cleanup() {
    [[ -n $pid ]] && { kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    umount -l "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
python3 -c '
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.makedirs(os.path.join(root, "tree", f"d{i // 1000}", f"e{i % 1000}"), exist_ok=True)
' "$work" "$folders"
echo "machine: $(nproc) cores; load: $(uptime | sed 's/.*load average: //'); $folders folders"
echo "fs.inotify.max_user_watches = $(cat /proc/sys/fs/inotify/max_user_watches)"
for backend in inotify fanotify; do
    printf 'watch_backend = "%s"\n' "$backend" >"$work/v.toml"
    log=$work/$backend.log
    t0=$(date +%s.%N)
    "$vigil" daemon --config "$work/v.toml" --watch "$work/tree" --no-initial-scan \
        --log-format json >/dev/null 2>"$log" &
    pid=$!
    while ! grep -q '"ready' "$log" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { echo "$backend: exited"; cat "$log"; break; }
        sleep 0.01
    done
    t1=$(date +%s.%N)
    printf '%-9s READY after %.2f s\n' "$backend" "$(echo "$t1 - $t0" | bc -l)"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done
