#!/usr/bin/env bash
# sfsync_faults.sh - the Salesforce sync converges while the emulator answers
# 503s, 403 REQUEST_LIMIT_EXCEEDED, truncated bodies and dropped connections,
# during the backfill and the change stream; REQUEST_LIMIT_EXCEEDED pauses
# the connector instead of hammering the API.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sfsync_tools/lib.sh"

sfemu_start --seed-accounts 200 --seed-contacts 5000 --seed-invoices 100 --seed-leads 20 \
  --fault-503-rate 0.1 --fault-limit-rate 0.05 --fault-truncate-rate 0.05 --fault-drop-rate 0.03 \
  --fault-seed 3
sfsync_start a
wait_log "$WORK/a.log" "event=sync.backfill_done" 100
sftool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "backfill under faults did not converge"
sftool mutate --api "$EMU_URL" --ops 150 --seed 31
sftool check --api "$EMU_URL" --dsn "$DB_URL" --timeout 60 || fail "changes under faults did not converge"
grep -q "event=http.retry" "$WORK/a.log" || fail "no retries: the faults were not exercised"
grep -q "event=salesforce.request_limit" "$WORK/a.log" || fail "REQUEST_LIMIT_EXCEEDED never paused the connector"
sfsync_kill a
echo "PASS sfsync_faults"
