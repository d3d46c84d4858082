# bench/lib/common.sh - the start-up shared by the benchmarks that need a
# private cluster, the emulators and their own processes (bench/ingest.sh,
# bench/lag.sh). Source it with NAME set to the script's name; it sets
#   here root bin   the bench folder, the repository, the tether binary
#   work            a scratch directory, removed on exit
#   pids            an array: processes added to it are killed on exit
# and offers
#   wait_line FILE REGEX SECS PID   until FILE has a line matching REGEX
#                                   (fails early if PID exits)
#   bench_npm_ci PATH               npm ci in bench/ unless bench/node_modules/PATH exists
#   bench_pg_start                  a private cluster ($PGPORT etc., $base URL)
# BENCH_KEEP_LOGS=DIR keeps $work/*.log and *.out there (for outliers).
# (Not a benchmark itself: bench/run only runs bench/*.sh.)
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${TETHER_BIN:-$root/build/tether}
[ -x "$bin" ] || { echo "bench/$NAME: build first (make)" >&2; exit 1; }
work=$(mktemp -d "/tmp/tether-bench-${NAME%.sh}.XXXXXX")
chmod 755 "$work"
pids=()
bench_cleanup() {
  if [ -n "${BENCH_KEEP_LOGS:-}" ]; then mkdir -p "$BENCH_KEEP_LOGS" && cp "$work"/*.log "$work"/*.out "$BENCH_KEEP_LOGS"/ 2>/dev/null || true; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$root/tests/harness/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap bench_cleanup EXIT
wait_line() { # FILE REGEX SECS PID
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    kill -0 "$4" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench/$NAME: no '$2' in $1 after $3 s or the process exited" >&2; tail -5 "$1" >&2; return 1
}
bench_npm_ci() {
  if [ ! -d "$here/node_modules/$1" ]; then
    (cd "$here" && npm ci --no-audit --no-fund >/dev/null 2>&1) || { echo "bench/$NAME: npm ci failed in bench/" >&2; exit 1; }
  fi
}
bench_pg_start() {
  "$root/tests/harness/pg.sh" start "$work/pg" >/dev/null
  # shellcheck disable=SC1091
  . "$work/pg/env"
  base="postgres://postgres:postgres@127.0.0.1:$PGPORT"
}
