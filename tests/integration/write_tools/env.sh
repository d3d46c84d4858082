#!/usr/bin/env bash
# env.sh start|stop STATE_DIR [stripe|salesforce] - the write-through fixture
# for the python, node and java tests and bench/writethrough.sh: the source's
# emulator (seeded), one `tether sync --source SOURCE` run until the backfill
# is done (then stopped, so the table changes only through the proxy), and
# `tether proxy --source SOURCE` in front of the test database
# (PGHOST/PGPORT/PGDATABASE from with-pg.sh). SOURCE defaults to stripe.
# start writes STATE_DIR/env (EMU_URL=..., PX_PORT=...) and prints it; the
# logs are STATE_DIR/{emu,sync,proxy}.log. stop kills what start left running.
set -euo pipefail
usage="usage: env.sh start|stop STATE_DIR [stripe|salesforce]"
cmd=${1:?$usage}
state=${2:?$usage}
source=${3:-stripe}
bin=${TETHER_BIN:?}
db_url="postgres://postgres:postgres@127.0.0.1:${PGPORT:?}/${PGDATABASE:?}"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# emulator_start: starts the emulator, sets $emu (its base URL) and the
# source's API arguments for sync and proxy ($api_args).
emulator_start() {
  local i
  case "$source" in
  stripe)
    "$bin" emulate stripe --listen 127.0.0.1:0 --port-file "$state/emu.port" \
      --seed-customers "${WT_SEED_CUSTOMERS:-6}" --seed-random 5 >"$state/emu.log" 2>&1 &
    echo $! > "$state/emu.pid"
    for ((i = 0; i < 100; i++)); do [ -s "$state/emu.port" ] && break; sleep 0.1; done
    [ -s "$state/emu.port" ] || { cat "$state/emu.log" >&2; exit 1; }
    emu="http://127.0.0.1:$(cat "$state/emu.port")"
    api_args=(--api-key sk_test_tether --api-base "$emu")
    sync_env=(TETHER_SYNC_STRIPE_POLL_INTERVAL_MS=200)
    ;;
  salesforce)
    "$bin" emulate salesforce --listen 127.0.0.1:0 --seed-accounts 3 \
      --seed-contacts "${SFW_SEED_CONTACTS:-170}" >"$state/emu.out" 2>"$state/emu.log" &
    echo $! > "$state/emu.pid"
    for ((i = 0; i < 100; i++)); do grep -q "listening on" "$state/emu.out" 2>/dev/null && break; sleep 0.1; done
    emu=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$state/emu.out" | head -1)
    [ -n "$emu" ] || { cat "$state/emu.log" >&2; exit 1; }
    api_args=(--login-url "$emu" --client-id tether-sf-client --client-secret tether-sf-secret
      --username admin@tether.example --password tether-sf-password)
    sync_env=(TETHER_SYNC_SALESFORCE_RATE_BACKFILL=200 TETHER_SYNC_SALESFORCE_DAILY_REQUEST_BUDGET=100000000)
    ;;
  *) echo "$usage" >&2; exit 2 ;;
  esac
}

case "$cmd" in
start)
  mkdir -p "$state"
  emulator_start
  env "${sync_env[@]}" "$bin" sync --source "$source" "${api_args[@]}" \
    --database "$db_url" --status-listen 127.0.0.1:0 >"$state/sync.log" 2>&1 &
  spid=$!
  for ((i = 0; i < 900; i++)); do
    grep -q "event=sync.backfill_done" "$state/sync.log" && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null || true
  grep -q "event=sync.backfill_done" "$state/sync.log" || { tail "$state/sync.log" >&2; exit 1; }
  pport=$(port)
  printf '"postgres" "postgres"\n' > "$state/users.txt"
  "$bin" proxy --listen "127.0.0.1:$pport" --upstream "$db_url" --auth scram --users "$state/users.txt" \
    --source "$source" "${api_args[@]}" >"$state/proxy.log" 2>&1 &
  echo $! > "$state/proxy.pid"
  for ((i = 0; i < 300; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$pport") 2>/dev/null && break
    kill -0 "$(cat "$state/proxy.pid")" 2>/dev/null || { cat "$state/proxy.log" >&2; exit 1; }
    sleep 0.1
  done
  printf 'EMU_URL=%s\nPX_PORT=%s\n' "$emu" "$pport" | tee "$state/env"
  ;;
stop)
  for f in proxy emu; do
    if [ -f "$state/$f.pid" ]; then
      pid=$(cat "$state/$f.pid")
      kill "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$state/$f.pid"
    fi
  done
  ;;
*) echo "$usage" >&2; exit 2 ;;
esac
