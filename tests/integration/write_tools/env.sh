#!/usr/bin/env bash
# env.sh start|stop STATE_DIR - the write-through fixture for the python,
# node and java tests: the Stripe emulator (seeded), one `tether sync` run
# until the backfill is done (then stopped, so the table changes only
# through the proxy), and `tether proxy --source stripe` in front of the
# test database (PGHOST/PGPORT/PGDATABASE from with-pg.sh).
# start writes STATE_DIR/env (EMU_URL=..., PX_PORT=...) and prints it.
set -euo pipefail
cmd=${1:?usage: env.sh start|stop STATE_DIR}
state=${2:?usage: env.sh start|stop STATE_DIR}
bin=${TETHER_BIN:?}
db_url="postgres://postgres:postgres@127.0.0.1:${PGPORT:?}/${PGDATABASE:?}"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
case "$cmd" in
start)
  mkdir -p "$state"
  "$bin" emulate stripe --listen 127.0.0.1:0 --port-file "$state/emu.port" \
    --seed-customers "${WT_SEED_CUSTOMERS:-6}" --seed-random 5 >"$state/emu.log" 2>&1 &
  echo $! > "$state/emu.pid"
  for ((i = 0; i < 100; i++)); do [ -s "$state/emu.port" ] && break; sleep 0.1; done
  [ -s "$state/emu.port" ] || { cat "$state/emu.log" >&2; exit 1; }
  emu="http://127.0.0.1:$(cat "$state/emu.port")"
  TETHER_SYNC_STRIPE_POLL_INTERVAL_MS=200 "$bin" sync --source stripe --api-key sk_test_tether \
    --api-base "$emu" --database "$db_url" --status-listen 127.0.0.1:0 >"$state/sync.log" 2>&1 &
  spid=$!
  for ((i = 0; i < 600; i++)); do
    grep -q "event=sync.backfill_done" "$state/sync.log" && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null || true
  grep -q "event=sync.backfill_done" "$state/sync.log" || { tail "$state/sync.log" >&2; exit 1; }
  pport=$(port)
  printf '"postgres" "postgres"\n' > "$state/users.txt"
  "$bin" proxy --listen "127.0.0.1:$pport" --upstream "$db_url" --auth scram --users "$state/users.txt" \
    --source stripe --api-key sk_test_tether --api-base "$emu" >"$state/proxy.log" 2>&1 &
  echo $! > "$state/proxy.pid"
  for ((i = 0; i < 200; i++)); do
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
esac
