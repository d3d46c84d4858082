#!/usr/bin/env bash
# run-all.sh BUILD_DIR SECONDS - runs every fuzz target for SECONDS each,
# starting from its seed corpus (fuzz/seeds/<target>/ when present) and with
# its dictionary (fuzz/<target>.dict when present). Fails on
# the first crash, leak or sanitizer report.
set -euo pipefail
build=${1:?}; secs=${2:?}
here=$(cd "$(dirname "$0")" && pwd)
shopt -s nullglob
for src in "$here"/fuzz_*.c; do
  name=$(basename "$src" .c)
  corpus="$build/fuzz-corpus/$name"
  mkdir -p "$corpus"
  seeds=()
  [ -d "$here/seeds/$name" ] && seeds=("$here/seeds/$name")
  dict=()
  [ -f "$here/$name.dict" ] && dict=("-dict=$here/$name.dict")
  echo "fuzz: $name for ${secs}s"
  "$build/fuzz/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
    "$corpus" "${seeds[@]}" 2>&1 | tail -n 12
done
echo "fuzz: all targets ran clean"
