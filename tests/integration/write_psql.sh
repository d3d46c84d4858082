#!/usr/bin/env bash
# write_psql.sh - the seed scenario and the basic writes with psql (simple
# protocol) through `tether proxy --source stripe` against the emulator.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/write_tools/lib.sh"
wt_setup

cid=$(db "SELECT id FROM stripe.customer ORDER BY id LIMIT 1")
[ -n "$cid" ] || fail "no synced customer"

# seed: update email -> API first, row holds the API's version, UPDATE 1
out=$(psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" -c "UPDATE stripe.customer SET email = 'new@email.com' WHERE id = '$cid'" 2>&1)
grep -q "UPDATE 1" <<<"$out" || fail "expected UPDATE 1, got: $out"
assert_eq "new@email.com" "$(emu_customer "$cid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["email"])')" "API email"
assert_eq "new@email.com" "$(px "SELECT email FROM stripe.customer WHERE id = '$cid'")" "row email (read-after-write)"
v=$(db "SELECT _version FROM stripe.customer WHERE id = '$cid'")
[ -n "$v" ] || fail "row has no version"
# only the changed column was sent (audit records what went to the API)
assert_eq '{"email": "new@email.com"}' "$(db "SELECT fields::text FROM _tether.write_audit WHERE object_id = '$cid' ORDER BY id DESC LIMIT 1")" "fields sent"
assert_eq "postgres|customer|update|applied" "$(db "SELECT db_user, object_type, operation, result FROM _tether.write_audit WHERE object_id = '$cid' ORDER BY id DESC LIMIT 1")" "audit row"
rid=$(db "SELECT request_id FROM _tether.write_audit WHERE object_id = '$cid' ORDER BY id DESC LIMIT 1")
[[ "$rid" == req_* ]] || fail "audit row lacks the API's request id: '$rid'"

# seed: invalid email -> error with SQLSTATE, message, DETAIL; nothing written
err=$(px_err "UPDATE stripe.customer SET email = 'new@' WHERE id = '$cid'")
grep -q "22023" <<<"$err" || fail "no SQLSTATE 22023: $err"
grep -q "Error updating customer $cid: Invalid email address: new@" <<<"$err" || fail "message: $err"
grep -q "DETAIL:.*code email_invalid, param email" <<<"$err" || fail "detail: $err"
grep -q "CONTEXT" <<<"$err" && fail "the error carries Tether's internal CONTEXT line: $err"
assert_eq "new@email.com" "$(px "SELECT email FROM stripe.customer WHERE id = '$cid'")" "row unchanged after the error"
assert_eq "rejected" "$(db "SELECT result FROM _tether.write_audit ORDER BY id DESC LIMIT 1")" "rejected write audited"
[[ "$(db "SELECT request_id FROM _tether.write_audit ORDER BY id DESC LIMIT 1")" == req_* ]] || fail "rejected write audited without the API's request id"

# expressions and WHERE evaluated by Postgres (function, subquery, FROM join)
db "CREATE TABLE public.vip (customer_id text, tag text); INSERT INTO public.vip VALUES ('$cid', 'gold')"
px "UPDATE stripe.customer c SET name = upper('vip ') || v.tag, metadata = c.metadata || jsonb_build_object('tier', v.tag) FROM public.vip v WHERE v.customer_id = c.id AND c.id IN (SELECT customer_id FROM public.vip)" >/dev/null
assert_eq "VIP gold" "$(emu_customer "$cid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')" "name from expression"
assert_eq "gold" "$(emu_customer "$cid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["tier"])')" "metadata key"
assert_eq "gold" "$(px "SELECT metadata->>'tier' FROM stripe.customer WHERE id = '$cid'")" "metadata in row"

# INSERT without id: created at the API, row has the API's id; RETURNING the API's values
ret=$(px "INSERT INTO stripe.customer (email, name, metadata) VALUES ('made@example.com', 'Made', '{\"user_id\":\"u1\"}') RETURNING id, created, email")
nid=${ret%%|*}
[[ "$nid" == cus_* ]] || fail "RETURNING id is not an API id: $ret"
emu_customer "$nid" >/dev/null || fail "created customer $nid not at the API"
assert_eq "made@example.com" "$(px "SELECT email FROM stripe.customer WHERE id = '$nid'")" "created row"
[ -n "$(echo "$ret" | cut -d'|' -f2)" ] || fail "RETURNING created empty: $ret"
assert_eq "u1" "$(px "SELECT metadata->>'user_id' FROM stripe.customer WHERE id = '$nid'")" "metadata created"

# multi-row INSERT and INSERT ... SELECT
out=$(psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" -c "INSERT INTO stripe.customer (email) VALUES ('m1@example.com'), ('m2@example.com')" 2>&1)
grep -q "INSERT 0 2" <<<"$out" || fail "multi-row tag: $out"
db "CREATE TABLE public.leads (email text); INSERT INTO public.leads VALUES ('l1@example.com'), ('l2@example.com'), ('l3@example.com')"
out=$(psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" -c "INSERT INTO stripe.customer (email, name) SELECT email, 'lead' FROM public.leads" 2>&1)
grep -q "INSERT 0 3" <<<"$out" || fail "INSERT SELECT tag: $out"
assert_eq "3" "$(px "SELECT count(*) FROM stripe.customer WHERE name = 'lead'")" "lead rows"
assert_eq "1" "$(emu_count_email l2@example.com)" "lead at the API"

# DELETE: at the API, then the row
out=$(psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" -c "DELETE FROM stripe.customer WHERE email = 'm1@example.com' RETURNING email" 2>&1)
grep -q "m1@example.com" <<<"$out" || fail "DELETE RETURNING: $out"
grep -q "DELETE 1" <<<"$out" || fail "DELETE tag: $out"
assert_eq "0" "$(emu_count_email m1@example.com)" "deleted at the API"
assert_eq "0" "$(px "SELECT count(*) FROM stripe.customer WHERE email = 'm1@example.com'")" "deleted row"

# no match: UPDATE 0, no API call
out=$(psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" -c "UPDATE stripe.customer SET name = 'x' WHERE id = 'cus_nope'" 2>&1)
grep -q "UPDATE 0" <<<"$out" || fail "UPDATE 0: $out"

echo "PASS write_psql"
