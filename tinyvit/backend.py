"""The backend switch: which implementation runs the hot operations of a model.

A backend is a namespace of `*_forward` / `*_backward` functions with the signatures of
tinyvit.ops. 'numpy' is tinyvit.ops itself; 'numba' starts from it and swaps in every
kernel that tinyvit.kernels provides, so a model never needs to know which one it runs.
"""

from __future__ import annotations

import functools
import os
import warnings
from types import SimpleNamespace

from tinyvit import ops as reference
from tinyvit.errors import TinyViTError
from tinyvit.memory import keep_freed_memory

# The operations a backend may replace. The rest (patchify, dropout, pooling, ...) only
# move memory around and always run in NumPy.
SWAPPABLE = (
    "linear_forward", "linear_backward",
    "linear_gelu_forward", "linear_gelu_backward",
    "layernorm_forward", "layernorm_backward",
    "gelu_forward", "gelu_backward",
    "attention_forward", "attention_backward",
    "cross_entropy_forward", "cross_entropy_backward",
    "adamw_update",
)


@functools.cache
def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    except ValueError as err:   # numba checks its environment variables as it imports
        threads = os.environ.get("NUMBA_NUM_THREADS")
        if threads is not None:
            raise TinyViTError(f"NUMBA_NUM_THREADS={threads!r}: Numba needs a thread count of at least 1 "
                               "(unset it to use every core).") from None
        raise TinyViTError(f"Numba would not start: {err}") from None
    return True


def jit_disabled() -> bool:
    """True under NUMBA_DISABLE_JIT=1, when every Numba kernel runs as plain Python."""
    from numba.core import config

    return bool(config.DISABLE_JIT)


def default_backend() -> str:
    if numba_available():
        return "numba"
    warnings.warn("Numba is not installed: tinyvit falls back to the (slower) NumPy backend.",
                  stacklevel=3)
    return "numpy"


@functools.cache
def get_ops(name: str) -> SimpleNamespace:
    """The namespace of operations for backend `name` ('numpy' or 'numba')."""
    keep_freed_memory()   # both backends allocate the same big arrays every step (tinyvit/memory.py)
    table = {op: getattr(reference, op) for op in SWAPPABLE}
    if name == "numba":
        if not numba_available():
            raise ImportError("backend='numba' needs the numba package: pip install numba")
        from tinyvit.kernels import KERNELS

        table.update(KERNELS)
        if jit_disabled():
            warnings.warn("NUMBA_DISABLE_JIT=1: the numba backend runs its kernels as plain Python, for "
                          "stepping through in a debugger; a training step takes minutes. For speed without "
                          "the JIT use backend='numpy' (the CLI's --backend numpy).", stacklevel=2)
    elif name != "numpy":
        raise ValueError(f"unknown backend {name!r}: use 'numpy' or 'numba'.")
    return SimpleNamespace(name=name, **table)
