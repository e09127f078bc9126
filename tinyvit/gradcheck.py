"""Finite-difference gradient checking: the proof that every hand-written backward is right."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

TINY = 1e-300


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """|a - b| / max(|a| + |b|, tiny), with |.| the Euclidean norm over all entries.

    Taking norms (rather than the worst single entry) keeps the measure meaningful for
    entries whose true gradient is zero, where finite differences only see round-off.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), TINY))


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5,
                       indices: Iterable[tuple] | None = None) -> np.ndarray:
    """Central differences (f(x + h) - f(x - h)) / 2h of the scalar f() with respect to x.

    x is perturbed in place, one entry at a time, and restored. With `indices` only those
    entries are computed (the others stay 0), which keeps checks of big tensors cheap.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    for idx in (np.ndindex(x.shape) if indices is None else indices):
        old = x[idx]
        x[idx] = old + h
        f_plus = f()
        x[idx] = old - h
        f_minus = f()
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def sample_indices(shape: tuple, count: int, rng: np.random.Generator) -> list[tuple]:
    """Up to `count` distinct random entries of an array of this shape (all of them if fewer)."""
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= count else rng.choice(size, count, replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def check_model(model, x: np.ndarray, labels: np.ndarray, entries: int | None = 8,
                seed: int = 0) -> dict[str, float]:
    """Gradient-check a float64 model: {parameter name or 'images': relative error}.

    The loss is the softmax cross-entropy with label smoothing 0.1. `entries` entries of
    every parameter are compared (None: all of them); the image gradient is checked in full.
    """
    from tinyvit.ops import cross_entropy_backward, cross_entropy_forward

    rng = np.random.default_rng(seed)
    state = model.rng.bit_generator.state  # replay the same dropout masks in every forward

    def loss() -> float:
        model.rng.bit_generator.state = state
        value, _ = cross_entropy_forward(model.forward(x, train=True), labels, 0.1)
        return float(value)

    model.rng.bit_generator.state = state
    _, ce = cross_entropy_forward(model.forward(x, train=True), labels, 0.1)
    dx = model.backward(cross_entropy_backward(1.0, ce))
    errors = {}
    for name, param in model.params.items():
        idx = None if entries is None else sample_indices(param.shape, entries, rng)
        numeric = numerical_gradient(loss, param, indices=idx)
        analytic = model.grads[name] if idx is None else np.array([model.grads[name][i] for i in idx])
        numeric = numeric if idx is None else np.array([numeric[i] for i in idx])
        errors[name] = rel_error(analytic, numeric)
    errors["images"] = rel_error(dx, numerical_gradient(loss, x))
    return errors
