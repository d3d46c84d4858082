#!/usr/bin/env bash
# proxy.sh - benchmark of the Postgres proxy (not a test): pgbench -S with 8
# and 64 clients in the simple, extended and prepared protocol modes, against
# Postgres directly, through `tether proxy` and through Debian's pgbouncer
# (session pooling), in one run on one private cluster; reported as ratios to
# direct. Then the added latency per round trip (1 client), then the resident
# memory of each proxy holding idle clients.
# Writes a markdown section to stdout. BENCH_SECONDS (default 5) per pgbench
# run, BENCH_REPEAT (default 3) rounds of every cell, interleaved (direct,
# tether, pgbouncer for one cell, then the next cell), medians reported;
# BENCH_IDLE_CLIENTS (default 10000).
# Like with like: tether's upstream hop is plain TCP (upstream_sslmode=disable),
# as pgbouncer's is by default; both proxies connect upstream at a client's
# first query (tether: lazy_connect=on, the default) and keep a leaving
# client's upstream connection for the next client (pgbouncer's session pool;
# tether: server_idle_timeout=600, pgbouncer's default server_idle_timeout).
# BENCH_BEFORE_BIN, when set, adds a column for that binary (e.g. an older
# build) run with the same settings, measured in the same run. Beside each
# ratio: CPU time per transaction of the proxy process (utime+stime from
# /proc/PID/stat divided by pgbench's transactions), of the Postgres backends
# and of pgbench: machine-independent cost figures.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
secs=${BENCH_SECONDS:-5}
repeat=${BENCH_REPEAT:-3}
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
export TETHER_PROXY_LAZY_CONNECT=on TETHER_PROXY_SERVER_IDLE_TIMEOUT=600 TETHER_PROXY_MAX_CLIENT_CONN=20000
"$bin" proxy --listen "127.0.0.1:$tport" --upstream "postgres://postgres:postgres@127.0.0.1:$pgport/bench?sslmode=disable" \
  --auth trust --users "$work/users.txt" >"$work/tether.log" 2>&1 &
tpid=$!; pids+=("$tpid")
wait_port "$tport"
if [ -n "$before_bin" ]; then
  oport=$(free_port)
  "$before_bin" proxy --listen "127.0.0.1:$oport" --upstream "postgres://postgres:postgres@127.0.0.1:$pgport/bench?sslmode=disable" \
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
# exited ones it has reaped.
pg_child_ticks() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$1" '$4 == pm {t += $14 + $15} $1 == pm {t += $16 + $17} END {print t + 0}'
}
pmpid=$(head -n 1 "$TETHER_TEST_PG_DATADIR/postmaster.pid")
clk=$(getconf CLK_TCK)
# PORT CLIENTS MODE [PID]: prints "tps latency_ms proxy_us pg_us pgbench_us"
# (CPU µs per transaction of the proxy process, the Postgres backends, pgbench).
run() {
  local c0=0 c1=0 g0 g1 out
  [ -n "${4:-}" ] && c0=$(cpu_ticks "$4")
  g0=$(pg_child_ticks "$pmpid")
  out=$(PGPORT=$1 PGDATABASE=bench PGSSLMODE=disable /usr/bin/time -f "time %U %S" \
        pgbench -n -S -M "$3" -c "$2" -j 2 -T "$secs" 2>&1 || true)
  [ -n "${4:-}" ] && c1=$(cpu_ticks "$4")
  sleep 0.3 # let exited backends be reaped
  g1=$(pg_child_ticks "$pmpid")
  awk -v c="$((c1 - c0))" -v g="$((g1 - g0))" -v clk="$clk" -v proxied="${4:+1}" \
    '/^tps = / {tps = int($3)} /^latency average/ {lat = $4} /actually processed/ {split($NF, a, "/"); n = a[1]} /^time / {b = $2 + $3}
    function us(t, scale) { return (n > 0 && t > 0) ? sprintf("%.1f", t * scale / n) : "0" }
    END { printf "%d %s %s %s %s\n", tps, (lat == "" ? "0" : lat), (proxied ? us(c, 1e6 / clk) : "0"), us(g, 1e6 / clk), us(b, 1e6) }' <<<"$out"
}
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }'; }
# median of the numbers given as arguments
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# results: R[target,clients,mode,field] = space-separated values, one per round
declare -A R
record() { # TARGET CLIENTS MODE "tps lat proxy pg pgbench"
  local f=(tps lat px pg pb) v i=0
  for v in $4; do R[$1,$2,$3,${f[$i]}]+="$v "; i=$((i + 1)); done
}
med() { # TARGET CLIENTS MODE FIELD
  # shellcheck disable=SC2086
  median ${R[$1,$2,$3,$4]}
}
targets=(direct tether pgbouncer)
[ -n "$before_bin" ] && targets+=(before)
port_of() { case $1 in direct) echo "$pgport" ;; tether) echo "$tport" ;; pgbouncer) echo "$bport" ;; before) echo "$oport" ;; esac; }
pid_of() { case $1 in direct) echo "" ;; tether) echo "$tpid" ;; pgbouncer) echo "$bpid" ;; before) echo "$opid" ;; esac; }
cells=("8 simple" "8 extended" "8 prepared" "64 simple" "64 extended" "64 prepared" "1 prepared")
for ((r = 1; r <= repeat; r++)); do
  for cell in "${cells[@]}"; do
    read -r c m <<<"$cell"
    for t in "${targets[@]}"; do
      record "$t" "$c" "$m" "$(run "$(port_of "$t")" "$c" "$m" "$(pid_of "$t")")"
    done
  done
done

echo "## Proxy: pgbench -S (select-only), scale 10, ${secs}s per run, median of $repeat interleaved rounds"
echo
echo "tether: upstream_sslmode=disable, lazy_connect=on, server_idle_timeout=600;"
echo "pgbouncer: session mode, plain upstream (its defaults otherwise)."
echo "CPU µs/txn: the proxy process's user+system CPU per pgbench transaction."
[ -n "$before_bin" ] && echo "before: $before_bin with the same settings."
echo
hdr="| clients | mode | direct tps | tether tps | tether/direct | tether CPU µs/txn | pgbouncer tps | pgbouncer/direct | pgbouncer CPU µs/txn |"
sep="| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
if [ -n "$before_bin" ]; then hdr+=" before tps | before/direct | before CPU µs/txn |"; sep+=" --- | --- | --- |"; fi
echo "$hdr"; echo "$sep"
for cell in "${cells[@]:0:6}"; do
  read -r c m <<<"$cell"
  d=$(med direct "$c" "$m" tps); t=$(med tether "$c" "$m" tps); b=$(med pgbouncer "$c" "$m" tps)
  line="| $c | $m | $d | $t | $(ratio "$t" "$d") | $(med tether "$c" "$m" px) | $b | $(ratio "$b" "$d") | $(med pgbouncer "$c" "$m" px) |"
  if [ -n "$before_bin" ]; then
    o=$(med before "$c" "$m" tps); line+=" $o | $(ratio "$o" "$d") | $(med before "$c" "$m" px) |"
  fi
  echo "$line"
done
echo
echo "Every round's tps, tether/direct and pgbouncer/direct (the spread is the machine's noise):"
echo
echo "| clients | mode | tether/direct per round | pgbouncer/direct per round |"
echo "| --- | --- | --- | --- |"
for cell in "${cells[@]:0:6}"; do
  read -r c m <<<"$cell"
  read -ra dv <<<"${R[direct,$c,$m,tps]}"; read -ra tv <<<"${R[tether,$c,$m,tps]}"; read -ra bv <<<"${R[pgbouncer,$c,$m,tps]}"
  tr=""; br=""
  for ((i = 0; i < ${#dv[@]}; i++)); do tr+="$(ratio "${tv[$i]}" "${dv[$i]}") "; br+="$(ratio "${bv[$i]}" "${dv[$i]}") "; done
  echo "| $c | $m | ${tr% } | ${br% } |"
done
echo
echo "CPU per transaction (µs, medians; pgbench + Postgres backends [+ proxy]) and the ratio to"
echo "direct they imply when the machine's CPUs are the bottleneck (direct total / proxied total):"
echo
echo "| clients | mode | direct | tether | tether bound | pgbouncer | pgbouncer bound |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for cell in "${cells[@]:0:6}"; do
  read -r c m <<<"$cell"
  awk -v c="$c" -v m="$m" -v db="$(med direct "$c" "$m" pb)" -v dg="$(med direct "$c" "$m" pg)" \
    -v tb="$(med tether "$c" "$m" pb)" -v tg="$(med tether "$c" "$m" pg)" -v tc="$(med tether "$c" "$m" px)" \
    -v bb="$(med pgbouncer "$c" "$m" pb)" -v bg="$(med pgbouncer "$c" "$m" pg)" -v bc="$(med pgbouncer "$c" "$m" px)" 'BEGIN {
      d = db + dg; t = tb + tg + tc; b = bb + bg + bc
      printf "| %s | %s | %s + %s = %.1f | %s + %s + %s = %.1f | %.2f | %s + %s + %s = %.1f | %.2f |\n", c, m,
        db, dg, d, tb, tg, tc, t, (t > 0 ? d / t : 0), bb, bg, bc, b, (b > 0 ? d / b : 0) }'
done
echo
echo "Added latency per round trip: pgbench -S -M prepared, 1 client (median latency average):"
echo
echo "| target | latency ms | added ms | proxy CPU µs/txn |"
echo "| --- | --- | --- | --- |"
dl=$(med direct 1 prepared lat)
for t in "${targets[@]}"; do
  l=$(med "$t" 1 prepared lat)
  echo "| $t | $l | $(awk -v a="$l" -v b="$dl" 'BEGIN {printf "%.3f", a - b}') | $(med "$t" 1 prepared px) |"
done
echo

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
idle_run() { # NAME PORT PID N LABEL
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
  printf '| %s | %s | %s | %s | %s | %s |\n' "$5" "$got" "$nb" "$((before / 1024))" "$((after / 1024))" \
    "$(awk -v a="$after" -v b="$before" -v n="${got:-0}" 'BEGIN{ if (n > 0) printf "%.1f", (a-b)/n; else print "-" }')"
}
backends() { psql -X -tA -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"; }
settle() { # wait until the previous run's upstream connections are gone
  for ((i = 0; i < 150; i++)); do [ "$(backends)" -le 80 ] && return 0; sleep 0.2; done
  echo "bench: $(backends) upstream connections still open 30 s after the idle clients left" >&2
}
echo "## Proxy: resident memory with idle clients"
echo
echo "$idle idle clients (startup + trust auth, then nothing; bench/idle_clients.py), the first"
echo "alone, then in batches of 250; upstream backends counted in pg_stat_activity while they"
echo "are held. tether as above (lazy_connect=on: the proxy answers an idle client's startup"
echo "itself and opens no upstream connection until its first query; its pool of kept"
echo "upstream connections is emptied first with SIGHUP)."
echo
echo "| proxy | idle clients connected | upstream backends meanwhile | RSS before (MiB) | RSS with them (MiB) | KiB per client |"
echo "| --- | --- | --- | --- | --- | --- |"
kill -HUP "$tpid" # empties tether's pool of kept upstream connections
settle
idle_run tether "$tport" "$tpid" "$idle" "tether (lazy_connect=on)"
settle
idle_run pgbouncer "$bport" "$bpid" "$idle" "pgbouncer (session mode)"
echo
