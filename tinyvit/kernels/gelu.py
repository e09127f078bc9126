"""GELU forward and backward over whole arrays (twin: ops/gelu.py); fused with fc1 in kernels/linear.py."""

from __future__ import annotations

import numpy as np

from tinyvit.kernels.checks import check_float, check_gradient
from tinyvit.kernels.gelu_math import gelu_slope, gelu_value
from tinyvit.kernels.jit import kernel
from tinyvit.kernels.threads import parallel_for
from tinyvit.ops.gelu import GeluCache, check_approximate

CHUNK = 4096  # values per work item: big enough to amortise a call, small enough to balance threads


@kernel
def _gelu_chunks(start, stop, x, y, tanh_approx):
    T = x.dtype.type
    single = x.itemsize == 4
    for c in range(start, stop):
        # Views that start at index 0: an index that runs from a variable start could be negative
        # as far as the compiler knows, so every x[i] would carry Python's wrap-around test and the
        # loop would run one value at a time (8.6 ns a value instead of 1.2 in gelu_grad_span).
        xs, ys = x[c * CHUNK:(c + 1) * CHUNK], y[c * CHUNK:(c + 1) * CHUNK]
        for i in range(xs.shape[0]):
            ys[i] = gelu_value(xs[i], tanh_approx, single, T)


@kernel
def gelu_grad_span(x, dy, dx, lo, hi, tanh_approx):
    """dx[lo:hi] = dy[lo:hi] * gelu'(x[lo:hi]), of 1-D arrays.

    A compiled function of its own, not inlined: pasted into a large kernel (the packing of
    gemm_split_k), LLVM no longer split the loop by dtype and approximation, and it ran scalar, 7x slower.
    """
    T = x.dtype.type
    single = x.itemsize == 4
    xs, dys, dxs = x[lo:hi], dy[lo:hi], dx[lo:hi]     # views from 0: see _gelu_chunks
    for i in range(xs.shape[0]):
        dxs[i] = dys[i] * gelu_slope(xs[i], tanh_approx, single, T)


@kernel
def _gelu_grad_chunks(start, stop, x, dy, dx, tanh_approx):
    for c in range(start, stop):
        gelu_grad_span(x, dy, dx, c * CHUNK, min((c + 1) * CHUNK, x.size), tanh_approx)


def gelu_forward(x: np.ndarray, approximate: str = "erf") -> tuple[np.ndarray, GeluCache]:
    """x (...) -> y (...), as ops.gelu.gelu_forward."""
    check_float("gelu", "x", x)
    check_approximate(approximate)
    flat = np.ascontiguousarray(x).reshape(-1)
    y = np.empty_like(flat)
    parallel_for(_gelu_chunks, -(-flat.size // CHUNK), flat, y, approximate == "tanh", work=16 * flat.size)
    return y.reshape(x.shape), GeluCache(x=x, approximate=approximate)


def gelu_backward(dy: np.ndarray, cache: GeluCache) -> np.ndarray:
    """dy (...) -> dx (...), as ops.gelu.gelu_backward."""
    check_float("gelu backward", "cache.x", cache.x)
    x = np.ascontiguousarray(cache.x).reshape(-1)
    dy_flat = check_gradient("gelu backward", "dy", dy, cache.x.shape, x.dtype).reshape(-1)
    dx = np.empty_like(x)
    parallel_for(_gelu_grad_chunks, -(-x.size // CHUNK), x, dy_flat, dx, cache.approximate == "tanh",
                 work=24 * x.size)
    return dx.reshape(cache.x.shape)
