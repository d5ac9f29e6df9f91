#!/usr/bin/python3
"""Fails unless every place that states corepy's version agrees with corepy/version.h.

  .ci/check_version.py [INSTALL_PREFIX]

Checks MODULE.bazel's module(version = ...), the first release heading of CHANGELOG.md and, when
an install prefix is given, the installed corepyConfigVersion.cmake (CMake's project(VERSION))
and corepy.pc. corepy_version() is checked against the header by tests/corepy/version_test.cc,
and by the consumers in tests/ against the installed package.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def match(path, pattern, what):
    text = pathlib.Path(path).read_text()
    m = re.search(pattern, text, re.M)
    if not m:
        raise SystemExit(f"check_version: {path}: no {what} found")
    return m


def header_version():
    m = match(ROOT / "corepy/version.h",
              r"#define COREPY_VERSION_MAJOR (\d+)\n#define COREPY_VERSION_MINOR (\d+)\n"
              r"#define COREPY_VERSION_PATCH (\d+)\n#define COREPY_VERSION_STRING \"([^\"]*)\"",
              "COREPY_VERSION_MAJOR/MINOR/PATCH/STRING block")
    numbers = ".".join(m.group(1, 2, 3))
    if m.group(4) != numbers:
        raise SystemExit(f"check_version: corepy/version.h: COREPY_VERSION_STRING "
                         f"\"{m.group(4)}\" is not {numbers}")
    return numbers


def main(argv):
    version = header_version()
    found = {
        "MODULE.bazel": match(ROOT / "MODULE.bazel",
                              r"^module\([^)]*\bversion = \"([^\"]+)\"", "module version")[1],
        "CHANGELOG.md": match(ROOT / "CHANGELOG.md", r"^## \[?(\d+\.\d+\.\d+)",
                              "release heading")[1],
    }
    if len(argv) > 1:
        prefix = pathlib.Path(argv[1])
        libdirs = [d for d in prefix.glob("lib*") if (d / "pkgconfig/corepy.pc").exists()]
        if not libdirs:
            raise SystemExit(f"check_version: no lib*/pkgconfig/corepy.pc under {prefix}")
        libdir = libdirs[0]
        found["corepy.pc"] = match(libdir / "pkgconfig/corepy.pc", r"^Version: (\S+)$",
                                   "Version")[1]
        found["corepyConfigVersion.cmake"] = match(
            libdir / "cmake/corepy/corepyConfigVersion.cmake",
            r"^set\(PACKAGE_VERSION \"([^\"]+)\"\)", "PACKAGE_VERSION")[1]
    wrong = {where: v for where, v in found.items() if v != version}
    for where, v in wrong.items():
        print(f"check_version: {where} says {v}, corepy/version.h says {version}")
    if not wrong:
        print(f"corepy {version}: corepy/version.h, " + ", ".join(found) + " agree")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
