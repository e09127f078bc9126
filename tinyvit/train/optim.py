"""AdamW with parameter groups, and global-norm gradient clipping.

Weight decay pulls weights towards zero. That regularises the matrices of the linear
layers, but it would only hurt the parameters that set a scale or an offset (biases,
LayerNorm gains and shifts) or that are lookup tables (the [CLS] token and the position
embeddings): those are kept out of the decay, as in the ViT and DeiT recipes.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinyvit.errors import TinyViTError

# Name fragments of the parameters that are never decayed, whatever their shape.
NO_DECAY_NAMES = ("cls_token", "pos_embed", "rel_pos")


def decays(name: str, param: np.ndarray) -> bool:
    """Whether the parameter `name` gets weight decay: only the weight matrices do.

    Every 1-D parameter is a bias, a LayerNorm weight/bias or the [CLS] token; the
    position tables (pos_embed.*, attn.rel_pos) are 2-D but are excluded by name.
    """
    if param.ndim < 2:
        return False
    return not any(fragment in name for fragment in NO_DECAY_NAMES)


def param_groups(params: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """Split the parameter names into {'decay': [...], 'no_decay': [...]}."""
    groups: dict[str, list[str]] = {"decay": [], "no_decay": []}
    for name, value in params.items():
        groups["decay" if decays(name, value) else "no_decay"].append(name)
    return groups


class AdamW:
    """AdamW over a dict of parameters, updated in place by `update_fn` (a backend's adamw_update).

    >>> opt = AdamW(model.params, weight_decay=0.05, update_fn=model.ops.adamw_update)
    >>> opt.step(model.grads, lr=1e-3)
    """

    def __init__(self, params: dict[str, np.ndarray], *, weight_decay: float = 0.0, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, update_fn=None):
        if not 0.0 <= beta1 < 1.0 or not 0.0 <= beta2 < 1.0:
            raise TinyViTError(f"AdamW betas must be in [0, 1), got beta1={beta1}, beta2={beta2}.")
        if not 0 <= weight_decay < np.inf:   # written so that nan fails too
            raise TinyViTError(f"weight decay must be a finite number >= 0, got {weight_decay}.")
        if not 0 < eps < np.inf:
            raise TinyViTError(f"AdamW eps must be a finite number > 0, got {eps}.")
        if update_fn is None:
            from tinyvit.ops import adamw_update as update_fn
        self.params = params
        self.weight_decay = weight_decay
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.update_fn = update_fn
        self.groups = param_groups(params)
        self.decay = {name: name in self.groups["decay"] for name in params}
        self.m = {name: np.zeros_like(p) for name, p in params.items()}   # running mean of g
        self.v = {name: np.zeros_like(p) for name, p in params.items()}   # running mean of g^2
        self.t = 0                                                         # updates done so far

    def step(self, grads: dict[str, np.ndarray], lr: float) -> None:
        """One update of every parameter with learning rate `lr`."""
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 <= lr < np.inf:
            raise TinyViTError(f"the learning rate must be a finite number >= 0, got {lr!r}.")
        missing = [name for name in self.params if name not in grads]
        if missing:
            raise TinyViTError(f"AdamW.step: no gradient for {', '.join(missing[:3])}"
                               f"{', ...' if len(missing) > 3 else ''}.")
        for name, param in self.params.items():
            grad = grads[name]
            if not isinstance(grad, np.ndarray) or grad.shape != param.shape:
                got = grad.shape if isinstance(grad, np.ndarray) else type(grad).__name__
                raise TinyViTError(f"AdamW.step: the gradient of {name} must have the parameter's shape "
                                   f"{param.shape}, got {got}.")
        self.t += 1
        for name, param in self.params.items():
            self.update_fn(param, grads[name], self.m[name], self.v[name], step=self.t, lr=lr,
                           beta1=self.beta1, beta2=self.beta2, eps=self.eps,
                           weight_decay=self.weight_decay if self.decay[name] else 0.0)

    # ----------------------------------------------------------------- checkpointing
    def state_dict(self) -> dict:
        """The moments and the step count, for a checkpoint (arrays are not copied)."""
        return {"t": self.t, "m": self.m, "v": self.v}

    def load_state_dict(self, state: dict) -> None:
        """Restore what state_dict() returned; the shapes must match the parameters."""
        missing = [key for key in ("t", "m", "v") if key not in state]
        if missing:
            raise TinyViTError(f"optimizer state has no {', '.join(repr(k) for k in missing)} (state_dict() "
                               "returns 't', 'm' and 'v').")
        for key in ("m", "v"):
            saved = state[key]
            missing = sorted(set(self.params) - set(saved))
            if missing:
                raise TinyViTError(f"optimizer state has no '{key}' for parameter(s) {', '.join(missing)}.")
            for name, p in self.params.items():
                if saved[name].shape != p.shape:
                    raise TinyViTError(f"optimizer state '{key}' of {name} has shape {saved[name].shape}, "
                                       f"but the parameter has shape {p.shape}.")
                getattr(self, key)[name][...] = saved[name]
        self.t = int(state["t"])


def global_grad_norm(grads: dict[str, np.ndarray]) -> float:
    """The L2 norm of all gradients taken together as one long vector (summed in float64)."""
    # einsum's own loop, not np.dot: a BLAS call here wakes BLAS's threads, which then spin
    # on the cores the numba backend's threads are about to use (2.4x slower steps, measured).
    total = 0.0
    for g in grads.values():
        flat = g.ravel()
        total += float(np.einsum("i,i->", flat, flat, dtype=np.float64))
    return float(np.sqrt(total))


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients in place so their global norm is at most max_norm (0 = off).

    Returns the norm before clipping, which is worth logging: spikes show instability.
    Clipping the global norm keeps the direction of the update and only shortens it.
    """
    norm = global_grad_norm(grads)
    if max_norm > 0 and norm > max_norm and np.isfinite(norm):
        scale = max_norm / (norm + 1e-6)
        for g in grads.values():
            g *= g.dtype.type(scale)
    return norm
