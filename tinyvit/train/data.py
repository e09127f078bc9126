"""A thin adapter between the trainer and tinyvit.data: load a DataSpec, fit images to the model.

It prefers tinyvit.data.load_dataset and falls back on the individual loaders, so it
keeps working whichever parts of the data module a checkout has.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyvit.data.dataset import Dataset
from tinyvit.data.images import resize_images
from tinyvit.errors import TinyViTError
from tinyvit.train.config import DataSpec

DATASETS = ("digits", "shapes", "layout", "mnist", "fashion", "cifar10", "folder")
NEEDS_DIR = ("folder",)


def load_data(spec: DataSpec, image_size: int | None = None) -> Dataset:
    """Load the dataset that `spec` names; resize its images to image_size if it is given."""
    if spec.name not in DATASETS:
        raise TinyViTError(f"unknown dataset {spec.name!r}: choose one of {', '.join(DATASETS)}.")
    if spec.name in NEEDS_DIR and not spec.data_dir:
        raise TinyViTError(f"dataset {spec.name!r} needs --data-dir (a folder with train/ and test/ "
                           "sub-folders of class folders).")
    if spec.data_dir is not None and not Path(spec.data_dir).expanduser().exists() and not spec.download:
        raise TinyViTError(f"data directory {spec.data_dir} does not exist.")
    options = dict(spec.options)
    try:
        from tinyvit.data import load_dataset
    except ImportError:
        load_dataset = None
    if load_dataset is not None:
        dataset = load_dataset(spec.name, data_dir=spec.data_dir, download=spec.download, seed=spec.seed,
                               **options)
    else:
        dataset = _load_fallback(spec, options)
    if image_size is not None and dataset.x_train.shape[1:3] != (image_size, image_size):
        dataset = Dataset(dataset.name, resize_images(dataset.x_train, image_size), dataset.y_train,
                          resize_images(dataset.x_test, image_size), dataset.y_test, list(dataset.class_names))
    return dataset


def _load_fallback(spec: DataSpec, options: dict) -> Dataset:
    """Call the individual loaders directly (used while tinyvit.data has no load_dataset)."""
    name, data_dir = spec.name, spec.data_dir
    if name == "digits":
        from tinyvit.data.digits import load_digits

        return load_digits(seed=spec.seed, **options)
    if name == "shapes":
        from tinyvit.data.shapes import load_shapes

        return load_shapes(seed=spec.seed, **options)
    if name == "layout":
        from tinyvit.data.layout import load_layout

        return load_layout(seed=spec.seed, **options)
    if name == "folder":
        from tinyvit.data.folder import load_image_folder

        return load_image_folder(data_dir, **options)
    from tinyvit.data.download import dataset_dir

    folder = dataset_dir(name, data_dir)
    if name in ("mnist", "fashion"):
        from tinyvit.data.mnist import download_mnist, load_mnist

        if spec.download:
            download_mnist(folder, name)
        return load_mnist(folder, name)
    from tinyvit.data.cifar import download_cifar10, load_cifar10

    if spec.download:
        download_cifar10(folder)
    return load_cifar10(folder)


def normalize_images(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(x - mean) / std per channel, float32: the same transform at training and at prediction."""
    return ((x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32, copy=False)
