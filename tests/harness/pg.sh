#!/usr/bin/env bash
# pg.sh - starts or stops a private, throwaway PostgreSQL cluster for tests.
#
#   pg.sh start STATE_DIR    initdb + start on a free port; writes STATE_DIR/env
#   pg.sh stop STATE_DIR     stop it and delete its data directory
#   pg.sh restart STATE_DIR  restart it (same port and data)
#
# As root, the server runs as an unprivileged user (postgres, else nobody),
# because PostgreSQL refuses to run as root. The superuser is "postgres" with
# password "postgres"; TCP connections need SCRAM-SHA-256, TLS is on (self-
# signed certificate), so clients can test both paths. STATE_DIR/env exports
# PGHOST, PGPORT, PGUSER, PGPASSWORD, TETHER_TEST_ADMIN_URL and the paths.
set -euo pipefail

cmd=${1:?usage: pg.sh start|stop|restart STATE_DIR}
state=${2:?usage: pg.sh start|stop|restart STATE_DIR}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/initdb" ] || { echo "pg.sh: no PostgreSQL server found (run scripts/install-deps.sh)" >&2; exit 1; }

runas=""
if [ "$(id -u)" -eq 0 ]; then
  if id postgres >/dev/null 2>&1; then runas=postgres; else runas=nobody; fi
fi
as_pg() { if [ -n "$runas" ]; then runuser -u "$runas" -- "$@"; else "$@"; fi; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

stop_cluster() {
  if [ -f "$state/env" ]; then
    # shellcheck disable=SC1091
    . "$state/env"
    if [ -d "${TETHER_TEST_PG_DATADIR:-}" ]; then
      as_pg "$bindir/pg_ctl" -D "$TETHER_TEST_PG_DATADIR" -m immediate -w stop >/dev/null 2>&1 || true
      rm -rf "$(dirname "$TETHER_TEST_PG_DATADIR")"
    fi
    rm -f "$state/env"
  fi
}

case "$cmd" in
start)
  mkdir -p "$state"
  stop_cluster
  top=$(mktemp -d /tmp/tether-pg.XXXXXX)
  chmod 755 "$top"
  data="$top/data"
  port=$(free_port)
  echo postgres > "$top/pwfile"
  [ -n "$runas" ] && chown -R "$runas" "$top"
  as_pg "$bindir/initdb" -D "$data" -U postgres --pwfile="$top/pwfile" -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 >"$top/initdb.log" 2>&1 \
    || { cat "$top/initdb.log" >&2; exit 1; }
  openssl req -new -x509 -days 30 -nodes -subj "/CN=localhost" \
    -keyout "$data/server.key" -out "$data/server.crt" >/dev/null 2>&1
  chmod 600 "$data/server.key"
  [ -n "$runas" ] && chown "$runas" "$data/server.key" "$data/server.crt"
  cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$top'
max_connections = 400
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
ssl = on
log_min_messages = warning
password_encryption = 'scram-sha-256'
CONF
  as_pg "$bindir/pg_ctl" -D "$data" -l "$top/server.log" -w -t 60 start >/dev/null \
    || { cat "$top/server.log" >&2; exit 1; }
  cat > "$state/env" <<ENV
export PGHOST=127.0.0.1
export PGPORT=$port
export PGUSER=postgres
export PGPASSWORD=postgres
export PGSSLMODE=disable
export TETHER_TEST_PG_HOST=127.0.0.1
export TETHER_TEST_PG_PORT=$port
export TETHER_TEST_PG_BINDIR=$bindir
export TETHER_TEST_PG_DATADIR=$data
export TETHER_TEST_PG_SOCKETDIR=$top
export TETHER_TEST_PG_RUNAS=$runas
export TETHER_TEST_ADMIN_URL=postgres://postgres:postgres@127.0.0.1:$port/postgres
ENV
  echo "pg.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($data)"
  ;;
stop)
  stop_cluster
  echo "pg.sh: stopped"
  ;;
restart)
  # shellcheck disable=SC1091
  . "$state/env"
  as_pg "$bindir/pg_ctl" -D "$TETHER_TEST_PG_DATADIR" -l "$TETHER_TEST_PG_SOCKETDIR/server.log" \
    -m fast -w -t 60 restart >/dev/null
  ;;
*)
  echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
