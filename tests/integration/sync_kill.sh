#!/usr/bin/env bash
# sync_kill.sh - kill -9 of `tether sync` in the middle of a backfill and in
# the middle of the event stream; after a restart everything converges:
# every page and its cursor were committed together, nothing lost or doubled.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"
export TETHER_SYNC_STRIPE_RATE_BACKFILL=8

emu_start --seed-customers 1500 --seed-products 3 --seed-prices 6 --seed-subscriptions 20 \
  --seed-invoices 5 --seed-charges 5 --seed-random 9
sync_start a
# wait for a few customer pages, then kill in the middle of the backfill
wait_log_count "$WORK/a.log" "event=sync\.backfill_page.*collection=customer " 3 60
sync_kill a 9
grep -q "event=sync.backfill_done" "$WORK/a.log" && fail "backfill finished before the kill; test proves nothing"
before=$(psql_val "SELECT count(*) FROM stripe.customer")
cursor=$(psql_val "SELECT cursor FROM _tether.collection WHERE collection = 'customer'")
[ -n "$cursor" ] || fail "no customer cursor committed before the kill"
echo "killed mid-backfill with $before customers and cursor $cursor"

sync_start b
wait_log "$WORK/b.log" "event=sync.backfill_done" 120
grep -q "event=sync.backfill_start" "$WORK/b.log" && fail "the restart began the backfill again instead of resuming"
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "did not converge after kill -9 in backfill"

# kill -9 in the middle of the event stream
tool mutate --api "$EMU_URL" --ops 150 --seed 21 &
mut=$!
cleanup_add "kill $mut 2>/dev/null"
sleep 1
sync_kill b 9
wait $mut
sync_start c
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "did not converge after kill -9 in the event stream"
sync_kill c
echo "PASS sync_kill"
