# write_tools/px.sh - the source-independent steps of the write-through shell
# tests, sourced by write_tools/lib.sh (Stripe) and sfwrite_tools/lib.sh
# (Salesforce) after tests/harness/lib.sh. Every process started here is
# killed on exit.
#   px_proxy_start SOURCE ARGS...  `tether proxy --source SOURCE ARGS...` in
#                                  front of $DB_URL (trust auth) -> $PX_URL
#   px_proxy_stop                  TERM the proxy; fail unless it exits 0 with
#                                  no sanitizer report in its log
#   px SQL                         run SQL through the proxy (psql -A -t), stop on error
#   px_err SQL                     run SQL through the proxy, expect an error; prints stderr
#   db SQL                         run SQL directly on the database (as postgres)

px_proxy_start() {
  local source=$1
  shift
  PX_PORT=$(free_port)
  printf '"postgres" "postgres"\n' > "$WORK/users.txt"
  "$TETHER_BIN" proxy --listen "127.0.0.1:$PX_PORT" --upstream "$DB_URL" --auth trust \
    --users "$WORK/users.txt" --source "$source" "$@" >>"$WORK/proxy.log" 2>&1 &
  PX_PID=$!
  cleanup_add "kill $PX_PID 2>/dev/null; wait $PX_PID 2>/dev/null"
  local i
  for ((i = 0; i < 300; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PX_PORT") 2>/dev/null; then break; fi
    kill -0 "$PX_PID" 2>/dev/null || { cat "$WORK/proxy.log" >&2; fail "proxy exited"; }
    sleep 0.1
  done
  PX_URL="postgres://postgres:postgres@127.0.0.1:$PX_PORT/${PGDATABASE}?sslmode=disable"
  export PX_URL PX_PORT
}

px_proxy_stop() {
  local rc=0
  kill -TERM "$PX_PID" 2>/dev/null || true
  wait "$PX_PID" 2>/dev/null || rc=$?
  [ "$rc" -eq 0 ] || { tail -20 "$WORK/proxy.log" >&2; fail "tether proxy exited with $rc after SIGTERM"; }
  if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$WORK/proxy.log"; then
    grep -E -A30 "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$WORK/proxy.log" | head -50 >&2
    fail "sanitizer report in the proxy log"
  fi
}

px() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$PX_URL" -c "$1"; }
px_err() {
  if psql -X -A -t -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$PX_URL" -c "$1" 2>"$WORK/err.txt" >/dev/null; then
    fail "expected an error from: $1"
  fi
  cat "$WORK/err.txt"
}
db() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$DB_URL" -c "$1"; }
