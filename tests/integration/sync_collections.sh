#!/usr/bin/env bash
# sync_collections.sh - `collections = customer,subscription` syncs only those
# (with subscription items and the event log): no other tables are created or
# written, the chosen ones converge; an unknown collection name is refused.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"

emu_start --seed-customers 40 --seed-products 3 --seed-prices 6 --seed-subscriptions 10 --seed-random 14
if TETHER_SYNC_STRIPE_COLLECTIONS="customer,nosuch" "$TETHER_BIN" sync --source stripe --api-key sk_test_tether \
    --api-base "$EMU_URL" --database "$DB_URL" --status-listen 127.0.0.1:0 2>"$WORK/bad.err"; then
  fail "an unknown collection was accepted"
fi
grep -q "unknown collection 'nosuch'" "$WORK/bad.err" || fail "unclear error: $(cat "$WORK/bad.err")"

export TETHER_SYNC_STRIPE_COLLECTIONS="customer, subscription"
sync_start a
wait_log "$WORK/a.log" "event=sync.backfill_done" 60
tool mutate --api "$EMU_URL" --ops 40 --seed 61
tool check --api "$EMU_URL" --dsn "$DB_URL" --only customer,subscription --timeout 40 || fail "selected collections did not converge"
tables=$(psql_val "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'stripe'")
assert_eq "customer,event,subscription,subscription_item" "$tables" "tables of the selected collections"
sync_kill a
echo "PASS sync_collections"
