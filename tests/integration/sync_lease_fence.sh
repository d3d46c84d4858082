#!/usr/bin/env bash
# sync_lease_fence.sh - a backfill page commits only while its process holds
# the collection's lease: once another holder takes the lease over (here: a
# row written by hand, as a paused process would find on waking), the
# pipelined page transactions in flight fail as a whole, and neither rows
# nor the cursor move until the lease comes back; then the backfill resumes
# from the committed cursor and converges.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"
export TETHER_SYNC_STRIPE_RATE_BACKFILL=8

emu_start --seed-customers 2500 --seed-random 17
sync_start a
wait_log_count "$WORK/a.log" "event=sync\.backfill_page.*collection=customer " 2 60
# take the lease away (waits for a page transaction holding the lease row)
psql_val "UPDATE _tether.lease SET holder = 'thief', expires_at = now() + interval '1 hour'
          WHERE sync = 'stripe/customer' RETURNING 1" >/dev/null
rows=$(psql_val "SELECT count(*) FROM stripe.customer")
cursor=$(psql_val "SELECT cursor || '/' || pages FROM _tether.collection WHERE collection = 'customer'")
sleep 3
assert_eq "$rows" "$(psql_val "SELECT count(*) FROM stripe.customer")" "rows written without the lease"
assert_eq "$cursor" "$(psql_val "SELECT cursor || '/' || pages FROM _tether.collection WHERE collection = 'customer'")" \
  "cursor moved without the lease"
grep -q "event=sync.backfill_done" "$WORK/a.log" && fail "backfill finished without the lease"
# the thief goes away: the lease expires and the process takes it back
psql_val "UPDATE _tether.lease SET expires_at = '-infinity' WHERE sync = 'stripe/customer' RETURNING 1" >/dev/null
wait_log "$WORK/a.log" "event=sync.backfill_done" 120
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "did not converge after the lease came back"
echo "page transactions refused by the fence: $(grep -c "lease stripe/customer lost" "$WORK/a.log" || true)"
sync_kill a
echo "PASS sync_lease_fence"
