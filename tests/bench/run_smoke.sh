#!/usr/bin/env bash
# Runs a benchmark binary briefly; fails if it crashes or a benchmark reports an error.
set -euo pipefail
out=$("$@" 2>&1) || { echo "$out"; exit 1; }
echo "$out"
if grep -q "ERROR OCCURRED" <<<"$out"; then
  echo "a benchmark reported an error" >&2
  exit 1
fi
