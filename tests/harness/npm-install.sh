#!/usr/bin/env bash
# npm-install.sh DIR - installs DIR's npm packages (from package-lock.json when
# present) unless node_modules is already up to date with it.
set -euo pipefail
dir=${1:?}
cd "$dir"
[ -f package.json ] || exit 0
stamp=node_modules/.tether-stamp
want=$(cat package.json $([ -f package-lock.json ] && echo package-lock.json) | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "npm-install: $dir up to date"; exit 0
fi
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
echo "$want" > "$stamp"
