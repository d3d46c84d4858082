#!/usr/bin/env bash
# lag.sh - real-time lag benchmark (not a test): the time from a change made
# through the Stripe emulator's API to the changed row being visible in
# Postgres (bench/lag.mjs: NOTIFY from a trigger added in the bench database),
# p50/p99 over BENCH_LAG_CHANGES customer updates (default 200), for two paths
# in one run, each with its own emulator and database in one private cluster:
#   webhook: the emulator POSTs signed events to `tether sync --webhook-listen`
#            (polling slowed to once a minute so webhooks alone deliver);
#   polling: no webhooks; the sync polls /v1/events every
#            BENCH_POLL_MS (default 500, the configuration default); changes
#            are spaced randomly over the interval.
# BENCH_KEEP_LOGS=DIR keeps the sync and emulator logs there (for outliers).
# Writes a markdown section to stdout. Needs ./build/tether, node, bench/ npm packages.
set -euo pipefail
NAME=lag.sh
# shellcheck source=bench/lib/common.sh
. "$(dirname "$0")/lib/common.sh"
changes=${BENCH_LAG_CHANGES:-200}
poll_ms=${BENCH_POLL_MS:-500}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
bench_npm_ci pg

bench_pg_start
psql -X -q -d postgres -c "CREATE DATABASE lag_webhook" -c "CREATE DATABASE lag_poll"

# phase NAME POLL_MS JITTER_MS [emulator webhook flags...] -- [sync webhook flags...]
phase() {
  local name=$1 pms=$2 jitter=$3; shift 3
  local eargs=() sargs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do eargs+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  sargs=("$@")
  "$bin" emulate stripe --listen 127.0.0.1:0 --port-file "$work/$name.port" --seed-customers 1000 \
    --seed-random 3 --log-level warn "${eargs[@]}" >"$work/$name.emu.log" 2>&1 &
  local epid=$!; pids+=("$epid")
  for _ in $(seq 1 200); do [ -s "$work/$name.port" ] && break; sleep 0.05; done
  local eport; eport=$(cat "$work/$name.port")
  TETHER_SYNC_STRIPE_SOURCE=stripe TETHER_SYNC_STRIPE_POLL_INTERVAL_MS=$pms "$bin" sync --source stripe --api-key sk_test_tether \
    --api-base "http://127.0.0.1:$eport" --database "$base/lag_$name?sslmode=disable" --status-listen 127.0.0.1:0 "${sargs[@]}" \
    >"$work/$name.sync.log" 2>&1 &
  local spid=$!; pids+=("$spid")
  wait_line "$work/$name.sync.log" "event=sync.backfill_done" 120 "$spid"
  sleep 1 # the first poll after the backfill
  node "$here/lag.mjs" "$base/lag_$name?sslmode=disable" "$eport" "$changes" "$jitter" > "$work/$name.out"
  kill "$spid" "$epid"; wait "$spid" 2>/dev/null || true; wait "$epid" 2>/dev/null || true
}
val() { sed -n "s/.*[ ^]$2=\\([^ ]*\\).*/\\1/p" "$work/$1.out"; }

secret=whsec_bench_lag
wport=$(free_port)
phase webhook 60000 20 --webhook "http://127.0.0.1:$wport/webhook" --webhook-secret "$secret" --webhook-retry-ms 200 \
  -- --webhook-listen "127.0.0.1:$wport" --webhook-secret "$secret"
phase poll "$poll_ms" "$poll_ms"

cat <<MD
## Real-time lag: API change to visible row, $changes customer updates per path, one run

\`BENCH_LAG_CHANGES=$changes BENCH_POLL_MS=$poll_ms bash bench/lag.sh\`: each change is
\`POST /v1/customers/:id metadata[lag_seq]=…\` to the emulator, one at a time, 5–25 ms
apart for webhooks and 5 ms + random(poll interval) apart for polling (so that
changes land at random points of the interval); visible = the NOTIFY of a trigger on stripe.customer arrives
(\`node bench/lag.mjs\`). Lag counts from the start of the API call.

| path | sync command | changes seen | p50 ms | p99 ms | max ms | API call p50 / p99 ms | goal |
| --- | --- | --- | --- | --- | --- | --- | --- |
| webhook | \`TETHER_SYNC_STRIPE_POLL_INTERVAL_MS=60000 tether sync ... --webhook-listen H:P --webhook-secret S\` (emulator \`--webhook http://H:P/webhook --webhook-secret S\`) | $(val webhook seen)/$changes | $(val webhook p50_ms) | $(val webhook p99_ms) | $(val webhook max_ms) | $(val webhook api_p50_ms) / $(val webhook api_p99_ms) | p99 ≤ 100 |
| polling | \`TETHER_SYNC_STRIPE_POLL_INTERVAL_MS=$poll_ms tether sync ...\` (no webhooks) | $(val poll seen)/$changes | $(val poll p50_ms) | $(val poll p99_ms) | $(val poll max_ms) | $(val poll api_p50_ms) / $(val poll api_p99_ms) | bounded by the poll interval |

MD
