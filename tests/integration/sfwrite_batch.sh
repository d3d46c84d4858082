#!/usr/bin/env bash
# sfwrite_batch.sh - multi-row statements through `tether proxy --source
# salesforce` use the composite API (/composite/sobjects, allOrNone=false):
# a 150-row UPDATE in one statement takes a few API requests (not 150+),
# every row lands in the table and at the API; a partial failure keeps the
# accepted rows and names the rejected one; multi-row INSERT and DELETE.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sfwrite_tools/lib.sh"
SFW_SEED_CONTACTS=170 sfw_setup
# the sync's own polling would count too: measure the proxy alone
sfsync_kill s

assert_eq "170" "$(px "SELECT count(*) FROM salesforce.contact WHERE NOT is_deleted")" "synced contacts"
db "CREATE TABLE public.pick AS SELECT id FROM salesforce.contact WHERE NOT is_deleted ORDER BY id LIMIT 150"

# 150 rows in one UPDATE: one composite PATCH + one retrieve-many
u0=$(sf_usage)
out=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$PX_URL" -c "UPDATE salesforce.contact c SET title = 'Batch ' || substr(c.id, 12) FROM public.pick p WHERE p.id = c.id" 2>&1)
grep -q "UPDATE 150" <<<"$out" || fail "expected UPDATE 150, got: $out"
u1=$(sf_usage)
used=$((u1 - u0 - 1)) # the second sf_usage call counts itself
echo "150-row UPDATE: $used API requests"
[ "$used" -ge 1 ] && [ "$used" -le 4 ] || fail "150-row UPDATE took $used API requests (composite expected)"
grep -q "event=salesforce.composite.*op=update rows=150 sent=150" "$WORK/proxy.log" || fail "no composite call in the proxy log"
grep -q "event=writethrough.batch.*rows=150 applied=150 rejected=0" "$WORK/proxy.log" || fail "batch not logged"
assert_eq "150" "$(px "SELECT count(*) FROM salesforce.contact c JOIN public.pick p USING (id) WHERE c.title = 'Batch ' || substr(c.id, 12)")" "rows written back (read-after-write)"
some=$(db "SELECT id FROM public.pick ORDER BY id DESC LIMIT 1")
assert_eq "Batch ${some:11}" "$(sf_field Contact "$some" Title)" "title at the API"
assert_eq "150" "$(db "SELECT count(*) FROM _tether.write_audit WHERE operation = 'update' AND result = 'applied'")" "150 audited writes"

# partial failure: the accepted rows stay (table and API), the error names the rejected row
read -r a b c <<<"$(db "SELECT string_agg(id, ' ' ORDER BY id) FROM (SELECT id FROM public.pick ORDER BY id LIMIT 3) s")"
err=$(px_err "UPDATE salesforce.contact SET email = CASE id WHEN '$b' THEN 'bad@' ELSE 'ok-' || lower(id) || '@example.com' END WHERE id IN ('$a', '$b', '$c')")
grep -q "22023" <<<"$err" || fail "partial SQLSTATE: $err"
grep -q "Error updating contact $b: INVALID_EMAIL_ADDRESS: Email: invalid email address: bad@ (2 of 3 rows applied)" <<<"$err" || fail "partial message: $err"
grep -q "DETAIL:.*code INVALID_EMAIL_ADDRESS, param Email. Row 2 of 3 was rejected; 2 rows were applied" <<<"$err" || fail "partial detail: $err"
assert_eq "ok-${a,,}@example.com" "$(px "SELECT email FROM salesforce.contact WHERE id = '$a'")" "accepted row 1 in the table"
assert_eq "ok-${c,,}@example.com" "$(px "SELECT email FROM salesforce.contact WHERE id = '$c'")" "accepted row 3 in the table"
assert_eq "ok-${c,,}@example.com" "$(sf_field Contact "$c" Email)" "accepted row 3 at the API"
[ "$(sf_field Contact "$b" Email)" != "bad@" ] || fail "rejected row written at the API"
[ "$(px "SELECT email FROM salesforce.contact WHERE id = '$b'")" != "bad@" ] || fail "rejected row written to the table"

# multi-row INSERT ... RETURNING (composite create), then multi-row DELETE
ret=$(px "INSERT INTO salesforce.contact (last_name, email) SELECT 'Made' || g, 'made' || g || '@example.com' FROM generate_series(1, 5) g RETURNING id, last_name")
assert_eq "5" "$(echo "$ret" | grep -c '^003')" "RETURNING ids of the created rows: $ret"
grep -q "event=salesforce.composite.*op=create rows=5 sent=5" "$WORK/proxy.log" || fail "INSERT did not use composite"
first=$(echo "$ret" | head -1 | cut -d'|' -f1)
assert_eq "$(echo "$ret" | head -1 | cut -d'|' -f2)" "$(sf_field Contact "$first" LastName)" "created at the API"
assert_eq "5" "$(px "SELECT count(*) FROM salesforce.contact WHERE last_name LIKE 'Made%' AND NOT is_deleted")" "created rows"
out=$(psql -X -v ON_ERROR_STOP=1 -d "$PX_URL" -c "DELETE FROM salesforce.contact WHERE last_name LIKE 'Made%'" 2>&1)
grep -q "DELETE 5" <<<"$out" || fail "DELETE tag: $out"
grep -q "event=salesforce.composite.*op=delete rows=5 sent=5" "$WORK/proxy.log" || fail "DELETE did not use composite"
if sf_get Contact "$first" >/dev/null 2>&1; then fail "contact $first still at the API"; fi
assert_eq "0" "$(px "SELECT count(*) FROM salesforce.contact WHERE last_name LIKE 'Made%' AND NOT is_deleted")" "deleted rows"

# a mixed batch: a create whose row is invalid keeps the valid creates
err=$(px_err "INSERT INTO salesforce.contact (last_name, email) VALUES ('Good1', 'g1@example.com'), ('Bad', 'nope@'), ('Good2', 'g2@example.com')")
grep -q "Error creating contact: INVALID_EMAIL_ADDRESS.*(2 of 3 rows applied)" <<<"$err" || fail "create partial: $err"
assert_eq "2" "$(px "SELECT count(*) FROM salesforce.contact WHERE last_name LIKE 'Good%'")" "valid creates kept"
assert_eq "0" "$(px "SELECT count(*) FROM salesforce.contact WHERE last_name = 'Bad'")" "invalid create not written"

px_proxy_stop
echo "PASS sfwrite_batch"
