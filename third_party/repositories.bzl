"""corepy_dependencies(): every external repository corepy needs, from Debian packages.

A monorepo that embeds corepy calls this from its WORKSPACE. Each repository is declared only when
the caller has not already declared one of that name, so a monorepo's own Abseil, GoogleTest,
Benchmark, ... win, as long as they carry upstream's labels (ours do too).
"""

load("//third_party:system_repository.bzl", "shim_repository", "system_repository")

def _maybe(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

# Abseil targets at the root of @com_google_absl, by the upstream package they belong to.
_ABSL_PACKAGES = {
    "absl/algorithm": [],
    "absl/base": ["base", "config", "core_headers"],
    "absl/cleanup": ["cleanup"],
    "absl/container": ["fixed_array", "flat_hash_map", "flat_hash_set", "inlined_vector", "node_hash_map"],
    "absl/debugging": ["failure_signal_handler", "stacktrace", "symbolize"],
    "absl/flags": ["flag", "parse", "usage"],
    "absl/functional": ["function_ref"],
    "absl/hash": ["hash"],
    "absl/memory": ["memory"],
    "absl/meta": ["type_traits"],
    "absl/numeric": ["bits", "int128"],
    "absl/random": ["random"],
    "absl/status": ["status", "statusor"],
    "absl/strings": ["str_format", "strings"],
    "absl/synchronization": ["synchronization"],
    "absl/time": ["time"],
    "absl/types": ["optional", "span", "variant"],
    "absl/utility": ["utility"],
}

# The Debian packages corepy builds from, by repository name: system_repository's arguments.
# corepy_dependencies() declares them for a WORKSPACE; the `debian_packages` module extension
# (third_party/extensions.bzl) for bzlmod.
SYSTEM_REPOSITORIES = {
    "com_github_google_highway": {
        "build_file": Label("//third_party:highway.BUILD"),
        "headers": ["hwy/highway.h", "hwy/contrib/dot/dot-inl.h"],
        "libraries": ["libhwy.so", "libhwy_contrib.so"],
        "packages": ["libhwy-dev"],
    },
    "com_google_absl": {
        "alias_packages": _ABSL_PACKAGES,
        "build_file": Label("//third_party:absl.BUILD"),
        "headers": ["absl/base/config.h", "absl/status/statusor.h"],
        "libraries": ["libabsl_base.so", "libabsl_statusor.so", "libabsl_flags_parse.so"],
        "packages": ["libabsl-dev"],
    },
    "com_google_benchmark": {
        "build_file": Label("//third_party:benchmark.BUILD"),
        "headers": ["benchmark/benchmark.h"],
        "libraries": ["libbenchmark.so", "libbenchmark_main.a"],
        "packages": ["libbenchmark-dev"],
    },
    "com_google_googletest": {
        "build_file": Label("//third_party:googletest.BUILD"),
        "headers": ["gtest/gtest.h", "gmock/gmock.h"],
        "libraries": ["libgtest.a", "libgtest_main.a", "libgmock.a"],
        "packages": ["libgtest-dev", "libgmock-dev"],
    },
    "eigen": {
        "build_file": Label("//third_party:eigen.BUILD"),
        "headers": ["eigen3/Eigen/Core"],
        "packages": ["libeigen3-dev"],
        "symlinks": {
            "/usr/include/eigen3/Eigen": "Eigen",
            "/usr/include/eigen3/unsupported": "unsupported",
        },
    },
    "fp16": {
        "build_file": Label("//third_party:fp16.BUILD"),
        "headers": ["fp16.h", "fp16/fp16.h"],
        "packages": ["libfp16-dev"],
    },
    # LLVM's BumpPtrAllocator, an anchor of tests/bench/allocators_benchmark.cc only.
    "llvm": {
        "build_file": Label("//third_party:llvm.BUILD"),
        "headers": ["llvm/Support/Allocator.h"],
        "include_dirs": ["/usr/lib/llvm-14/include"],
        "libraries": ["libLLVM-14.so"],
        "packages": ["llvm-14-dev"],
        "symlinks": {
            "/usr/lib/llvm-14/include/llvm": "llvm_include/llvm",
            "/usr/lib/llvm-14/include/llvm-c": "llvm_include/llvm-c",
        },
    },
    "mimalloc": {
        "build_file": Label("//third_party:mimalloc.BUILD"),
        "headers": ["mimalloc.h"],
        "libraries": ["libmimalloc.so"],
        "packages": ["libmimalloc-dev"],
    },
    "onetbb": {
        "build_file": Label("//third_party:onetbb.BUILD"),
        "headers": ["oneapi/tbb/parallel_for.h"],
        "libraries": ["libtbb.so"],
        "packages": ["libtbb-dev"],
    },
    # protobuf's Arena, an anchor of tests/bench/allocators_benchmark.cc only.
    "protobuf": {
        "build_file": Label("//third_party:protobuf.BUILD"),
        "headers": ["google/protobuf/arena.h"],
        "libraries": ["libprotobuf.so"],
        "packages": ["libprotobuf-dev"],
    },
    # Debian 12's Python (3.11): the headers of the interpreter its python3 package installs, for
    # the Python package's native module (python/).
    "python": {
        "build_file": Label("//third_party:python.BUILD"),
        "headers": ["pybind11/pybind11.h"],
        "packages": ["python3-dev", "pybind11-dev", "python3-numpy"],
        "symlinks": {
            "/usr/include/python3.11": "python_include",
            "/usr/lib/python3/dist-packages/numpy/core/include": "numpy_include",
        },
    },
    "valgrind": {
        "build_file": Label("//third_party:valgrind.BUILD"),
        "headers": ["valgrind/valgrind.h", "valgrind/memcheck.h"],
        "packages": ["valgrind"],
    },
}

def corepy_dependencies():
    """Declares corepy's external repositories that the caller does not already have."""

    # Bazel 4.2.3 would download rules_cc, rules_java and remote_coverage_tools by itself, and
    # corepy's BUILD files load the rules from rules_cc and rules_shell as current Bazel wants:
    # offline stand-ins keep it all local.
    _maybe(
        shim_repository,
        name = "rules_cc",
        files = {Label("//third_party/shims:rules_cc_defs.bzl"): "cc/defs.bzl"},
        packages = ["", "cc"],
    )
    _maybe(
        shim_repository,
        name = "rules_java",
        files = {Label("//third_party/shims:rules_java_defs.bzl"): "java/defs.bzl"},
        packages = ["", "java"],
    )
    _maybe(
        shim_repository,
        name = "rules_shell",
        files = {
            Label("//third_party/shims:rules_shell_sh_binary.bzl"): "shell/sh_binary.bzl",
            Label("//third_party/shims:rules_shell_sh_test.bzl"): "shell/sh_test.bzl",
        },
        packages = ["", "shell"],
    )
    _maybe(
        shim_repository,
        name = "remote_coverage_tools",
        files = {
            Label("//third_party/shims:remote_coverage_tools.BUILD"): "BUILD.bazel",
            Label("//third_party/shims:unavailable.sh"): "unavailable.sh",
        },
    )

    for name, kwargs in SYSTEM_REPOSITORIES.items():
        _maybe(system_repository, name = name, **kwargs)
