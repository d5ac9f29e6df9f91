#!/usr/bin/env bash
# Soak run of the dispatch layer (issue #6, part 4): builds //tests/reliability:soak with -c opt
# and runs it for the given seconds under each allocator configuration, one process each, on 2
# threads. soak.cc defines the pass condition (RSS flat after warm-up: the mean RSS of the last
# window at most 1% above the first's) and prints the RSS samples, both windows, the growth and
# the slope; a result that differs from its reference, or a call that throws, fails too.
#
#   tests/reliability/run_soak.sh [seconds per configuration] [configuration ...]
#
# The long run (10 minutes per configuration: the first and the last minute after a one-minute
# warm-up are compared):
#   tests/reliability/run_soak.sh 600
# CI runs 30 s per configuration:
#   tests/reliability/run_soak.sh 30
# Configurations default to: arena system mimalloc (corepy allocator specs; any spec works).
# BAZEL_STARTUP_OPTIONS passes startup options to bazel (e.g. --output_base=...).
# SOAK_BAZEL_FLAGS (default -c opt) are the build's flags. CI sets it empty: it soaks the default
# build that `bazel test //...` has just compiled, its debug checks on, rather than compile the
# whole library once more.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-10}
shift || true
configs=("$@")
((${#configs[@]})) || configs=(arena system mimalloc)

read -r -a flags <<<"${SOAK_BAZEL_FLAGS--c opt}"
# shellcheck disable=SC2086  # startup options are words
bazel ${BAZEL_STARTUP_OPTIONS:-} build "${flags[@]}" --symlink_prefix=/ //tests/reliability:soak >&2
# shellcheck disable=SC2086
bin=$(bazel ${BAZEL_STARTUP_OPTIONS:-} info "${flags[@]}" bazel-bin 2>/dev/null)
bin+=/tests/reliability/soak

status=0
for config in "${configs[@]}"; do
  "$bin" "$config" "$seconds" || status=1
done
exit "$status"
