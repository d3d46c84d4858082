#!/usr/bin/env bash
# emulator_cli.sh - `tether emulate stripe` as a process: flag errors are
# one-line usage errors (exit 2), a taken port is a runtime failure (exit 1),
# it serves curl (Bearer and Basic auth, Request-Id), and SIGTERM stops it
# cleanly (exit 0).
set -uo pipefail
. "${TETHER_SOURCE_DIR:?}/tests/harness/lib.sh"
T=${TETHER_BIN:?}
tmp=$(mktemp -d); cleanup_add "rm -rf $tmp"

usage() { # usage DESCRIPTION NEEDLE ARGS...
  local desc=$1 needle=$2; shift 2
  "$T" emulate "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  [ "$rc" = 2 ] || fail "$desc: exit $rc, want 2 ($(cat "$tmp/err"))"
  [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q -- "$needle" "$tmp/err" || fail "$desc: stderr: $(cat "$tmp/err")"
  echo "ok: $desc"
}
usage "rate above 1" "--fault-429-rate" stripe --fault-429-rate 2
usage "negative latency" "--fault-latency-ms" stripe --fault-latency-ms -5
usage "seed not a number" "--seed-customers" stripe --seed-customers lots
usage "webhook without secret" "no --webhook-secret" stripe --webhook http://127.0.0.1:1/x
usage "secret without webhook" "must follow" stripe --webhook-secret whsec_x
usage "bad listen" "bad --listen" stripe --listen nowhere
"$T" emulate --help | grep -q -- "--seed-customers" || fail "help lists --seed-customers"
usage "salesforce unknown flag" "--no-such-flag" salesforce --no-such-flag

port=$(free_port)
"$T" emulate stripe --listen "127.0.0.1:$port" --api-key sk_test_a --api-key sk_test_b --log-level warn \
  2>"$tmp/emu.err" &
pid=$!; cleanup_add "kill $pid 2>/dev/null"
wait_port "$port" || fail "emulator did not listen"

# The same port again is a runtime failure with a one-line reason.
"$T" emulate stripe --listen "127.0.0.1:$port" >/dev/null 2>"$tmp/err2"; rc=$?
assert_eq 1 "$rc" "second emulator on a taken port"
grep -q "cannot listen" "$tmp/err2" || fail "taken port message: $(cat "$tmp/err2")"

base="http://127.0.0.1:$port"
code=$(curl -s -o "$tmp/c.json" -w '%{http_code}' -H "Authorization: Bearer sk_test_b" -d email=cli@example.com \
  -d 'metadata[source]=curl' "$base/v1/customers")
assert_eq 200 "$code" "create with the second key"
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["object"]=="customer" and c["metadata"]=={"source":"curl"}, c' \
  "$tmp/c.json" || fail "customer body"
code=$(curl -s -o /dev/null -w '%{http_code}' -u sk_test_a: "$base/v1/customers?limit=1")
assert_eq 200 "$code" "Basic auth"
code=$(curl -s -o /dev/null -w '%{http_code}' -u sk_test_tether: "$base/v1/customers")
assert_eq 401 "$code" "the default key is off when --api-key is given"
curl -s -D "$tmp/h" -o /dev/null -u sk_test_a: "$base/v1/customers"
grep -qi '^Request-Id: req_' "$tmp/h" || fail "Request-Id header"
grep -q sk_test_ "$tmp/emu.err" && fail "a key reached the log"

kill -TERM "$pid"; wait "$pid"; rc=$?
assert_eq 0 "$rc" "SIGTERM exit status"
echo "emulator_cli: all passed"
