"""corepy_fuzz_target: one fuzz target, built two ways from the same sources.

Under `--config=fuzz` (clang-14, see .bazelrc) `name` links libFuzzer's main and is the fuzzer
that tests/fuzz/run_fuzz.sh runs. In every other build it links replay_main.cc instead and
replays the files it is given; `name + "_corpus_test"` replays the seed corpus in
tests/fuzz/corpus/<name>/, so every seed is a regression test in `bazel test //...` and under
the asan, tsan and valgrind configs.
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_test")
load("//:copts.bzl", "COREPY_TEST_COPTS")

def corepy_fuzz_target(name, srcs, deps, test_tags = []):
    """A fuzz target and the test that replays its seed corpus.

    Args:
      name: the target; its seeds live in corpus/<name>/.
      srcs: sources defining LLVMFuzzerTestOneInput.
      deps: what they need; fuzz_support is added.
      test_tags: extra tags for the corpus replay test.
    """
    all_deps = deps + [":fuzz_support"]
    cc_binary(
        name = name,
        srcs = srcs + select({
            ":fuzzing": [],
            "//conditions:default": [":replay_main.cc"],
        }),
        copts = COREPY_TEST_COPTS,
        linkopts = select({
            ":fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        tags = ["fuzz"],
        testonly = True,
        deps = all_deps,
    )
    cc_test(
        name = name + "_corpus_test",
        size = "small",
        srcs = srcs + [":replay_main.cc"],
        # Tests run in the workspace's runfiles root, where the seeds keep their paths.
        args = ["%s/corpus/%s" % (native.package_name(), name)],
        copts = COREPY_TEST_COPTS,
        data = native.glob(["corpus/%s/**" % name]),
        tags = ["fuzz"] + test_tags,
        deps = all_deps,
    )
