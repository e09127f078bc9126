"""Inverted dropout: zero a fraction p of the values in training and scale the rest by 1/(1-p)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyvit.errors import TinyViTError


@dataclass
class DropoutCache:
    mask: np.ndarray | None  # (...) 0 or 1/(1-p) per value; None when nothing was dropped


def dropout_forward(x: np.ndarray, p: float, rng: np.random.Generator,
                    train: bool) -> tuple[np.ndarray, DropoutCache]:
    """x (...) -> y (...). At evaluation (or p == 0) it is the identity.

    The mask is drawn from `rng`, so the same generator state gives the same mask.
    Scaling at training time keeps the expected value, so evaluation needs no change.
    """
    if not 0.0 <= p < 1.0:   # p = 1 would drop everything and scale by 1 / 0
        raise TinyViTError(f"dropout rate must be in [0, 1), got {p}.")
    if not train or p == 0.0:
        return x, DropoutCache(mask=None)
    keep = rng.random(x.shape, dtype=x.dtype) >= p
    mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return x * mask, DropoutCache(mask=mask)


def dropout_backward(dy: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """dy (...) -> dx (...): the dropped values pass no gradient."""
    return dy if cache.mask is None else dy * cache.mask
