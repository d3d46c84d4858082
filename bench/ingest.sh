#!/usr/bin/env bash
# ingest.sh - backfill ingest benchmark (not a test). One private cluster, one
# Stripe emulator seeded with BENCH_CUSTOMERS customers (default 100000), and
# in one run, one after the other:
#   1. `tether sync` backfills them into database bench_tether (rate limit
#      lifted: BENCH_TETHER_RATE requests/s, default 1000000);
#   2. a plain COPY of tether's final rows (exported with COPY TO) back into
#      the same, truncated table with the same indexes;
#   3. @supabase/stripe-sync-engine (bench/ingest_sse.mjs) backfills the same
#      emulator data into database bench_sse (BENCH_SSE=0 skips it);
#   4. the emulator's own serving rate on the same data (bench/emulator_pages.mjs,
#      BENCH_EMU_SECONDS, default 5).
# Also reports the CPU seconds per row of the tether process and of its
# Postgres backend (compare these, and the same-run ratios, on a shared box).
# BENCH_KEEP_LOGS=DIR keeps the sync and emulator logs there (for outliers).
# Writes a markdown section with rows/s side by side and the ratios to stdout.
# Needs ./build/tether (make), node, and `npm ci` in bench/ (done on demand).
set -euo pipefail
NAME=ingest.sh
# shellcheck source=bench/lib/common.sh
. "$(dirname "$0")/lib/common.sh"
n=${BENCH_CUSTOMERS:-100000}
rate=${BENCH_TETHER_RATE:-1000000}
run_sse=${BENCH_SSE:-1}
emu_secs=${BENCH_EMU_SECONDS:-5}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

if [ "$run_sse" = 1 ]; then bench_npm_ci @supabase/stripe-sync-engine; fi

bench_pg_start
psql -X -q -d postgres -c "CREATE DATABASE bench_tether" -c "CREATE DATABASE bench_sse"

t=$(now)
"$bin" emulate stripe --listen 127.0.0.1:0 --port-file "$work/emu.port" --seed-customers "$n" \
  --seed-random 1 --log-level warn >"$work/emu.log" 2>&1 &
emu_pid=$!
pids+=("$emu_pid")
for _ in $(seq 1 1200); do [ -s "$work/emu.port" ] && break; sleep 0.05; done
[ -s "$work/emu.port" ] || { cat "$work/emu.log" >&2; exit 1; }
emu_port=$(cat "$work/emu.port")
seed_secs=$(elapsed "$t" "$(now)")

# 1. tether sync backfill
# CPU seconds (user+system) from /proc/PID/stat, summed over the given files
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ s += ($14 + $15) / hz } END { printf "%.2f", s }' "$@" 2>/dev/null || echo 0; }
emu_cpu0=$(cpu_of "/proc/$emu_pid/stat")
tdb="$base/bench_tether?sslmode=disable"
t=$(now)
TETHER_SYNC_STRIPE_SOURCE=stripe TETHER_SYNC_STRIPE_COLLECTIONS=customer TETHER_SYNC_STRIPE_RATE_BACKFILL=$rate \
  "$bin" sync --source stripe --api-key sk_test_tether --api-base "http://127.0.0.1:$emu_port" \
  --database "$tdb" --status-listen 127.0.0.1:0 >"$work/sync.log" 2>&1 &
spid=$!; pids+=("$spid")
wait_line "$work/sync.log" "event=sync.backfill_done" 900 "$spid"
t_wall=$(elapsed "$t" "$(now)")
# CPU of the tether process, of its Postgres backend(s) (application_name
# tether-sync), read before they exit, and of the emulator meanwhile
t_cpu=$(cpu_of "/proc/$spid/stat")
t_emucpu=$(awk -v a="$(cpu_of "/proc/$emu_pid/stat")" -v b="$emu_cpu0" 'BEGIN { printf "%.2f", a - b }')
bpids=$(psql -X -tA -d bench_tether -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'tether-sync'")
t_pgcpu=0
for b in $bpids; do t_pgcpu=$(awk -v a="$t_pgcpu" -v b="$(cpu_of "/proc/$b/stat")" 'BEGIN { printf "%.2f", a + b }'); done
kill "$spid"; wait "$spid" 2>/dev/null || true
t_rows=$(psql -X -tA -d bench_tether -c "SELECT count(*) FROM stripe.customer")
t_secs=$(psql -X -tA -d bench_tether -c \
  "SELECT round(extract(epoch FROM backfill_done_at - backfill_started_at)::numeric, 2) FROM _tether.sync")
t_rate=$(awk -v r="$t_rows" -v s="$t_secs" 'BEGIN { printf "%.0f", r / s }')

# 2. plain COPY of the same final rows into the same table (same indexes)
psql -X -q -d bench_tether -c "\\copy stripe.customer TO '$work/customer.tsv'"
# the write guard's triggers (writethrough) refuse plain writes to synced
# tables: the COPY session skips them (session_replication_role = replica)
norepl="-c session_replication_role=replica"
PGOPTIONS="$norepl" psql -X -q -d bench_tether -c "TRUNCATE stripe.customer" -c "CHECKPOINT"
t=$(now)
PGOPTIONS="$norepl" psql -X -q -d bench_tether -c "\\copy stripe.customer FROM '$work/customer.tsv'"
c_secs=$(elapsed "$t" "$(now)")
c_rows=$(psql -X -tA -d bench_tether -c "SELECT count(*) FROM stripe.customer")
c_rate=$(awk -v r="$c_rows" -v s="$c_secs" 'BEGIN { printf "%.0f", r / s }')

# 3. @supabase/stripe-sync-engine on the same emulator data
# CPU of the whole cluster: the postmaster, its live children and the
# children it has reaped (stripe-sync-engine's pool closes its backends)
pm_pid=$(head -1 "$TETHER_TEST_PG_DATADIR/postmaster.pid" 2>/dev/null || echo 0)
cluster_cpu() {
  local files=("/proc/$pm_pid/stat") c
  for c in $(pgrep -P "$pm_pid" 2>/dev/null); do files+=("/proc/$c/stat"); done
  awk -v hz="$(getconf CLK_TCK)" -v pm="$pm_pid" \
    '{ s += ($14 + $15) / hz; if ($1 == pm) s += ($16 + $17) / hz } END { printf "%.2f", s }' "${files[@]}" 2>/dev/null || echo 0
}
s_rows=- s_secs=- s_rate=0 s_cpu=0 s_pgcpu=0
if [ "$run_sse" = 1 ]; then
  pg0=$(cluster_cpu)
  /usr/bin/time -f "%U %S" -o "$work/sse.time" \
    node "$here/ingest_sse.mjs" "$base/bench_sse?sslmode=disable" "$emu_port" customer >"$work/sse.out" 2>"$work/sse.err" \
    || { cat "$work/sse.err" >&2; exit 1; }
  s_pgcpu=$(awk -v a="$(cluster_cpu)" -v b="$pg0" 'BEGIN { printf "%.2f", a - b }')
  s_cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$work/sse.time")
  s_secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' "$work/sse.out")
  s_rows=$(psql -X -tA -d bench_sse -c "SELECT count(*) FROM stripe.customers")
  s_rate=$(awk -v r="$s_rows" -v s="$s_secs" 'BEGIN { printf "%.0f", r / s }')
fi

# 4. the emulator's serving rate on the same data
node "$here/emulator_pages.mjs" "$emu_port" "$emu_secs" 4 >"$work/emu_pages.out"
e_rate=$(sed -n 's/.*objects_per_sec=\([0-9]*\).*/\1/p' "$work/emu_pages.out")

cat <<MD
## Backfill ingest: $n customers, one run

\`BENCH_CUSTOMERS=$n bash bench/ingest.sh\` (emulator seeded in ${seed_secs}s with
\`tether emulate stripe --seed-customers $n --seed-random 1\`; one cluster from
tests/harness/pg.sh; the three writers run one after the other on the same data).

| writer | command | rows | seconds | rows/s |
| --- | --- | --- | --- | --- |
| tether sync | \`TETHER_SYNC_STRIPE_COLLECTIONS=customer TETHER_SYNC_STRIPE_RATE_BACKFILL=$rate tether sync --source stripe --api-base EMULATOR --database .../bench_tether\` (backfill_started_at → backfill_done_at; ${t_wall}s wall from process start) | $t_rows | $t_secs | $t_rate |
| plain COPY | \`psql -c "\\copy stripe.customer FROM customer.tsv"\` (tether's final rows, into the truncated same table, same indexes) | $c_rows | $c_secs | $c_rate |
| @supabase/stripe-sync-engine 0.48.5 | \`node bench/ingest_sse.mjs .../bench_sse EMULATOR_PORT customer\` (\`syncBackfill({object: 'customer'})\`) | $s_rows | $s_secs | $s_rate |
| emulator serving (no writes) | \`node bench/emulator_pages.mjs EMULATOR_PORT $emu_secs 4\` (objects/s read) | | $emu_secs | $e_rate |

| ratio (same run) | value | goal |
| --- | --- | --- |
| tether / COPY | $(ratio "$t_rate" "$c_rate") | ≥ 0.6 |
| tether / stripe-sync-engine | $(ratio "$t_rate" "$s_rate") | ≥ 10 |
| emulator serving rate / tether ingest rate | $(ratio "$e_rate" "$t_rate") | far above 1 |
| CPU per row, stripe-sync-engine (node + cluster) / tether (process + backend) | $(awk -v a="$s_cpu" -v b="$s_pgcpu" -v c="$t_cpu" -v d="$t_pgcpu" -v sr="$s_rows" -v tr="$t_rows" 'BEGIN { if (c + d > 0 && sr > 0 && tr > 0) printf "%.2f", ((a + b) / sr) / ((c + d) / tr); else print "n/a" }') | (load-independent) |

CPU of the tether backfill (user+system, whole process life incl. start-up):
tether ${t_cpu}s ($(awk -v c="$t_cpu" -v r="$t_rows" 'BEGIN { if (r > 0) printf "%.1f", c * 1e6 / r; else print "n/a" }') µs/row),
its Postgres backend ${t_pgcpu}s ($(awk -v c="$t_pgcpu" -v r="$t_rows" 'BEGIN { if (r > 0) printf "%.1f", c * 1e6 / r; else print "n/a" }') µs/row),
the emulator serving it ${t_emucpu}s ($(awk -v c="$t_emucpu" -v r="$t_rows" 'BEGIN { if (r > 0) printf "%.1f", c * 1e6 / r; else print "n/a" }') µs/row).
CPU of stripe-sync-engine: node ${s_cpu}s ($(awk -v c="$s_cpu" -v r="$s_rows" 'BEGIN { if (r > 0) printf "%.1f", c * 1e6 / r; else print "n/a" }') µs/row),
the cluster meanwhile ${s_pgcpu}s ($(awk -v c="$s_pgcpu" -v r="$s_rows" 'BEGIN { if (r > 0) printf "%.1f", c * 1e6 / r; else print "n/a" }') µs/row).

MD
