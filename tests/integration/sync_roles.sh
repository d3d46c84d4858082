#!/usr/bin/env bash
# sync_roles.sh - Tether running as an ordinary role (CREATE on the database,
# no CREATEROLE, as on a hosted Postgres before `tether setup`): it creates its
# schemas and tables, skips the missing read role with a warning instead of
# failing, and syncs. With the read role present, SELECT is granted to it.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"

admin="$DB_URL"
role=tether_u_$$
psql -X -q -v ON_ERROR_STOP=1 -d "$admin" \
  -c "CREATE ROLE $role LOGIN PASSWORD 'pw_$$'" \
  -c "GRANT CREATE ON DATABASE \"$PGDATABASE\" TO $role"
cleanup_add "psql -X -q -d '$admin' -c 'DROP OWNED BY $role CASCADE' -c 'DROP ROLE $role' >/dev/null 2>&1"
export TETHER_TETHER_READ_ROLE=reader_$$
DB_URL="postgres://$role:pw_$$@127.0.0.1:$PGPORT/$PGDATABASE"

emu_start --seed-customers 30 --seed-random 6
sync_start a
wait_log "$WORK/a.log" "event=sync.backfill_done" 60
grep -q "event=sync.read_role_skipped role=reader_$$" "$WORK/a.log" || fail "no warning about the read role"
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 30 || fail "did not converge as an ordinary role"
sync_kill a

# once the role exists (as `tether setup` would create it), the grants follow
psql -X -q -v ON_ERROR_STOP=1 -d "$admin" -c "CREATE ROLE reader_$$ NOLOGIN"
cleanup_add "psql -X -q -d '$admin' -c 'DROP OWNED BY reader_$$ CASCADE' -c 'DROP ROLE reader_$$' >/dev/null 2>&1"
sync_start b
wait_log "$WORK/b.log" "event=sync.lease_acquired sync=stripe " 30
for ((i = 0; i < 100; i++)); do
  [ "$(psql -X -A -t -d "$admin" -c "SELECT has_table_privilege('reader_$$', 'stripe.customer', 'SELECT')")" = t ] && break
  sleep 0.1
done
assert_eq t "$(psql -X -A -t -d "$admin" -c "SELECT has_table_privilege('reader_$$', 'stripe.customer', 'SELECT')")" "grant to the read role"
sync_kill b
echo "PASS sync_roles"
