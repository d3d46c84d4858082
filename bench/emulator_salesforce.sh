#!/usr/bin/env bash
# emulator_salesforce.sh [N] - benchmarks `tether emulate salesforce`:
#   * seeding N contacts (default 1,000,000): wall time and resident memory
#   * a full paged read of them (SOQL + queryMore, 2000 per batch)
#   * first-batch latency of "WHERE SystemModstamp > X ORDER BY SystemModstamp"
#     on the big store relative to a 10,000-record store (the ratio shows that
#     change-ordered reads do not sort).
# Prints numbers and ratios only; it never fails on timing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${TETHER_BIN:-$here/build/tether}
n=${1:-1000000}
source "$here/tests/harness/lib.sh"
tmp=$(mktemp -d)
cleanup_add "rm -rf $tmp"

start_emu() { # COUNT -> sets url, pid
  "$bin" emulate salesforce --listen 127.0.0.1:0 --seed-contacts "$1" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  cleanup_add "kill $pid 2>/dev/null || true"
  for _ in $(seq 1 600); do grep -q 'listening on' "$tmp/out" 2>/dev/null && break; sleep 0.1; done
  url=$(sed -n 's/.*listening on //p' "$tmp/out")
  [ -n "$url" ] || fail "emulator did not start: $(cat "$tmp/err")"
}

measure() { # URL MODE -> prints seconds
  python3 - "$1" "$2" <<'PY'
import json, sys, time, urllib.parse, urllib.request
url, mode = sys.argv[1], sys.argv[2]
form = urllib.parse.urlencode({"grant_type": "password", "client_id": "tether-sf-client",
    "client_secret": "tether-sf-secret", "username": "admin@tether.example",
    "password": "tether-sf-password"}).encode()
tok = json.load(urllib.request.urlopen(url + "/services/oauth2/token", form))["access_token"]
def get(path):
    req = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + tok})
    return json.load(urllib.request.urlopen(req))
q = "SELECT Id, LastName, Email, SystemModstamp FROM Contact WHERE SystemModstamp > 2000-01-01T00:00:00Z ORDER BY SystemModstamp"
t0 = time.monotonic()
page = get("/services/data/v59.0/query?q=" + urllib.parse.quote(q))
first = time.monotonic() - t0
total = len(page["records"])
if mode == "full":
    while not page["done"]:
        page = get(page["nextRecordsUrl"])
        total += len(page["records"])
    print(f"{time.monotonic() - t0:.3f} {total}")
else:
    print(f"{first:.4f} {total}")
PY
}

t0=$(date +%s.%N)
start_emu "$n"
t1=$(date +%s.%N)
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
read -r full_s full_n < <(measure "$url" full)
read -r big_first _ < <(measure "$url" first)
kill "$pid"; wait "$pid" 2>/dev/null || true
start_emu 10000
read -r small_first _ < <(measure "$url" first)
kill "$pid"; wait "$pid" 2>/dev/null || true

python3 - "$n" "$t0" "$t1" "$rss_kb" "$full_s" "$full_n" "$big_first" "$small_first" <<'PY'
import sys
n, t0, t1, rss, full_s, full_n, big, small = sys.argv[1:]
n = int(n); seed = float(t1) - float(t0); rss_mb = int(rss) / 1024
print(f"salesforce emulator: seeded {n} contacts in {seed:.2f}s ({n / seed:,.0f} records/s incl. startup)")
print(f"  resident memory {rss_mb:.0f} MiB ({rss_mb * 1024 * 1024 / max(n, 1):.0f} bytes/record)")
print(f"  full paged read of {full_n} records in {float(full_s):.2f}s ({int(full_n) / float(full_s):,.0f} records/s)")
print(f"  first-batch latency ratio {n}-record store / 10000-record store: {float(big) / max(float(small), 1e-6):.1f}x")
PY
