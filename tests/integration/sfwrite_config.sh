#!/usr/bin/env bash
# sfwrite_config.sh - `tether proxy` finds its Salesforce credentials in a
# configuration file's [sync.salesforce] section and in
# TETHER_SYNC_SALESFORCE_* variables, not only in flags; wrong credentials
# stop the proxy at start with a clear error instead of failing each write.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/sfwrite_tools/lib.sh"
sfemu_start --seed-accounts 2 --seed-contacts 5
sfsync_start s
wait_log "$WORK/s.log" "event=sync.backfill_done" 90
sfsync_kill s
cid=$(db "SELECT id FROM salesforce.contact WHERE NOT is_deleted ORDER BY id LIMIT 1")
printf '"postgres" "postgres"\n' > "$WORK/users.txt"

start_proxy() { # start_proxy LOG ARGS... (env from the caller) -> PX_URL
  local log=$1; shift
  PX_PORT=$(free_port)
  "$TETHER_BIN" proxy --listen "127.0.0.1:$PX_PORT" --upstream "$DB_URL" --auth trust \
    --users "$WORK/users.txt" "$@" >>"$log" 2>&1 &
  PX_PID=$!
  cleanup_add "kill $PX_PID 2>/dev/null; wait $PX_PID 2>/dev/null"
  local i
  for ((i = 0; i < 300; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PX_PORT") 2>/dev/null; then break; fi
    kill -0 "$PX_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  PX_URL="postgres://postgres:postgres@127.0.0.1:$PX_PORT/${PGDATABASE}?sslmode=disable"
}

# 1. a configuration file
cat > "$WORK/tether.ini" <<INI
[sync.salesforce]
source = salesforce
login_url = $EMU_URL
client_id = tether-sf-client
client_secret = tether-sf-secret
username = admin@tether.example
password = tether-sf-password
INI
WORK_LOG="$WORK/proxy.log"
start_proxy "$WORK_LOG" -c "$WORK/tether.ini" || { cat "$WORK_LOG" >&2; fail "proxy (config file) did not start"; }
px "UPDATE salesforce.contact SET title = 'From config' WHERE id = '$cid'" >/dev/null
assert_eq "From config" "$(sf_field Contact "$cid" Title)" "write with the config file's credentials"
px_proxy_stop

# 2. variables only, with --source
TETHER_SYNC_SALESFORCE_LOGIN_URL=$EMU_URL TETHER_SYNC_SALESFORCE_CLIENT_ID=tether-sf-client \
TETHER_SYNC_SALESFORCE_CLIENT_SECRET=tether-sf-secret TETHER_SYNC_SALESFORCE_USERNAME=admin@tether.example \
TETHER_SYNC_SALESFORCE_PASSWORD=tether-sf-password \
  start_proxy "$WORK_LOG" --source salesforce || { cat "$WORK_LOG" >&2; fail "proxy (variables) did not start"; }
px "UPDATE salesforce.contact SET title = 'From env' WHERE id = '$cid'" >/dev/null
assert_eq "From env" "$(sf_field Contact "$cid" Title)" "write with the variables' credentials"
px_proxy_stop
! grep -q "tether-sf-password\|tether-sf-secret" "$WORK_LOG" || fail "a secret is in the proxy's log"

# 3. a wrong password: the proxy does not start, and says why
if start_proxy "$WORK/bad.log" --source salesforce --login-url "$EMU_URL" --client-id tether-sf-client \
    --client-secret tether-sf-secret --username admin@tether.example --password Wr0ngPa55; then
  fail "proxy started with a wrong password"
fi
wait "$PX_PID" 2>/dev/null && fail "proxy exited 0 with a wrong password"
grep -qi "authentication failure\|invalid_grant" "$WORK/bad.log" || { cat "$WORK/bad.log" >&2; fail "no login error in the log"; }
! grep -q "Wr0ngPa55" "$WORK/bad.log" || fail "the password is in the log"
echo "PASS sfwrite_config"
