#!/usr/bin/env bash
# scripts/run-fuzz.sh BUILD_DIR SECONDS — runs every libFuzzer target in BUILD_DIR/fuzz
# for SECONDS each, starting from a scratch copy of its seed corpus in fuzz/corpus/NAME
# (the committed seeds are never modified). Fails on the first crash.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1 secs=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for bin in "$dir"/fuzz/fuzz_*; do
  name=$(basename "$bin"); name=${name#fuzz_}
  mkdir -p "$work/$name"
  [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/$name/"
  echo "fuzz: $name for ${secs}s"
  if ! "$bin" -max_total_time="$secs" -print_final_stats=0 -artifact_prefix="$work/" "$work/$name" \
      >"$work/$name.log" 2>&1; then
    tail -40 "$work/$name.log"
    echo "fuzz: $name FAILED"; status=1
  else
    grep -E "^(#[0-9]+.*DONE|Done)" "$work/$name.log" | tail -1 || true
  fi
done
exit $status
