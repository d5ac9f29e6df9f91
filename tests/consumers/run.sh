#!/usr/bin/env bash
# Builds and runs both consumers of an installed corepy (each: examples/registry.cc and
# version_check.cc), and compiles every installed header on its own, against the install at PREFIX:
#   tests/consumers/run.sh PREFIX [WORKDIR]
# Exits non-zero on the first failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=$(cd "$1" && pwd)
work=${2:-$(mktemp -d)}
mkdir -p "$work"
pcdir=$(dirname "$(find "$prefix" -name corepy.pc -path '*/pkgconfig/*' | head -1)")

echo "--- every installed header compiles on its own (g++ -std=c++17 -fsyntax-only)"
cflags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags corepy)
n=0
while IFS= read -r h; do
  # shellcheck disable=SC2086
  g++ -std=c++17 -fsyntax-only $cflags -x c++ "$h"
  n=$((n + 1))
done < <(find "$prefix/include/allocators" "$prefix/include/corepy" "$prefix/include/ops" -name '*.h')
echo "$n headers"

echo "--- find_package(corepy CONFIG REQUIRED) (tests/consumers/cmake)"
cmake -S "$here/cmake" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cmake" -j2 >/dev/null
"$work/cmake/registry_example"
echo "registry_example: ok"
"$work/cmake/version_check"

echo "--- pkg-config --cflags --libs corepy (tests/consumers/pkgconfig)"
mkdir -p "$work/pkgconfig"
PKG_CONFIG_PATH="$pcdir" make -s -C "$work/pkgconfig" -f "$here/pkgconfig/Makefile"
"$work/pkgconfig/registry_example"
echo "registry_example: ok"
"$work/pkgconfig/version_check"
