"""AdamW as one loop over each parameter: one read of param, grad, m, v and one write (twin: ops/adamw.py)."""

from __future__ import annotations

import numpy as np

from tinyvit.errors import TinyViTError, describe
from tinyvit.kernels.checks import check_float, check_gradient
from tinyvit.kernels.jit import kernel


@kernel
def _adamw(param, grad, m, v, lr, beta1, beta2, eps, decay, m_scale, v_scale):
    # The same operations in the same order as ops/adamw.py, on one value at a time, in the
    # parameter's dtype; NumPy makes five passes over memory for this, the loop makes one.
    T = param.dtype.type
    lr, beta1, beta2, eps, decay = T(lr), T(beta1), T(beta2), T(eps), T(decay)
    m_scale, v_scale = T(m_scale), T(v_scale)
    one_minus_b1, one_minus_b2 = T(1.0) - beta1, T(1.0) - beta2
    for i in range(param.size):
        g = grad[i]
        mi = m[i] * beta1 + one_minus_b1 * g
        vi = v[i] * beta2 + one_minus_b2 * (g * g)
        m[i] = mi
        v[i] = vi
        p = param[i] * decay
        param[i] = p - lr * (mi * m_scale) / (np.sqrt(vi * v_scale) + eps)


def adamw_update(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, *, step: int,
                 lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
    """Update param, m and v in place, as ops.adamw.adamw_update."""
    decay = 1.0 - lr * weight_decay if weight_decay else 1.0
    check_float("adamw_update", "param", param)
    for name, state in (("m", m), ("v", v)):   # updated in place, read and written by param's size
        if not (isinstance(state, np.ndarray) and state.shape == param.shape and state.dtype == param.dtype):
            raise TinyViTError(f"adamw_update: {name} must be a {param.dtype} array of the parameter's shape "
                               f"{param.shape}, got {describe(state)}.")
    if not param.flags.writeable:
        raise TinyViTError("adamw_update: the parameter is read-only; it is updated in place.")
    if np.may_share_memory(m, v) or np.may_share_memory(param, m) or np.may_share_memory(param, v):
        raise TinyViTError("adamw_update: param, m and v must be three separate arrays.")
    # The loop runs over flat views of the arrays, in their memory order (C or Fortran); a strided
    # parameter (a view) is updated through a contiguous copy.
    order = "F" if param.flags.f_contiguous and not param.flags.c_contiguous else "C"
    target = param if param.flags.c_contiguous or param.flags.f_contiguous else np.ascontiguousarray(param)
    if not all(t.flags.c_contiguous if order == "C" else t.flags.f_contiguous for t in (m, v)):
        raise TinyViTError(f"adamw_update needs m and v contiguous in the parameter's {order} order (they are "
                           "updated in place).")
    grad = check_gradient("adamw_update", "grad", grad, param.shape, param.dtype)
    flat = [t.ravel(order) for t in (target, grad, m, v)]
    _adamw(*flat, lr, beta1, beta2, eps, decay, 1.0 / (1.0 - beta1**step), 1.0 / (1.0 - beta2**step))
    if target is not param:
        param[...] = target
