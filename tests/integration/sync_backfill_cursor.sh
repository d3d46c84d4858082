#!/usr/bin/env bash
# sync_backfill_cursor.sh - the backfill resumes even when the object its
# cursor names was deleted while the sync was down, and the data converges.
# (When the API answers resource_missing for such a cursor, the page
# re-anchors on the cursor's creation second and logs stripe.cursor_missing;
# the emulator keeps deleted customers usable as cursors, so either path may
# run here.)
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"
export TETHER_SYNC_STRIPE_RATE_BACKFILL=8

emu_start --seed-customers 1500 --seed-products 2 --seed-prices 2 --seed-random 12
sync_start a
wait_log_count "$WORK/a.log" "event=sync\.backfill_page.*collection=customer " 2 60
sync_kill a
grep -q "event=sync.backfill_done" "$WORK/a.log" && fail "backfill finished before the stop; test proves nothing"
cursor=$(psql_val "SELECT cursor FROM _tether.collection WHERE collection = 'customer'")
id=${cursor%@*}
[ -n "$id" ] && [ "$id" != "$cursor" ] || fail "unexpected cursor '$cursor'"
curl -sf -u sk_test_tether: -X DELETE "$EMU_URL/v1/customers/$id" >/dev/null || fail "cannot delete $id"

sync_start b
wait_log "$WORK/b.log" "event=sync.backfill_done" 120
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "did not converge after re-anchoring"
sync_kill b
echo "PASS sync_backfill_cursor"
