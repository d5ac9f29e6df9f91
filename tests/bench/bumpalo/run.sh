#!/usr/bin/env bash
# bumpalo (Rust) beside corepy's arena, in one window: builds tests/bench/bumpalo/main.rs against
# a copy of bumpalo's repository (cargo build --offline --release, a path dependency; nothing of
# bumpalo is kept in corepy), then runs the arena's allocation benchmark and bumpalo's loop back
# to back. Not part of CI.
#
# Usage: tests/bench/bumpalo/run.sh BUMPALO_CHECKOUT [ALLOCATORS_BENCHMARK_BINARY]
# Without cargo or the checkout it says so and exits 0 (nothing to measure).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-}
if [[ -z $src || ! -f $src/Cargo.toml ]] || ! command -v cargo >/dev/null; then
  echo "bumpalo: skipped (needs cargo and a copy of github.com/fitzgen/bumpalo: $0 PATH)"
  exit 0
fi
work=$(mktemp -d /tmp/corepy-bumpalo.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cp "$here/main.rs" "$work/src/main.rs"
cat >"$work/Cargo.toml" <<TOML
[package]
name = "bumpalo_bench"
version = "0.1.0"
edition = "2021"

[dependencies]
bumpalo = { path = "$(cd "$src" && pwd)" }

[profile.release]
opt-level = 3
codegen-units = 1
TOML
cargo build --offline --release --quiet --manifest-path "$work/Cargo.toml"
bin=$work/target/release/bumpalo_bench
if [[ -n ${2:-} ]]; then
  "$2" --benchmark_filter='BM_ArenaConcrete/64|BM_LlvmBumpPtr/64|BM_ProtobufArena/64' \
    --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
fi
"$bin"
if command -v valgrind >/dev/null; then
  # Instructions per allocation: two fixed round counts, so start-up cancels out.
  count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
  a=$(count 1000)
  b=$(count 5000)
  awk -v a="$a" -v b="$b" 'BEGIN { printf "bumpalo/64  %.2f instructions per allocation (callgrind)\n", (b - a) / (4000 * 256) }'
fi
