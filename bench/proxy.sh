#!/usr/bin/env bash
# proxy.sh - benchmark of the Postgres proxy (not a test): pgbench -S with 8
# and 64 clients in the simple, extended and prepared protocol modes, against
# Postgres directly, through `tether proxy` and through Debian's pgbouncer
# (session pooling), in one run on one private cluster; reported as ratios to
# direct. Then the resident memory of each proxy holding idle clients.
# Writes a markdown section to stdout. BENCH_SECONDS (default 10) per run,
# BENCH_IDLE_CLIENTS (default 10000, capped by what the upstream admits).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
secs=${BENCH_SECONDS:-10}
idle=${BENCH_IDLE_CLIENTS:-10000}
bin=${TETHER_BIN:-$root/build/tether}
[ -x "$bin" ] || { echo "bench/proxy.sh: build first (make)" >&2; exit 1; }
work=$(mktemp -d /tmp/tether-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  rm -f "$work/hold"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  "$root/tests/harness/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for ((i = 0; i < 100; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

"$root/tests/harness/pg.sh" start "$work/pg" >/dev/null
# shellcheck disable=SC1091
. "$work/pg/env"
pgport=$PGPORT
psql -X -q -d postgres -c "CREATE DATABASE bench"
PGDATABASE=bench pgbench -i -q -s 10 >/dev/null 2>&1
max_conn=$(psql -X -tA -d postgres -c "SHOW max_connections")

# tether proxy, trust for clients, upstream with the cluster's SCRAM password
tport=$(free_port)
printf '"postgres" "postgres"\n' > "$work/users.txt"
"$bin" proxy --listen "127.0.0.1:$tport" --upstream "postgres://postgres:postgres@127.0.0.1:$pgport/bench" \
  --auth trust --users "$work/users.txt" >"$work/tether.log" 2>&1 &
tpid=$!; pids+=("$tpid")
wait_port "$tport"

# pgbouncer (refuses to run as root: run it as the cluster's user)
bport=$(free_port)
cat > "$work/pgbouncer.ini" <<INI
[databases]
bench = host=127.0.0.1 port=$pgport user=postgres password=postgres dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $work/users.txt
pool_mode = session
max_client_conn = 20000
default_pool_size = $((max_conn - 20))
max_db_connections = $((max_conn - 20))
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
chmod 644 "$work/pgbouncer.ini" "$work/users.txt"
runas=${TETHER_TEST_PG_RUNAS:-}
if [ -n "$runas" ]; then chown "$runas" "$work"; fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ -n "$runas" ]; then
  # runuser's PAM session resets the open-files limit: raise it to the hard one.
  runuser -u "$runas" -- bash -c 'ulimit -n "$(ulimit -Hn)"; exec pgbouncer "$1"' _ "$work/pgbouncer.ini" >/dev/null 2>&1 &
else pgbouncer "$work/pgbouncer.ini" >/dev/null 2>&1 & fi
pids+=($!)
wait_port "$bport"
bpid=$(cat "$work/pgbouncer.pid")
pids+=("$bpid")


tps() { # PORT CLIENTS MODE
  PGPORT=$1 PGDATABASE=bench PGSSLMODE=disable pgbench -n -S -M "$3" -c "$2" -j 2 -T "$secs" 2>/dev/null \
    | awk '/^tps = / {print int($3)}'
}
echo "## Proxy: pgbench -S (select-only), ${secs}s per run, scale 10"
echo
echo "| clients | mode | direct tps | tether tps | tether/direct | pgbouncer tps | pgbouncer/direct |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for c in 8 64; do
  for m in simple extended prepared; do
    d=$(tps "$pgport" "$c" "$m"); t=$(tps "$tport" "$c" "$m"); b=$(tps "$bport" "$c" "$m")
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$c" "$m" "$d" "$t" \
      "$(awk -v a="${t:-0}" -v b="${d:-0}" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }')" "$b" \
      "$(awk -v a="${b:-0}" -v b="${d:-0}" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }')"
  done
done
echo

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
idle_run() { # NAME PORT PID N
  local before after got
  before=$(rss_kb "$3")
  touch "$work/hold"
  python3 "$here/idle_clients.py" 127.0.0.1 "$2" postgres bench "$4" "$work/hold" >"$work/idle-$1.out" 2>"$work/idle-$1.err" &
  local ipid=$!
  for ((i = 0; i < 600; i++)); do [ -s "$work/idle-$1.out" ] && break; sleep 0.2; done
  got=$(head -n 1 "$work/idle-$1.out")
  [ -n "$got" ] || { echo "idle clients for $1 failed:" >&2; cat "$work/idle-$1.err" >&2; tail -n 5 "$work/pgbouncer.log" >&2; }
  after=$(rss_kb "$3")
  rm -f "$work/hold"; wait "$ipid" || true
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$got" "$((before / 1024))" "$((after / 1024))" \
    "$(awk -v a="$after" -v b="$before" -v n="${got:-0}" 'BEGIN{ if (n > 0) printf "%.1f", (a-b)/n; else print "-" }')"
}
# Each tether client session holds an upstream connection from login on, so
# tether's idle clients are bounded by the cluster's max_connections;
# pgbouncer logs clients in without a server connection and gets all of them.
n=$idle
[ "$n" -gt $((max_conn - 100)) ] && n=$((max_conn - 100))
echo "## Proxy: resident memory with idle clients"
echo
echo "Asked for $idle idle clients (startup + auth, then idle). tether holds one upstream"
echo "connection per client from login on, so it is capped at $n by the bench cluster's"
echo "max_connections=$max_conn; pgbouncer (session mode) gets all $idle."
echo
echo "| proxy | idle clients connected | RSS before (MiB) | RSS with them (MiB) | KiB per client |"
echo "| --- | --- | --- | --- | --- |"
backends() { psql -X -tA -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"; }
settle() { # wait until the previous run's upstream connections are gone
  for ((i = 0; i < 150; i++)); do [ "$(backends)" -le 80 ] && return 0; sleep 0.2; done
  echo "bench: $(backends) upstream connections still open 30 s after the idle clients left" >&2
}
settle
idle_run tether "$tport" "$tpid" "$n"
settle
idle_run pgbouncer "$bport" "$bpid" "$idle"
echo
