"""Per-channel normalisation: subtract the train-set mean and divide by its std."""

import numpy as np

from tinyvit.errors import TinyViTError


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of images (N, H, W, C), as float32 (C,)."""
    if len(x) == 0:
        channels = x.shape[-1]
        return np.zeros(channels, np.float32), np.ones(channels, np.float32)
    # Accumulate in float64: summing millions of float32 values loses precision.
    mean = x.mean(axis=(0, 1, 2), dtype=np.float64)
    std = x.std(axis=(0, 1, 2), dtype=np.float64)
    # A constant channel would give std 0 and a division by zero when normalising.
    std = np.maximum(std, 1e-6)
    return mean.astype(np.float32), std.astype(np.float32)


def normalize(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Return (x - mean) / std per channel, as float32; x is (..., C)."""
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    if mean.shape != (x.shape[-1],) or std.shape != (x.shape[-1],):
        raise TinyViTError(
            f"normalize: images have {x.shape[-1]} channels but mean has shape {mean.shape} "
            f"and std has shape {std.shape}"
        )
    # Broadcasting over the last axis applies one (mean, std) pair per channel.
    return ((x - mean) / std).astype(np.float32)


def denormalize(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Undo `normalize` (e.g. to display an image): x * std + mean."""
    return (x * np.asarray(std, np.float32) + np.asarray(mean, np.float32)).astype(np.float32)
