#!/usr/bin/env bash
# A missing system package must give one clear line naming the package and the command that
# installs it: no compiler error about a header, no Starlark stack trace.
set -uo pipefail
cd "$(dirname "$0")"
out=$(bazel build //:probe 2>&1)
status=$?
fail() {
  echo "FAIL: $1"
  echo "$out" | tail -20
  exit 1
}
((status != 0)) || fail "the build of a target on a missing package succeeded"
grep -q "corepy: missing Debian package libcorepy-no-such-package-dev" <<<"$out" ||
  fail "the error does not name the missing package"
grep -q "apt-get install -y libcorepy-no-such-package-dev" <<<"$out" ||
  fail "the error does not give the install command"
grep -q "Traceback" <<<"$out" && fail "the error is a Starlark stack trace"
grep -q "no_such_header.h: No such file" <<<"$out" && fail "the compiler ran before the check"
echo "PASS: a missing package is named with its install command"
