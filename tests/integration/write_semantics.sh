#!/usr/bin/env bash
# write_semantics.sh - transactions (applied writes survive ROLLBACK, NOTICE in
# a block, an API error aborts the block), partial failure of a multi-row
# statement, read-only columns and the row limit (rejected before any API
# call), upserts (ON CONFLICT (id) DO NOTHING / DO UPDATE), and the audit log.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/write_tools/lib.sh"
wt_setup
mapfile -t ids < <(db "SELECT id FROM stripe.customer ORDER BY id LIMIT 3")
c1=${ids[0]} c2=${ids[1]} c3=${ids[2]}
api_calls() { db "SELECT count(*) FROM _tether.write_audit"; }

# --- transactions: the write survives ROLLBACK, with a NOTICE
out=$(psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" 2>&1 <<SQL
BEGIN;
UPDATE stripe.customer SET name = 'Kept' WHERE id = '$c1';
SELECT name FROM stripe.customer WHERE id = '$c1';
ROLLBACK;
SQL
)
grep -q "NOTICE:  Tether applied this write to the API at once" <<<"$out" || fail "no NOTICE in a block: $out"
grep -q "Kept" <<<"$out" || fail "read-after-write in the block: $out"
assert_eq "Kept" "$(emu_customer "$c1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')" "API after ROLLBACK"
assert_eq "Kept" "$(px "SELECT name FROM stripe.customer WHERE id = '$c1'")" "row after ROLLBACK"
# outside a block: no NOTICE
out=$(psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" -c "UPDATE stripe.customer SET name = 'Kept2' WHERE id = '$c1'" 2>&1)
if grep -q NOTICE <<<"$out"; then fail "NOTICE outside a block: $out"; fi

# --- an API error inside a block aborts it; the client must ROLLBACK
out=$(psql -X -v VERBOSITY=verbose -d "$PX_URL" 2>&1 <<SQL
BEGIN;
UPDATE stripe.customer SET email = 'broken@' WHERE id = '$c2';
SELECT 1;
ROLLBACK;
SELECT 'after' AS state;
SQL
)
grep -q "22023" <<<"$out" || fail "no error in the block: $out"
grep -q "25P02" <<<"$out" || fail "block not aborted: $out"
grep -q "after" <<<"$out" || fail "ROLLBACK did not recover: $out"
[ "$(emu_customer "$c2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["email"])')" != "broken@" ] || fail "bad email reached the API"

# --- partial failure: the accepted rows stay, the error names the rejected row
out=$(px_err "UPDATE stripe.customer SET email = CASE WHEN id = '$c2' THEN 'bad@' ELSE 'part_' || id || '@example.com' END WHERE id IN ('$c1', '$c2', '$c3')")
grep -q "Error updating customer $c2: Invalid email address: bad@" <<<"$out" || fail "partial: $out"
applied=$(echo "$out" | sed -n 's/.*(\([0-9]\) of 3 rows applied).*/\1/p' | head -1)
[ -n "$applied" ] || fail "no applied count: $out"
grep -q "Row $((applied + 1)) of 3 was rejected" <<<"$out" || fail "detail: $out"
assert_eq "$applied" "$(db "SELECT count(*) FROM stripe.customer WHERE email LIKE 'part\_%'")" "accepted rows in the table"

# --- read-only column: rejected before any API call
n=$(api_calls)
out=$(px_err "UPDATE stripe.customer SET created = now() WHERE id = '$c1'")
grep -q "428C9" <<<"$out" || fail "read-only: $out"
grep -q 'column "created" of stripe.customer is read-only' <<<"$out" || fail "read-only message: $out"
out=$(px_err "INSERT INTO stripe.customer (id, email) VALUES ('cus_mine', 'mine@example.com')")
grep -q "The API assigns ids" <<<"$out" || fail "explicit id: $out"
assert_eq "$n" "$(api_calls)" "no API call for read-only changes"

# --- row limit (Stripe 100): rejected before any API call
before=$(curl -sf -u sk_test_tether: "$EMU_URL/v1/customers?limit=100" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')
out=$(px_err "INSERT INTO stripe.customer (email) SELECT 'bulk' || g || '@example.com' FROM generate_series(1, 101) g")
grep -q "54000" <<<"$out" || fail "limit: $out"
grep -q "at most 100 rows" <<<"$out" || fail "limit message: $out"
after=$(curl -sf -u sk_test_tether: "$EMU_URL/v1/customers?limit=100" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')
assert_eq "$before" "$after" "no customer created past the limit"
assert_eq "$n" "$(api_calls)" "no API call past the limit"

# --- upserts
out=$(psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" -c "INSERT INTO stripe.customer (id, email, name) VALUES ('$c3', 'ignored@example.com', 'ignored') ON CONFLICT (id) DO NOTHING" 2>&1)
grep -q "INSERT 0 0" <<<"$out" || fail "DO NOTHING tag: $out"
[ "$(emu_customer "$c3" | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')" != "ignored" ] || fail "DO NOTHING updated"
out=$(psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" -c "INSERT INTO stripe.customer (id, name) VALUES ('$c3', 'Upserted') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name" 2>&1)
grep -q "INSERT 0 1" <<<"$out" || fail "DO UPDATE tag: $out"
assert_eq "Upserted" "$(emu_customer "$c3" | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')" "DO UPDATE at the API"
assert_eq '{"name": "Upserted"}' "$(db "SELECT fields::text FROM _tether.write_audit WHERE object_id = '$c3' ORDER BY id DESC LIMIT 1")" "DO UPDATE sent only the change"
out=$(psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" -c "INSERT INTO stripe.customer (email) VALUES ('upsert-new@example.com') ON CONFLICT (id) DO NOTHING" 2>&1)
grep -q "INSERT 0 1" <<<"$out" || fail "upsert create tag: $out"
assert_eq "1" "$(emu_count_email upsert-new@example.com)" "upsert without id creates"

# --- audit: who, what, result, for every applied write
assert_eq "0" "$(db "SELECT count(*) FROM _tether.write_audit WHERE db_user IS NULL OR object_type IS NULL OR operation IS NULL OR result IS NULL")" "complete audit rows"
[ "$(db "SELECT count(*) FROM _tether.write_audit WHERE result = 'applied'")" -ge 4 ] || fail "applied writes not audited"
# --- the limit is configurable: --max-rows, and TETHER_SYNC_STRIPE_MAX_ROWS_PER_WRITE
kill "$PX_PID"; wait "$PX_PID" 2>/dev/null || true
wt_proxy_start --max-rows 2
out=$(px_err "UPDATE stripe.customer SET name = 'three' WHERE id IN ('$c1', '$c2', '$c3')")
grep -q "at most 2 rows" <<<"$out" || fail "--max-rows: $out"
kill "$PX_PID"; wait "$PX_PID" 2>/dev/null || true
TETHER_SYNC_STRIPE_MAX_ROWS_PER_WRITE=1 wt_proxy_start
out=$(px_err "UPDATE stripe.customer SET name = 'two' WHERE id IN ('$c1', '$c2')")
grep -q "at most 1 rows" <<<"$out" || fail "env max rows: $out"
echo "PASS write_semantics"
