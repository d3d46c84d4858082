#!/usr/bin/env bash
# sfwrite_faults.sh - Salesforce write-through while the emulator answers 503s
# and 500s: composite updates and deletes are retried (they are idempotent)
# and land once; single-row writes too; the table matches the API after
# each statement. With every request failing, the client gets 08006 and the
# table is unchanged.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sfwrite_tools/lib.sh"
export TETHER_WRITE_MAX_ATTEMPTS=12
SFW_SEED_CONTACTS=60 sfw_setup
sfsync_kill s
curl -sf -X POST "$EMU_URL/_emulator/faults" -d '{"error_503_rate":0.3,"error_500_rate":0.1}' >/dev/null

out=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$PX_URL" -c "UPDATE salesforce.contact SET title = 'F ' || substr(id, 10, 6) WHERE NOT is_deleted" 2>&1)
grep -q "UPDATE 60" <<<"$out" || fail "UPDATE under faults: $out"
grep -q "event=http.retry" "$WORK/proxy.log" || fail "no retries: the faults were not exercised"
for id in $(db "SELECT id FROM salesforce.contact ORDER BY id LIMIT 5"); do
  assert_eq "F ${id:9:6}" "$(sf_field Contact "$id" Title)" "API title of $id"
done
assert_eq "60" "$(px "SELECT count(*) FROM salesforce.contact WHERE title = 'F ' || substr(id, 10, 6)")" "table after the batch"

cid=$(db "SELECT id FROM salesforce.contact ORDER BY id LIMIT 1")
px "UPDATE salesforce.contact SET email = 'faulty@example.com' WHERE id = '$cid'" >/dev/null
assert_eq "faulty@example.com" "$(sf_field Contact "$cid" Email)" "single update under faults"

out=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$PX_URL" -c "DELETE FROM salesforce.contact WHERE id IN (SELECT id FROM salesforce.contact ORDER BY id DESC LIMIT 3)" 2>&1)
grep -q "DELETE 3" <<<"$out" || fail "DELETE under faults: $out"

# every call fails: 08006 after the retries, nothing written
curl -sf -X POST "$EMU_URL/_emulator/faults" -d '{"error_503_rate":1.0,"error_500_rate":0}' >/dev/null
err=$(px_err "UPDATE salesforce.contact SET title = 'Never' WHERE id IN (SELECT id FROM salesforce.contact ORDER BY id LIMIT 2)")
grep -q "08006" <<<"$err" || fail "all-503 SQLSTATE: $err"
grep -q "(0 of 2 rows applied)" <<<"$err" || fail "all-503 message: $err"
assert_eq "0" "$(px "SELECT count(*) FROM salesforce.contact WHERE title = 'Never'")" "nothing written"
curl -sf -X POST "$EMU_URL/_emulator/faults" -d '{"error_503_rate":0}' >/dev/null
px_proxy_stop
echo "PASS sfwrite_faults"
