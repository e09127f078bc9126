"""The checks every kernel wrapper makes before it hands arrays to compiled code.

A Numba kernel indexes its arrays by the sizes it was told, without bounds checks: given a
gradient smaller than the cache it belongs to, it reads or writes past the array's end (a wrong
result, or a crashed process), where the NumPy twin raises a broadcast error. And it is
compiled for the dtype it is given: integers would be computed in integers. So the wrappers
check shapes and dtypes here, and the kernels can trust them.
"""

from __future__ import annotations

import numpy as np

from tinyvit.errors import TinyViTError, describe

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def check_float(op: str, name: str, a) -> None:
    """a must be a float32 or float64 array: the dtypes the kernels are written for."""
    if not isinstance(a, np.ndarray) or a.dtype not in FLOATS:
        raise TinyViTError(f"{op}: {name} must be a float32 or float64 array, got {describe(a)}.")


def check_cache(op: str, fields: dict[str, tuple[np.ndarray, tuple]], dtype: np.dtype) -> None:
    """Every array of a cache that a backward kernel indexes must have the shape and dtype it
    assumes: {name: (array, shape)}. Caches come from the forward pass, but a student may build
    or edit one by hand, and the kernel would read (or write) past the end of a smaller one."""
    for name, (a, shape) in fields.items():
        check_float(op, f"cache.{name}", a)
        if a.shape != tuple(shape) or a.dtype != dtype:
            raise TinyViTError(f"{op}: cache.{name} must be a {dtype} array of shape {tuple(shape)}, got "
                               f"{describe(a)}: caches come from the forward pass.")


def check_gradient(op: str, name: str, grad, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """grad must have `shape` (the forward output's); returned as `dtype` (the cache's) and C-contiguous."""
    check_float(op, name, grad)
    if grad.shape != tuple(shape):
        raise TinyViTError(f"{op}: {name} must have the shape of the forward pass's output, {tuple(shape)}, "
                           f"got {grad.shape}.")
    return np.ascontiguousarray(grad, dtype=dtype)
