#!/usr/bin/env bash
# proxy.sh - benchmark of the Postgres proxy (not a test): pgbench -S with 8
# and 64 clients in the simple, extended and prepared protocol modes, against
# Postgres directly, through `tether proxy` and through Debian's pgbouncer
# (session pooling), in one run on one private cluster; reported as ratios to
# direct. Then the resident memory of each proxy holding idle clients.
# Writes a markdown section to stdout. BENCH_SECONDS (default 10) per run,
# BENCH_IDLE_CLIENTS (default 10000). Like with like: tether's upstream hop is
# plain TCP (upstream_sslmode=disable), as pgbouncer's is by default, and both
# proxies run in session mode and connect upstream at a client's first query
# (tether: lazy_connect=on). BENCH_BEFORE_BIN, when set, adds a column for that
# binary (e.g. an older build) run as the previous benchmark did (upstream TLS
# by sslmode=prefer), measured in the same run. Beside each ratio: the proxy
# process's CPU time per transaction (utime+stime from /proc/PID/stat divided by
# pgbench's transactions), a machine-independent cost figure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
secs=${BENCH_SECONDS:-10}
idle=${BENCH_IDLE_CLIENTS:-10000}
bin=${TETHER_BIN:-$root/build/tether}
[ -x "$bin" ] || { echo "bench/proxy.sh: build first (make)" >&2; exit 1; }
before_bin=${BENCH_BEFORE_BIN:-}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
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
TETHER_PROXY_LAZY_CONNECT=on TETHER_PROXY_MAX_CLIENT_CONN=20000 \
"$bin" proxy --listen "127.0.0.1:$tport" --upstream "postgres://postgres:postgres@127.0.0.1:$pgport/bench?sslmode=disable" \
  --auth trust --users "$work/users.txt" >"$work/tether.log" 2>&1 &
tpid=$!; pids+=("$tpid")
wait_port "$tport"
if [ -n "$before_bin" ]; then
  oport=$(free_port)
  "$before_bin" proxy --listen "127.0.0.1:$oport" --upstream "postgres://postgres:postgres@127.0.0.1:$pgport/bench" \
    --auth trust --users "$work/users.txt" >"$work/tether-before.log" 2>&1 &
  opid=$!; pids+=("$opid")
  wait_port "$oport"
fi

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
if [ -n "$runas" ]; then
  # runuser's PAM session resets the open-files limit: raise it to the hard one.
  runuser -u "$runas" -- bash -c 'ulimit -n "$(ulimit -Hn)"; exec pgbouncer "$1"' _ "$work/pgbouncer.ini" >/dev/null 2>&1 &
else pgbouncer "$work/pgbouncer.ini" >/dev/null 2>&1 & fi
pids+=($!)
wait_port "$bport"
bpid=$(cat "$work/pgbouncer.pid")
pids+=("$bpid")


cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU of the Postgres backends: the live children of the postmaster plus the
# exited ones it has reaped (pgbouncer keeps its server connections open).
pg_child_ticks() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$1" '$4 == pm {t += $14 + $15} $1 == pm {t += $16 + $17} END {print t + 0}'
}
pmpid=$(head -n 1 "$TETHER_TEST_PG_DATADIR/postmaster.pid")
clk=$(getconf CLK_TCK)
# PORT CLIENTS MODE [PID]: prints "tps transactions proxy_us pg_us pgbench_us"
# (CPU µs per transaction of the proxy process, the Postgres backends, pgbench).
run() {
  local c0=0 c1=0 g0 g1 out
  [ -n "${4:-}" ] && c0=$(cpu_ticks "$4")
  g0=$(pg_child_ticks "$pmpid")
  out=$(PGPORT=$1 PGDATABASE=bench PGSSLMODE=disable /usr/bin/time -f "time %U %S" \
        pgbench -n -S -M "$3" -c "$2" -j 2 -T "$secs" 2>&1 || true)
  [ -n "${4:-}" ] && c1=$(cpu_ticks "$4")
  sleep 0.3 # let the backends exit and be reaped
  g1=$(pg_child_ticks "$pmpid")
  awk -v c="$((c1 - c0))" -v g="$((g1 - g0))" -v clk="$clk" \
    '/^tps = / {tps = int($3)} /actually processed/ {split($NF, a, "/"); n = a[1]} /^time / {b = $2 + $3}
    function us(t, scale) { return (n > 0 && t > 0) ? sprintf("%.1f", t * scale / n) : "-" }
    END { printf "%d %d %s %s %s\n", tps, n, us(c, 1e6 / clk), us(g, 1e6 / clk), us(b, 1e6) }' <<<"$out"
}
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }'; }
echo "## Proxy: pgbench -S (select-only), ${secs}s per run, scale 10"
echo
echo "tether: upstream_sslmode=disable, lazy_connect=on; pgbouncer: session mode, plain upstream."
echo "CPU µs/txn: the proxy process's user+system CPU per pgbench transaction."
[ -n "$before_bin" ] && echo "before: $before_bin with the previous benchmark's setup (upstream sslmode=prefer, so TLS to the server)."
echo
if [ -n "$before_bin" ]; then
  echo "| clients | mode | direct tps | tether tps | tether/direct | tether CPU µs/txn | before tps | before/direct | before CPU µs/txn | pgbouncer tps | pgbouncer/direct | pgbouncer CPU µs/txn |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
else
  echo "| clients | mode | direct tps | tether tps | tether/direct | tether CPU µs/txn | pgbouncer tps | pgbouncer/direct | pgbouncer CPU µs/txn |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
fi
cpu_rows=()
for c in 8 64; do
  for m in simple extended prepared; do
    read -r d _ _ dg db < <(run "$pgport" "$c" "$m")
    read -r t _ tc tg tb < <(run "$tport" "$c" "$m" "$tpid")
    read -r b _ bc bg bb < <(run "$bport" "$c" "$m" "$bpid")
    cpu_rows+=("$(awk -v c="$c" -v m="$m" -v dg="$dg" -v db="$db" -v tc="$tc" -v tg="$tg" -v tb="$tb" \
      -v bc="$bc" -v bg="$bg" -v bb="$bb" 'BEGIN {
        d = dg + db; t = tc + tg + tb; b = bc + bg + bb
        printf "| %s | %s | %s + %s = %.1f | %s + %s + %s = %.1f | %.2f | %s + %s + %s = %.1f | %.2f |", c, m,
          db, dg, d, tb, tg, tc, t, (t > 0 ? d / t : 0), bb, bg, bc, b, (b > 0 ? d / b : 0) }')")
    if [ -n "$before_bin" ]; then
      read -r o _ oc _ _ < <(run "$oport" "$c" "$m" "$opid")
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$c" "$m" "$d" \
        "$t" "$(ratio "$t" "$d")" "$tc" "$o" "$(ratio "$o" "$d")" "$oc" "$b" "$(ratio "$b" "$d")" "$bc"
    else
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$c" "$m" "$d" \
        "$t" "$(ratio "$t" "$d")" "$tc" "$b" "$(ratio "$b" "$d")" "$bc"
    fi
  done
done
echo
echo "CPU per transaction (µs; pgbench + Postgres backends [+ proxy]) and the ratio to direct"
echo "they imply when the machine's CPUs are the bottleneck (direct total / proxied total):"
echo
echo "| clients | mode | direct | tether | tether bound | pgbouncer | pgbouncer bound |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${cpu_rows[@]}"
echo

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
idle_run() { # NAME PORT PID N
  local before after got
  before=$(rss_kb "$3")
  base_backends=$(backends)
  touch "$work/hold"
  python3 "$here/idle_clients.py" 127.0.0.1 "$2" postgres bench "$4" "$work/hold" >"$work/idle-$1.out" 2>"$work/idle-$1.err" &
  local ipid=$!
  for ((i = 0; i < 600; i++)); do [ -s "$work/idle-$1.out" ] && break; sleep 0.2; done
  got=$(head -n 1 "$work/idle-$1.out")
  [ -n "$got" ] || { echo "idle clients for $1 failed:" >&2; cat "$work/idle-$1.err" >&2; tail -n 5 "$work/pgbouncer.log" >&2; }
  after=$(rss_kb "$3")
  local nb; nb=$(( $(backends) - base_backends ))
  rm -f "$work/hold"; wait "$ipid" || true
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$got" "$nb" "$((before / 1024))" "$((after / 1024))" \
    "$(awk -v a="$after" -v b="$before" -v n="${got:-0}" 'BEGIN{ if (n > 0) printf "%.1f", (a-b)/n; else print "-" }')"
}
backends() { psql -X -tA -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"; }
settle() { # wait until the previous run's upstream connections are gone
  for ((i = 0; i < 150; i++)); do [ "$(backends)" -le 80 ] && return 0; sleep 0.2; done
  echo "bench: $(backends) upstream connections still open 30 s after the idle clients left" >&2
}
echo "## Proxy: resident memory with idle clients"
echo
echo "$idle idle clients (startup + trust auth, then nothing), opened in batches of 250;"
echo "upstream backends counted in pg_stat_activity while they are held."
echo
echo "| proxy | idle clients connected | upstream backends meanwhile | RSS before (MiB) | RSS with them (MiB) | KiB per client |"
echo "| --- | --- | --- | --- | --- | --- |"
settle
idle_run tether "$tport" "$tpid" "$idle"
settle
idle_run pgbouncer "$bport" "$bpid" "$idle"
echo
