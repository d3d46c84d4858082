#!/usr/bin/env bash
# demo.sh - `tether demo` end to end: private Postgres, seeded Stripe emulator,
# sync and proxy come up, the backfill finishes, the connection lines are
# printed, the seed's queries work through the proxy while it runs, and
# Ctrl-C (SIGINT) stops everything and removes the temporary directory.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
port=$(free_port)
out=$(mktemp); cleanup_add "rm -f $out"
"$TETHER_BIN" demo --port "$port" --seed-customers 150 >"$out" 2>&1 &
pid=$!
cleanup_add "kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null"
for _ in $(seq 1 600); do
  grep -q "Press Ctrl-C" "$out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$out"; fail "demo exited early"; }
  sleep 0.2
done
grep -q "Press Ctrl-C" "$out" || { cat "$out"; fail "demo did not become ready"; }
grep -q "backfilling stripe.customer 151/151" "$out" || { cat "$out"; fail "no backfill progress shown"; }
grep -q "backfilling salesforce.contact 150/150" "$out" || { cat "$out"; fail "no Salesforce backfill progress shown"; }
proxy_url=$(grep -o "psql 'postgres://demo:demo@127.0.0.1:$port/postgres'" "$out" | sed "s/^psql '//; s/'$//")
[ -n "$proxy_url" ] || { cat "$out"; fail "no proxy psql line"; }
dir=$(sed -n 's/.*logs are in \(.*\)\/logs\..*/\1/p' "$out")
[ -d "$dir" ] || fail "demo directory $dir missing"

# The seed's queries, through the proxy, as printed.
n=$(psql -X -At "$proxy_url" -c "SELECT count(*) FROM stripe.customer")
assert_eq 151 "$n" "customers through the proxy"
status=$(psql -X -At "$proxy_url" -c "SELECT subscription.status FROM stripe.subscription
  JOIN stripe.customer ON stripe.customer.id = stripe.subscription.customer_id
  WHERE stripe.customer.metadata ->> 'user_id' = 'user_abc'")
assert_eq active "$status" "the seed's join on metadata"

# The seed's writes, through the proxy: one the API accepts, one it rejects.
cid=$(psql -X -At "$proxy_url" -c "SELECT id FROM stripe.customer WHERE metadata ->> 'user_id' = 'user_abc'")
out_upd=$(psql -X -At "$proxy_url" -c "UPDATE stripe.customer SET email = 'new@email.com' WHERE id = '$cid'" 2>&1)
assert_eq "UPDATE 1" "$out_upd" "UPDATE through the proxy"
assert_eq "new@email.com" "$(psql -X -At "$proxy_url" -c "SELECT email FROM stripe.customer WHERE id = '$cid'")" "read-after-write"
api_email=$(curl -s -u sk_test_tether: "http://127.0.0.1:$(sed -n 's/.*emulator listens on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$out")/v1/customers/$cid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["email"])')
assert_eq "new@email.com" "$api_email" "the API holds the new email"
set +e
err=$(psql -X -At -v ON_ERROR_STOP=1 "$proxy_url" -c "UPDATE stripe.customer SET email = 'new@' WHERE id = '$cid'" 2>&1); rc=$?
set -e
[ "$rc" != 0 ] || fail "invalid email was accepted"
grep -q "Error updating customer $cid" <<<"$err" || fail "API error not surfaced: $err"
assert_eq "new@email.com" "$(psql -X -At "$proxy_url" -c "SELECT email FROM stripe.customer WHERE id = '$cid'")" "rejected write left the row alone"

# Salesforce: contacts synced, and Salesforce's own error through the proxy.
assert_eq 150 "$(psql -X -At "$proxy_url" -c "SELECT count(*) FROM salesforce.contact")" "contacts through the proxy"
set +e
err=$(psql -X -At -v ON_ERROR_STOP=1 "$proxy_url" -c "UPDATE salesforce.contact SET email = 'bad@' WHERE id = (SELECT min(id) FROM salesforce.contact)" 2>&1); rc=$?
set -e
[ "$rc" != 0 ] || fail "Salesforce accepted an invalid email"
grep -q "INVALID_EMAIL_ADDRESS" <<<"$err" || fail "Salesforce error code not surfaced: $err"
grep -q "invalid email address: bad@" <<<"$err" || fail "Salesforce message not surfaced: $err"

kill -INT "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "demo did not stop on SIGINT"
wait "$pid" || fail "demo exit status $?"
[ -d "$dir" ] && fail "demo left $dir behind"
pgrep -f "$dir/" >/dev/null && { ps -eo pid,args | grep -F "$dir/" | grep -v grep; fail "demo left processes behind"; }
echo "demo: ok"
