# lib.sh - helpers for shell tests: source it, then use these functions.
#   free_port               prints a free TCP port on 127.0.0.1
#   wait_port PORT [SECS]   waits until 127.0.0.1:PORT accepts connections
#   fail MESSAGE            prints "FAIL: MESSAGE" and exits 1
#   assert_eq WANT GOT MSG  fails unless WANT = GOT
#   cleanup_add CMD         runs CMD (eval'd) when the test exits, in reverse order
#   wait_log FILE RE [SECS] waits until FILE has a line matching the regex RE
#   psql_val SQL            one value from $DB_URL (unaligned, tuples only)
#   stop_checked WHAT PID LOG [SIG]
#                           sends SIG (TERM) to PID and waits; after TERM the exit
#                           must be 0, and LOG must hold no sanitizer report
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
  local port=$1 secs=${2:-20} i
  for ((i = 0; i < secs * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "FAIL: nothing listening on 127.0.0.1:$port after ${secs}s" >&2
  return 1
}
fail() { echo "FAIL: $*" >&2; exit 1; }
assert_eq() { [ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"; }
_cleanups=()
cleanup_add() { _cleanups+=("$1"); }
_run_cleanups() {
  local i
  for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" || true; done
}
trap _run_cleanups EXIT

wait_log() {
  local file=$1 re=$2 secs=${3:-60} i
  for ((i = 0; i < secs * 10; i++)); do
    grep -qE "$re" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "--- $file" >&2; tail -20 "$file" >&2
  fail "no line matching '$re' in $file after ${secs}s"
}
# wait_log_count FILE REGEX N [SECS]: until FILE has N lines matching REGEX.
wait_log_count() {
  local file=$1 re=$2 want=$3 secs=${4:-60} i n=0
  for ((i = 0; i < secs * 10; i++)); do
    n=$(grep -cE "$re" "$file" 2>/dev/null || true); n=${n:-0}
    [ "$n" -ge "$want" ] && return 0
    sleep 0.1
  done
  echo "--- $file" >&2; tail -20 "$file" >&2
  fail "$n of $want lines matching '$re' in $file after ${secs}s"
}
psql_val() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$DB_URL" -c "$1"; }
stop_checked() {
  local what=$1 pid=$2 log=$3 sig=${4:-TERM} rc=0
  kill -"$sig" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || rc=$?
  if [ "$sig" = TERM ] && [ "$rc" -ne 0 ]; then
    tail -30 "$log" >&2
    fail "$what exited with $rc after SIGTERM"
  fi
  if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$log"; then
    grep -E -A20 "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$log" | head -40 >&2
    fail "sanitizer report in $log"
  fi
  return 0
}
