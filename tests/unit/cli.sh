#!/usr/bin/env bash
# cli.sh - the command-line contract: help, version, dispatch, exit codes and
# one-line usage errors for every subcommand.
set -uo pipefail
T=${TETHER_BIN:?}
failures=0
check() { # check WANT_RC DESCRIPTION CMD...
  local want=$1 desc=$2; shift 2
  "$@" >/tmp/cli.out.$$ 2>/tmp/cli.err.$$; local rc=$?
  if [ "$rc" != "$want" ]; then
    echo "FAIL: $desc: exit $rc, want $want"; cat /tmp/cli.err.$$; failures=$((failures + 1))
  else echo "ok: $desc"; fi
}
one_line_err() { # the last command's stderr is exactly one line mentioning $1
  local n; n=$(wc -l < /tmp/cli.err.$$)
  if [ "$n" != 1 ] || ! grep -q -- "$1" /tmp/cli.err.$$; then
    echo "FAIL: expected one stderr line mentioning '$1', got:"; cat /tmp/cli.err.$$; failures=$((failures + 1))
  fi
}
check 0 "--help" "$T" --help; grep -q "Commands:" /tmp/cli.out.$$ || { echo "FAIL: help text"; failures=$((failures+1)); }
check 0 "--version" "$T" --version; grep -Eq '^tether [0-9]+\.[0-9]+\.[0-9]+$' /tmp/cli.out.$$ || { echo "FAIL: version text"; failures=$((failures+1)); }
check 2 "no command" "$T"
check 2 "unknown command" "$T" frobnicate; one_line_err "unknown command 'frobnicate'"
check 2 "unknown global option" "$T" --frob; one_line_err "unknown option '--frob'"
for cmd in setup sync proxy run status demo emulate config; do
  check 0 "$cmd --help" "$T" "$cmd" --help
  grep -q "Usage: tether $cmd" /tmp/cli.out.$$ || { echo "FAIL: $cmd help text"; failures=$((failures+1)); }
  check 2 "$cmd unknown option" "$T" "$cmd" --no-such-flag; one_line_err "'--no-such-flag'"
done
check 2 "proxy missing argument" "$T" proxy --listen; one_line_err "'--listen'"
check 2 "emulate without API" "$T" emulate; one_line_err "missing API name"
check 2 "emulate unknown API" "$T" emulate paypal; one_line_err "unknown API 'paypal'"
check 2 "emulate salesforce after stripe flags" "$T" emulate --listen 127.0.0.1:1 salesforce; one_line_err "put 'salesforce' before its options"
check 2 "sync unknown source" "$T" sync --source paypal --database x; one_line_err "unknown source"
check 2 "sync without database" env -u TETHER_CONFIG "$T" sync --source stripe --api-key sk_test_x; one_line_err "no database"
check 2 "sync flag without source" "$T" sync --api-key sk_x --database x; one_line_err "needs --source"
check 2 "setup apply without admin url" "$T" setup --apply; one_line_err "--admin-url"
check 1 "proxy bad config value" env TETHER_PROXY_MAX_CLIENT_CONN=zero "$T" proxy --upstream postgres://x
# Environment variables apply to a sync section created by --source (flags still win).
check 2 "env applies to --source sync" env TETHER_SYNC_STRIPE_POLL_INTERVAL_MS=soon "$T" sync --source stripe --api-key sk_x --database postgres://127.0.0.1:1/x
one_line_err "TETHER_SYNC_STRIPE_POLL_INTERVAL_MS"
check 2 "proxy unknown source" "$T" proxy --source paypal --upstream postgres://x; one_line_err "unknown source 'paypal' (stripe or salesforce)"
check 2 "proxy salesforce flag without --source" "$T" proxy --login-url http://x --upstream postgres://x; one_line_err "'--login-url' needs --source"
check 2 "env applies to proxy --source sync" env TETHER_SYNC_STRIPE_PAGE_SIZE=0 "$T" proxy --source stripe --api-key sk_x --upstream postgres://127.0.0.1:1/x
one_line_err "TETHER_SYNC_STRIPE_PAGE_SIZE"
# A broken config file names file, line and key and never shows a secret.
cfgf=$(mktemp); printf '[sync.s]\nsource = stripe\napi_key = sk_live_TOPSECRET\nwat = 1\n' > "$cfgf"
check 1 "bad config file" "$T" config -c "$cfgf"; one_line_err "$cfgf:4: unknown key 'wat'"
grep -q TOPSECRET /tmp/cli.err.$$ && { echo "FAIL: secret in error"; failures=$((failures+1)); }
printf '[sync.s]\nsource = stripe\napi_key = sk_live_TOPSECRET\n' > "$cfgf"
check 0 "config dump" "$T" config -c "$cfgf"
grep -q TOPSECRET /tmp/cli.out.$$ && { echo "FAIL: secret in dump"; failures=$((failures+1)); }
grep -q 'api_key = \*\*\*' /tmp/cli.out.$$ || { echo "FAIL: dump lacks masked api_key"; failures=$((failures+1)); }
rm -f "$cfgf" /tmp/cli.out.$$ /tmp/cli.err.$$
echo "cli: $failures failure(s)"
[ "$failures" = 0 ]
