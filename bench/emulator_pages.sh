#!/usr/bin/env bash
# emulator_pages.sh [CUSTOMERS] [SECONDS] [CLIENTS] - seeds the Stripe emulator
# with CUSTOMERS (default 1,000,000), reports how long seeding took, then
# measures list pages of 100 served per second (bench/emulator_pages.mjs).
# Needs a built ./build/tether (make) and node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bin=${TETHER_BIN:-$root/build/tether}
n=${1:-1000000}; secs=${2:-10}; conc=${3:-4}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
start=$(date +%s.%N)
"$bin" emulate stripe --listen 127.0.0.1:0 --port-file "$tmp/port" --seed-customers "$n" --seed-random 1 \
  --log-level warn &
pid=$!
for _ in $(seq 1 1200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || { echo "emulator did not start" >&2; exit 1; }
ready=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
echo "seed_customers=$n seconds_to_ready=$(awk -v a="$start" -v b="$ready" 'BEGIN { printf "%.1f", b - a }') rss_mb=$((rss / 1024))"
node "$here/emulator_pages.mjs" "$(cat "$tmp/port")" "$secs" "$conc"
