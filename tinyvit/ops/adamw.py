"""One AdamW update of one parameter, in place (Loshchilov & Hutter: decoupled weight decay)."""

from __future__ import annotations

import numpy as np


def adamw_update(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, *, step: int,
                 lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
    """Update param, m and v in place. step counts from 1 (it sets the bias correction).

    m and v are running means of the gradient and of its square; dividing by sqrt(v) gives
    every entry its own step size. The decay shrinks the weight directly instead of being
    added to the gradient, so it is not rescaled by sqrt(v) ("decoupled").
    """
    m *= beta1
    m += (1.0 - beta1) * grad                              # first moment
    v *= beta2
    v += (1.0 - beta2) * (grad * grad)                     # second moment
    m_hat_scale = 1.0 / (1.0 - beta1**step)                # bias correction: m, v start at zero
    v_hat_scale = 1.0 / (1.0 - beta2**step)
    if weight_decay:
        param *= 1.0 - lr * weight_decay                   # decoupled decay
    param -= lr * (m * m_hat_scale) / (np.sqrt(v * v_hat_scale) + eps)
