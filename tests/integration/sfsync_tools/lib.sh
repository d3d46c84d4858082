# sfsync_tools/lib.sh - shared steps of the Salesforce sync integration tests
# (source it after tests/harness/lib.sh). Every process started here is
# killed on exit.
#   sfemu_start ARGS...        start the Salesforce emulator on a free port -> $EMU_URL
#   sfsync_start NAME ARGS...  start `tether sync --source salesforce` (log: $WORK/NAME.log)
#   sfsync_kill NAME [SIG]     kill it (default TERM) and wait
#   sftool ARGS...             run sf_tool.py
#   wait_log FILE REGEX SECS   wait until FILE has a line matching REGEX
PY=/usr/bin/python3
SFTOOL="$TETHER_SOURCE_DIR/tests/integration/sfsync_tools/sf_tool.py"
WORK=$(mktemp -d /tmp/tether-sfsynctest.XXXXXX)
cleanup_add "rm -rf '$WORK'"
declare -A SYNC_PID
DB_URL="$TETHER_TEST_DATABASE_URL"

sfemu_start() {
  "$TETHER_BIN" emulate salesforce --listen 127.0.0.1:0 "$@" >"$WORK/emu.out" 2>"$WORK/emu.log" &
  local pid=$!
  cleanup_add "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
  local i
  for ((i = 0; i < 200; i++)); do grep -q "listening on" "$WORK/emu.out" 2>/dev/null && break; sleep 0.1; done
  grep -q "listening on" "$WORK/emu.out" || { cat "$WORK/emu.log" >&2; fail "emulator did not start"; }
  EMU_URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$WORK/emu.out" | head -1)
}

sfsync_start() {
  local name=$1; shift
  "$TETHER_BIN" sync --source salesforce --login-url "$EMU_URL" --client-id tether-sf-client \
    --client-secret tether-sf-secret --username admin@tether.example --password tether-sf-password \
    --database "$DB_URL" --status-listen 127.0.0.1:0 "$@" >>"$WORK/$name.log" 2>&1 &
  SYNC_PID[$name]=$!
  cleanup_add "kill -9 ${SYNC_PID[$name]} 2>/dev/null; wait ${SYNC_PID[$name]} 2>/dev/null"
}

sfsync_kill() { # a TERM must end in a clean exit 0 (and no sanitizer report)
  stop_checked "tether sync ($1)" "${SYNC_PID[$1]}" "$WORK/$1.log" "${2:-TERM}"
}

sftool() { "$PY" "$SFTOOL" "$@"; }

# wait_log and psql_val come from tests/harness/lib.sh

# Short windows so that runs stay short; a budget that does not pace the tests.
export TETHER_SYNC_SALESFORCE_POLL_INTERVAL_MS=${TETHER_SYNC_SALESFORCE_POLL_INTERVAL_MS:-200}
export TETHER_SYNC_SALESFORCE_SAFETY_WINDOW_MS=${TETHER_SYNC_SALESFORCE_SAFETY_WINDOW_MS:-2000}
export TETHER_SYNC_SALESFORCE_RATE_BACKFILL=${TETHER_SYNC_SALESFORCE_RATE_BACKFILL:-200}
export TETHER_SYNC_SALESFORCE_RATE_STEADY=${TETHER_SYNC_SALESFORCE_RATE_STEADY:-100}
export TETHER_SYNC_SALESFORCE_DAILY_REQUEST_BUDGET=${TETHER_SYNC_SALESFORCE_DAILY_REQUEST_BUDGET:-100000000}
