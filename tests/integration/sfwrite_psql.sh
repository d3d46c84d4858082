#!/usr/bin/env bash
# sfwrite_psql.sh - write-through to Salesforce with psql (simple protocol):
# `tether proxy --source salesforce` against the emulator. Single-row UPDATE,
# INSERT ... RETURNING, DELETE; the seed's invalid-email error with its
# SQLSTATE, code and field (nothing written); read-only columns and the row
# limit refused before any API call.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sfwrite_tools/lib.sh"
sfw_setup

cid=$(db "SELECT id FROM salesforce.contact WHERE NOT is_deleted ORDER BY id LIMIT 1")
[ -n "$cid" ] || fail "no synced contact"
stamp0=$(db "SELECT system_modstamp FROM salesforce.contact WHERE id = '$cid'")

# UPDATE: API first, the row holds the API's version, RETURNING the API's values
out=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$PX_URL" -c "UPDATE salesforce.contact SET email = 'ada@example.com', title = 'CTO' WHERE id = '$cid' RETURNING email, system_modstamp" 2>&1)
grep -q "UPDATE 1" <<<"$out" || fail "expected UPDATE 1, got: $out"
assert_eq "ada@example.com" "$(sf_field Contact "$cid" Email)" "API email"
assert_eq "CTO" "$(sf_field Contact "$cid" Title)" "API title"
assert_eq "ada@example.com" "$(px "SELECT email FROM salesforce.contact WHERE id = '$cid'")" "row email (read-after-write)"
stamp1=$(db "SELECT system_modstamp FROM salesforce.contact WHERE id = '$cid'")
[ "$stamp1" != "$stamp0" ] || fail "system_modstamp not taken from the API ($stamp0)"
grep -q "^ada@example.com|" <<<"$out" || fail "RETURNING: $out"
# only the changed columns were sent, with the API's field names
assert_eq '{"Email": "ada@example.com", "Title": "CTO"}' "$(db "SELECT fields::text FROM _tether.write_audit WHERE object_id = '$cid' ORDER BY id DESC LIMIT 1")" "fields sent"

# the seed's error: invalid email -> 22023, code and field; nothing written
n_audit=$(db "SELECT count(*) FROM _tether.write_audit")
err=$(px_err "UPDATE salesforce.contact SET email = 'bad@' WHERE id = '$cid'")
grep -q "22023" <<<"$err" || fail "no SQLSTATE 22023: $err"
grep -q "Error updating contact $cid: INVALID_EMAIL_ADDRESS: Email: invalid email address: bad@" <<<"$err" || fail "message: $err"
grep -q "DETAIL:.*API status 400, code INVALID_EMAIL_ADDRESS, param Email" <<<"$err" || fail "detail: $err"
grep -q 'HINT:.*field Email is column "email" of salesforce.contact' <<<"$err" || fail "hint: $err"
assert_eq "ada@example.com" "$(px "SELECT email FROM salesforce.contact WHERE id = '$cid'")" "row unchanged after the error"
assert_eq "ada@example.com" "$(sf_field Contact "$cid" Email)" "API unchanged after the error"
assert_eq "rejected" "$(db "SELECT result FROM _tether.write_audit ORDER BY id DESC LIMIT 1")" "rejected write audited"

# read-only columns: refused before any API call (no audit row)
n_audit=$(db "SELECT count(*) FROM _tether.write_audit")
err=$(px_err "UPDATE salesforce.contact SET created_date = now() WHERE id = '$cid'")
grep -q "428C9" <<<"$err" || fail "created_date: $err"
grep -q 'column "created_date" of salesforce.contact is read-only' <<<"$err" || fail "created_date message: $err"
err=$(px_err "UPDATE salesforce.contact SET system_modstamp = now() WHERE id = '$cid'")
grep -q "428C9" <<<"$err" || fail "system_modstamp: $err"
err=$(px_err "UPDATE salesforce.contact SET id = '003000000000000AAA' WHERE id = '$cid'")
grep -q "428C9" <<<"$err" || fail "id: $err"
err=$(px_err "INSERT INTO salesforce.contact (last_name, created_date) VALUES ('X', now())")
grep -q "428C9" <<<"$err" || fail "insert created_date: $err"
assert_eq "$n_audit" "$(db "SELECT count(*) FROM _tether.write_audit")" "no API call for read-only columns"

# INSERT: created at the API, RETURNING the API's id and timestamps
ret=$(px "INSERT INTO salesforce.contact (last_name, first_name, email) VALUES ('Lovelace', 'Ada', 'ada.l@example.com') RETURNING id, created_date, system_modstamp")
nid=${ret%%|*}
[[ "$nid" == 003* ]] || fail "RETURNING id is not a Contact id: $ret"
[ -n "$(echo "$ret" | cut -d'|' -f2)" ] || fail "RETURNING created_date empty: $ret"
assert_eq "Lovelace" "$(sf_field Contact "$nid" LastName)" "created at the API"
assert_eq "ada.l@example.com" "$(px "SELECT email FROM salesforce.contact WHERE id = '$nid'")" "created row"

# INSERT without a required field: the API's REQUIRED_FIELD_MISSING
err=$(px_err "INSERT INTO salesforce.contact (first_name) VALUES ('NoLast')")
grep -q "22023" <<<"$err" || fail "required field SQLSTATE: $err"
grep -q "Error creating contact: REQUIRED_FIELD_MISSING" <<<"$err" || fail "required field message: $err"
grep -q "param LastName" <<<"$err" || fail "required field param: $err"

# upsert: an existing id becomes an update, a new row a create (row by row: mixed ops)
ln=$(db "SELECT last_name FROM salesforce.contact WHERE id = '$cid'")
out=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$PX_URL" -c "INSERT INTO salesforce.contact (id, last_name, title) VALUES ('$cid', '$ln', 'Upserted') ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title" 2>&1)
grep -q "INSERT 0 1" <<<"$out" || fail "upsert tag: $out"
assert_eq "Upserted" "$(sf_field Contact "$cid" Title)" "upsert updated at the API"
assert_eq "Upserted" "$(px "SELECT title FROM salesforce.contact WHERE id = '$cid'")" "upsert row"

# DELETE: at the API (soft delete there), then the row
out=$(psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" -c "DELETE FROM salesforce.contact WHERE id = '$nid' RETURNING last_name" 2>&1)
grep -q "Lovelace" <<<"$out" || fail "DELETE RETURNING: $out"
grep -q "DELETE 1" <<<"$out" || fail "DELETE tag: $out"
if sf_get Contact "$nid" >/dev/null 2>&1; then fail "contact $nid still at the API"; fi
assert_eq "0" "$(px "SELECT count(*) FROM salesforce.contact WHERE id = '$nid' AND NOT is_deleted")" "deleted row"

# the row limit (200) before any API call
n_audit=$(db "SELECT count(*) FROM _tether.write_audit")
err=$(px_err "INSERT INTO salesforce.contact (last_name) SELECT 'L' || g FROM generate_series(1, 201) g")
grep -q "54000" <<<"$err" || fail "row limit: $err"
assert_eq "$n_audit" "$(db "SELECT count(*) FROM _tether.write_audit")" "no API call past the row limit"

# a direct write (not through the proxy) is refused by the guard
if psql -X -q -d "$DB_URL" -c "UPDATE salesforce.contact SET title = 'x' WHERE id = '$cid'" 2>"$WORK/g.txt"; then
  fail "direct write was not refused"
fi
grep -q "synced by Tether" "$WORK/g.txt" || fail "guard message: $(cat "$WORK/g.txt")"

sfsync_kill s

# the org's daily API limit used up: 403 REQUEST_LIMIT_EXCEEDED -> 53400, nothing written
max=$(curl -sf -H "Authorization: Bearer $(sf_token)" "$EMU_URL/services/data/v59.0/limits" |
  "$PY" -c 'import json,sys; print(json.load(sys.stdin)["DailyApiRequests"]["Max"])')
curl -sf -X POST "$EMU_URL/_emulator/faults" -d "{\"api_used\": $max}" >/dev/null
err=$(px_err "UPDATE salesforce.contact SET title = 'Limited' WHERE id = '$cid'")
grep -q "53400" <<<"$err" || fail "limit SQLSTATE: $err"
grep -q "Error updating contact $cid: REQUEST_LIMIT_EXCEEDED" <<<"$err" || fail "limit message: $err"
[ "$(px "SELECT title FROM salesforce.contact WHERE id = '$cid'")" != "Limited" ] || fail "written despite the limit"

px_proxy_stop
echo "PASS sfwrite_psql"
