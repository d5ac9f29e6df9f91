"""The Python benchmarks as smoke tests: the seed benchmark (tests/bench_arena.py, through
corepy.tensor_sum_f32 with numpy.sum and the ctypes path beside it) and corepy.sum against
numpy.sum (tests/bench/corepy_sum_numpy.py). They must run and check their results; their
timings are not checked."""
import os
import re
import subprocess
import sys

import corepy
from conftest import REPO, libcorepy_path


def run(script, *args):
    env = dict(os.environ)
    # The package under test, wherever it is (installed, or Bazel's runfiles).
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(corepy.__file__))
    library = libcorepy_path() or "no-libcorepy.so"
    result = subprocess.run([sys.executable, os.path.join(REPO, script), library, "--quick",
                             *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout
    return result.stdout, library != "no-libcorepy.so"


def test_the_seed_benchmark_runs_through_the_package():
    out, with_ctypes = run("tests/bench_arena.py")
    for size in ("1,000", "10,000", "100,000"):
        assert re.search(rf"Size: +{size} elements", out), out
    assert out.count("corepy.tensor_sum_f32") == 3 and out.count("numpy.sum ") == 3
    assert out.count("corepy vs numpy.sum:") == 3
    assert (out.count("corepy vs the ctypes path:") == 3) == with_ctypes, out
    assert "[arena] used=0" in out


def test_the_corepy_sum_benchmark_runs():
    out, with_ctypes = run("tests/bench/corepy_sum_numpy.py")
    assert "16,777,216" in out and "_floor_pybind11" in out and "corepy.sum(empty" in out
    assert ("ctypes: corepy_error_string(0)" in out) == with_ctypes
