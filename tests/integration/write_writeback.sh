#!/usr/bin/env bash
# write_writeback.sh - the write-back after the API accepted a write (one
# pipelined round trip: versioned upsert + audit rows in one implicit
# transaction, prepared statements on Tether's connection):
#   - the row and its audit row are visible as soon as the client has its tag;
#   - a write-back the table refuses (a CHECK constraint) fails with XX000
#     naming the table error, writes nothing (no row of a multi-row statement,
#     no 'applied' audit row without error), audits 'write-back failed', and
#     the API keeps the change;
#   - such a failure on the proxy's very first write (its statements being
#     prepared in the failed pipeline) and a capture error on a fresh
#     connection leave Tether's connection usable: the next writes work.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/write_tools/lib.sh"
wt_setup
sync_kill s   # no background sync: the table changes only through the proxy here
c1=$(db "SELECT id FROM stripe.customer ORDER BY id LIMIT 1")
c2=$(db "SELECT id FROM stripe.customer ORDER BY id LIMIT 1 OFFSET 1")
emu_name() { emu_customer "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("name") or "")'; }

# a failing capture first (division by zero in the client's SET, on a fresh
# connection whose fixed statements are being prepared), then a good write
out=$(px_err "UPDATE stripe.customer SET name = (1/0)::text WHERE id = '$c1'")
grep -q "22012" <<<"$out" || fail "capture error SQLSTATE: $out"
px "UPDATE stripe.customer SET name = 'First' WHERE id = '$c1'" >/dev/null
assert_eq "First" "$(db "SELECT name FROM stripe.customer WHERE id = '$c1'")" "write after a failed capture"

# read-your-writes for the row and its audit row
req=$(db "SELECT request_id FROM _tether.write_audit WHERE object_id = '$c1' AND result = 'applied' ORDER BY id DESC LIMIT 1")
[ -n "$req" ] || fail "audit row with the API request id visible at once"

# a write-back the table refuses, on a new proxy's first write
px_proxy_stop   # exits cleanly, no sanitizer report
wt_proxy_start
db "ALTER TABLE stripe.customer ADD CONSTRAINT test_no_refused CHECK (name IS DISTINCT FROM 'Refused')"
out=$(px_err "UPDATE stripe.customer SET name = 'Refused' WHERE id = '$c1'")
grep -q "XX000" <<<"$out" || fail "write-back failure SQLSTATE: $out"
grep -q "the API applied the change but writing it to the table failed" <<<"$out" || fail "write-back failure message: $out"
grep -q "test_no_refused" <<<"$out" || fail "write-back failure names the table error: $out"
assert_eq "First" "$(db "SELECT name FROM stripe.customer WHERE id = '$c1'")" "nothing written when the write-back fails"
assert_eq "Refused" "$(emu_name "$c1")" "the API keeps the change"
assert_eq "write-back failed" "$(db "SELECT error FROM _tether.write_audit WHERE object_id = '$c1' ORDER BY id DESC LIMIT 1")" "audited as a failed write-back"
assert_eq "0" "$(db "SELECT count(*) FROM _tether.write_audit WHERE object_id = '$c1' AND fields->>'name' = 'Refused' AND error IS NULL")" "no audit row of the rolled-back write-back"

# the connection recovers: the same statements (re-)prepared work
px "UPDATE stripe.customer SET name = 'Second' WHERE id = '$c1'" >/dev/null
assert_eq "Second" "$(db "SELECT name FROM stripe.customer WHERE id = '$c1'")" "write after a failed write-back"

# several rows in one statement: one refused row rolls back the whole write-back
last=$(db "SELECT max(id) FROM _tether.write_audit")
out=$(px_err "UPDATE stripe.customer SET name = CASE WHEN id = '$c2' THEN 'Refused' ELSE 'Both' END WHERE id IN ('$c1', '$c2')")
grep -q "XX000" <<<"$out" || fail "multi-row write-back failure SQLSTATE: $out"
assert_eq "Second" "$(db "SELECT name FROM stripe.customer WHERE id = '$c1'")" "no row of a failed write-back is written"
assert_eq "Both" "$(emu_name "$c1")" "the API applied both rows"
assert_eq "2" "$(db "SELECT count(*) FROM _tether.write_audit WHERE id > $last AND error = 'write-back failed'")" "both rows audited as failed write-backs"
assert_eq "2" "$(db "SELECT count(*) FROM _tether.write_audit WHERE id > $last")" "and nothing else audited"

# and again a clean write of both rows, in one write-back
db "ALTER TABLE stripe.customer DROP CONSTRAINT test_no_refused"
px "UPDATE stripe.customer SET name = 'Third' WHERE id IN ('$c1', '$c2')" >/dev/null
assert_eq "2" "$(db "SELECT count(*) FROM stripe.customer WHERE id IN ('$c1', '$c2') AND name = 'Third'")" "multi-row write after failures"
grep -q "writethrough.pipeline_stuck" "$WORK/proxy.log" && fail "the pipeline got out of step"
px_proxy_stop
echo "PASS write_writeback"
