# lib.sh - helpers for shell tests: source it, then use these functions.
#   free_port               prints a free TCP port on 127.0.0.1
#   wait_port PORT [SECS]   waits until 127.0.0.1:PORT accepts connections
#   fail MESSAGE            prints "FAIL: MESSAGE" and exits 1
#   assert_eq WANT GOT MSG  fails unless WANT = GOT
#   cleanup_add CMD         runs CMD (eval'd) when the test exits, in reverse order
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
