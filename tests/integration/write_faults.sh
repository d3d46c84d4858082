#!/usr/bin/env bash
# write_faults.sh - faults during apply: a timeout after the API applied a
# create never creates twice (the retries carry the same Idempotency-Key);
# 429s are retried within the deadline, else a clear error; 5xx, 404 and a
# bad API key each map to their documented SQLSTATE; nothing is written.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/write_tools/lib.sh"
export TETHER_WRITE_TIMEOUT_MS=700 TETHER_WRITE_MAX_ATTEMPTS=3
wt_setup
sync_kill s   # no background sync: the table changes only through the proxy here
cid=$(db "SELECT id FROM stripe.customer ORDER BY id LIMIT 1")
faults() { curl -sf -H 'Content-Type: application/json' -d "$1" "$EMU_URL/_emulator/faults" >/dev/null; }

# timeout after the API applied: every attempt times out at the client while
# the emulator applies it; one customer exists, none is in the table
faults '{"latency_ms": 1000}'
out=$(px_err "INSERT INTO stripe.customer (email) VALUES ('slow@example.com')")
faults '{"latency_ms": 0}'
grep -q "08006" <<<"$out" || fail "timeout SQLSTATE: $out"
grep -q "Error creating customer" <<<"$out" || fail "timeout message: $out"
sleep 1.5   # let the emulator finish the abandoned attempts
assert_eq "1" "$(emu_count_email slow@example.com)" "created exactly once despite retries"
assert_eq "0" "$(db "SELECT count(*) FROM stripe.customer WHERE email = 'slow@example.com'")" "nothing written on error"

# 429 on every call: retried, then a clear error; nothing reaches the API
faults '{"rate_429": 1}'
out=$(px_err "UPDATE stripe.customer SET name = 'Throttled' WHERE id = '$cid'")
faults '{"rate_429": 0}'
grep -q "53400" <<<"$out" || fail "429 SQLSTATE: $out"
grep -q "rate limit" <<<"$out" || fail "429 message: $out"
[ "$(db "SELECT name FROM stripe.customer WHERE id = '$cid'")" != "Throttled" ] || fail "written after 429"
# 429 that clears while Tether retries: the write succeeds
faults '{"rate_429": 1}'
( sleep 0.8; faults '{"rate_429": 0}' ) &
clearer=$!
out=$(psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" -c "UPDATE stripe.customer SET name = 'After429' WHERE id = '$cid'" 2>&1) || fail "429 not retried: $out"
wait $clearer
assert_eq "After429" "$(db "SELECT name FROM stripe.customer WHERE id = '$cid'")" "written after retried 429"

# 5xx on every call -> unavailable
faults '{"rate_500": 1}'
out=$(px_err "UPDATE stripe.customer SET name = 'Down' WHERE id = '$cid'")
faults '{"rate_500": 0}'
grep -q "08006" <<<"$out" || fail "5xx SQLSTATE: $out"

# not found at the API (deleted there, still in the table) -> P0002
curl -sf -u sk_test_tether: -X DELETE "$EMU_URL/v1/customers/$cid" >/dev/null
out=$(px_err "UPDATE stripe.customer SET name = 'Ghost' WHERE id = '$cid'")
grep -q "P0002" <<<"$out" || fail "404 SQLSTATE: $out"
grep -q "Error updating customer $cid" <<<"$out" || fail "404 message: $out"

# bad API key -> 28000
kill "$PX_PID"; wait "$PX_PID" 2>/dev/null || true
wt_proxy_start --api-key sk_test_wrong
out=$(px_err "INSERT INTO stripe.customer (email) VALUES ('auth@example.com')")
grep -q "28000" <<<"$out" || fail "auth SQLSTATE: $out"
assert_eq "0" "$(emu_count_email auth@example.com)" "nothing created with a bad key"
echo "PASS write_faults"
