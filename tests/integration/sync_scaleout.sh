#!/usr/bin/env bash
# sync_scaleout.sh - two `tether sync` processes on one database: they split
# the backfill by collection leases, only the sync's lease holder follows the
# event stream, and kill -9 of the holder hands the sync to the other within
# the lease time; the data converges throughout.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"
export TETHER_TETHER_LEASE_SECONDS=3
export TETHER_SYNC_STRIPE_RATE_BACKFILL=8

emu_start --seed-customers 400 --seed-products 150 --seed-prices 150 --seed-subscriptions 20 --seed-random 3
sync_start a
wait_log "$WORK/a.log" "event=sync.lease_acquired sync=stripe " 30
sync_start b
wait_log "$WORK/a.log" "event=sync.backfill_done" 120
grep -q "event=sync.backfill_page" "$WORK/a.log" || fail "process a wrote no backfill page"
grep -q "event=sync.backfill_page" "$WORK/b.log" || fail "process b wrote no backfill page: the backfill was not split"
for c in customer product price; do
  writers=$(cat "$WORK/a.log" "$WORK/b.log" | grep "event=sync.backfill_page.*collection=$c " | grep -c . || true)
  [ "$writers" -gt 0 ] || fail "no pages for $c"
done
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "split backfill did not converge"

tool mutate --api "$EMU_URL" --ops 60 --seed 31
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "did not converge with two processes"
grep -q "event=sync.lease_acquired sync=stripe " "$WORK/b.log" && fail "both processes held the sync lease"
grep -q "via=poll" "$WORK/b.log" && fail "the process without the sync lease followed the event stream"

sync_kill a 9
wait_log "$WORK/b.log" "event=sync.lease_acquired sync=stripe " 20
tool mutate --api "$EMU_URL" --ops 60 --seed 32
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "did not converge after the holder died"
holder=$(psql_val "SELECT holder FROM _tether.lease WHERE sync = 'stripe'")
assert_eq "${SYNC_PID[b]}" "$(echo "$holder" | cut -d: -f2)" "lease holder after takeover"
sync_kill b
echo "PASS sync_scaleout"
