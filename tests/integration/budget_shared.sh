#!/usr/bin/env bash
# budget_shared.sh - one request budget per API credential across processes
# (DESIGN.md section 3, docs/configuration.md `credential_rate`):
#   - a sync and a proxy on the same API key draw from one row of
#     _tether.request_budget;
#   - a 429 seen by the proxy pauses the credential for every process;
#   - two syncs whose own rates allow 1000 requests/s each (polling every
#     10 ms) together take no more than credential_rate allows.
# The last check bounds a count from above: a slow machine only takes fewer.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/write_tools/lib.sh"

wt_setup
cid=$(db "SELECT id FROM stripe.customer ORDER BY id LIMIT 1")
px "UPDATE stripe.customer SET name = 'Budget' WHERE id = '$cid'" >/dev/null
assert_eq "1" "$(db "SELECT count(*) FROM _tether.request_budget")" "sync and proxy share one budget row"
assert_eq "200" "$(db "SELECT rate FROM _tether.request_budget")" "credential_rate defaults to rate_backfill"
db "SELECT credential FROM _tether.request_budget" | grep -qx '[0-9a-f]\{64\}' || fail "credential is not a hash"
db "SELECT credential FROM _tether.request_budget" | grep -q "sk_test" && fail "the API key is stored"

# a 429 at the proxy pauses the credential for everyone
curl -sf -H 'Content-Type: application/json' -d '{"rate_429": 1}' "$EMU_URL/_emulator/faults" >/dev/null
px_err "UPDATE stripe.customer SET name = 'Throttled' WHERE id = '$cid'" | grep -q 53400 || fail "429 not reported"
curl -sf -H 'Content-Type: application/json' -d '{"rate_429": 0}' "$EMU_URL/_emulator/faults" >/dev/null
grep -q "event=budget.paused" "$WORK/proxy.log" || fail "the proxy did not pause the shared budget"
assert_eq "t" "$(db "SELECT paused_until IS NOT NULL FROM _tether.request_budget")" "pause recorded"
px_proxy_stop
sync_kill s

# two syncs, each allowed 1000 requests/s and polling every 10 ms, share 5/s
export TETHER_SYNC_STRIPE_CREDENTIAL_RATE=5 TETHER_SYNC_STRIPE_RATE_STEADY=1000
export TETHER_SYNC_STRIPE_POLL_INTERVAL_MS=10 TETHER_TETHER_LEASE_SECONDS=3
sync_start a
sync_start b
sleep 1 # both running
g0=$(db "SELECT granted FROM _tether.request_budget")
t0=$(date +%s.%N)
sleep 3
g1=$(db "SELECT granted FROM _tether.request_budget")
t1=$(date +%s.%N)
took=$((g1 - g0))
bound=$(python3 -c "print(int(5 + 5 * ($t1 - $t0)) + 2)")
echo "granted $took tokens in $(python3 -c "print(round($t1 - $t0, 2))")s (bound $bound)"
[ "$took" -gt 0 ] || fail "no requests at all"
[ "$took" -le "$bound" ] || fail "two processes took $took tokens, above the shared budget's $bound"
assert_eq "1" "$(db "SELECT count(*) FROM _tether.request_budget")" "still one credential"
assert_eq "5" "$(db "SELECT rate FROM _tether.request_budget")" "credential_rate"
sync_kill a
sync_kill b
echo "PASS budget_shared"
