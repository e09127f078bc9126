"""The linear layer on the packed GEMM (twin: ops/linear.py), and fc1 + GELU fused into one pass."""

from __future__ import annotations

import numpy as np

from tinyvit.errors import TinyViTError
from tinyvit.kernels.checks import check_cache, check_float, check_gradient
from tinyvit.kernels.gelu import gelu_backward
from tinyvit.kernels.gemm import BIAS, BIAS_GELU, PLAIN, gemm, gemm_split_k, pack_b
from tinyvit.ops.gelu import GeluCache, check_approximate
from tinyvit.ops.linear import LinearCache

# Which implementation ran each product, keyed by (product, IN, OUT): 'numba' or 'blas'.
# The benchmark prints it per layer (python -m tinyvit.bench).
PATHS: dict[tuple[str, int, int], str] = {}


# Which products go to the Numba GEMM. Alone, on a quiet machine, OpenBLAS is faster on a plain
# product (e.g. 112 vs 86 GFLOP/s at 2 threads on digits' 2176 x 64 x 192), but inside a train
# step every product on the Numba GEMM was fastest every time: OpenBLAS's threads keep spinning
# for a while after each call and take the cores from the Numba kernel that runs next (a digits
# forward pass: 2617 images/s with no BLAS call, 1495 with one BLAS call per layer), and the
# Numba path fuses the bias, GELU and bias-gradient passes. So all products, even the classifier
# head's 10 columns, run here; remove a product from this set to send it to BLAS instead (the
# benchmark prints the path each layer took).
NUMBA_PRODUCTS = {"forward", "input grad", "weight grad"}


def use_numba(product: str) -> bool:
    """Whether the Numba GEMM runs `product`: 'forward', 'input grad' or 'weight grad'."""
    return product in NUMBA_PRODUCTS


def _check_shapes(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> None:
    """The GEMM reads w and b by x's sizes: mismatched arrays would be read past their ends,
    where NumPy's matmul raises. So raise as it does."""
    check_float("linear", "x", x)
    if w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):   # the GEMM computes in one dtype
        raise TinyViTError(f"linear: x, w and b must share one dtype, got {x.dtype}, {w.dtype} and "
                           f"{None if b is None else b.dtype}.")
    if w.ndim != 2 or x.shape[-1] != w.shape[0] or (b is not None and b.shape != (w.shape[1],)):
        raise TinyViTError(f"linear: x (..., {x.shape[-1]}) needs w of shape ({x.shape[-1]}, OUT) and b of "
                           f"shape (OUT,), got w {w.shape} and b {None if b is None else b.shape}.")


def _rows(t: np.ndarray) -> np.ndarray:
    """(..., F) -> (R, F) C-contiguous: the one layout the kernels are compiled for."""
    return np.ascontiguousarray(t.reshape(-1, t.shape[-1]))


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, LinearCache]:
    """x (..., IN), w (IN, OUT), b (OUT,) or None -> y (..., OUT)."""
    _check_shapes(x, w, b)
    x2 = _rows(x)
    (R, IN), OUT = x2.shape, w.shape[1]
    if use_numba("forward"):
        PATHS["forward", IN, OUT] = "numba"
        y = gemm(x2, False, pack_b(w, False), np.empty((R, OUT), dtype=x2.dtype),
                 PLAIN if b is None else BIAS, bias=None if b is None else np.ascontiguousarray(b))
    else:
        PATHS["forward", IN, OUT] = "blas"
        y = x2 @ w
        if b is not None:
            y += b
    return y.reshape(*x.shape[:-1], OUT), LinearCache(x=x, w=w)


def linear_backward(dy: np.ndarray, cache: LinearCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dy (..., OUT) -> dx (..., IN), dw (IN, OUT), db (OUT,)."""
    _check_shapes(cache.x, cache.w, None)
    IN, OUT = cache.w.shape
    dy = check_gradient("linear backward", "dy", dy, (*cache.x.shape[:-1], OUT), cache.x.dtype)
    x2, dy2, w = _rows(cache.x), _rows(dy), cache.w
    if use_numba("weight grad"):                    # dw = x^T @ dy, db = column sums of dy
        PATHS["weight grad", IN, OUT] = "numba"
        dw, db, _ = gemm_split_k(x2, dy2)
    else:
        PATHS["weight grad", IN, OUT] = "blas"
        dw, db = x2.T @ dy2, dy2.sum(axis=0)
    return _input_grad(dy2, w).reshape(cache.x.shape), dw, db      # dx = dy @ w^T


def _input_grad(dy2: np.ndarray, w: np.ndarray) -> np.ndarray:
    """dx (R, IN) = dy (R, OUT) @ w^T."""
    (IN, OUT), R = w.shape, dy2.shape[0]
    if use_numba("input grad"):
        PATHS["input grad", IN, OUT] = "numba"
        return gemm(dy2, False, pack_b(w, True), np.empty((R, IN), dtype=dy2.dtype))
    PATHS["input grad", IN, OUT] = "blas"
    return dy2 @ w.T


def linear_gelu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray,
                        approximate: str = "erf") -> tuple[np.ndarray, LinearCache, GeluCache]:
    """gelu(x @ w + b) in one pass: the GEMM's epilogue adds the bias and applies GELU to each
    block of rows while it is still in cache, keeping the pre-GELU values for the backward.
    """
    _check_shapes(x, w, b)
    check_approximate(approximate)
    x2 = _rows(x)
    (R, IN), OUT = x2.shape, w.shape[1]
    if not use_numba("forward"):
        from tinyvit.kernels.gelu import gelu_forward

        h, lin = linear_forward(x, w, b)
        a, act = gelu_forward(h, approximate)
        return a, lin, act
    PATHS["forward", IN, OUT] = "numba"
    pre = np.empty((R, OUT), dtype=x2.dtype)
    a = gemm(x2, False, pack_b(w, False), np.empty((R, OUT), dtype=x2.dtype), BIAS_GELU,
             bias=np.ascontiguousarray(b), pre=pre, tanh_approx=approximate == "tanh")
    shape = (*x.shape[:-1], OUT)
    return a.reshape(shape), LinearCache(x=x, w=w), GeluCache(x=pre.reshape(shape), approximate=approximate)


def linear_gelu_backward(da: np.ndarray, lin: LinearCache,
                         act: GeluCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """da (..., OUT), the gradient at the GELU's output -> dx, dw, db of the linear layer.

    The GELU's backward runs inside the weight-gradient product, on each slice of da as it is
    packed (kernels/gemm.py, _pack_b_slice): da and the pre-GELU values are read once, not twice.
    """
    _check_shapes(lin.x, lin.w, None)
    check_cache("linear_gelu backward", {"act.x": (act.x, (*lin.x.shape[:-1], lin.w.shape[1]))}, lin.x.dtype)
    da = check_gradient("linear_gelu backward", "da", da, act.x.shape, lin.x.dtype)
    if not use_numba("weight grad"):
        return linear_backward(gelu_backward(da, act), lin)
    x2, w = _rows(lin.x), lin.w
    IN, OUT = w.shape
    PATHS["weight grad", IN, OUT] = "numba"
    dw, db, dh = gemm_split_k(x2, _rows(da), gelu_pre=_rows(act.x),
                              tanh_approx=act.approximate == "tanh")      # dh = da * gelu'(pre), (R, OUT)
    return _input_grad(dh, w).reshape(lin.x.shape), dw, db          # dx = dh @ w^T
