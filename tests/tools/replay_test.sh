#!/usr/bin/env bash
# //tools:replay on the committed trace (tests/data/soak_arena.trace): every default spec and
# the advised configuration replay without error, the advice is printed, and the advised
# configuration spills no more than the default arena. A truncated trace is refused with a
# message, exit status 1.
set -euo pipefail
replay=$1
trace=$2
out=$("$replay" "$trace")
echo "$out"
for spec in '| arena ' '| system ' '| pool ' '| arena(upstream=mimalloc) ' '| arena(size=64KiB) ' \
  '| arena, advised'; do
  grep -qF -- "$spec" <<<"$out" || { echo "FAIL: no row for $spec"; exit 1; }
done
if grep -q 'error:' <<<"$out"; then echo "FAIL: a replay failed"; exit 1; fi
grep -q '^  COREPY_OP_ARENA_SIZES=sum_f32=' <<<"$out" || { echo "FAIL: no op advice"; exit 1; }
grep -q '^  COREPY_ARENA_SIZE=[0-9]' <<<"$out" || { echo "FAIL: no arena advice"; exit 1; }
spills() { grep -F -- "$1" <<<"$out" | awk -F'|' '{gsub(/ /, "", $6); print $6}'; }
(($(spills '| arena, advised') <= $(spills '| arena    '))) || { echo "FAIL: advice spills more"; exit 1; }
bad=$(mktemp)
head -c 100 "$trace" >"$bad"
if msg=$("$replay" "$bad" 2>&1); then echo "FAIL: a truncated trace was accepted"; exit 1; fi
grep -q 'truncated' <<<"$msg" || { echo "FAIL: unclear message: $msg"; exit 1; }
rm -f "$bad"
echo PASS
