"""The 8x8 handwritten digits bundled with scikit-learn (1,797 real images, no download)."""

import numpy as np

from tinyvit.data.dataset import Dataset
from tinyvit.data.images import resize_images
from tinyvit.data.split import stratified_split
from tinyvit.errors import TinyViTError

TEST_FRACTION = 0.25


def load_digits(seed: int = 0, image_size: int = 8) -> Dataset:
    """Digits 0-9 as (N, image_size, image_size, 1) in [0, 1], split 75/25 per class with `seed`."""
    # Imported here so that the rest of tinyvit does not need scikit-learn.
    from sklearn.datasets import load_digits as sklearn_load_digits

    if image_size < 1:
        raise TinyViTError(f"digits: image_size must be a positive number of pixels, got {image_size}")
    bunch = sklearn_load_digits()
    # Pixel values are counts 0..16 (each pixel summarises a 4x4 block of the original scan).
    x = (bunch.images / 16.0).astype(np.float32)[:, :, :, None]
    y = bunch.target.astype(np.int64)
    x = resize_images(x, image_size)
    train, test = stratified_split(y, TEST_FRACTION, np.random.default_rng(seed))
    return Dataset(
        name="digits",
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        class_names=[str(d) for d in range(10)],
    )
