"""Sequence bookkeeping: prepend the [CLS] token, add a position table, pool to one vector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyvit.errors import TinyViTError


def cls_prepend_forward(x: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """x (B, N, D), cls (D,) -> (B, N+1, D) with the same learned [CLS] vector first in every image."""
    B, N, D = x.shape
    out = np.empty((B, N + 1, D), dtype=x.dtype)
    out[:, 0] = cls
    out[:, 1:] = x
    return out


def cls_prepend_backward(dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dy (B, N+1, D) -> dx (B, N, D), dcls (D,): [CLS] is shared, so its gradient sums over B."""
    return dy[:, 1:], dy[:, 0].sum(axis=0)


def pos_add_forward(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """x (B, N, D), table (N, D) -> (B, N, D): token n of every image gets row n added."""
    return x + table


def pos_add_backward(dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dy (B, N, D) -> dx (B, N, D), dtable (N, D): the table is shared across the batch."""
    return dy, dy.sum(axis=0)


@dataclass
class PoolCache:
    mode: str           # 'cls' or 'gap'
    num_tokens: int     # N, to rebuild the input shape


def pool_forward(x: np.ndarray, mode: str) -> tuple[np.ndarray, PoolCache]:
    """x (B, N, D) -> (B, D): 'cls' takes token 0; 'gap' averages every token.

    With 'gap' the model has no [CLS] token, so every token is a patch token.
    """
    if mode not in ("cls", "gap"):
        raise TinyViTError(f"pool mode must be 'cls' or 'gap', got {mode!r}.")
    y = x[:, 0] if mode == "cls" else x.mean(axis=1)
    return y, PoolCache(mode=mode, num_tokens=x.shape[1])


def pool_backward(dy: np.ndarray, cache: PoolCache) -> np.ndarray:
    """dy (B, D) -> dx (B, N, D)."""
    B, D = dy.shape
    N = cache.num_tokens
    if cache.mode == "cls":
        dx = np.zeros((B, N, D), dtype=dy.dtype)
        dx[:, 0] = dy                                   # only token 0 was read
    else:
        dx = np.broadcast_to(dy[:, None, :] / N, (B, N, D)).copy()  # each token had weight 1/N
    return dx
