#!/usr/bin/env bash
# Peak resident memory of `vigil daemon` while a SIGHUP reload replaces its
# signature set with the same set loaded again: the old set stays resident
# until the new one is in place, so the peak should stay within the old set's
# resident size plus one load's peak.
#
#   benches/reload_memory.sh [DATABASE]
#
# DATABASE defaults to the 10M sha256 feed that benches/sigs_scale.sh writes.
# Needs the release build (cargo build --release) and /proc/PID/clear_refs.
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-/tmp/vigil-sigs-scale/sha256-unique-10000000.hsb}
vigil=target/release/vigil
[ -x "$vigil" ] || { echo "build first: cargo build --release" >&2; exit 1; }
[ -f "$db" ] || { echo "no database $db (benches/sigs_scale.sh writes it)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/watch"
cat > "$work/vigil.toml" <<EOT
watch = ["$work/watch"]
databases = ["$db"]
initial_scan = false
self_check = "off"
EOT
"$vigil" daemon --config "$work/vigil.toml" --log-format json >/dev/null 2>"$work/log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
until grep -q '"ready' "$work/log"; do sleep 0.2; done
kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
old=$(kib VmRSS)
echo "after start: resident $old KiB (peak while loading $(kib VmHWM) KiB)"
echo 5 > "/proc/$pid/clear_refs" # resets VmHWM to the current resident size
kill -HUP "$pid"
until grep -q '"reloaded' "$work/log"; do sleep 0.2; done
echo "reload: peak $(kib VmHWM) KiB, resident after $(kib VmRSS) KiB (old set resident: $old KiB)"
