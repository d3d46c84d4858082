#!/usr/bin/env bash
# clients_psql.sh - psql through `tether proxy` against the real test cluster:
# trust, SCRAM and TLS (sslmode=require) logins, simple queries, transaction
# status after BEGIN/error/ROLLBACK, errors with SQLSTATE/DETAIL/HINT/position,
# NOTICE, \copy in and out, LISTEN/NOTIFY across two connections, and cancel
# of a pg_sleep. TETHER_TEST_DIRECT=1 runs the same checks against Postgres.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../harness/lib.sh
. "$here/../harness/lib.sh"
work=$(mktemp -d /tmp/tether-psql.XXXXXX)
cleanup_add "rm -rf '$work'"
upstream_port=$PGPORT

# start_proxy VAR NAME ARGS...: starts a proxy and sets $VAR to its port. Not
# called through $(...), so that its cleanup is registered in this shell.
start_proxy() {
  local var=$1 dir="$work/$2"; shift 2
  cleanup_add "'$here/../harness/proxy.sh' stop '$dir'"
  "$here/../harness/proxy.sh" start "$dir" "$@" > "$dir.port"
  printf -v "$var" '%s' "$(cat "$dir.port")"
}
start_proxy p_trust trust --auth trust
start_proxy p_scram scram --auth scram
start_proxy p_tls tls --auth scram --tls

# q PORT [psql args...]: psql through the proxy on PORT (password postgres)
q() { local port=$1; shift; PGPORT=$port PGSSLMODE=${SSLMODE:-disable} psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# --- logins ---------------------------------------------------------------
trust_pw=""; [ "${TETHER_TEST_DIRECT:-0}" = 1 ] && trust_pw=$PGPASSWORD
assert_eq 1 "$(PGPASSWORD=$trust_pw q "$p_trust" -tAc 'SELECT 1')" "trust login (no password)"
assert_eq 2 "$(q "$p_scram" -tAc 'SELECT 1+1')" "SCRAM login"
if [ "${TETHER_TEST_DIRECT:-0}" != 1 ]; then
  if PGPASSWORD=wrong q "$p_scram" -tAc 'SELECT 1' >"$work/bad.out" 2>&1; then
    fail "SCRAM login with a wrong password succeeded"
  fi
  grep -q "password authentication failed" "$work/bad.out" || fail "wrong password: $(cat "$work/bad.out")"
fi
assert_eq 3 "$(SSLMODE=require q "$p_tls" -tAc 'SELECT 1+2')" "TLS login"
# The client side really is TLS: psql's \conninfo says so.
SSLMODE=require q "$p_tls" -c '\conninfo' | grep -q "SSL connection" || fail "sslmode=require did not give TLS"

P=$p_scram
# --- simple queries, multi-statement strings --------------------------------
q $P -c "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)"
q $P -c "INSERT INTO items VALUES (1, 'one'), (2, 'two'); INSERT INTO items VALUES (3, 'three')"
assert_eq "1|one,2|two,3|three" "$(q $P -tAc 'SELECT id, name FROM items ORDER BY id' | paste -sd,)" "rows"
assert_eq "6" "$(echo 'SELECT sum(id) FROM items WHERE id <= :n' | q $P -tA -v n=3 -f -)" "psql variable"

# --- transaction status after BEGIN / error / ROLLBACK ----------------------
out=$(q $P -v ON_ERROR_STOP=0 -f - 2>&1 <<'SQL'
BEGIN;
SELECT 'in-tx' AS s \gset
\echo status1 :'s'
SELECT 1/0;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT 1;
ROLLBACK;
SELECT count(*) AS n FROM items \gset
\echo after :n
SQL
)
echo "$out" | grep -q "sqlstate 22012" || fail "division by zero SQLSTATE: $out"
echo "$out" | grep -q "current transaction is aborted" || fail "no aborted-transaction error: $out"
echo "$out" | grep -q "after 3" || fail "ROLLBACK did not recover: $out"

# --- errors with all fields -----------------------------------------------
out=$(q $P -v VERBOSITY=verbose -v ON_ERROR_STOP=0 -f - 2>&1 <<'SQL'
\set VERBOSITY verbose
DO $$ BEGIN RAISE EXCEPTION 'custom failure' USING ERRCODE = 'P0099', DETAIL = 'the detail', HINT = 'the hint'; END $$;
SELECT nosuchcolumn FROM items;
INSERT INTO items VALUES (1, 'dup');
SQL
)
echo "$out" | grep -q "ERROR:  P0099: custom failure" || fail "custom error: $out"
echo "$out" | grep -q "DETAIL:  the detail" || fail "DETAIL: $out"
echo "$out" | grep -q "HINT:  the hint" || fail "HINT: $out"
echo "$out" | grep -q "ERROR:  42703: column \"nosuchcolumn\" does not exist" || fail "42703: $out"
echo "$out" | grep -q "^LINE 1: SELECT nosuchcolumn FROM items;" || fail "position: $out"
echo "$out" | grep -q "ERROR:  23505: duplicate key value violates unique constraint \"items_pkey\"" || fail "23505: $out"
echo "$out" | grep -q "DETAIL:  Key (id)=(1) already exists." || fail "23505 detail: $out"
echo "$out" | grep -q "LOCATION:  " || fail "no LOCATION field: $out"

# --- NOTICE -------------------------------------------------------------------
out=$(q $P -c "DO \$\$ BEGIN RAISE NOTICE 'hello %', 42; END \$\$" 2>&1)
assert_eq "NOTICE:  hello 42" "$out" "notice"

# --- \copy in and out ---------------------------------------------------------
seq 1 5000 | awk '{printf "%d,name %d\n", $1 + 100, $1}' > "$work/in.csv"
q $P -c "\\copy items FROM '$work/in.csv' WITH (FORMAT csv)"
assert_eq 5003 "$(q $P -tAc 'SELECT count(*) FROM items')" "rows after \\copy in"
q $P -c "\\copy (SELECT id, name FROM items WHERE id > 100 ORDER BY id) TO '$work/out.csv' WITH (FORMAT csv)"
cmp -s "$work/in.csv" "$work/out.csv" || fail "\\copy out differs from what went in"
# A COPY that fails mid-stream reports the error and leaves the session usable.
printf '1,dup\n' > "$work/dup.csv"
if q $P -c "\\copy items FROM '$work/dup.csv' WITH (FORMAT csv)" >"$work/copy.err" 2>&1; then
  fail "duplicate \\copy succeeded"
fi
grep -q "duplicate key" "$work/copy.err" || fail "copy error: $(cat "$work/copy.err")"

# --- LISTEN / NOTIFY across two connections -----------------------------------
out=$(PGPORT=$P q $P -f - 2>&1 <<SQL
LISTEN tether_chan;
\\! PGPORT=$P psql -X -q -c "NOTIFY tether_chan, 'payload-1'"
SELECT 1;
SQL
)
echo "$out" | grep -q 'Asynchronous notification "tether_chan" with payload "payload-1" received' \
  || fail "notification not delivered: $out"

# --- cancel of a pg_sleep -----------------------------------------------------
# (psql itself in the background, not a shell function, so SIGINT reaches it)
PGPORT=$P PGSSLMODE=disable psql -X -q -c "SELECT pg_sleep(30)" >"$work/cancel.out" 2>&1 &
sleeper=$!
cleanup_add "kill $sleeper 2>/dev/null || true"
for ((i = 0; i < 100; i++)); do
  n=$(PGPORT=$upstream_port PGSSLMODE=disable psql -X -tAc \
      "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active' AND datname = current_database()")
  [ "$n" = 1 ] && break
  sleep 0.1
done
assert_eq 1 "$n" "pg_sleep running"
kill -INT $sleeper
rc=0; wait $sleeper || rc=$?
grep -q "canceling statement due to user request" "$work/cancel.out" || fail "cancel: rc=$rc $(cat "$work/cancel.out")"
n=$(PGPORT=$upstream_port PGSSLMODE=disable psql -X -tAc \
    "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active' AND datname = current_database()")
assert_eq 0 "$n" "pg_sleep still running after cancel"
# Cancel also works over TLS.
PGPORT=$p_tls PGSSLMODE=require psql -X -q -c "SELECT pg_sleep(30)" >"$work/cancel2.out" 2>&1 &
sleeper=$!
for ((i = 0; i < 100; i++)); do
  n=$(PGPORT=$upstream_port PGSSLMODE=disable psql -X -tAc \
      "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active' AND datname = current_database()")
  [ "$n" = 1 ] && break
  sleep 0.1
done
kill -INT $sleeper
wait $sleeper || true
grep -q "canceling statement due to user request" "$work/cancel2.out" || fail "TLS cancel: $(cat "$work/cancel2.out")"

echo "clients_psql: all checks passed"
