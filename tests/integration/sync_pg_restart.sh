#!/usr/bin/env bash
# sync_pg_restart.sh - a Postgres restart in the middle of the event stream
# is survived: the sync reconnects, re-reads its durable cursor and converges
# with nothing lost. Uses a private cluster so other tests are not disturbed.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"

pgstate="$WORK/pg"
bash "$TETHER_SOURCE_DIR/tests/harness/pg.sh" start "$pgstate" >/dev/null
cleanup_add "bash '$TETHER_SOURCE_DIR/tests/harness/pg.sh' stop '$pgstate' >/dev/null 2>&1"
port=$(. "$pgstate/env"; echo "$PGPORT")
DB_URL="postgres://postgres:postgres@127.0.0.1:$port/postgres"

emu_start --seed-customers 200 --seed-products 3 --seed-prices 6 --seed-subscriptions 20 --seed-random 8
sync_start a
wait_log "$WORK/a.log" "event=sync.backfill_done" 60
tool mutate --api "$EMU_URL" --ops 40 --seed 51
bash "$TETHER_SOURCE_DIR/tests/harness/pg.sh" restart "$pgstate" >/dev/null
tool mutate --api "$EMU_URL" --ops 40 --seed 52
wait_log "$WORK/a.log" "event=sync.pg_connected" 30
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "did not converge after a Postgres restart"
[ "$(grep -c "event=sync.pg_connected" "$WORK/a.log")" -ge 2 ] || fail "the sync never reconnected"
sync_kill a
echo "PASS sync_pg_restart"
