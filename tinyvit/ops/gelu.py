"""GELU, the smooth ReLU of the Transformer MLP, exact (erf) or tanh-approximated."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyvit.errors import TinyViTError

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass
class GeluCache:
    x: np.ndarray       # (...) the pre-GELU activations
    approximate: str    # 'erf' or 'tanh'


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise: SciPy's, imported on first use (the import takes ~0.5 s,
    a third of a later process's start, and the numba backend never needs it)."""
    from scipy.special import erf as scipy_erf

    return scipy_erf(x)


def check_approximate(approximate: str) -> None:
    if approximate not in ("erf", "tanh"):
        raise TinyViTError(f"GELU approximate must be 'erf' or 'tanh', got {approximate!r}.")


def gelu_forward(x: np.ndarray, approximate: str = "erf") -> tuple[np.ndarray, GeluCache]:
    """x (...) -> y (...): y = x * Phi(x), Phi the standard normal CDF.

    'erf' computes Phi exactly (PyTorch's default); 'tanh' uses the approximation
    0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) that the official JAX ViT uses.
    """
    check_approximate(approximate)
    if approximate == "tanh":
        inner = SQRT_2_OVER_PI * (x + 0.044715 * x**3)
        y = 0.5 * x * (1.0 + np.tanh(inner))
    else:
        y = 0.5 * x * (1.0 + erf(x * INV_SQRT_2))
    return y, GeluCache(x=x, approximate=approximate)


def gelu_backward(dy: np.ndarray, cache: GeluCache) -> np.ndarray:
    """dy (...) -> dx (...), by the product rule on y = x * Phi(x)."""
    x = cache.x
    if cache.approximate == "tanh":
        inner = SQRT_2_OVER_PI * (x + 0.044715 * x**3)
        t = np.tanh(inner)
        dinner = SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
        dydx = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner
    else:
        cdf = 0.5 * (1.0 + erf(x * INV_SQRT_2))          # Phi(x)
        pdf = INV_SQRT_2PI * np.exp(-0.5 * x * x)        # Phi'(x)
        dydx = cdf + x * pdf
    return dy * dydx
