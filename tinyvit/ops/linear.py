"""The linear (fully connected) layer y = x @ W + b, for any number of leading dims."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LinearCache:
    x: np.ndarray  # (..., IN) the input, needed for dW
    w: np.ndarray  # (IN, OUT) the weight, needed for dx


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, LinearCache]:
    """x (..., IN), w (IN, OUT), b (OUT,) or None -> y (..., OUT)."""
    # Fold the leading dims into one: a single big matrix product is far faster than
    # NumPy's loop of small ones over a batch axis.
    y = x.reshape(-1, x.shape[-1]) @ w       # (rows, OUT)
    if b is not None:
        y += b                               # the same bias for every row
    return y.reshape(*x.shape[:-1], w.shape[1]), LinearCache(x=x, w=w)


def linear_backward(dy: np.ndarray, cache: LinearCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dy (..., OUT) -> dx (..., IN), dw (IN, OUT), db (OUT,)."""
    x, w = cache.x, cache.w
    x2 = x.reshape(-1, x.shape[-1])          # (rows, IN), the folding of the forward
    dy2 = dy.reshape(-1, dy.shape[-1])       # (rows, OUT)
    dx = dy2 @ w.T                           # y = x @ w -> dx = dy @ w^T
    dw = x2.T @ dy2                          #           -> dw = x^T @ dy, summed over rows
    db = dy2.sum(axis=0)                     # y += b    -> db = sum of dy over rows
    return dx.reshape(x.shape), dw, db
