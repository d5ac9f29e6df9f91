#!/usr/bin/env bash
# Instructions counted by callgrind: per 64-byte allocation of each allocator in
# allocation_count.cc (1000 and 5000 rounds of 256 allocations), and per empty scope and empty
# dispatch with their anchors in scope_count.cc (100000 and 500000 rounds); the difference of
# the two counts cancels start-up. Needs valgrind; not part of CI. Usage: tests/bench/count.sh
# (from the workspace).
set -euo pipefail
cd "$(dirname "$0")/../.."
# Under NVALGRIND the client-request macros vanish, leaving the annotation helpers' parameters
# unused. corepy_valgrind: Highway's dispatch entry points that Valgrind can load (.bazelrc).
flags=(-c opt --copt=-DNVALGRIND --copt=-Wno-unused-parameter --platform_suffix=nvg
  --define=corepy_valgrind=1)
bazel build "${flags[@]}" //tests/bench:allocation_count //tests/bench:scope_count
bin=$(bazel info "${flags[@]}" bazel-bin 2>/dev/null)/tests/bench
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin/$1" "$2" "$3" 2>&1 |
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
for which in arena arena_virtual monotonic_virtual llvm protobuf; do
  a=$(count allocation_count "$which" 1000)
  b=$(count allocation_count "$which" 5000)
  awk -v w="$which" -v a="$a" -v b="$b" \
    'BEGIN { printf "%-18s %6.2f instructions per allocation\n", w, (b - a) / (4000 * 256) }'
done
for which in no_scope empty_scope empty_kernel empty_dispatch nd_rows_kernel nd_rows_dispatch \
  nd_columns_kernel nd_columns_dispatch; do
  a=$(count scope_count "$which" 100000)
  b=$(count scope_count "$which" 500000)
  awk -v w="$which" -v a="$a" -v b="$b" \
    'BEGIN { printf "%-18s %6.2f instructions per round\n", w, (b - a) / 400000 }'
done
