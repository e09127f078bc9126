"""Finite-difference gradient checking: the proof that every hand-written backward is right."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Iterable

import numpy as np

from tinyvit.errors import TinyViTError, describe

TINY = 1e-300


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """|a - b| / max(|a| + |b|, tiny), with |.| the Euclidean norm over all entries.

    Taking norms (rather than the worst single entry) keeps the measure meaningful for
    entries whose true gradient is zero, where finite differences only see round-off.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise TinyViTError(f"rel_error compares two arrays of one shape, got {a.shape} and {b.shape}.")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), TINY))


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5,
                       indices: Iterable[tuple] | None = None) -> np.ndarray:
    """Central differences (f(x + h) - f(x - h)) / 2h of the scalar f() with respect to x.

    x is perturbed in place, one entry at a time, and restored. With `indices` only those
    entries are computed (the others stay 0), which keeps checks of big tensors cheap.
    x must be float64: in float32 a nudge of 1e-5 is mostly round-off, in integers it is lost.
    """
    _check_float64(x, "numerical_gradient's x")
    if not _is_real(h) or not 0 < h < np.inf:
        raise TinyViTError(f"numerical_gradient's step h must be a positive number, got {h!r}.")
    grad = np.zeros_like(x, dtype=np.float64)
    for idx in (np.ndindex(x.shape) if indices is None else indices):
        old = x[idx]
        x[idx] = old + h
        f_plus = _scalar(f())
        x[idx] = old - h
        f_minus = _scalar(f())
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def sample_indices(shape: tuple, count: int, rng: np.random.Generator) -> list[tuple]:
    """Up to `count` distinct random entries of an array of this shape (all of them if fewer)."""
    if not _is_int(count) or count < 1:
        raise TinyViTError(f"the number of entries to check must be a whole number >= 1, got {count!r}.")
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= count else rng.choice(size, count, replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def check_model(model, x: np.ndarray, labels: np.ndarray, entries: int | None = 8,
                seed: int = 0) -> dict[str, float]:
    """Gradient-check a float64 model: {parameter name or 'images': relative error}.

    The loss is the softmax cross-entropy with label smoothing 0.1. `entries` entries of
    every parameter are compared (None: all of them); the image gradient is checked in full.
    A parameter whose gradient is exactly zero at every checked entry proves nothing: it is
    named in a warning (a zero-initialised head, the default, hides every gradient behind it).
    """
    from tinyvit.ops import cross_entropy_backward, cross_entropy_forward

    if not all(hasattr(model, a) for a in ("params", "grads", "forward", "backward", "rng")):
        raise TinyViTError(f"check_model checks a tinyvit ViT, got {type(model).__name__}.")
    for name, param in model.params.items():
        _check_float64(param, f"parameter {name}", " (build the model with ViTConfig(..., dtype='float64'))")
    _check_float64(x, "the images")
    if entries is not None:
        sample_indices((1,), entries, np.random.default_rng(0))   # the same check of `entries`

    rng = np.random.default_rng(seed)
    state = model.rng.bit_generator.state  # replay the same dropout masks in every forward

    def loss() -> float:
        model.rng.bit_generator.state = state
        value, _ = cross_entropy_forward(model.forward(x, train=True), labels, 0.1)
        return float(value)

    model.rng.bit_generator.state = state
    _, ce = cross_entropy_forward(model.forward(x, train=True), labels, 0.1)
    dx = model.backward(cross_entropy_backward(1.0, ce))
    errors, blind = {}, []
    for name, param in model.params.items():
        idx = None if entries is None else sample_indices(param.shape, entries, rng)
        numeric = numerical_gradient(loss, param, indices=idx)
        analytic = model.grads[name] if idx is None else np.array([model.grads[name][i] for i in idx])
        numeric = numeric if idx is None else np.array([numeric[i] for i in idx])
        errors[name] = rel_error(analytic, numeric)
        if not np.any(analytic) and not np.any(numeric):
            blind.append(name)
    errors["images"] = rel_error(dx, numerical_gradient(loss, x))
    if blind:
        warnings.warn(f"the gradient is exactly zero at every checked entry of {len(blind)} of {len(model.params)} "
                      f"parameters ({', '.join(blind[:3])}{', ...' if len(blind) > 3 else ''}), so their check "
                      "proves nothing: give the weights random values first (the default zero head hides "
                      "every gradient behind it).", stacklevel=2)
    return errors


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_float64(x, what: str, hint: str = "") -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TinyViTError(f"{what} must be a float64 NumPy array to check gradients in, got {describe(x)}{hint}: "
                           "float32 round-off swamps a finite difference, and an integer cannot be nudged.")


def _scalar(value) -> float:
    """The loss f() returned, as a float: finite differences need one number per evaluation."""
    if np.ndim(value) != 0:
        raise TinyViTError(f"the function whose gradient is checked must return one number, "
                           f"got an array of shape {np.shape(value)}.")
    return float(value)
