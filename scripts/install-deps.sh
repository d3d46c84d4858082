#!/usr/bin/env bash
# Installs every Debian package Tether's build, tests, benchmarks and demo need.
# Idempotent; run as root on Debian 12 (uses sudo when not root).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  # build
  build-essential cmake pkg-config clang llvm libclang-rt-14-dev
  # libraries
  libpq-dev libpg-query-dev libcurl4-openssl-dev libssl-dev libjansson-dev libjsmn-dev
  libevent-dev libmicrohttpd-dev libinih-dev libcmocka-dev liburing-dev
  # real Postgres server and clients for tests
  postgresql postgresql-client postgresql-contrib pgbouncer
  python3 python3-psycopg
  default-jdk-headless libpostgresql-jdbc-java
  # tools used by tests and benchmarks
  curl procps iproute2 openssl
)

# Node.js runs the SDK tests (stripe-node, jsforce, node-postgres, postgres.js).
# Keep a Node.js that is already installed (it may bundle npm); else Debian's.
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's postgresql package starts a cluster on 5432; the tests start their own.
echo "install-deps: all packages present"
