#!/usr/bin/env bash
# sfsync_kill.sh - kill -9 of a Salesforce sync in the middle of the backfill
# and in the middle of the change stream; the restart resumes from the
# committed (SystemModstamp, Id) cursor (no new backfill) and converges.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sfsync_tools/lib.sh"
export TETHER_SYNC_SALESFORCE_RATE_BACKFILL=3

sfemu_start --seed-accounts 100 --seed-contacts 14000 --seed-invoices 50
export TETHER_SYNC_SALESFORCE_COLLECTIONS=contact,account,invoice__c
sfsync_start a
wait_log_count "$WORK/a.log" "event=sync\.backfill_page.*collection=contact " 2 60
sfsync_kill a 9
grep -q "event=sync.backfill_done" "$WORK/a.log" && fail "backfill finished before the kill; test proves nothing"
cursor=$(psql_val "SELECT cursor FROM _tether.collection WHERE collection = 'contact'")
[[ "$cursor" =~ ^[0-9]+\|003[A-Za-z0-9]{15}$ ]] || fail "contact cursor '$cursor' is not <ms>|<Id>"
before=$(psql_val "SELECT count(*) FROM salesforce.contact")
echo "killed mid-backfill with $before contacts, cursor $cursor"

# changes made while nothing runs must arrive too
sftool mutate --api "$EMU_URL" --ops 40 --seed 5
export TETHER_SYNC_SALESFORCE_RATE_BACKFILL=200
sfsync_start b
wait_log "$WORK/b.log" "event=sync.backfill_done" 90
grep -q "event=sync.backfill_start" "$WORK/b.log" && fail "the restart began the backfill again instead of resuming"
sftool check --api "$EMU_URL" --dsn "$DB_URL" --objects Account,Contact,Invoice__c --timeout 60 \
  || fail "did not converge after kill -9 in backfill"

# kill -9 in the middle of the change stream
sftool mutate --api "$EMU_URL" --ops 150 --seed 21 &
mut=$!
cleanup_add "kill $mut 2>/dev/null"
sleep 1
sfsync_kill b 9
wait $mut
sfsync_start c
sftool check --api "$EMU_URL" --dsn "$DB_URL" --objects Account,Contact,Invoice__c --timeout 60 \
  || fail "did not converge after kill -9 in the change stream"
sfsync_kill c
echo "PASS sfsync_kill"
