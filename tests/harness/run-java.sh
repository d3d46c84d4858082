#!/usr/bin/env bash
# run-java.sh FILE.java [ARGS...] - compiles and runs a single-file JDBC test
# with Debian's PostgreSQL JDBC driver on the class path.
set -euo pipefail
src=${1:?}; shift
jar=$(ls /usr/share/java/postgresql.jar /usr/share/java/postgresql-*.jar 2>/dev/null | head -n 1)
[ -n "$jar" ] || { echo "run-java.sh: libpostgresql-jdbc-java is not installed" >&2; exit 1; }
exec java -cp "$jar" "$src" "$@"
