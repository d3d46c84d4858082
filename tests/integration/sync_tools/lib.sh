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

tool() { "$PY" "$TOOL" "$@"; }

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

# The sync tests shorten the safety window and lease so that runs stay short.
export TETHER_SYNC_STRIPE_POLL_INTERVAL_MS=${TETHER_SYNC_STRIPE_POLL_INTERVAL_MS:-200}
export TETHER_SYNC_STRIPE_SAFETY_WINDOW_MS=${TETHER_SYNC_STRIPE_SAFETY_WINDOW_MS:-2000}
export TETHER_SYNC_STRIPE_RATE_BACKFILL=${TETHER_SYNC_STRIPE_RATE_BACKFILL:-200}
export TETHER_SYNC_STRIPE_RATE_STEADY=${TETHER_SYNC_STRIPE_RATE_STEADY:-100}
