"""Shared setup of corepy's Python tests (tests/python), run two ways:

    python -m pytest tests/python -v      # against the installed package (a venv, see README)
    bazel test //tests/python:python_test  # against the Bazel-built module (run_pytest.py)

Each test that changes corepy's configuration restores the defaults (the `defaults` fixture).
"""
import os
import sys

import hypothesis
import pytest

import corepy

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# tests/ops/reduce_numpy_test.py holds the documented float bound; the property tests reuse it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ops"))

# No example database (Bazel's runfiles are read-only) and no deadline (a loaded 2-core machine
# makes single examples slow now and then); the example counts are set per test.
hypothesis.settings.register_profile("corepy", database=None, deadline=None,
                                     print_blob=True)
hypothesis.settings.load_profile("corepy")

DEFAULTS = dict(allocator="arena", arena_size="1MiB", arena_max_size=0, op_arena_sizes="",
                log=False, arena_shrink_after=64, worker_spin="50us")


def pytest_report_header(config):
    return f"corepy under test: {os.path.dirname(corepy.__file__)}"


@pytest.fixture
def defaults():
    """Restores corepy's default configuration after the test."""
    corepy.configure(**DEFAULTS)
    yield
    corepy.configure(**DEFAULTS)


def libcorepy_path():
    """//:libcorepy.so for the ctypes rows of the benchmarks: COREPY_LIBRARY (the Bazel test sets
    it), else the repository's bazel-bin; None when neither exists."""
    for path in (os.environ.get("COREPY_LIBRARY"), os.path.join(REPO, "bazel-bin",
                                                                 "libcorepy.so")):
        if path and os.path.exists(path):
            return path
    return None
