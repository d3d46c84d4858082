#!/usr/bin/env bash
# sfsync_converge.sh - Salesforce convergence: seed the emulator, backfill
# with the one-line start, then random creates/updates/deletes through the
# REST API while syncing; every live record must equal its row (every column
# from describe, typed) and no extra rows may exist (deleted records are
# deleted rows). Column types are checked against describe; the custom object
# Invoice__c is synced as salesforce.invoice__c.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sfsync_tools/lib.sh"

sfemu_start --seed-accounts 300 --seed-contacts 2500 --seed-leads 50 --seed-opportunities 60 \
  --seed-invoices 200 --seed-users 5
sfsync_start a
wait_log "$WORK/a.log" "event=sync.backfill_done" 90
sftool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 30 || fail "backfill did not converge"
sftool types --api "$EMU_URL" --dsn "$DB_URL" || fail "column types differ from describe"
assert_eq "t" "$(psql_val "SELECT count(*) > 0 FROM salesforce.invoice__c")" "custom object synced"
assert_eq "numeric" "$(psql_val "SELECT data_type FROM information_schema.columns WHERE table_schema='salesforce' AND table_name='invoice__c' AND column_name='amount__c'")" "custom currency field"
assert_eq "text" "$(psql_val "SELECT data_type FROM information_schema.columns WHERE table_schema='salesforce' AND table_name='contact' AND column_name='last_name'")" "LastName -> last_name"
# the contact backfill took more than one 2000-row page, in SystemModstamp order
pages=$(grep -c "event=sync.backfill_page.*collection=contact " "$WORK/a.log" || true)
[ "$pages" -ge 2 ] || fail "expected several contact pages, got $pages"

sftool mutate --api "$EMU_URL" --ops 250 --seed 11
sftool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "changes did not converge"
deleted=$(psql_val "SELECT count(*) FROM _tether.tombstone WHERE target_schema='salesforce'")
[ "$deleted" -gt 0 ] || fail "no deletes were detected"

# an expired session: the connector logs in again and carries on
sftool faults --api "$EMU_URL" expire_sessions=true
sftool mutate --api "$EMU_URL" --ops 30 --seed 12
sftool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "did not converge after session expiry"
grep -q "event=salesforce.session_renewed" "$WORK/a.log" || fail "no re-login after INVALID_SESSION_ID"
sfsync_kill a
grep -qi "tether-sf-password\|tether-sf-secret" "$WORK/a.log" && fail "a secret appeared in the log"
echo "PASS sfsync_converge"
