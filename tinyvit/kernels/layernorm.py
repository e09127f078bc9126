"""LayerNorm forward and backward, one pass over each token's row (twin: ops/layernorm.py)."""

from __future__ import annotations

import numpy as np

from tinyvit.errors import TinyViTError
from tinyvit.kernels.checks import check_cache, check_float, check_gradient
from tinyvit.kernels.jit import kernel
from tinyvit.kernels.threads import parallel_for, part_count
from tinyvit.kernels.vec import lane_dot, lane_sum
from tinyvit.ops.layernorm import LayerNormCache


@kernel
def _forward_rows(start, stop, x, gamma, beta, eps, y, mean, rstd):
    T = x.dtype.type
    D = x.shape[1]
    xc = np.empty(D, dtype=x.dtype)                         # one row of x - mean, reused
    for r in range(start, stop):
        mu = lane_sum(x[r], 0, D) / T(D)
        for j in range(D):
            xc[j] = x[r, j] - mu                            # centred first: the two-pass variance
        s = T(1.0) / np.sqrt(lane_dot(xc, xc, 0, D) / T(D) + T(eps))
        for j in range(D):
            y[r, j] = xc[j] * s * gamma[j] + beta[j]        # x_hat * gamma + beta; x_hat is not kept
        mean[r, 0] = mu
        rstd[r, 0] = s


@kernel
def _backward_groups(start, stop, dy, x, mean, rstd, gamma, dskip, dx, dgamma_parts, dbeta_parts):
    # dgamma and dbeta sum over every row: each group of rows sums into its own slot of the
    # *_parts arrays, and the groups are added at the end, so no two threads write one place.
    # dskip (empty when there is none) is added to each row of dx once it is finished, still in
    # L1: the residual block's `dx + dh` without a pass of its own over memory (0.2-0.5 ms of 1.6
    # on cifar-tiny).
    skip = dskip.size > 0
    T = dy.dtype.type
    R, D = dy.shape
    groups = dgamma_parts.shape[0]
    x_hat, dx_hat = np.empty(D, dtype=dy.dtype), np.empty(D, dtype=dy.dtype)   # one row of each
    for g in range(start, stop):
        for j in range(D):
            dgamma_parts[g, j] = 0
            dbeta_parts[g, j] = 0
        for r in range(R * g // groups, R * (g + 1) // groups):
            mu, s = mean[r, 0], rstd[r, 0]
            for j in range(D):
                x_hat[j] = (x[r, j] - mu) * s                    # as the forward made it
                dx_hat[j] = dy[r, j] * gamma[j]
                dgamma_parts[g, j] += dy[r, j] * x_hat[j]
                dbeta_parts[g, j] += dy[r, j]
            m1 = lane_sum(dx_hat, 0, D) / T(D)                  # mean(dx_hat)
            m2 = lane_dot(dx_hat, x_hat, 0, D) / T(D)           # mean(dx_hat * x_hat)
            for j in range(D):
                dx[r, j] = s * (dx_hat[j] - m1 - x_hat[j] * m2)
            if skip:   # added to the finished row, still in L1: inside the expression above, LLVM
                for j in range(D):   # would fuse it into a multiply-add, rounded unlike the twin's sum
                    dx[r, j] += dskip[r, j]


def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                      eps: float = 1e-6) -> tuple[np.ndarray, LayerNormCache]:
    """x (..., D) -> y (..., D), as ops.layernorm.layernorm_forward."""
    check_float("layernorm", "x", x)
    shape, D = x.shape, x.shape[-1]
    if gamma.shape != (D,) or beta.shape != (D,):   # the kernel would read past their ends
        raise TinyViTError(f"layernorm: x (..., {D}) needs gamma and beta of shape ({D},), "
                           f"got {gamma.shape} and {beta.shape}.")
    x2 = np.ascontiguousarray(x.reshape(-1, D))
    R = x2.shape[0]
    y = np.empty_like(x2)
    mean, rstd = np.empty((R, 1), dtype=x2.dtype), np.empty((R, 1), dtype=x2.dtype)
    parallel_for(_forward_rows, R, x2, gamma, beta, eps, y, mean, rstd, work=3 * x2.size)
    lead = (*shape[:-1], 1)
    return y.reshape(shape), LayerNormCache(x=x, mean=mean.reshape(lead), rstd=rstd.reshape(lead), gamma=gamma)


def layernorm_backward(dy: np.ndarray, cache: LayerNormCache,
                       dskip: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dy (..., D), dskip (..., D) or None -> dx (..., D), dgamma (D,), dbeta (D,), as
    ops.layernorm.layernorm_backward."""
    check_float("layernorm backward", "cache.x", cache.x)
    rows = (*cache.x.shape[:-1], 1)
    check_cache("layernorm backward", {"mean": (cache.mean, rows), "rstd": (cache.rstd, rows),
                                       "gamma": (cache.gamma, cache.x.shape[-1:])}, cache.x.dtype)
    dy = check_gradient("layernorm backward", "dy", dy, cache.x.shape, cache.x.dtype)
    shape, D = dy.shape, dy.shape[-1]
    dy2 = dy.reshape(-1, D)
    if dskip is None:
        skip2 = np.empty((0, D), dtype=dy2.dtype)
    else:
        skip2 = check_gradient("layernorm backward", "dskip", dskip, cache.x.shape, cache.x.dtype).reshape(-1, D)
    x = np.ascontiguousarray(cache.x.reshape(-1, D))
    mean = np.ascontiguousarray(cache.mean.reshape(-1, 1))
    rstd = np.ascontiguousarray(cache.rstd.reshape(-1, 1))
    work = 7 * dy2.size          # with or without dskip: the groups decide how dgamma's sums round
    groups = part_count(dy2.shape[0], work=work)             # one group of rows per parallel_for item
    dgamma_parts = np.empty((groups, D), dtype=dy2.dtype)
    dbeta_parts = np.empty((groups, D), dtype=dy2.dtype)
    dx = np.empty_like(dy2)
    parallel_for(_backward_groups, groups, dy2, x, mean, rstd, cache.gamma, skip2, dx, dgamma_parts, dbeta_parts,
                 work=work)
    return dx.reshape(shape), dgamma_parts.sum(axis=0), dbeta_parts.sum(axis=0)
