#!/usr/bin/env bash
# sfsync_budget.sh - the daily request budget: with daily_request_budget set,
# steady-state polls are spaced so the budget lasts the day (no poll burst
# after the backfill) and the sync never uses more requests than the budget.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sfsync_tools/lib.sh"
export TETHER_SYNC_SALESFORCE_DAILY_REQUEST_BUDGET=60

# api-usage=N/M from Sforce-Limit-Info, read on the (uncounted or counted) versions list
usage() {
  curl -s -D - -o /dev/null "$EMU_URL/services/data/" | tr -d '\r' |
    sed -n 's/^[Ss]force-[Ll]imit-[Ii]nfo: api-usage=\([0-9]*\)\/.*/\1/p'
}

sfemu_start --seed-accounts 20 --seed-contacts 30 --seed-invoices 5
sfsync_start a
wait_log "$WORK/a.log" "event=sync.backfill_done" 60
u1=$(usage)
[ -n "$u1" ] || fail "no Sforce-Limit-Info header"
# with poll_interval_ms=200 an unpaced sync would poll 6 objects ~5 times a second;
# a paced one polls at most once more (the first poll after the backfill)
sleep 4
u2=$(usage)
echo "api usage: $u1 after the backfill, $u2 four seconds later (budget 60/day)"
[ $((u2 - u1)) -le 7 ] || fail "the sync kept polling: $((u2 - u1)) requests in 4 s with a budget of 60/day"
[ "$u2" -le 62 ] || fail "the sync used $u2 requests, over its budget of 60"
sftool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 30 || fail "backfill did not converge"
sfsync_kill a
echo "PASS sfsync_budget"
