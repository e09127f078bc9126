"""The `Dataset` container that every loader returns: train/test arrays plus class names."""

from dataclasses import dataclass, field

import numpy as np

from tinyvit.data.normalize import channel_stats
from tinyvit.errors import TinyViTError


@dataclass
class Dataset:
    """Images (N, H, W, C) float32 in [0, 1] and labels (N,) int64, for both splits.

    `mean` and `std` (one value per channel) are computed from the *train* split only,
    so that normalising the test split never peeks at test data.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    mean: np.ndarray = field(init=False)
    std: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            self._check_split(split)
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise TinyViTError(
                f"dataset '{self.name}': train images have shape {self.x_train.shape[1:]} "
                f"but test images have shape {self.x_test.shape[1:]}"
            )
        self.mean, self.std = channel_stats(self.x_train)

    def _check_split(self, split: str) -> None:
        """Check dtypes, shapes and label range so that bad files fail here, not in training."""
        x = getattr(self, f"x_{split}")
        y = getattr(self, f"y_{split}")
        if x.ndim != 4 or x.dtype != np.float32:
            raise TinyViTError(
                f"dataset '{self.name}': x_{split} must be float32 (N, H, W, C), got {x.dtype} with shape {x.shape}"
            )
        if y.ndim != 1 or y.dtype != np.int64:
            raise TinyViTError(
                f"dataset '{self.name}': y_{split} must be int64 (N,), got {y.dtype} with shape {y.shape}"
            )
        if len(x) != len(y):
            raise TinyViTError(f"dataset '{self.name}': {len(x)} {split} images but {len(y)} {split} labels")
        # One NaN pixel would make every loss NaN and look like a bad learning rate. A sum carries
        # any NaN or inf through, without a boolean copy of the whole split.
        if not np.isfinite(x.sum(dtype=np.float64)):
            first = int(np.argmin(np.isfinite(x).all(axis=(1, 2, 3))))
            raise TinyViTError(f"dataset '{self.name}': x_{split} holds NaN or inf values (first in image "
                               f"{first}); images must be finite numbers in [0, 1]")
        if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
            raise TinyViTError(
                f"dataset '{self.name}': {split} labels must be in 0..{self.num_classes - 1} "
                f"({self.num_classes} classes), got values from {y.min()} to {y.max()}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one image."""
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset('{self.name}', train={len(self.x_train)}, test={len(self.x_test)}, "
            f"image_shape={self.image_shape}, classes={self.num_classes})"
        )
