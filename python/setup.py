"""Builds corepy's native module with Bazel, as JAX and TensorFlow build their wheels.

`pip install --no-build-isolation ./python` runs this in place (pip 21.3 and later build a local
directory in-tree). It runs `bazel build -c opt //python/corepy:_corepy.so` in the repository
that holds this python/ directory, the same C++ that `bazel test //...` tests, and puts the
module into the package as corepy/_corepy<EXT_SUFFIX>.

COREPY_SOURCE_DIR names the repository when this file has been copied out of it (an sdist, a
build in a temporary directory); COREPY_BAZEL the Bazel to run (default: bazel) and
COREPY_BAZEL_FLAGS extra flags for it (split on spaces).
"""
import os
import shutil
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

TARGET = "//python/corepy:_corepy.so"


def repository_root():
    here = os.path.dirname(os.path.realpath(__file__))
    candidates = [os.environ["COREPY_SOURCE_DIR"]] if os.environ.get("COREPY_SOURCE_DIR") else []
    candidates.append(os.path.dirname(here))
    for root in candidates:
        if (os.path.isfile(os.path.join(root, "WORKSPACE")) and
                os.path.isfile(os.path.join(root, "python", "corepy", "_corepy.cc"))):
            return root
    raise SystemExit(
        f"corepy: cannot find corepy's repository (a WORKSPACE beside python/corepy/_corepy.cc) "
        f"at {' or '.join(candidates)}: setup.py builds the native module with Bazel from that "
        f"repository. Install from a checkout (pip install --no-build-isolation ./python), or "
        f"set COREPY_SOURCE_DIR to one.")


class BazelBuildExt(build_ext):
    """Builds each extension by running Bazel, then copies its output into the package."""

    def build_extension(self, ext):
        root = repository_root()
        bazel = os.environ.get("COREPY_BAZEL", "bazel")
        if shutil.which(bazel) is None:
            raise SystemExit(f"corepy: {bazel} not found; install Debian's bazel-bootstrap "
                             f"(bash third_party/install_deps.sh)")
        flags = os.environ.get("COREPY_BAZEL_FLAGS", "").split()
        command = [bazel, "build", "-c", "opt", *flags, TARGET]
        print(f"corepy: {' '.join(command)} (in {root})", flush=True)
        subprocess.run(command, cwd=root, check=True)
        out = subprocess.run([bazel, "info", "-c", "opt", *flags, "bazel-bin"], cwd=root,
                             check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
        built = os.path.join(out, "python", "corepy", "_corepy.so")
        destination = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copyfile(built, destination)
        print(f"corepy: {built} -> {destination}", flush=True)


setup(
    ext_modules=[Extension("corepy._corepy", sources=[])],
    cmdclass={"build_ext": BazelBuildExt},
)
