# sfwrite_tools/lib.sh - shared steps of the Salesforce write-through tests
# (source it after tests/harness/lib.sh). Every process started here is killed
# on exit.
#   sfw_setup [EMU ARGS...]  Salesforce emulator (seeded), `tether sync --source
#                            salesforce` until the backfill is done, and
#                            `tether proxy --source salesforce` -> $PX_URL
#   px SQL / px_err SQL / db SQL   as in write_tools/lib.sh
#   sf_get OBJECT ID         the record at the emulator (JSON)
#   sf_usage                 the emulator's API request counter (api-usage N)
. "$TETHER_SOURCE_DIR/tests/integration/sfsync_tools/lib.sh"

sfw_proxy_start() {
  PX_PORT=$(free_port)
  printf '"postgres" "postgres"\n' > "$WORK/users.txt"
  "$TETHER_BIN" proxy --listen "127.0.0.1:$PX_PORT" --upstream "$DB_URL" --auth trust \
    --users "$WORK/users.txt" --source salesforce --login-url "$EMU_URL" \
    --client-id tether-sf-client --client-secret tether-sf-secret \
    --username admin@tether.example --password tether-sf-password \
    "$@" >>"$WORK/proxy.log" 2>&1 &
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

sfw_setup() {
  sfemu_start --seed-accounts 3 --seed-contacts "${SFW_SEED_CONTACTS:-20}" "$@"
  sfsync_start s
  wait_log "$WORK/s.log" "event=sync.backfill_done" 90
  sfw_proxy_start
}

px() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$PX_URL" -c "$1"; }
px_err() {
  if psql -X -A -t -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$PX_URL" -c "$1" 2>"$WORK/err.txt" >/dev/null; then
    fail "expected an error from: $1"
  fi
  cat "$WORK/err.txt"
}
db() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$DB_URL" -c "$1"; }

sf_token() {
  curl -sf "$EMU_URL/services/oauth2/token" -d grant_type=password -d client_id=tether-sf-client \
    -d client_secret=tether-sf-secret -d username=admin@tether.example -d password=tether-sf-password |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
sf_get() { # OBJECT ID -> JSON of the record, or fails
  curl -sf --retry 30 --retry-delay 0 -H "Authorization: Bearer $(sf_token)" "$EMU_URL/services/data/v59.0/sobjects/$1/$2"
}
sf_field() { # OBJECT ID FIELD -> the field's value
  sf_get "$1" "$2" | "$PY" -c "import json,sys; v=json.load(sys.stdin).get('$3'); print('' if v is None else v)"
}
sf_usage() { # the api-usage counter (this call itself counts too)
  curl -sf -D - -o /dev/null -H "Authorization: Bearer $(sf_token)" "$EMU_URL/services/data/v59.0/limits" |
    sed -n 's/^[Ss]force-[Ll]imit-[Ii]nfo: *api-usage=\([0-9]*\).*/\1/p'
}

sfw_proxy_stop() { # TERM the proxy: a clean exit 0 and no sanitizer report
  local rc=0
  kill -TERM "$PX_PID" 2>/dev/null || true
  wait "$PX_PID" 2>/dev/null || rc=$?
  [ "$rc" -eq 0 ] || { tail -20 "$WORK/proxy.log" >&2; fail "tether proxy exited with $rc after SIGTERM"; }
  if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$WORK/proxy.log"; then
    grep -E -A30 "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$WORK/proxy.log" | head -50 >&2
    fail "sanitizer report in the proxy log"
  fi
}
