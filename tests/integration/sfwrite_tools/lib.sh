# sfwrite_tools/lib.sh - shared steps of the Salesforce write-through tests
# (source it after tests/harness/lib.sh). Every process started here is killed
# on exit.
#   sfw_setup [EMU ARGS...]  Salesforce emulator (seeded), `tether sync --source
#                            salesforce` until the backfill is done, and
#                            `tether proxy --source salesforce` -> $PX_URL
#   sfw_proxy_start [ARGS...] the proxy alone, with extra proxy arguments
#   px / px_err / db / px_proxy_stop   from write_tools/px.sh
#   sf_get OBJECT ID         the record at the emulator (JSON)
#   sf_usage                 the emulator's API request counter (api-usage N)
. "$TETHER_SOURCE_DIR/tests/integration/sfsync_tools/lib.sh"
. "$TETHER_SOURCE_DIR/tests/integration/write_tools/px.sh"

sfw_proxy_start() {
  px_proxy_start salesforce --login-url "$EMU_URL" --client-id tether-sf-client \
    --client-secret tether-sf-secret --username admin@tether.example --password tether-sf-password "$@"
}

sfw_setup() {
  sfemu_start --seed-accounts 3 --seed-contacts "${SFW_SEED_CONTACTS:-20}" "$@"
  sfsync_start s
  wait_log "$WORK/s.log" "event=sync.backfill_done" 90
  sfw_proxy_start
}

sf_token() {
  curl -sf "$EMU_URL/services/oauth2/token" -d grant_type=password -d client_id=tether-sf-client \
    -d client_secret=tether-sf-secret -d username=admin@tether.example -d password=tether-sf-password |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
sf_get() { # OBJECT ID -> JSON of the record, or fails
  curl -sf --retry 30 --retry-delay 0 -H "Authorization: Bearer $(sf_token)" "$EMU_URL/services/data/v59.0/sobjects/$1/$2"
}
sf_field() { # OBJECT ID FIELD -> the field's value
  sf_get "$1" "$2" | "$PY" -c "import json,sys; v=json.load(sys.stdin).get('$3'); print('' if v is None else v)"
}
sf_usage() { # the api-usage counter (this call itself counts too)
  curl -sf -D - -o /dev/null -H "Authorization: Bearer $(sf_token)" "$EMU_URL/services/data/v59.0/limits" |
    sed -n 's/^[Ss]force-[Ll]imit-[Ii]nfo: *api-usage=\([0-9]*\).*/\1/p'
}

