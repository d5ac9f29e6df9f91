#!/usr/bin/env bash
# Builds corepy's libFuzzer targets with --config=fuzz (clang-14, ASan + UBSan) and runs each for
# a bounded time, starting from a temporary copy of its seed corpus in tests/fuzz/corpus/ (the
# repository is never written). Prints, per target, the executions, exec/s and coverage
# (libFuzzer's final "cov:" edges and "ft:" features); exits non-zero if any target fails,
# printing the crash artifact's path (kept in the work directory, which is then not removed).
#
# Usage: tests/fuzz/run_fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  default 60 (what CI runs)
#   TARGET              config_fuzzer, arena_fuzzer, c_api_fuzzer, reduce_fuzzer,
#                       trace_reader_fuzzer
#                       (default: all)
# Environment: FUZZ_OUTPUT_BASE (Bazel --output_base, default ~/.cache/bazel_fuzz),
#   FUZZ_WORKDIR (where corpora and artifacts go, default a new directory under /tmp),
#   FUZZ_JOBS (parallel fuzzing processes per target, default 1).
#
# A long run, e.g. 8 hours per target on 4 cores each, keeping the grown corpora:
#   FUZZ_WORKDIR=$HOME/corepy-fuzz FUZZ_JOBS=4 tests/fuzz/run_fuzz.sh 28800
# (rerunning with the same FUZZ_WORKDIR resumes from the corpora it grew). A crash artifact
# replays with the fuzzer binary (`<binary> <artifact>`), or without clang through the gcc
# build: `bazel run //tests/fuzz:<target> -- <artifact>`. Add a fixed crash to
# tests/fuzz/corpus/<target>/ so the corpus test keeps it fixed.
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(config_fuzzer arena_fuzzer c_api_fuzzer reduce_fuzzer trace_reader_fuzzer)
output_base=${FUZZ_OUTPUT_BASE:-$HOME/.cache/bazel_fuzz}
jobs=${FUZZ_JOBS:-1}
bazel_fuzz() { bazel --output_base="$output_base" "$@"; }

labels=()
for t in "${targets[@]}"; do labels+=("//tests/fuzz:$t"); done
if ! bazel_fuzz build --symlink_prefix=/ --config=fuzz "${labels[@]}"; then
  echo "FAIL: the fuzz targets did not build"
  exit 1
fi
bin=$(bazel_fuzz info --config=fuzz bazel-bin 2>/dev/null)/tests/fuzz

workdir=${FUZZ_WORKDIR:-$(mktemp -d /tmp/corepy-fuzz.XXXXXX)}
mkdir -p "$workdir"
failed=0
summary=()
for t in "${targets[@]}"; do
  corpus=$workdir/$t/corpus
  mkdir -p "$corpus" "$workdir/$t/artifacts"
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  log=$workdir/$t/fuzz.log
  echo "=== $t: ${seconds}s from $(ls "$corpus" | wc -l) inputs ($corpus)"
  # -rss_limit_mb: the default (2 GiB) is ample; say it, since a leak should fail the run.
  # -timeout: one input may not take this long (a hang is a failure).
  args=(-max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=30
        -artifact_prefix="$workdir/$t/artifacts/")
  # The configuration grammar's tokens help the two targets that parse it.
  [[ $t == config_fuzzer || $t == c_api_fuzzer ]] && args+=(-dict=tests/fuzz/config.dict)
  if ((jobs > 1)); then
    (cd "$workdir/$t" && "$bin/$t" "${args[@]}" -fork="$jobs" "$corpus") >"$log" 2>&1
  else
    "$bin/$t" "${args[@]}" "$corpus" >"$log" 2>&1
  fi
  status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  # The last status line libFuzzer printed carries the final coverage.
  # (-fork prints "#N: cov: ..." lines and no stat:: lines.)
  last=$(grep -E '^#[0-9]+:?[[:space:]].*cov: ' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  [[ -z $runs ]] && runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
  [[ -z $rate && -n $runs ]] && rate=$((runs / seconds))
  line=$(printf '%-14s %10s executions %7s exec/s  cov: %-5s ft: %-6s corpus: %s inputs' \
    "$t" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$(ls "$corpus" | wc -l)")
  artifacts=$(ls "$workdir/$t/artifacts" 2>/dev/null)
  if ((status != 0)) || [[ -n $artifacts ]]; then
    failed=1
    line+="  FAILED (exit $status)"
    grep -E 'fuzz invariant broken|^ +[^ #]|ERROR: |SUMMARY: ' "$log" | head -20
    for a in $artifacts; do
      line+=$'\n'"    crash artifact: $workdir/$t/artifacts/$a"
    done
    line+=$'\n'"    log: $log"
  fi
  echo "$line"
  summary+=("$line")
done

echo
echo "fuzzing summary (${seconds}s per target, work directory $workdir):"
printf '%s\n' "${summary[@]}"
if ((failed)); then
  echo "FAIL: a fuzz target found a problem"
  exit 1
fi
[[ -z ${FUZZ_WORKDIR:-} ]] && rm -rf "$workdir"
echo "all fuzz targets passed"
