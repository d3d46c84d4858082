#!/usr/bin/env bash
# `tether proxy` start-up errors: each bad setting is refused with a one-line
# reason and exit status 1 (2 for usage errors), never a half-started proxy;
# and the config file + environment path works like the flags.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
tmp=$(mktemp -d)
cleanup_add "rm -rf $tmp"
up="postgres://postgres:postgres@127.0.0.1:$PGPORT/$PGDATABASE"
port=$(free_port)

expect_fail() { # WANT_STATUS NEEDLE ARGS...
  local want=$1 needle=$2; shift 2
  local out status=0
  out=$(env -u TETHER_CONFIG "$TETHER_BIN" proxy "$@" 2>&1) || status=$?
  [ "$status" = "$want" ] || fail "tether proxy $*: status $status, want $want: $out"
  case "$out" in *"$needle"*) ;; *) fail "tether proxy $*: no '$needle' in: $out" ;; esac
  case "$out" in *postgres:postgres*) fail "password leaked: $out" ;; esac
}

expect_fail 2 "no upstream" --listen 127.0.0.1:$port
expect_fail 1 "unknown auth_type" --listen 127.0.0.1:$port --upstream "$up" --auth kerberos
expect_fail 1 "needs a users file" --listen 127.0.0.1:$port --upstream "$up" --auth md5
expect_fail 1 "$tmp/nope.txt" --listen 127.0.0.1:$port --upstream "$up" --auth md5 --users "$tmp/nope.txt"
printf '"a" "b"\n"broken\n' > "$tmp/bad-users.txt"
expect_fail 1 "bad-users.txt:2" --listen 127.0.0.1:$port --upstream "$up" --auth md5 --users "$tmp/bad-users.txt"
expect_fail 1 "both tls_cert and tls_key" --listen 127.0.0.1:$port --upstream "$up" --auth trust --tls-cert "$tmp/x.crt"
expect_fail 1 "cannot load TLS certificate" --listen 127.0.0.1:$port --upstream "$up" --auth trust --tls-cert "$tmp/x.crt" --tls-key "$tmp/x.key"
expect_fail 1 "not HOST:PORT" --listen nowhere --upstream "$up" --auth trust
expect_fail 1 "bad upstream URL" --listen 127.0.0.1:$port --upstream "postgres://[bad" --auth trust
expect_fail 1 "bad upstream sslmode" --listen 127.0.0.1:$port --upstream "$up?sslmode=sometimes" --auth trust
expect_fail 1 "cannot listen" --listen 127.0.0.1:$PGPORT --upstream "$up" --auth trust
TETHER_PROXY_IO_URING=sometimes expect_fail 1 "io_uring must be on or off" --listen 127.0.0.1:$port --upstream "$up" --auth trust

# A configuration file plus environment, no flags.
cat > "$tmp/tether.ini" <<INI
[proxy]
listen = 127.0.0.1:$port
auth_type = trust
INI
TETHER_CONFIG="$tmp/tether.ini" TETHER_PROXY_UPSTREAM="$up" "$TETHER_BIN" proxy > "$tmp/log" 2>&1 &
pid=$!
cleanup_add "kill $pid 2>/dev/null || true"
wait_port "$port"
got=$(psql -X -At "host=127.0.0.1 port=$port user=whoever dbname=$PGDATABASE" -c "select current_database()")
assert_eq "$PGDATABASE" "$got" "query through a proxy configured by file and environment"
kill -TERM "$pid"
wait "$pid" || fail "proxy exited $? after SIGTERM: $(cat "$tmp/log")"
grep -q "event=proxy.stopped" "$tmp/log" || fail "no proxy.stopped in log"
if grep -q "postgres:postgres" "$tmp/log"; then fail "password in log"; fi
# Batched sends (io_uring, the default) unless the kernel refuses them, which
# is logged; io_uring = off relays with one send() per run.
grep -qE "event=proxy.listen .*io_uring=1|event=proxy.sendq.off" "$tmp/log" || fail "io_uring neither on nor reported off: $(cat "$tmp/log")"
TETHER_PROXY_IO_URING=off "$TETHER_BIN" proxy --listen 127.0.0.1:$port --upstream "$up" --auth trust > "$tmp/log2" 2>&1 &
pid=$!
cleanup_add "kill $pid 2>/dev/null || true"
wait_port "$port"
got=$(psql -X -At "host=127.0.0.1 port=$port user=whoever dbname=$PGDATABASE" -c "select count(*) from generate_series(1, 50000)")
assert_eq "50000" "$got" "query through a proxy with io_uring = off"
grep -q "event=proxy.listen .*io_uring=0" "$tmp/log2" || fail "io_uring = off not in log: $(cat "$tmp/log2")"
kill -TERM "$pid"
wait "$pid" || fail "proxy (io_uring=off) exited $? after SIGTERM: $(cat "$tmp/log2")"
echo ok
