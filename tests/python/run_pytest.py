#!/usr/bin/python3
"""Runs tests/python with pytest against the Bazel-built package (bazel test //tests/python:...).

Usage: run_pytest.py path/to/libcorepy.so [pytest args]. The package is python/ in the runfiles:
python/corepy/*.py beside the _corepy.so that Bazel built for this configuration.
"""
import os
import sys

import pytest

# Bazel runs tests in the workspace's runfiles directory (TEST_SRCDIR/TEST_WORKSPACE).
runfiles = os.path.join(os.environ["TEST_SRCDIR"], os.environ["TEST_WORKSPACE"])
here = os.path.join(runfiles, "tests", "python")
sys.path.insert(0, os.path.join(runfiles, "python"))
os.environ["COREPY_LIBRARY"] = os.path.abspath(sys.argv[1])
os.environ["PYTHONPATH"] = os.path.join(runfiles, "python")  # for the benchmarks' subprocesses
sys.exit(pytest.main(["-v", "-p", "no:cacheprovider", "--rootdir", here, here] + sys.argv[2:]))
