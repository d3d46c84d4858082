#!/usr/bin/env bash
# sync_scaleout.sh - two `tether sync` processes on one database: only the
# lease holder writes; kill -9 of the holder hands the sync to the other
# within the lease time, and the data still converges.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"
export TETHER_TETHER_LEASE_SECONDS=3

emu_start --seed-customers 200 --seed-products 3 --seed-prices 6 --seed-subscriptions 20 --seed-random 3
sync_start a
wait_log "$WORK/a.log" "event=sync.lease_acquired" 30
sync_start b
wait_log "$WORK/a.log" "event=sync.backfill_done" 60
tool mutate --api "$EMU_URL" --ops 60 --seed 31
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "did not converge with two processes"
grep -q "event=sync.lease_acquired" "$WORK/b.log" && fail "both processes held the lease"
grep -q "event=sync.backfill_page" "$WORK/b.log" && fail "the process without the lease wrote pages"

sync_kill a 9
wait_log "$WORK/b.log" "event=sync.lease_acquired" 20
tool mutate --api "$EMU_URL" --ops 60 --seed 32
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "did not converge after the holder died"
holder=$(psql_val "SELECT holder FROM _tether.lease WHERE sync = 'stripe'")
assert_eq "${SYNC_PID[b]}" "$(echo "$holder" | cut -d: -f2)" "lease holder after takeover"
sync_kill b
echo "PASS sync_scaleout"
