#!/usr/bin/env bash
# clients_pgbench.sh - pgbench through `tether proxy` (SCRAM login): pgbench -i,
# then the select-only and the default TPC-B-like scripts with 4 clients in
# each protocol mode (simple, extended, prepared). Asserts that every
# transaction succeeds, never how fast. TETHER_TEST_DIRECT=1 runs it against
# Postgres directly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../harness/lib.sh
. "$here/../harness/lib.sh"
work=$(mktemp -d /tmp/tether-pgbench.XXXXXX)
cleanup_add "rm -rf '$work'"
cleanup_add "'$here/../harness/proxy.sh' stop '$work/proxy'"
port=$("$here/../harness/proxy.sh" start "$work/proxy" --auth scram)
export PGPORT=$port PGSSLMODE=disable

pgbench -i -q -s 1 >"$work/init.log" 2>&1 || { cat "$work/init.log"; fail "pgbench -i"; }
assert_eq 100000 "$(psql -X -tAc 'SELECT count(*) FROM pgbench_accounts')" "accounts after -i"

for mode in simple extended prepared; do
  for script in -S -N; do
    log="$work/run-$mode$script.log"
    if ! pgbench -n "$script" -M "$mode" -c 4 -j 2 -t 200 >"$log" 2>&1; then
      cat "$log"; fail "pgbench $script -M $mode exited non-zero"
    fi
    grep -q "number of transactions actually processed: 800/800" "$log" \
      || { cat "$log"; fail "pgbench $script -M $mode did not process 800/800"; }
    if grep -q "number of failed transactions: [1-9]" "$log"; then
      cat "$log"; fail "pgbench $script -M $mode had failed transactions"
    fi
  done
done
# -N updates accounts; 3 modes x 800 transactions each wrote a history row.
assert_eq 2400 "$(psql -X -tAc 'SELECT count(*) FROM pgbench_history')" "history rows"
echo "clients_pgbench: all modes passed"
