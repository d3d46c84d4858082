#!/usr/bin/env bash
# write_concurrency.sh - many clients writing different rows at once through
# one proxy: every write is applied once, each row ends with its client's
# last value at the API and in the table, and reads keep flowing meanwhile.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/write_tools/lib.sh"
WT_SEED_CUSTOMERS=12 wt_setup
sync_kill s   # only the proxy writes the table here (no same-second event replays)
mapfile -t ids < <(db "SELECT id FROM stripe.customer ORDER BY id LIMIT 8")
[ "${#ids[@]}" = 8 ] || fail "need 8 customers"
pids=()
for k in $(seq 0 7); do
  (
    for round in 1 2 3 4; do
      psql -X -q -v ON_ERROR_STOP=1 -d "$PX_URL" \
        -c "UPDATE stripe.customer SET name = 'client$k round$round' WHERE id = '${ids[$k]}'" \
        -c "SELECT count(*) FROM stripe.customer" >/dev/null || exit 1
    done
  ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a client failed"; done
for k in $(seq 0 7); do
  assert_eq "client$k round4" "$(db "SELECT name FROM stripe.customer WHERE id = '${ids[$k]}'")" "row $k"
  assert_eq "client$k round4" "$(emu_customer "${ids[$k]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')" "API $k"
done
assert_eq "32" "$(db "SELECT count(*) FROM _tether.write_audit WHERE result = 'applied'")" "one API write per statement"
echo "PASS write_concurrency"
