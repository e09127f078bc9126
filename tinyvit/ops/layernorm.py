"""Layer normalisation over the last axis (the width D of every token)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LayerNormCache:
    x: np.ndarray      # (..., D) the input, kept (not copied): the backward recomputes
                       # x_hat = (x - mean) * rstd from it, as llm.c does, instead of keeping a
                       # second (..., D) array per LayerNorm (a write pass and memory saved)
    mean: np.ndarray   # (..., 1) mean of every token
    rstd: np.ndarray   # (..., 1) reciprocal standard deviation 1 / sqrt(var + eps)
    gamma: np.ndarray  # (D,) the scale, needed for the input gradient


def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                      eps: float = 1e-6) -> tuple[np.ndarray, LayerNormCache]:
    """x (..., D) -> y (..., D): y = (x - mean) / sqrt(var + eps) * gamma + beta."""
    mean = x.mean(axis=-1, keepdims=True)                       # (..., 1)
    xc = x - mean                                               # (..., D)
    var = (xc * xc).mean(axis=-1, keepdims=True)                # (..., 1), two-pass: no cancellation
    rstd = 1.0 / np.sqrt(var + eps)                             # (..., 1)
    x_hat = xc * rstd                                           # (..., D)
    y = x_hat * gamma + beta                                    # (..., D)
    return y, LayerNormCache(x=x, mean=mean, rstd=rstd, gamma=gamma)


def layernorm_backward(dy: np.ndarray, cache: LayerNormCache,
                       dskip: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dy (..., D) -> dx (..., D), dgamma (D,), dbeta (D,).

    dskip (..., D), if given, is the gradient that x receives along its other path (in a pre-norm
    block: the skip connection around the branch). It is added to dx, because x fed both paths.
    """
    x, mean, rstd, gamma = cache.x, cache.mean, cache.rstd, cache.gamma
    x_hat = (x - mean) * rstd                                   # (..., D), as the forward made it
    D = x_hat.shape[-1]
    lead = tuple(range(x_hat.ndim - 1))
    dbeta = dy.sum(axis=lead)                                   # y = ... + beta
    dgamma = (dy * x_hat).sum(axis=lead)                        # y = x_hat * gamma
    dx_hat = dy * gamma                                         # (..., D)
    # x_hat = (x - mean) * rstd, where mean and rstd depend on every x of the token too.
    # Collecting the three paths gives the classic compact form:
    #   dx = rstd * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))
    mean_dx_hat = dx_hat.sum(axis=-1, keepdims=True) / D
    mean_dx_hat_x_hat = (dx_hat * x_hat).sum(axis=-1, keepdims=True) / D
    dx = rstd * (dx_hat - mean_dx_hat - x_hat * mean_dx_hat_x_hat)
    if dskip is not None:
        dx = dx + dskip                                         # x had two uses: sum their gradients
    return dx, dgamma, dbeta
