# write_tools/lib.sh - shared steps of the write-through tests (source it
# after tests/harness/lib.sh). Every process started here is killed on exit.
#   wt_setup [EMU ARGS...]   emulator (seeded), `tether sync` until the backfill
#                            is done, and `tether proxy --source stripe` -> $PX_URL
#   px SQL                   run SQL through the proxy with psql (-A -t), stop on error
#   px_err SQL               run SQL through the proxy, expect an error; prints stderr
#   db SQL                   run SQL directly on the database (as postgres)
#   emu_count_email EMAIL    customers at the emulator with that email
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"

wt_proxy_start() {
  PX_PORT=$(free_port)
  printf '"postgres" "postgres"\n' > "$WORK/users.txt"
  "$TETHER_BIN" proxy --listen "127.0.0.1:$PX_PORT" --upstream "$DB_URL" --auth trust \
    --users "$WORK/users.txt" --source stripe --api-key sk_test_tether --api-base "$EMU_URL" \
    "$@" >>"$WORK/proxy.log" 2>&1 &
  PX_PID=$!
  cleanup_add "kill $PX_PID 2>/dev/null; wait $PX_PID 2>/dev/null"
  local i
  for ((i = 0; i < 200; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PX_PORT") 2>/dev/null; then break; fi
    kill -0 "$PX_PID" 2>/dev/null || { cat "$WORK/proxy.log" >&2; fail "proxy exited"; }
    sleep 0.1
  done
  PX_URL="postgres://postgres:postgres@127.0.0.1:$PX_PORT/${PGDATABASE}?sslmode=disable"
  export PX_URL PX_PORT
}

wt_setup() {
  emu_start --seed-customers "${WT_SEED_CUSTOMERS:-5}" --seed-random 3 "$@"
  sync_start s
  wait_log "$WORK/s.log" "event=sync.backfill_done" 60
  wt_proxy_start
}

px() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$PX_URL" -c "$1"; }
px_err() {
  if psql -X -A -t -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$PX_URL" -c "$1" 2>"$WORK/err.txt" >/dev/null; then
    fail "expected an error from: $1"
  fi
  cat "$WORK/err.txt"
}
db() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$DB_URL" -c "$1"; }
emu_count_email() {
  curl -sf -u sk_test_tether: "$EMU_URL/v1/customers?limit=100&email=$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))'
}
emu_customer() { curl -sf -u sk_test_tether: "$EMU_URL/v1/customers/$1"; }
