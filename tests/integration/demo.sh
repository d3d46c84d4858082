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
proxy_url=$(grep -o "psql 'postgres://demo:demo@127.0.0.1:$port/postgres'" "$out" | sed "s/^psql '//; s/'$//")
[ -n "$proxy_url" ] || { cat "$out"; fail "no proxy psql line"; }
dir=$(sed -n 's/.*Logs are in \(.*\)\/logs\..*/\1/p' "$out")
[ -d "$dir" ] || fail "demo directory $dir missing"

# The seed's queries, through the proxy, as printed.
n=$(psql -X -At "$proxy_url" -c "SELECT count(*) FROM stripe.customer")
assert_eq 151 "$n" "customers through the proxy"
status=$(psql -X -At "$proxy_url" -c "SELECT subscription.status FROM stripe.subscription
  JOIN stripe.customer ON stripe.customer.id = stripe.subscription.customer_id
  WHERE stripe.customer.metadata ->> 'user_id' = 'user_abc'")
assert_eq active "$status" "the seed's join on metadata"

kill -INT "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "demo did not stop on SIGINT"
wait "$pid" || fail "demo exit status $?"
[ -d "$dir" ] && fail "demo left $dir behind"
pgrep -f "tether-demo" >/dev/null && ps aux | grep tether-demo | grep -v grep && fail "demo left processes behind"
echo "demo: ok"
