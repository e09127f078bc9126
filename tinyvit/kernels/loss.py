"""Softmax cross-entropy with label smoothing, one pass per row (twin: ops/loss.py)."""

from __future__ import annotations

import math

import numpy as np

from tinyvit.kernels.checks import check_float
from tinyvit.kernels.jit import kernel
from tinyvit.ops.loss import CrossEntropyCache, check_labels, check_smoothing


@kernel
def _cross_entropy(logits, labels, smoothing, probs, target):
    T = logits.dtype.type
    B, K = logits.shape
    total = T(0.0)
    for b in range(B):
        top = logits[b, 0]
        for j in range(K):
            top = max(top, logits[b, j])
        s = T(0.0)
        for j in range(K):
            s += math.exp(logits[b, j] - top)
        log_sum = math.log(s)
        row = T(0.0)
        for j in range(K):
            t = T(smoothing / K) + (T(1.0 - smoothing) if j == labels[b] else T(0.0))
            log_p = logits[b, j] - top - log_sum                # log softmax, shifted for stability
            probs[b, j] = math.exp(log_p)
            target[b, j] = t
            row += t * log_p
        total -= row
    return total / T(B)


def cross_entropy_forward(logits: np.ndarray, labels: np.ndarray,
                          smoothing: float = 0.0) -> tuple[float, CrossEntropyCache]:
    """logits (B, K), labels (B,) -> mean loss, as ops.loss.cross_entropy_forward."""
    check_float("cross_entropy", "logits", logits)
    B, K = logits.shape
    check_labels(labels, B, K)
    check_smoothing(smoothing)
    logits = np.ascontiguousarray(logits)
    probs, target = np.empty_like(logits), np.empty_like(logits)
    loss = _cross_entropy(logits, np.asarray(labels, dtype=np.int64), float(smoothing), probs, target)
    return logits.dtype.type(loss), CrossEntropyCache(probs=probs, target=target)


def cross_entropy_backward(dloss: float, cache: CrossEntropyCache) -> np.ndarray:
    """dloss -> dlogits (B, K) = dloss * (probs - target) / B: one fused NumPy expression is enough."""
    B = cache.probs.shape[0]
    return (cache.probs - cache.target) * cache.probs.dtype.type(dloss / B)
