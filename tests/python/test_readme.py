"""The README's Python example (section "The Python package"), run as it is written."""
import os
import re

import numpy as np
import pytest

import corepy
from conftest import REPO


@pytest.mark.usefixtures("defaults")
def test_the_readmes_python_example_runs_and_says_what_it_shows(capsys):
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## The Python package", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    a, s = namespace["a"], namespace["s"]
    assert corepy.sum(a) == np.sum(a) == 66 and type(corepy.sum(a)) is np.float32
    assert corepy.var(a, axis=1, keepdims=True, ddof=1).shape == (3, 1)
    assert corepy.argmax(a.T, axis=0).dtype == np.int64
    assert s.calls == 1 and s.peak_scratch >= 0 and s.spills == 0
    assert corepy.arena_stats().capacity == 4 << 20
    assert corepy.settings()["op_arena_sizes"] == {"var": 256 << 10}
    assert corepy.tensor_sum_f32(a.ctypes.data, a.size) == 66
    assert capsys.readouterr().out == f"1 {s.peak_scratch} 0\n"
