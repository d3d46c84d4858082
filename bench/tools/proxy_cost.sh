#!/usr/bin/env bash
# proxy_cost.sh - load-independent cost of the proxy's hot path (not run by
# bench/run): pgbench -S through `tether proxy` and through pgbouncer (session
# mode) on one private cluster, set up like bench/proxy.sh, and for each
# proxy and protocol mode
#   - system calls per transaction (`strace -c -f -p PID` during one run:
#     counts, not times; strace slows the run, the counts per transaction
#     do not depend on it),
#   - CPU µs per transaction, user and system (utime/stime from /proc/PID/stat
#     over separate runs without strace), and the proxy's context switches per
#     transaction (voluntary: it slept; involuntary: it was preempted, e.g. by
#     a peer its send woke), from /proc/PID/status over the same runs.
# Writes a markdown table to stdout. COST_SECONDS (default 8) per pgbench run,
# COST_CLIENTS (default 8), COST_MODES (default "simple extended prepared"),
# COST_ROUNDS (default 3; CPU figures are the median of the rounds).
# TETHER_BIN (default build/tether); COST_BEFORE_BIN adds rows for an older
# build run with the same settings; COST_URING_OFF=1 adds rows for the same
# binary with [proxy] io_uring = off (one send() per relayed run).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
secs=${COST_SECONDS:-8}
clients=${COST_CLIENTS:-8}
modes=${COST_MODES:-simple extended prepared}
rounds=${COST_ROUNDS:-3}
bin=${TETHER_BIN:-$root/build/tether}
before_bin=${COST_BEFORE_BIN:-}
[ -x "$bin" ] || { echo "proxy_cost.sh: build first (make)" >&2; exit 1; }
command -v strace >/dev/null || { echo "proxy_cost.sh: needs strace" >&2; exit 1; }
work=$(mktemp -d /tmp/tether-cost.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  "$root/tests/harness/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
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
printf '"postgres" "postgres"\n' > "$work/users.txt"
up="postgres://postgres:postgres@127.0.0.1:$pgport/bench?sslmode=disable"
export TETHER_PROXY_LAZY_CONNECT=on TETHER_PROXY_SERVER_IDLE_TIMEOUT=600 TETHER_PROXY_MAX_CLIENT_CONN=20000
declare -A port pid
start_tether() { # NAME BIN [io_uring setting]
  local p; p=$(free_port)
  TETHER_PROXY_IO_URING=${3:-on} "$2" proxy --listen "127.0.0.1:$p" --upstream "$up" --auth trust --users "$work/users.txt" >"$work/$1.log" 2>&1 &
  pid[$1]=$!; pids+=("$!"); port[$1]=$p
  wait_port "$p"
}
start_tether tether "$bin"
targets=(tether)
if [ -n "${COST_URING_OFF:-}" ]; then start_tether tether-io_uring-off "$bin" off; targets+=(tether-io_uring-off); fi
if [ -n "$before_bin" ]; then start_tether before "$before_bin"; targets+=(before); fi

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
default_pool_size = 200
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
chmod 644 "$work/pgbouncer.ini" "$work/users.txt"
runas=${TETHER_TEST_PG_RUNAS:-}
[ -n "$runas" ] && chown "$runas" "$work"
if [ -n "$runas" ]; then
  runuser -u "$runas" -- pgbouncer "$work/pgbouncer.ini" >/dev/null 2>&1 &
else pgbouncer "$work/pgbouncer.ini" >/dev/null 2>&1 & fi
pids+=($!)
wait_port "$bport"
pid[pgbouncer]=$(cat "$work/pgbouncer.pid"); pids+=("${pid[pgbouncer]}"); port[pgbouncer]=$bport
targets+=(pgbouncer)

# PORT MODE: runs pgbench, prints the number of transactions
bench() {
  PGPORT=$1 PGDATABASE=bench PGSSLMODE=disable pgbench -n -S -M "$2" -c "$clients" -j 2 -T "$secs" 2>&1 |
    awk '/actually processed/ {split($NF, a, "/"); print a[1]}'
}
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
switches() { awk '/^voluntary_ctxt_switches/ {v = $2} /^nonvoluntary_ctxt_switches/ {n = $2} END {print v, n}' "/proc/$1/status"; }
per() { awk -v d="$1" -v n="$2" -v s="$3" 'BEGIN {printf "%.2f", d * s / n}'; }
clk=$(getconf CLK_TCK)
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# warm up: fill both proxies' server pools
for t in "${targets[@]}"; do PGPORT=${port[$t]} PGDATABASE=bench PGSSLMODE=disable pgbench -n -S -c "$clients" -j 2 -t 200 >/dev/null 2>&1; done

echo "## Proxy cost per transaction: pgbench -S, $clients clients, ${secs}s per run"
echo
echo "System calls per transaction from \`strace -c -f\` on the proxy during one run; CPU µs per"
echo "transaction (user + system, from /proc/PID/stat) median of $rounds runs without strace."
echo
echo "| mode | proxy | syscalls/txn | of which | user µs/txn | sys µs/txn | CPU µs/txn | switches/txn (vol + invol) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for m in $modes; do
  declare -A U=() S=() V=() I=()
  for ((r = 1; r <= rounds; r++)); do
    for t in "${targets[@]}"; do
      read -r u0 s0 <<<"$(ticks "${pid[$t]}")"
      read -r v0 i0 <<<"$(switches "${pid[$t]}")"
      n=$(bench "${port[$t]}" "$m")
      read -r u1 s1 <<<"$(ticks "${pid[$t]}")"
      read -r v1 i1 <<<"$(switches "${pid[$t]}")"
      U[$t]+="$(per $((u1 - u0)) "$n" "$(awk -v c="$clk" 'BEGIN {print 1e6 / c}')") "
      S[$t]+="$(per $((s1 - s0)) "$n" "$(awk -v c="$clk" 'BEGIN {print 1e6 / c}')") "
      V[$t]+="$(per $((v1 - v0)) "$n" 1) "
      I[$t]+="$(per $((i1 - i0)) "$n" 1) "
    done
  done
  for t in "${targets[@]}"; do
    strace -c -f -q -p "${pid[$t]}" -o "$work/strace-$t-$m" 2>/dev/null &
    sp=$!
    sleep 0.5
    n=$(bench "${port[$t]}" "$m")
    kill -INT "$sp"; wait "$sp" 2>/dev/null || true
    # strace -c: "% time seconds usecs/call calls errors syscall"
    calls=$(awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {c = $4; name = $NF; tot += c; if (c / n >= 0.05) part = part sprintf("%s %.2f, ", name, c / n)}
      END {sub(/, $/, "", part); printf "%.2f|%s", tot / n, part}' "$work/strace-$t-$m")
    # shellcheck disable=SC2086
    u=$(median ${U[$t]}); s=$(median ${S[$t]}); v=$(median ${V[$t]}); i=$(median ${I[$t]})
    printf '| %s | %s | %s | %s | %s | %s | %s | %s + %s |\n' "$m" "$t" "${calls%%|*}" "${calls#*|}" "$u" "$s" \
      "$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}')" "$v" "$i"
  done
  unset U S V I
done
echo
