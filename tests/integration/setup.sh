#!/usr/bin/env bash
# setup.sh - `tether setup` against the real test cluster: the printed SQL and
# --apply both work, are idempotent, and produce the user, the read role with
# Tether as its admin, CONNECT/CREATE on the database and the Supabase grants.
set -euo pipefail
. "$TETHER_SOURCE_DIR/tests/harness/lib.sh"
T=$TETHER_BIN
q() { psql -X -At -v ON_ERROR_STOP=1 "$@"; }

# Unique role names per run: roles are cluster-wide, the database is ours.
sfx=$RANDOM$$
user=tether_$sfx; reader=tread_$sfx
cleanup_add "psql -X -q -d postgres -c 'DROP OWNED BY $user, $reader CASCADE' -d $PGDATABASE >/dev/null 2>&1; psql -X -q -c 'DROP ROLE IF EXISTS $user' -c 'DROP ROLE IF EXISTS $reader' >/dev/null 2>&1"
for r in anon authenticated service_role; do
  q -c "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='$r') THEN CREATE ROLE $r NOLOGIN; END IF; END\$\$" >/dev/null
done

# 1. Printed SQL: readable, carries the names, runs in psql as is, twice.
sql=$("$T" setup --user "$user" --read-role "$reader" --schema stripe --password 'S3cret-pass')
for want in "CREATE ROLE $user LOGIN PASSWORD 'S3cret-pass'" "GRANT CONNECT, CREATE ON DATABASE" \
            "GRANT $reader TO $user WITH ADMIN OPTION" "'anon', 'authenticated', 'service_role'" \
            "GRANT USAGE ON SCHEMA stripe TO $reader"; do
  grep -qF "$want" <<<"$sql" || fail "printed SQL lacks: $want"
done
echo "$sql" | q -q >/dev/null 2>&1 || fail "printed SQL does not run"
echo "$sql" | q -q >/dev/null 2>&1 || fail "printed SQL is not idempotent"

# 2. The user can log in with its password and create a schema in our database.
PGPASSWORD='S3cret-pass' q -U "$user" -c "CREATE SCHEMA stripe; CREATE TABLE stripe.customer (id text primary key)" >/dev/null \
  || fail "tether user cannot connect and create"
assert_eq "t" "$(q -c "SELECT pg_has_role('$user', '$reader', 'USAGE')")" "user is a member of the read role"
assert_eq "t" "$(q -c "SELECT admin_option FROM pg_auth_members WHERE roleid = '$reader'::regrole AND member = '$user'::regrole")" "admin option"
for r in anon authenticated service_role postgres; do
  assert_eq "t" "$(q -c "SELECT pg_has_role('$r', '$reader', 'MEMBER')")" "$r granted the read role"
done

# 3. --apply with an existing schema grants usage, existing and future tables,
#    and keeps the password when none is given (idempotent).
out=$("$T" setup --apply --admin-url "$TETHER_TEST_DATABASE_URL" --user "$user" --read-role "$reader" --schema stripe 2>&1)
grep -q "database ready for user $user" <<<"$out" || fail "apply output: $out"
grep -q "password" <<<"$out" && fail "apply printed a password for an existing user: $out"
PGPASSWORD='S3cret-pass' q -U "$user" -c "CREATE TABLE stripe.price (id text primary key)" >/dev/null
assert_eq "t" "$(q -c "SELECT has_schema_privilege('$reader', 'stripe', 'USAGE')")" "usage on schema"
assert_eq "t" "$(q -c "SELECT has_table_privilege('$reader', 'stripe.customer', 'SELECT')")" "select on existing table"
assert_eq "t" "$(q -c "SELECT has_table_privilege('$reader', 'stripe.price', 'SELECT')")" "select on future table (default privileges)"
assert_eq "t" "$(q -c "SELECT has_table_privilege('anon', 'stripe.price', 'SELECT')")" "anon reads through the read role"

# 4. --apply for a new user generates a password, shows it once, and it works.
user2=tether2_$sfx
cleanup_add "psql -X -q -c 'DROP OWNED BY $user2 CASCADE' >/dev/null 2>&1; psql -X -q -c 'DROP ROLE IF EXISTS $user2' >/dev/null 2>&1"
out=$("$T" setup --apply --admin-url "$TETHER_TEST_DATABASE_URL" --user "$user2" --read-role "$reader" --schema nosuchschema 2>&1)
grep -q "schema nosuchschema does not exist yet" <<<"$out" || fail "missing-schema notice: $out"
pw=$(sed -n "s/.*created user $user2 with password \([A-Za-z0-9]*\) .*/\1/p" <<<"$out")
[ ${#pw} -eq 32 ] || fail "no generated password shown: $out"
PGPASSWORD=$pw q -U "$user2" -c "SELECT 1" >/dev/null || fail "generated password does not work"

# 5. Bad input: invalid names and unreachable admin URL fail clearly.
"$T" setup --user 'x; DROP TABLE y' >/dev/null 2>&1 && fail "accepted a hostile role name"
set +e
err=$("$T" setup --apply --admin-url "postgres://postgres:NotThePassword@127.0.0.1:$PGPORT/postgres" 2>&1); rc=$?
set -e
[ "$rc" = 1 ] || fail "bad admin URL: exit $rc"
grep -q "NotThePassword" <<<"$err" && fail "password leaked in error: $err"
grep -q "cannot connect" <<<"$err" || fail "unclear error: $err"
echo "setup: ok"
