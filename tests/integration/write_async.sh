#!/usr/bin/env bash
# write_async.sh - a write waiting on a slow API does not stall the proxy.
# Two Stripe emulators: "slow" (sync slow, schema stripe_slow, every API
# call held latency_ms) and the usual one (schema stripe). While client A's
# UPDATE of stripe_slow.customer waits on the slow API, client B's SELECT,
# client C's UPDATE of stripe.customer and a new client's login all complete
# first; a pipelining client is answered in order after its write; Ctrl-C
# (CancelRequest) and a client that disconnects during the wait leave the
# API change in the table and the audit log; a write still queued for a
# worker (all 3 busy) is canceled and never sent; the proxy keeps serving and
# stops cleanly (no sanitizer report). The checks are in write_async.py.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/write_tools/lib.sh"

# the fast source: emulator + sync of schema stripe
emu_start --seed-customers 4 --seed-random 3
sync_start s
wait_log "$WORK/s.log" "event=sync.backfill_done" 60

# the slow source: a second emulator + sync of schema stripe_slow
"$TETHER_BIN" emulate stripe --listen 127.0.0.1:0 --port-file "$WORK/slow.port" \
  --seed-customers 8 --seed-random 4 >"$WORK/slow-emu.log" 2>&1 &
slow_pid=$!
cleanup_add "kill $slow_pid 2>/dev/null; wait $slow_pid 2>/dev/null"
for ((i = 0; i < 100; i++)); do [ -s "$WORK/slow.port" ] && break; sleep 0.1; done
[ -s "$WORK/slow.port" ] || { cat "$WORK/slow-emu.log" >&2; fail "slow emulator did not start"; }
SLOW_URL="http://127.0.0.1:$(cat "$WORK/slow.port")"
slow_env=(TETHER_SYNC_SLOW_SOURCE=stripe TETHER_SYNC_SLOW_API_KEY=sk_test_tether
  TETHER_SYNC_SLOW_API_BASE="$SLOW_URL" TETHER_SYNC_SLOW_SCHEMA=stripe_slow)
env "${slow_env[@]}" "$TETHER_BIN" sync --database "$DB_URL" --status-listen 127.0.0.1:0 \
  >>"$WORK/slow.log" 2>&1 &
SYNC_PID[slow]=$!
cleanup_add "kill -9 ${SYNC_PID[slow]} 2>/dev/null; wait ${SYNC_PID[slow]} 2>/dev/null"
wait_log "$WORK/slow.log" "event=sync.backfill_done" 60
sync_kill s      # only the proxy writes the tables from here on
sync_kill slow
[ "$(db "SELECT count(*) FROM stripe_slow.customer")" -ge 8 ] || fail "slow sync backfilled nothing"

# one proxy writing through to both (debug: the workers log when a job starts)
export "${slow_env[@]}" TETHER_TETHER_LOG_LEVEL=debug TETHER_WRITE_WORKERS=3
wt_proxy_start
curl -sf -H 'Content-Type: application/json' -d '{"latency_ms": 4000}' "$SLOW_URL/_emulator/faults" >/dev/null

export PX_URL DB_URL EMU_URL SLOW_URL
WT_PROXY_LOG="$WORK/proxy.log" "$PY" "$TETHER_SOURCE_DIR/tests/integration/write_async.py"

kill -0 "$PX_PID" 2>/dev/null || fail "the proxy died"
px_proxy_stop
grep -q "event=writethrough.job_orphaned" "$WORK/proxy.log" || fail "no orphaned job logged"
echo "PASS write_async"
