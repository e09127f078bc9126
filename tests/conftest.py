"""Shared test helpers: tiny configs and random parameters that make gradients non-trivial."""

from __future__ import annotations

import numpy as np
import pytest

from tinyvit import ViT, ViTConfig


def tiny_config(**overrides) -> ViTConfig:
    """An 8x8, 2-channel model with 4 patches of 4x4: every path, almost no compute."""
    values = dict(image_size=8, patch_size=4, in_channels=2, num_classes=3, dim=16, depth=2,
                  heads=2, mlp_dim=24, dtype="float64", backend="numpy")
    values.update(overrides)
    return ViTConfig(**values)


def randomize(model: ViT, seed: int = 0, scale: float = 0.5) -> ViT:
    """Replace every parameter with random values in place.

    The official initialisation zeroes the head and [CLS], which makes most gradients
    exactly zero and a gradient check blind; random values exercise every path.
    """
    rng = np.random.default_rng(seed)
    for name, p in model.params.items():
        base = 1.0 if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight" else 0.0
        p[...] = base + rng.normal(0.0, scale, p.shape)
    return model


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def two_threads() -> int:
    """Numba's thread count set to 2 for the test (1 on a one-core machine); yields the count."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    yield numba.get_num_threads()
    numba.set_num_threads(before)
