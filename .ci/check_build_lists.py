#!/usr/bin/python3
"""Fails when the Bazel and CMake builds disagree about what they build.

  .ci/check_build_lists.py [CMAKE_BUILD_DIR]

Sources: every .cc and .c file under allocators/, corepy/ and ops/ (as git lists them) must be
named in its package's BUILD.bazel and in the CMakeLists.txt beside it, and neither build file may
name one that does not exist. Headers need no CMake listing (the include root is the source tree
and the install takes every public header), but each must be named in BUILD.bazel, where Bazel
needs it.

Tests (when CMAKE_BUILD_DIR, a configured build, is given): the cc_test targets of the BUILD.bazel
files under tests/ and examples/ must be the tests `ctest -N` lists, by name. The folders Bazel
alone runs are skipped below, each with its reason.
"""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ["allocators", "corepy", "ops"]
# Test folders whose targets only Bazel builds.
BAZEL_ONLY_TESTS = {
    "tests/fuzz": "libFuzzer targets and their corpus replays (--config=fuzz)",
    "tests/embedding": "a separate Bazel workspace that embeds corepy",
    "tests/missing_package": "a separate Bazel workspace with a missing Debian package",
}
# Tests that CMake builds only when an optional dependency is found.
OPTIONAL_TESTS = {"upstream_resources_mimalloc_test": "mimalloc"}

FILE_NAME = re.compile(r"[A-Za-z0-9_./-]+\.(?:cc|c|h)\b")


def git_files(folder):
    out = subprocess.run(["git", "ls-files", "--", folder], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return [pathlib.PurePosixPath(line) for line in out.splitlines()]


def named_files(build_file, suffixes):
    """The strings in a build file that end in one of the suffixes (file names)."""
    text = ROOT.joinpath(build_file).read_text()
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())  # drop comments
    return {s for s in FILE_NAME.findall(text) if s.endswith(suffixes)}


def check_sources():
    problems = []
    for pkg in PACKAGES:
        files = [f.relative_to(pkg) for f in git_files(pkg)]
        sources = {str(f) for f in files if f.suffix in (".cc", ".c")}
        headers = {str(f) for f in files if f.suffix == ".h"}
        bazel = named_files(f"{pkg}/BUILD.bazel", (".cc", ".c", ".h"))
        cmake = named_files(f"{pkg}/CMakeLists.txt", (".cc", ".c"))
        for name in sorted(sources - bazel):
            problems.append(f"{pkg}/{name}: in git, not in {pkg}/BUILD.bazel")
        for name in sorted(sources - cmake):
            problems.append(f"{pkg}/{name}: in git, not in {pkg}/CMakeLists.txt")
        for name in sorted(headers - bazel):
            problems.append(f"{pkg}/{name}: in git, not in {pkg}/BUILD.bazel")
        for name in sorted(bazel - sources - headers):
            problems.append(f"{pkg}/BUILD.bazel names {name}, which git does not have")
        for name in sorted(cmake - sources):
            problems.append(f"{pkg}/CMakeLists.txt names {name}, which git does not have")
    return problems


def bazel_tests():
    tests = {}
    for build in sorted(git_files("tests") + git_files("examples")):
        if build.name != "BUILD.bazel":
            continue
        if any(str(build).startswith(d + "/") for d in BAZEL_ONLY_TESTS):
            continue
        text = ROOT.joinpath(build).read_text()
        for name in re.findall(r'\bcc_test\(\s*name = "([^"]+)"', text):
            tests[name] = str(build)
    return tests


def ctest_tests(build_dir):
    out = subprocess.run(["ctest", "-N", "--test-dir", build_dir], check=True,
                         capture_output=True, text=True).stdout
    return set(re.findall(r"^\s*Test\s+#\d+: (\S+)$", out, re.M))


def check_tests(build_dir):
    problems = []
    bazel = bazel_tests()
    cmake = ctest_tests(build_dir)
    for name in sorted(set(bazel) - cmake):
        if name in OPTIONAL_TESTS:
            print(f"note: {name} not in ctest ({OPTIONAL_TESTS[name]} not found by CMake)")
            continue
        problems.append(f"{name} ({bazel[name]}): a Bazel cc_test that ctest does not run")
    for name in sorted(cmake - set(bazel)):
        problems.append(f"{name}: a ctest test with no cc_test of that name in BUILD.bazel")
    print(f"tests: {len(bazel)} Bazel cc_tests, {len(cmake)} ctest tests")
    return problems


def main(argv):
    problems = check_sources()
    if len(argv) > 1:
        problems += check_tests(argv[1])
    for p in problems:
        print("build lists differ: " + p)
    if not problems:
        print("Bazel and CMake build the same sources" + (" and tests" if len(argv) > 1 else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
