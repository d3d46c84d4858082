#!/usr/bin/env bash
# write_run.sh - `tether run` runs the sync and the proxy (with write-through)
# together from one line: a backfilled customer is updated through the
# proxy's port and the change is at the API and in the table; SIGTERM stops
# both processes.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"
emu_start --seed-customers 4 --seed-random 9
port=$(free_port)
TETHER_PROXY_AUTH_TYPE=trust "$TETHER_BIN" run --source stripe --api-key sk_test_tether --api-base "$EMU_URL" \
  --database "$DB_URL" --status-listen 127.0.0.1:0 --listen "127.0.0.1:$port" >"$WORK/run.log" 2>&1 &
run_pid=$!
cleanup_add "kill -9 $run_pid 2>/dev/null; wait $run_pid 2>/dev/null"
wait_log "$WORK/run.log" "event=sync.backfill_done" 60
wait_log "$WORK/run.log" "event=writethrough.ready" 30
wait_port "$port"
url="postgres://postgres@127.0.0.1:$port/$PGDATABASE?sslmode=disable"
cid=$(psql -X -A -t -q -d "$url" -c "SELECT id FROM stripe.customer ORDER BY id LIMIT 1")
out=$(psql -X -v ON_ERROR_STOP=1 -d "$url" -c "UPDATE stripe.customer SET email = 'run@example.com' WHERE id = '$cid'" 2>&1)
grep -q "UPDATE 1" <<<"$out" || fail "UPDATE through tether run: $out"
got=$(curl -sf -u sk_test_tether: "$EMU_URL/v1/customers/$cid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["email"])')
assert_eq "run@example.com" "$got" "API email"
assert_eq "run@example.com" "$(psql_val "SELECT email FROM stripe.customer WHERE id = '$cid'")" "row email"
kill -TERM "$run_pid"
for ((i = 0; i < 100; i++)); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$run_pid" 2>/dev/null && fail "tether run did not stop on SIGTERM"
sleep 0.5
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "the proxy outlived tether run"; fi
echo "PASS write_run"
