"""Type stubs of corepy's native module (python/corepy/_corepy.cc)."""
from typing import Any, Dict, List, Optional, Tuple, Union


ArrayLike = Any  # the buffer protocol has no static type before Python 3.12
Axis = Union[None, int, Tuple[int, ...]]

GIL_RELEASE_BYTES: int

def sum(a: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Any:
    """numpy.sum(a, axis, keepdims): int64 for integers and bool, the input's float dtype."""
def prod(a: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Any:
    """numpy.prod(a, axis, keepdims)."""
def mean(a: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Any:
    """numpy.mean(a, axis, keepdims): float64 for integers and bool."""
def var(a: ArrayLike, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Any:
    """numpy.var(a, axis, keepdims, ddof)."""
def std(a: ArrayLike, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Any:
    """numpy.std(a, axis, keepdims, ddof)."""
def min(a: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Any:
    """numpy.min(a, axis, keepdims); NaN propagates; empty is a ValueError."""
def max(a: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Any:
    """numpy.max(a, axis, keepdims); NaN propagates; empty is a ValueError."""
def argmin(a: ArrayLike, axis: Optional[int] = None, keepdims: bool = False) -> Any:
    """numpy.argmin(a, axis, keepdims): int64; the first NaN wins."""
def argmax(a: ArrayLike, axis: Optional[int] = None, keepdims: bool = False) -> Any:
    """numpy.argmax(a, axis, keepdims): int64; the first NaN wins."""
def all(a: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Any:
    """numpy.all(a, axis, keepdims)."""
def any(a: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Any:
    """numpy.any(a, axis, keepdims)."""
def count_nonzero(a: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Any:
    """numpy.count_nonzero(a, axis, keepdims=keepdims): int64."""

def tensor_sum_f32(ptr: int, count: int, /) -> float:
    """Sum of `count` float32 at address `ptr` (corepy::sum_f32_cpu_dispatch)."""
def tensor_sum_i32(ptr: int, count: int, /) -> int:
    """Sum of `count` int32 at `ptr`, widened to int64 like numpy."""
def tensor_mean_f32(ptr: int, count: int, /) -> float:
    """Mean of `count` float32 at `ptr`; NaN when count is 0."""
def tensor_all_bool(ptr: int, count: int, /) -> bool:
    """Whether all `count` bools (one byte each) at `ptr` are true."""
def tensor_any_bool(ptr: int, count: int, /) -> bool:
    """Whether any of `count` bools (one byte each) at `ptr` is true."""

def _floor_fastcall(ptr: int, count: int, /) -> None: ...
def _floor_pybind11(arg0: int, arg1: int) -> None: ...

def configure(allocator: Optional[str], arena_size: Optional[str], arena_max_size: Optional[str],
              op_arena_sizes: Optional[str], log: Optional[str],
              arena_shrink_after: Optional[str], worker_spin: Optional[str]) -> None: ...
def settings() -> Dict[str, Any]: ...
def arena_stats() -> Tuple[int, int, int, int, int]: ...
def op_stats() -> List[Dict[str, Union[str, int]]]: ...
def reset_op_stats() -> None: ...
def memory_stats() -> Dict[str, Any]: ...
def trim() -> None: ...

class _Region:
    def __init__(self) -> None: ...
    def stats(self) -> List[Dict[str, Union[str, int]]]: ...
    def close(self) -> None: ...
