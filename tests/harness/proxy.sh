#!/usr/bin/env bash
# proxy.sh - starts or stops `tether proxy` on a free port in front of the test
# cluster (the database of the current test: PGHOST/PGPORT/PGDATABASE from
# with-pg.sh), for the real-client tests.
#
#   port=$(proxy.sh start STATE_DIR [--auth trust|md5|scram] [--tls])
#   proxy.sh stop STATE_DIR
#
# start writes STATE_DIR/{pid,port,users.txt,proxy.log} and, with --tls, a
# self-signed STATE_DIR/{cert.pem,key.pem} made with openssl; it prints the
# port once the proxy accepts connections. Clients log in as postgres with
# password postgres (the users file holds that user). The proxy connects
# upstream as postgres too, over the cluster's TCP port.
#
# With TETHER_TEST_DIRECT=1 nothing is started: start prints the cluster's own
# port, so the same tests can be checked against Postgres itself.
set -euo pipefail
cmd=${1:?usage: proxy.sh start|stop STATE_DIR [options]}
state=${2:?usage: proxy.sh start|stop STATE_DIR [options]}
shift 2

case "$cmd" in
start)
  mkdir -p "$state"
  if [ "${TETHER_TEST_DIRECT:-0}" = 1 ]; then
    echo "${PGPORT:?PGPORT not set}"
    exit 0
  fi
  auth=trust tls=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --auth) auth=$2; shift 2 ;;
      --tls) tls=1; shift ;;
      *) echo "proxy.sh: unknown option $1" >&2; exit 2 ;;
    esac
  done
  bin=${TETHER_BIN:?TETHER_BIN not set}
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  printf '"postgres" "postgres"\n' > "$state/users.txt"
  args=(proxy --listen "127.0.0.1:$port"
        --upstream "postgres://postgres:postgres@${PGHOST:-127.0.0.1}:${PGPORT:?}/${PGDATABASE:-postgres}"
        --auth "$auth" --users "$state/users.txt")
  if [ "$tls" = 1 ]; then
    openssl req -new -x509 -days 2 -nodes -subj "/CN=localhost" \
      -keyout "$state/key.pem" -out "$state/cert.pem" >/dev/null 2>&1
    args+=(--tls-cert "$state/cert.pem" --tls-key "$state/key.pem")
  fi
  "$bin" "${args[@]}" >"$state/proxy.log" 2>&1 &
  echo $! > "$state/pid"
  echo "$port" > "$state/port"
  for ((i = 0; i < 200; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; exit 0; fi
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      echo "proxy.sh: tether proxy exited:" >&2; cat "$state/proxy.log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "proxy.sh: tether proxy not listening on $port after 20s" >&2
  cat "$state/proxy.log" >&2
  kill "$(cat "$state/pid")" 2>/dev/null || true
  exit 1
  ;;
stop)
  if [ -f "$state/pid" ]; then
    pid=$(cat "$state/pid")
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$state/pid"
  fi
  ;;
*) echo "proxy.sh: unknown command $cmd" >&2; exit 2 ;;
esac
