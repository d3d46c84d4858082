#!/usr/bin/env bash
# sync_converge.sh - the convergence test: seed the emulator, backfill, then
# random creates/updates/deletes through the emulator while syncing; every
# object in the emulator must equal its row in Postgres, with no extra rows.
# Then the seed's query from the issue runs as written.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"

emu_start --seed-customers 300 --seed-products 5 --seed-prices 10 --seed-subscriptions 40 \
  --seed-invoices 20 --seed-charges 20 --seed-random 7
sync_start a
wait_log "$WORK/a.log" "event=sync.backfill_done" 60
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 30 || fail "backfill did not converge"

tool mutate --api "$EMU_URL" --ops 200 --seed 11
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "event stream did not converge"

# the query from the issue, as written
cid=$(psql_val "SELECT customer_id FROM stripe.subscription WHERE customer_id IN (SELECT id FROM stripe.customer) LIMIT 1")
[ -n "$cid" ] || fail "no subscription with a synced customer"
curl -sf -u sk_test_tether: -d "metadata[user_id]=user_abc" "$EMU_URL/v1/customers/$cid" >/dev/null
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 30 || fail "metadata update did not converge"
got=$(psql_val "SELECT subscription.status FROM stripe.subscription JOIN stripe.customer ON stripe.customer.id = stripe.subscription.customer_id WHERE stripe.customer.metadata ->> 'user_id' = 'user_abc'" | head -1)
[ -n "$got" ] || fail "the seed query returned nothing"

# typed columns as DESIGN.md section 2 describes them
assert_eq "timestamp with time zone" "$(psql_val "SELECT data_type FROM information_schema.columns WHERE table_schema='stripe' AND table_name='customer' AND column_name='created'")" "created type"
assert_eq "bigint" "$(psql_val "SELECT data_type FROM information_schema.columns WHERE table_schema='stripe' AND table_name='price' AND column_name='unit_amount'")" "amount type"
assert_eq "jsonb" "$(psql_val "SELECT data_type FROM information_schema.columns WHERE table_schema='stripe' AND table_name='customer' AND column_name='metadata'")" "metadata type"
[ "$(psql_val "SELECT count(*) FROM pg_indexes WHERE schemaname='stripe' AND tablename='subscription' AND indexdef LIKE '%(customer_id)%'")" = 1 ] || fail "no index on subscription.customer_id"
assert_eq "t" "$(psql_val "SELECT has_table_privilege('tether_read', 'stripe.customer', 'SELECT')")" "tether_read grant"

# one log line per event
n=$(grep -c "event=sync.event " "$WORK/a.log" || true)
[ "$n" -gt 100 ] || fail "expected one log line per event, got $n"
sync_kill a
echo "PASS sync_converge"
