"""Mini-batches for one epoch, shuffled by a caller-owned random generator."""

import math
from collections.abc import Iterator

import numpy as np

from tinyvit.errors import TinyViTError


def iterate_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool,
    rng: np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (x_batch, y_batch) pairs that together visit every sample once.

    The order comes from `rng`, which the caller owns: saving rng.bit_generator.state
    with a checkpoint and restoring it later reproduces the same batches exactly.
    With drop_last=True the final, smaller batch is skipped.
    """
    if len(x) != len(y):
        raise TinyViTError(f"iterate_batches: {len(x)} images but {len(y)} labels")
    if batch_size < 1:
        raise TinyViTError(f"batch_size must be at least 1, got {batch_size}")
    if shuffle and rng is None:
        raise TinyViTError("iterate_batches: shuffle=True needs an rng (np.random.default_rng(seed))")
    order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
    stop = len(x) - len(x) % batch_size if drop_last else len(x)
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], y[idx]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches iterate_batches yields for n samples."""
    return n // batch_size if drop_last else math.ceil(n / batch_size)
