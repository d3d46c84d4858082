#!/usr/bin/env bash
# write_guard.sh - the guard: writes to a synced table that do not come
# through the proxy's write path fail with a clear error and change nothing
# (another role connected directly, a superuser directly, a PL/pgSQL
# function, a data-modifying CTE, COPY FROM, TRUNCATE, setting the guard's
# settings); non-synced tables pass through untouched, also in the same
# transaction as a write; the sync engine's own writes pass.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/write_tools/lib.sh"
wt_setup
cid=$(db "SELECT id FROM stripe.customer ORDER BY id LIMIT 1")
before=$(db "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM stripe.customer t")
n_before=$(db "SELECT count(*) FROM stripe.customer")

expect_guard() { # WHAT OUTPUT
  echo "$2" | grep -q "42501" || fail "$1: no SQLSTATE 42501: $2"
  echo "$2" | grep -q "synced by Tether" || fail "$1: unclear message: $2"
}

# another role connected directly (a Supabase client, say), with table grants
db "DROP ROLE IF EXISTS wt_app; CREATE ROLE wt_app LOGIN PASSWORD 'app'; GRANT USAGE ON SCHEMA stripe TO wt_app; GRANT ALL ON stripe.customer TO wt_app"
app_url="postgres://wt_app:app@127.0.0.1:$PGPORT/$PGDATABASE"
cleanup_add "psql -X -q -d '$DB_URL' -c 'DROP OWNED BY wt_app; DROP ROLE IF EXISTS wt_app' >/dev/null 2>&1"
out=$(psql -X -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$app_url" -c "UPDATE stripe.customer SET email = 'direct@example.com' WHERE id = '$cid'" 2>&1) && fail "direct update by another role passed"
expect_guard "other role" "$out"
out=$(psql -X -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$app_url" -c "INSERT INTO stripe.customer (id, email) VALUES ('cus_fake', 'f@example.com')" 2>&1) && fail "direct insert passed"
expect_guard "other role insert" "$out"
# the superuser, directly
out=$(psql -X -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$DB_URL" -c "DELETE FROM stripe.customer WHERE id = '$cid'" 2>&1) && fail "direct delete passed"
expect_guard "superuser delete" "$out"
# TRUNCATE directly and through the proxy
out=$(psql -X -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$DB_URL" -c "TRUNCATE stripe.customer" 2>&1) && fail "direct truncate passed"
expect_guard "truncate" "$out"
out=$(px_err "TRUNCATE stripe.customer")
grep -q "0A000" <<<"$out" || fail "truncate through the proxy: $out"
# COPY FROM, directly and through the proxy
out=$(printf 'cus_copy\tc@example.com\n' | psql -X -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$DB_URL" -c "COPY stripe.customer (id, email) FROM STDIN" 2>&1) && fail "direct COPY passed"
expect_guard "copy" "$out"
out=$(printf 'cus_copy\tc@example.com\n' | psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" -c "COPY stripe.customer (id, email) FROM STDIN" 2>&1) && fail "COPY through the proxy passed"
grep -q "COPY FROM cannot write a synced table" <<<"$out" || fail "copy through the proxy: $out"
# a PL/pgSQL function called through the proxy (a plain SELECT to the classifier)
db "CREATE FUNCTION public.sneaky() RETURNS void LANGUAGE plpgsql AS \$\$BEGIN UPDATE stripe.customer SET name = 'sneaky'; END\$\$"
out=$(px_err "SELECT public.sneaky()")
expect_guard "function" "$out"
# a data-modifying CTE the proxy cannot apply
out=$(px_err "WITH x AS (UPDATE stripe.customer SET name = 'cte' RETURNING id) SELECT count(*) FROM x")
grep -q "0A000" <<<"$out" || fail "CTE: $out"
grep -q "inside WITH" <<<"$out" || fail "CTE message: $out"
# the guard's settings cannot be set by clients
out=$(px_err "SET tether.write = 'guess'")
grep -q "42501" <<<"$out" || fail "SET tether.write: $out"
out=$(px_err "SELECT set_config('tether.capture', 'on', false)")
grep -q "reserved for Tether" <<<"$out" || fail "set_config: $out"
# ... and even a session that sets it (directly) without the secret is refused
out=$(psql -X -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$DB_URL" -c "SET tether.write = 'guess'" -c "UPDATE stripe.customer SET name = 'g' WHERE id = '$cid'" 2>&1) && fail "a guessed token passed"
expect_guard "guessed token" "$out"
# nothing changed
assert_eq "$before" "$(db "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM stripe.customer t")" "synced rows unchanged"
assert_eq "$n_before" "$(db "SELECT count(*) FROM stripe.customer")" "row count"

# non-synced tables pass through untouched, writes in the same transaction too
db "CREATE TABLE public.orders (id serial primary key, customer_id text, note text)"
psql -X -q -v ON_ERROR_STOP=1 -d "$PX_URL" >/dev/null <<SQL
INSERT INTO public.orders (customer_id, note) VALUES ('$cid', 'first');
BEGIN;
INSERT INTO public.orders (customer_id, note) VALUES ('$cid', 'in block');
UPDATE stripe.customer SET name = 'Joined' WHERE id = '$cid';
UPDATE public.orders SET note = note || '!' WHERE customer_id = '$cid';
COMMIT;
SQL
assert_eq "first!,in block!" "$(db "SELECT string_agg(note, ',' ORDER BY id) FROM public.orders")" "public writes"
assert_eq "Joined" "$(px "SELECT c.name FROM stripe.customer c JOIN public.orders o ON o.customer_id = c.id LIMIT 1")" "join with a public table"

# the sync engine still writes (a change made at the API arrives)
curl -sf -u sk_test_tether: -d "name=From API" "$EMU_URL/v1/customers/$cid" >/dev/null
for ((i = 0; i < 100; i++)); do
  [ "$(db "SELECT name FROM stripe.customer WHERE id = '$cid'")" = "From API" ] && break
  sleep 0.1
done
assert_eq "From API" "$(db "SELECT name FROM stripe.customer WHERE id = '$cid'")" "sync writes pass the guard"
if grep -q "synced by Tether" "$WORK/s.log"; then fail "the sync engine hit the guard"; fi
echo "PASS write_guard"
