#!/usr/bin/env bash
# Instructions per 64-byte allocation of each allocator in allocation_count.cc, counted by
# callgrind at 1000 and 5000 rounds of 256 allocations (the difference cancels start-up).
# Needs valgrind; not part of CI. Usage: tests/bench/count.sh (from the workspace).
set -euo pipefail
cd "$(dirname "$0")/../.."
# Under NVALGRIND the client-request macros vanish, leaving the annotation helpers' parameters
# unused.
flags=(-c opt --copt=-DNVALGRIND --copt=-Wno-unused-parameter --platform_suffix=nvg)
bazel build "${flags[@]}" //tests/bench:allocation_count
bin=$(bazel info "${flags[@]}" bazel-bin 2>/dev/null)/tests/bench/allocation_count
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
for which in arena arena_virtual monotonic_virtual llvm protobuf; do
  a=$(count "$which" 1000)
  b=$(count "$which" 5000)
  awk -v w="$which" -v a="$a" -v b="$b" \
    'BEGIN { printf "%-18s %6.2f instructions per allocation\n", w, (b - a) / (4000 * 256) }'
done
