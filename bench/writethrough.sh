#!/usr/bin/env bash
# writethrough.sh - benchmark of write-through (not a test): the latency a
# proxied `UPDATE stripe.customer SET name = ... WHERE id = ...` adds over
# the raw API call it makes (POST /v1/customers/ID at the Stripe emulator, a
# fresh connection per call: an idle kept-alive client connection slows the
# emulator's other connections by ~100 ms), both measured in the same run,
# interleaved; the SQL client keeps its connection. Reports p50/p99 of both and of the difference,
# and the CPU time the proxy process spends per proxied UPDATE (scheduler counters of its threads).
# Writes a markdown section to stdout. BENCH_WRITES (default 400) of each.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
n=${BENCH_WRITES:-400}
bin=${TETHER_BIN:-$root/build/tether}
[ -x "$bin" ] || { echo "bench/writethrough.sh: build first (make)" >&2; exit 1; }
work=$(mktemp -d /tmp/tether-bench-wt.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  "$root/tests/harness/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$root/tests/harness/pg.sh" start "$work/pg" >/dev/null
# shellcheck disable=SC1091
. "$work/pg/env"
psql -X -q -d postgres -c "CREATE DATABASE bench"
export PGDATABASE=bench TETHER_BIN=$bin
# pacing: the proxy's own write budget (default 25 writes/s) and the credential's
# budget shared with the syncs (default: the sync's rate, 50 requests/s) would
# dominate a tight loop. With this rate the proxy takes a grant of 5,000 tokens
# from the shared budget (one round trip to its table) about once a second.
# (TETHER_SYNC_STRIPE_* settings apply only with TETHER_SYNC_STRIPE_SOURCE set.)
export TETHER_WRITE_RATE=${TETHER_WRITE_RATE:-100000}
export TETHER_SYNC_STRIPE_SOURCE=stripe
export TETHER_SYNC_STRIPE_CREDENTIAL_RATE=${TETHER_SYNC_STRIPE_CREDENTIAL_RATE:-100000}
env_out=$(WT_SEED_CUSTOMERS=20 "$root/tests/integration/write_tools/env.sh" start "$work/wt")
pids+=("$(cat "$work/wt/proxy.pid")" "$(cat "$work/wt/emu.pid")")
eval "$env_out"
/usr/bin/python3 - "$EMU_URL" "$PX_PORT" "$n" "$(cat "$work/wt/proxy.pid")" <<'PY'
import glob, http.client, statistics, sys, time, urllib.parse
import psycopg
emu, port, n, proxy_pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def proxy_cpu_ns():
    # CPU time the proxy has run (all its threads), from the scheduler's counters
    total = 0
    for f in glob.glob(f"/proc/{proxy_pid}/task/*/schedstat"):
        try:
            total += int(open(f).read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total
u = urllib.parse.urlparse(emu)
hdr = {"Authorization": "Bearer sk_test_tether", "Content-Type": "application/x-www-form-urlencoded"}
c = psycopg.connect(host="127.0.0.1", port=port, user="postgres", password="postgres", dbname="bench",
                    sslmode="disable", autocommit=True)
ids = [r[0] for r in c.execute("SELECT id FROM stripe.customer ORDER BY id LIMIT 10")]
raw, prox = [], []
cur = psycopg.ClientCursor(c)
def raw_call(i, cid):
    t0 = time.perf_counter()
    h = http.client.HTTPConnection(u.hostname, u.port)
    h.request("POST", f"/v1/customers/{cid}", body=f"name=raw{i}", headers=hdr)
    r = h.getresponse(); r.read(); h.close()
    assert r.status == 200
    return (time.perf_counter() - t0) * 1000
def proxied(i, cid):
    t0 = time.perf_counter()
    cur.execute("UPDATE stripe.customer SET name = %s WHERE id = %s", (f"px{i}", cid))
    assert cur.rowcount == 1
    return (time.perf_counter() - t0) * 1000
# alternate blocks of 50 (an idle kept-alive connection next to a busy one
# delays the emulator's answers by up to 100 ms, so the two kinds of calls
# are not interleaved one by one); 20 warm-up calls of each first
for i in range(20):
    raw_call(i, ids[0]); proxied(i, ids[0])
i = 0
cpu_ns = 0
while len(prox) < n:
    for _ in range(50):
        raw.append(raw_call(i, ids[i % len(ids)])); i += 1
    c0 = proxy_cpu_ns()
    for _ in range(50):
        prox.append(proxied(i, ids[i % len(ids)])); i += 1
    cpu_ns += proxy_cpu_ns() - c0
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]
print("## Write-through: proxied UPDATE vs the raw API call (bench/writethrough.sh)\n")
print(f"{n} calls of each kind, in alternating blocks of 50; raw calls on a fresh HTTP connection each, the SQL client on one connection, Stripe emulator on loopback, pacing budget raised out of the way, "
      f"`UPDATE stripe.customer SET name = ... WHERE id = ...` (simple protocol, autocommit).\n")
print("| | p50 ms | p99 ms |")
print("| --- | --- | --- |")
print(f"| raw API call (POST /v1/customers/ID, python http.client) | {pct(raw,50):.3f} | {pct(raw,99):.3f} |")
print(f"| proxied UPDATE (capture + API + write-back) | {pct(prox,50):.3f} | {pct(prox,99):.3f} |")
print(f"| added by Tether (difference of the percentiles) | {pct(prox,50)-pct(raw,50):.3f} | {pct(prox,99)-pct(raw,99):.3f} |")
print(f"\nRatio proxied/raw at p50: {pct(prox,50)/pct(raw,50):.2f}x; target for the added p50: <= 1 ms. "
      f"CPU time of the proxy process per proxied UPDATE: {cpu_ns / len(prox) / 1000:.0f} us "
      f"(capture, API call and write-back each wait on another process; this is Tether's own work). "
      f"The two kinds run in different blocks, so a load spike may hit one and not the other: "
      f"on a busy machine the difference of the p99s is noise and may be negative.\n")
PY
