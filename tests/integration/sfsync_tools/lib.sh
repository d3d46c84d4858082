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
  local name=$1 sig=${2:-TERM} rc=0
  kill -"$sig" "${SYNC_PID[$name]}" 2>/dev/null || true
  wait "${SYNC_PID[$name]}" 2>/dev/null || rc=$?
  if [ "$sig" = TERM ] && [ "$rc" -ne 0 ]; then
    tail -30 "$WORK/$name.log" >&2
    fail "tether sync ($name) exited with $rc after SIGTERM"
  fi
  if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$WORK/$name.log"; then
    grep -E -A20 "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$WORK/$name.log" | head -40 >&2
    fail "sanitizer report in the log of $name"
  fi
  return 0
}

sftool() { "$PY" "$SFTOOL" "$@"; }

wait_log() {
  local file=$1 re=$2 secs=${3:-60} i
  for ((i = 0; i < secs * 10; i++)); do
    grep -qE "$re" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "--- $file" >&2; tail -20 "$file" >&2
  fail "no line matching '$re' in $file after ${secs}s"
}

psql_val() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$DB_URL" -c "$1"; }

# Short windows so that runs stay short; a budget that does not pace the tests.
export TETHER_SYNC_SALESFORCE_POLL_INTERVAL_MS=${TETHER_SYNC_SALESFORCE_POLL_INTERVAL_MS:-200}
export TETHER_SYNC_SALESFORCE_SAFETY_WINDOW_MS=${TETHER_SYNC_SALESFORCE_SAFETY_WINDOW_MS:-2000}
export TETHER_SYNC_SALESFORCE_RATE_BACKFILL=${TETHER_SYNC_SALESFORCE_RATE_BACKFILL:-200}
export TETHER_SYNC_SALESFORCE_RATE_STEADY=${TETHER_SYNC_SALESFORCE_RATE_STEADY:-100}
export TETHER_SYNC_SALESFORCE_DAILY_REQUEST_BUDGET=${TETHER_SYNC_SALESFORCE_DAILY_REQUEST_BUDGET:-100000000}
