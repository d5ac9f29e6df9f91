"""Compiler flags for every corepy target, in one place (as Abseil's copts do)."""

# Warnings are part of our build, not of a consumer's: the flags travel with our targets when a
# monorepo embeds corepy. -Werror is added by .bazelrc for corepy's own builds only.
COREPY_COPTS = [
    "-Wall",
    "-Wextra",
    "-Wshadow",
    "-Wnon-virtual-dtor",
]

# Tests and benchmarks: the same warnings; gtest's macros compare signed and unsigned freely.
COREPY_TEST_COPTS = COREPY_COPTS + ["-Wno-sign-compare"]
