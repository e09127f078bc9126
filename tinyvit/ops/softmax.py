"""Softmax over the last axis, the numerically stable way."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SoftmaxCache:
    y: np.ndarray  # (..., K) the probabilities; their own derivative needs nothing else


def softmax_forward(x: np.ndarray) -> tuple[np.ndarray, SoftmaxCache]:
    """x (..., K) -> y (..., K), every row summing to 1."""
    z = x - x.max(axis=-1, keepdims=True)   # shift so exp never overflows; softmax is shift-invariant
    e = np.exp(z)
    y = e / e.sum(axis=-1, keepdims=True)
    return y, SoftmaxCache(y=y)


def softmax_backward(dy: np.ndarray, cache: SoftmaxCache) -> np.ndarray:
    """dy (..., K) -> dx (..., K): dx = y * (dy - sum(dy * y))."""
    y = cache.y
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))
