"""Helpers shared by the procedural datasets (`shapes`, `layout`): seeds, labels, backgrounds."""

from collections.abc import Callable

import numpy as np

from tinyvit.data.dataset import Dataset
from tinyvit.errors import TinyViTError

NOISE_STD = 0.04


def make_synthetic(
    name: str,
    class_names: list[str],
    draw: Callable[[np.ndarray, np.random.Generator], np.ndarray],
    n_train: int,
    n_test: int,
    seed: int,
) -> Dataset:
    """Build both splits with `draw(labels, rng) -> images`, each split from its own random stream."""
    for label, n in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise TinyViTError(f"{name}: {label} must be a whole number >= 0, got {n!r}")
    # spawn() gives two independent streams, so the training images do not change
    # when you ask for a different number of test images (and vice versa).
    train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    y_train = balanced_labels(n_train, len(class_names), train_rng)
    y_test = balanced_labels(n_test, len(class_names), test_rng)
    return Dataset(
        name=name,
        x_train=draw(y_train, train_rng),
        y_train=y_train,
        x_test=draw(y_test, test_rng),
        y_test=y_test,
        class_names=class_names,
    )


def balanced_labels(n: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """n labels in random order in which every class occurs n // num_classes or one more times."""
    return rng.permutation(np.arange(n) % num_classes).astype(np.int64)


def dark_background(n: int, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """(n, S, S, 3) images of one random dark colour each (every channel in [0, 0.3])."""
    colour = rng.uniform(0.0, 0.3, size=(n, 1, 1, 3)).astype(np.float32)
    return np.ones((n, image_size, image_size, 3), np.float32) * colour


def add_noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian pixel noise (the same for every class) and clip back to [0, 1]."""
    noise = rng.standard_normal(size=x.shape, dtype=np.float32) * NOISE_STD
    return np.clip(x + noise, 0.0, 1.0)
