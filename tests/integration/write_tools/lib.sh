# write_tools/lib.sh - shared steps of the write-through tests (source it
# after tests/harness/lib.sh). Every process started here is killed on exit.
#   wt_setup [EMU ARGS...]   emulator (seeded), `tether sync` until the backfill
#                            is done, and `tether proxy --source stripe` -> $PX_URL
#   wt_proxy_start [ARGS...] the proxy alone, with extra proxy arguments
#   px / px_err / db / px_proxy_stop   from write_tools/px.sh
#   emu_count_email EMAIL    customers at the emulator with that email
#   emu_customer ID          the customer at the emulator (JSON)
. "$TETHER_SOURCE_DIR/tests/integration/sync_tools/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/write_tools/px.sh"

wt_proxy_start() { px_proxy_start stripe --api-key sk_test_tether --api-base "$EMU_URL" "$@"; }

wt_setup() {
  emu_start --seed-customers "${WT_SEED_CUSTOMERS:-5}" --seed-random 3 "$@"
  sync_start s
  wait_log "$WORK/s.log" "event=sync.backfill_done" 60
  wt_proxy_start
}

emu_count_email() {
  curl -sf -u sk_test_tether: "$EMU_URL/v1/customers?limit=100&email=$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))'
}
emu_customer() { curl -sf -u sk_test_tether: "$EMU_URL/v1/customers/$1"; }
