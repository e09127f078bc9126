"""Parameter initialisation, following the official ViT (Flax) implementation."""

from __future__ import annotations

import numpy as np

# The standard deviation of a standard normal truncated to [-2, 2]; dividing by it makes
# the truncated samples have the requested standard deviation (as jax.nn.initializers does).
TRUNCATED_NORMAL_STD = 0.87962566103423978


def xavier_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, shape: tuple) -> np.ndarray:
    """Uniform in +-sqrt(6 / (fan_in + fan_out)): keeps activation variance steady both ways."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def lecun_normal(rng: np.random.Generator, fan_in: int, shape: tuple) -> np.ndarray:
    """Truncated normal with std sqrt(1 / fan_in): Flax's default for the patch-embedding conv."""
    std = np.sqrt(1.0 / fan_in) / TRUNCATED_NORMAL_STD
    return truncated_normal(rng, shape) * std


def truncated_normal(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Standard normal samples redrawn until all lie in [-2, 2]."""
    x = rng.standard_normal(shape)
    bad = np.abs(x) > 2.0
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) > 2.0
    return x


def normal(rng: np.random.Generator, std: float, shape: tuple) -> np.ndarray:
    return rng.standard_normal(shape) * std
