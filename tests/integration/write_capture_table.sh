#!/usr/bin/env bash
# write_capture_table.sh - the capture table of Tether's connection does not
# grow with the number of writes: every capture is rolled back, but its rows
# stay in the temporary table's file as dead tuples (autovacuum never visits
# temporary tables) and every later capture would read them all. Tether has
# the table vacuumed every few dozen captured rows. 500 updates of ~2 KiB
# rows would leave ~1 MiB behind; the table must stay well under that, and
# every write (including those right after a VACUUM was sent) must work.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/write_tools/lib.sh"
export TETHER_WRITE_RATE=100000   # the default pacing (25 writes/s) would make this slow
wt_setup
sync_kill s   # no background sync: the table changes only through the proxy here
mapfile -t ids < <(db "SELECT id FROM stripe.customer ORDER BY id")
[ "${#ids[@]}" -ge 2 ] || fail "seeded customers"

capture_bytes() {
  db "SELECT coalesce(sum(pg_relation_size(c.oid)) FILTER (WHERE c.relname = '_tether_capture'), -1)
        + coalesce(sum(pg_relation_size(c.reltoastrelid)) FILTER (WHERE c.relname = '_tether_capture' AND c.reltoastrelid <> 0), 0)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'pg_temp_%'"
}

# 500 updates on one client connection (psql sends each statement as its own query)
for ((i = 0; i < 500; i++)); do
  echo "UPDATE stripe.customer SET name = 'n$i' WHERE id = '${ids[i % ${#ids[@]}]}';"
done > "$WORK/updates.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$PX_URL" -f "$WORK/updates.sql" >/dev/null || fail "a write failed"
assert_eq "n499" "$(db "SELECT name FROM stripe.customer WHERE id = '${ids[499 % ${#ids[@]}]}'")" "last write applied"
assert_eq "500" "$(db "SELECT count(*) FROM _tether.write_audit WHERE result = 'applied'")" "every write applied and audited"

bytes=$(capture_bytes)
[ "$bytes" -ge 0 ] || fail "capture table of the proxy's connection not found"
[ "$bytes" -lt 409600 ] || fail "capture table grew with the writes: $bytes bytes after 500 captures"
grep -q "writethrough.capture_vacuum_failed" "$WORK/proxy.log" && fail "VACUUM of the capture table failed"

# extended protocol (Parse/Bind/Describe/Execute, described on Tether's
# connection) right after VACUUMs were sent: 150 parameterized updates
/usr/bin/python3 - "$PX_PORT" "$PGDATABASE" "${ids[0]}" <<'PY' || fail "extended-protocol writes"
import sys, psycopg
port, db, cid = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with psycopg.connect(host="127.0.0.1", port=port, user="postgres", password="postgres", dbname=db,
                     sslmode="disable", autocommit=True) as c:
    for i in range(150):
        row = c.execute("UPDATE stripe.customer SET name = %s WHERE id = %s RETURNING name", (f"x{i}", cid)).fetchone()
        assert row == (f"x{i}",), row
PY
assert_eq "x149" "$(db "SELECT name FROM stripe.customer WHERE id = '${ids[0]}'")" "extended-protocol writes applied"
[ "$(capture_bytes)" -lt 409600 ] || fail "capture table grew with the extended-protocol writes"
px_proxy_stop
echo "PASS write_capture_table"
