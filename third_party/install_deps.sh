#!/usr/bin/env bash
# Installs the Debian packages corepy builds from (Bazel, its libraries, the tools its tests use).
# Idempotent, and quick when everything is already there: it only calls apt-get for what is
# missing. Usage: bash third_party/install_deps.sh
set -euo pipefail

packages=(
  bazel-bootstrap      # Bazel 4.2.3
  g++
  python3
  python3-numpy        # the anchor of tests/bench_arena.py
  libabsl-dev          # @com_google_absl
  libgtest-dev         # @com_google_googletest
  libgmock-dev
  libbenchmark-dev     # @com_google_benchmark
  libhwy-dev           # @com_github_google_highway
  libfp16-dev          # @fp16: IEEE half-precision conversions (header-only)
  libtbb-dev           # @onetbb
  libmimalloc-dev      # @mimalloc
  libeigen3-dev        # @eigen (benchmark anchor)
  llvm-14-dev          # @llvm: BumpPtrAllocator (benchmark anchor)
  libprotobuf-dev      # @protobuf: Arena (benchmark anchor)
  valgrind             # @valgrind headers, --config=valgrind
  clang-14             # --config=fuzz (tests/fuzz/run_fuzz.sh)
  libclang-rt-14-dev   # libFuzzer and clang's sanitizer runtimes, for --config=fuzz
  lld-14               # the linker --config=fuzz uses
  cmake                # the CMake build (CMakeLists.txt), .ci/run's CMake stage
  make
  pkg-config           # tests/consumers/pkgconfig
  python3-dev          # the Python package (python/): CPython's headers, @python
  pybind11-dev         # @python: pybind11's headers
  python3-pybind11
  python3-setuptools   # python/'s build backend (pip install --no-build-isolation ./python)
  python3-venv
  python3-pip
  python3-pytest       # tests/python
  python3-hypothesis
  python3-matplotlib   # tools/timeline_plot.py: the memory timeline as a PNG
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ $status == ii* ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "corepy: installing ${missing[*]}" >&2
sudo=()
if ((EUID != 0)); then
  if ! command -v sudo >/dev/null; then
    echo "corepy: need root to install ${missing[*]}; run: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "corepy: installed ${missing[*]}" >&2
