"""Pairs of operations that a fast backend runs as one kernel; here, plainly, one after the other."""

from __future__ import annotations

import numpy as np

from tinyvit.ops.gelu import GeluCache, gelu_backward, gelu_forward
from tinyvit.ops.linear import LinearCache, linear_backward, linear_forward


def linear_gelu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                        approximate: str = "erf") -> tuple[np.ndarray, LinearCache, GeluCache]:
    """gelu(x @ w + b): the first layer of the MLP with its activation. Returns both caches."""
    h, linear_cache = linear_forward(x, w, b)                   # (..., OUT) pre-GELU
    a, gelu_cache = gelu_forward(h, approximate)                # (..., OUT)
    return a, linear_cache, gelu_cache


def linear_gelu_backward(da: np.ndarray, linear_cache: LinearCache,
                         gelu_cache: GeluCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """da (..., OUT), the gradient at the GELU's output -> dx (..., IN), dw (IN, OUT), db (OUT,)."""
    dh = gelu_backward(da, gelu_cache)
    return linear_backward(dh, linear_cache)
