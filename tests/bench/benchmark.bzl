"""corepy_benchmark: a Google Benchmark binary plus a smoke test of it.

`bazel run -c opt //tests/bench:<name>` runs the full benchmark. `bazel test //...` runs each
benchmark once, briefly, as `<name>_smoke` (tag "benchmark", which the instrumented configs leave
out), so a benchmark that crashes or reports nonsense fails CI; its timings are never asserted.
"""

load("@rules_cc//cc:defs.bzl", "cc_binary")
load("@rules_shell//shell:sh_test.bzl", "sh_test")
load("//:copts.bzl", "COREPY_TEST_COPTS")

def corepy_benchmark(name, srcs, deps = [], copts = [], linkopts = [], smoke_args = []):
    """A benchmark binary `name` and its smoke test `name`_smoke, from the same sources.

    The sources define main(), usually as corepy::bench::run_with_comparisons(), so the run ends
    with the side-by-side ratios against the anchors.
    """
    cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        copts = COREPY_TEST_COPTS + copts,
        linkopts = linkopts,
        tags = ["benchmark"],
        deps = deps + [
            "//tests/bench:ratio_reporter",
            "@com_google_benchmark//:benchmark",
        ],
    )
    sh_test(
        name = name + "_smoke",
        size = "small",
        srcs = ["//tests/bench:run_smoke.sh"],
        args = [
            "$(location :%s)" % name,
            "--benchmark_min_time=0.0005",
            "--benchmark_repetitions=1",
        ] + smoke_args,
        data = [":" + name],
        tags = ["benchmark"],
    )
