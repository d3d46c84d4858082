#!/usr/bin/env bash
# sync_faults.sh - convergence while the emulator answers 10% of calls with
# 429 (+Retry-After), 10% with 500 and truncates 10% of bodies: backfill and
# the event stream must still converge, without lost or extra rows.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"

emu_start --seed-customers 300 --seed-products 5 --seed-prices 10 --seed-subscriptions 30 \
  --seed-invoices 10 --seed-charges 10 --seed-random 5 \
  --fault-429-rate 0.1 --fault-500-rate 0.1 --fault-truncate-rate 0.1
sync_start a
wait_log "$WORK/a.log" "event=sync.backfill_done" 120
tool mutate --api "$EMU_URL" --ops 120 --seed 5
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 90 || fail "did not converge under faults"
grep -q "event=http.retry.*status=429" "$WORK/a.log" || fail "no 429 was retried (faults not injected?)"
grep -q "event=http.retry.*status=500" "$WORK/a.log" || fail "no 500 was retried"
grep -qE "event=http.retry.*(partial file|not a JSON object)" "$WORK/a.log" || fail "no truncated body was retried"
sync_kill a
echo "PASS sync_faults"
