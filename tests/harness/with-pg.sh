#!/usr/bin/env bash
# with-pg.sh STATE_DIR TEST_NAME COMMAND... - runs COMMAND against the test
# cluster (started by `pg.sh start STATE_DIR`) with a fresh database of its own,
# named after the test. Exports PG* and TETHER_TEST_DATABASE_URL for it.
set -euo pipefail
state=${1:?}; name=${2:?}; shift 2
[ -f "$state/env" ] || { echo "with-pg.sh: no test cluster in $state (pg_start fixture failed?)" >&2; exit 1; }
# shellcheck disable=SC1091
. "$state/env"
db=$(echo "t_$name" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_\n' '_' | cut -c1-60)
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
  -c "CREATE DATABASE \"$db\"" >/dev/null
export PGDATABASE=$db
export TETHER_TEST_DATABASE=$db
export TETHER_TEST_DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$PGPORT/$db"
exec "$@"
