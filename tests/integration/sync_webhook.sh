#!/usr/bin/env bash
# sync_webhook.sh - signed webhooks: with the poll interval at a minute, the
# emulator's signed deliveries keep the tables current (each accepted batch
# is applied and triggers an immediate poll that settles same-second
# changes); a forged signature, a stale timestamp and a replayed delivery are
# rejected with 400 and a log line. Also GET /status and /metrics, and `tether status`.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"
export TETHER_SYNC_STRIPE_POLL_INTERVAL_MS=60000
secret=whsec_tether_test
wport=$(free_port)
sport=$(free_port)

emu_start --seed-customers 50 --seed-random 4 --webhook "http://127.0.0.1:$wport/webhook" \
  --webhook-secret "$secret" --webhook-retry-ms 200
"$TETHER_BIN" sync --source stripe --api-key sk_test_tether --api-base "$EMU_URL" \
  --database "$DB_URL" --webhook-secret "$secret" --webhook-listen "127.0.0.1:$wport" \
  --status-listen "127.0.0.1:$sport" >"$WORK/a.log" 2>&1 &
SYNC_PID[a]=$!
cleanup_add "kill -9 ${SYNC_PID[a]} 2>/dev/null; wait ${SYNC_PID[a]} 2>/dev/null"
wait_log "$WORK/a.log" "event=sync.backfill_done" 60
sleep 1 # the first poll after the backfill; the next one is a minute away
tool mutate --api "$EMU_URL" --ops 40 --seed 41
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 40 || fail "webhooks did not keep the tables current"
grep -q "event=sync.event sync=stripe via=webhook" "$WORK/a.log" || fail "no event arrived by webhook"

body='{"id":"evt_forged","object":"event","type":"customer.deleted","created":1,"data":{"object":{"id":"cus_x","object":"customer"}}}'
sign() { # TIMESTAMP BODY -> Stripe-Signature
  printf 't=%s,v1=%s' "$1" "$(printf '%s.%s' "$1" "$2" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)"
}
post() { curl -s -o /dev/null -w '%{http_code}' -H "Stripe-Signature: $1" -H 'Content-Type: application/json' \
  --data-binary "$2" "http://127.0.0.1:$wport/webhook"; }
now=$(date +%s)
assert_eq 400 "$(post "t=$now,v1=$(printf '%064d' 0)" "$body")" "forged signature"
assert_eq 400 "$(post "$(sign $((now - 3600)) "$body")" "$body")" "stale timestamp"
assert_eq 400 "$(post "garbage" "$body")" "malformed header"
good=$(sign "$now" "$body")
assert_eq 200 "$(post "$good" "$body")" "valid delivery"
assert_eq 400 "$(post "$good" "$body")" "replayed delivery"
wait_log "$WORK/a.log" 'event=sync.webhook_rejected.*reason="no matching signature"' 5
wait_log "$WORK/a.log" 'event=sync.webhook_rejected.*reason="timestamp outside tolerance"' 5
wait_log "$WORK/a.log" 'event=sync.webhook_rejected.*reason="replayed delivery"' 5

# status surfaces
curl -sf "http://127.0.0.1:$sport/status" >"$WORK/status.json" || fail "GET /status failed"
"$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]))["syncs"][0]; assert s["backfill_done"] and s["name"]=="stripe", s; assert isinstance(s["lag_seconds"], int), s; assert any(c["name"]=="customer" and c["rows"]>0 for c in s["collections"]), s' "$WORK/status.json" || fail "bad /status: $(cat "$WORK/status.json")"
curl -sf "http://127.0.0.1:$sport/metrics" | grep -q '^tether_collection_rows{sync="stripe",collection="customer"} [1-9]' || fail "bad /metrics"
"$TETHER_BIN" status --database "$DB_URL" >"$WORK/status.txt" || fail "tether status failed"
grep -q "sync stripe (stripe -> schema stripe): real time" "$WORK/status.txt" || fail "tether status: $(cat "$WORK/status.txt")"
"$TETHER_BIN" status --database "$DB_URL" --json | grep -q '"backfill_done": true' || fail "tether status --json"
sync_kill a
echo "PASS sync_webhook"
