# sync_tools/lib.sh - shared steps of the sync integration tests (source it
# after tests/harness/lib.sh). Every process started here is killed on exit.
#   emu_start ARGS...        start the Stripe emulator on a free port -> $EMU_URL
#   sync_start NAME ARGS...  start `tether sync` (log: $WORK/NAME.log) -> pid in SYNC_PID[NAME]
#   sync_kill NAME [SIG]     kill it (default TERM) and wait
#   tool ARGS...             run stripe_tool.py
#   wait_log FILE REGEX SECS wait until FILE has a line matching REGEX
PY=/usr/bin/python3
TOOL="$TETHER_SOURCE_DIR/tests/integration/sync_tools/stripe_tool.py"
WORK=$(mktemp -d /tmp/tether-synctest.XXXXXX)
cleanup_add "rm -rf '$WORK'"
declare -A SYNC_PID
DB_URL="$TETHER_TEST_DATABASE_URL"

emu_start() {
  "$TETHER_BIN" emulate stripe --listen 127.0.0.1:0 --port-file "$WORK/emu.port" "$@" \
    >"$WORK/emu.log" 2>&1 &
  local pid=$!
  cleanup_add "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
  local i
  for ((i = 0; i < 100; i++)); do [ -s "$WORK/emu.port" ] && break; sleep 0.1; done
  [ -s "$WORK/emu.port" ] || { cat "$WORK/emu.log" >&2; fail "emulator did not start"; }
  EMU_URL="http://127.0.0.1:$(cat "$WORK/emu.port")"
}

sync_start() {
  local name=$1; shift
  "$TETHER_BIN" sync --source stripe --api-key sk_test_tether --api-base "$EMU_URL" \
    --database "$DB_URL" --status-listen 127.0.0.1:0 "$@" >>"$WORK/$name.log" 2>&1 &
  SYNC_PID[$name]=$!
  cleanup_add "kill -9 ${SYNC_PID[$name]} 2>/dev/null; wait ${SYNC_PID[$name]} 2>/dev/null"
}

sync_kill() { # a TERM must end in a clean exit 0 (and no sanitizer report)
  stop_checked "tether sync ($1)" "${SYNC_PID[$1]}" "$WORK/$1.log" "${2:-TERM}"
}

tool() { "$PY" "$TOOL" "$@"; }

# wait_log and psql_val come from tests/harness/lib.sh

# The sync tests shorten the safety window and lease so that runs stay short.
export TETHER_SYNC_STRIPE_POLL_INTERVAL_MS=${TETHER_SYNC_STRIPE_POLL_INTERVAL_MS:-200}
export TETHER_SYNC_STRIPE_SAFETY_WINDOW_MS=${TETHER_SYNC_STRIPE_SAFETY_WINDOW_MS:-2000}
export TETHER_SYNC_STRIPE_RATE_BACKFILL=${TETHER_SYNC_STRIPE_RATE_BACKFILL:-200}
export TETHER_SYNC_STRIPE_RATE_STEADY=${TETHER_SYNC_STRIPE_RATE_STEADY:-100}
