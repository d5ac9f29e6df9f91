#!/usr/bin/python3
"""Issue 10, defect 2, as Python users meet it: two packages that each ship libcorepy.so, loaded
with ctypes.CDLL into one interpreter. Each copy is a separate file, so each is mapped on its own.
Both must load, give exact results, and keep their own configuration.

Before the fix, loading the second copy kills the interpreter ("Flag 'corepy_allocator' was
defined more than once"). The loading runs in a child interpreter with a deadline, so that abort
is a test failure that shows the child's stderr.

Usage: two_copies_ctypes_test.py path/to/libcorepy.so"""
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

PYTHON = "/usr/bin/python3"
TIMEOUT_SECONDS = 120


class ArenaStats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t)
                for name in ("used", "capacity", "peak", "overflow_count", "overflow_bytes")]


def load(path):
    lib = ctypes.CDLL(path)
    f32p = ctypes.POINTER(ctypes.c_float)
    lib.corepy_sum_f32.argtypes = [f32p, ctypes.c_size_t, f32p]
    lib.corepy_configure.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.corepy_arena_stats.argtypes = [ctypes.POINTER(ArenaStats)]
    lib.corepy_last_error.restype = ctypes.c_char_p
    return lib


def child(path_a, path_b):
    """Loads both copies and uses them; prints one line per failed check."""
    failures = []

    def check(cond, what):
        print(("ok: " if cond else "FAILED: ") + what, flush=True)
        if not cond:
            failures.append(what)

    print("loading copy A", flush=True)
    a = load(path_a)
    print("loading copy B", flush=True)
    b = load(path_b)
    print("both copies loaded", flush=True)
    check(a._handle != b._handle, "the copies have different handles")
    check(ctypes.cast(a.corepy_sum_f32, ctypes.c_void_p).value !=
          ctypes.cast(b.corepy_sum_f32, ctypes.c_void_p).value,
          "corepy_sum_f32 differs between the copies")

    f32p = ctypes.POINTER(ctypes.c_float)
    x = np.array([1.0, 2.0, 3.0, 4.5], dtype=np.float32)

    def sum_and_capacity(lib, name):
        out = ctypes.c_float(-1)
        rc = lib.corepy_sum_f32(x.ctypes.data_as(f32p), x.size, ctypes.byref(out))
        check(rc == 0 and out.value == 10.5, f"sum through copy {name} = {out.value} (rc {rc})")
        stats = ArenaStats()
        rc = lib.corepy_arena_stats(ctypes.byref(stats))
        check(rc == 0, f"corepy_arena_stats through copy {name} (rc {rc})")
        return stats.capacity

    check(sum_and_capacity(a, "A") == 1 << 20, "copy A starts with a 1 MiB arena")
    check(sum_and_capacity(b, "B") == 1 << 20, "copy B starts with a 1 MiB arena")
    check(a.corepy_configure(b"arena_size", b"64KiB") == 0, "configure copy A: arena_size=64KiB")
    check(sum_and_capacity(a, "A") == 65536, "copy A has a 64 KiB arena")
    check(sum_and_capacity(b, "B") == 1 << 20, "copy B keeps its 1 MiB arena")

    out = ctypes.c_float(-1)
    check(a.corepy_sum_f32(None, 3, ctypes.byref(out)) == 1 and out.value == -1,
          "NULL data through copy A is COREPY_ERROR_NULL_POINTER, out untouched")
    check(a.corepy_last_error() != b"", "copy A has a last error")
    check(b.corepy_last_error() == b"", "copy B has none")
    print("PASSED: 0 failed checks" if not failures else f"FAILED: {len(failures)} failed checks",
          flush=True)
    return 0 if not failures else 1


def main(library):
    tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    try:
        copies = [os.path.join(tmp, f"copy_{n}", "libcorepy.so") for n in ("a", "b")]
        for c in copies:
            os.makedirs(os.path.dirname(c))
            shutil.copyfile(library, c)
        try:
            r = subprocess.run([PYTHON, os.path.abspath(__file__), "--child"] + copies,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired as e:
            print(f"FAILED: the child interpreter hung (killed after {TIMEOUT_SECONDS} s)\n"
                  f"--- stdout ---\n{e.stdout}\n--- stderr ---\n{e.stderr}")
            return 1
        ok = r.returncode == 0 and "PASSED: 0 failed checks" in r.stdout
        if r.returncode < 0:
            how = f"was killed by signal {-r.returncode}"
        else:
            how = f"exited with {r.returncode}"
        print(("PASSED" if ok else "FAILED") + f": the child interpreter {how}\n"
              f"--- child stdout ---\n{r.stdout}--- child stderr ---\n{r.stderr}--- end ---")
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2], sys.argv[3]))
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
