"""Softmax cross-entropy with optional label smoothing, averaged over the batch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyvit.errors import TinyViTError


@dataclass
class CrossEntropyCache:
    probs: np.ndarray    # (B, K) softmax of the logits
    target: np.ndarray   # (B, K) the (smoothed) one-hot target distribution


def check_labels(labels: np.ndarray, batch: int, num_classes: int) -> None:
    """Raise TinyViTError unless labels are `batch` integers in [0, num_classes)."""
    labels = np.asarray(labels)
    if labels.shape != (batch,) or labels.dtype.kind not in "iu":
        raise TinyViTError(f"labels must be {batch} integers, got shape {labels.shape} and dtype {labels.dtype}.")
    if batch and (labels.min() < 0 or labels.max() >= num_classes):
        raise TinyViTError(f"labels must lie in [0, {num_classes}), got values from {labels.min()} "
                           f"to {labels.max()}.")


def check_smoothing(smoothing: float) -> None:
    if not 0.0 <= smoothing < 1.0:   # written so that nan fails too
        raise TinyViTError(f"label smoothing must be in [0, 1), got {smoothing}.")


def cross_entropy_forward(logits: np.ndarray, labels: np.ndarray,
                          smoothing: float = 0.0) -> tuple[float, CrossEntropyCache]:
    """logits (B, K), labels (B,) ints in [0, K) -> mean loss (a scalar).

    Label smoothing trains towards (1 - s) * one_hot + s / K instead of the one-hot.
    """
    B, K = logits.shape
    check_labels(labels, B, K)
    check_smoothing(smoothing)
    z = logits - logits.max(axis=1, keepdims=True)             # stable: shift before exp
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # (B, K) log softmax
    target = np.full((B, K), smoothing / K, dtype=logits.dtype)
    target[np.arange(B), labels] += 1.0 - smoothing
    loss = -(target * log_probs).sum() / B
    return loss, CrossEntropyCache(probs=np.exp(log_probs), target=target)


def cross_entropy_backward(dloss: float, cache: CrossEntropyCache) -> np.ndarray:
    """dloss (a scalar, 1.0 for the loss itself) -> dlogits (B, K) = dloss * (probs - target) / B."""
    B = cache.probs.shape[0]
    return (cache.probs - cache.target) * (dloss / B)
