#!/usr/bin/env bash
# sync_children.sh - subscriptions and invoices with more children than the
# API embeds (Stripe shows the first 10 items/lines and has_more): the sync
# fetches the rest from /v1/subscription_items and /v1/invoices/:id/lines,
# in the backfill and in the event stream, and prunes children that are gone.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"

emu_start --seed-customers 20 --seed-products 5 --seed-prices 5 --seed-subscriptions 5 --seed-random 7
sub=$(tool bigsub --api "$EMU_URL" --items 15)
# the API embeds only the first 10, as Stripe does
shown=$(curl -sf -u sk_test_tether: "$EMU_URL/v1/subscriptions/$sub" |
  python3 -c 'import json,sys; s=json.load(sys.stdin)["items"]; print(len(s["data"]), s["has_more"])')
assert_eq "10 True" "$shown" "embedded items"
inv=$(curl -sf -u sk_test_tether: "$EMU_URL/v1/invoices?subscription=$sub" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')

sync_start s
wait_log "$WORK/s.log" "event=sync.backfill_done" 60
assert_eq "15" "$(psql_val "SELECT count(*) FROM stripe.subscription_item WHERE subscription_id = '$sub'")" "backfilled items"
assert_eq "15" "$(psql_val "SELECT count(*) FROM stripe.invoice_line_item WHERE invoice_id = '$inv'")" "backfilled lines"
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "backfill did not converge"

# through the event stream: one item deleted, two added (17 -> 16 after the delete)
first=$(psql_val "SELECT id FROM stripe.subscription_item WHERE subscription_id = '$sub' ORDER BY id LIMIT 1")
prod=$(curl -sf -u sk_test_tether: -d name=More "$EMU_URL/v1/products" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
newprice() {
  curl -sf -u sk_test_tether: -d product="$prod" -d currency=usd -d unit_amount=777 -d 'recurring[interval]=month' \
    "$EMU_URL/v1/prices" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
pa=$(newprice)
pb=$(newprice)
curl -sf -u sk_test_tether: "$EMU_URL/v1/subscriptions/$sub" \
  -d "items[0][id]=$first" -d "items[0][deleted]=true" \
  -d "items[1][price]=$pa" -d "items[2][price]=$pb" >/dev/null || fail "subscription update"
for ((i = 0; i < 100; i++)); do
  n=$(psql_val "SELECT count(*) FROM stripe.subscription_item WHERE subscription_id = '$sub'")
  [ "$n" = "16" ] && break
  sleep 0.2
done
assert_eq "16" "$n" "items after the update (15 - 1 + 2)"
assert_eq "0" "$(psql_val "SELECT count(*) FROM stripe.subscription_item WHERE id = '$first'")" "deleted item pruned"
tool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "event stream did not converge"
grep -q "event=stripe.children_truncated" "$WORK/s.log" && fail "children left truncated"
sync_kill s
echo "PASS sync_children"
