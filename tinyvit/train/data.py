"""A thin adapter between the trainer and tinyvit.data: load a DataSpec, fit images to the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyvit.data import DATASET_NAMES, Dataset, load_dataset
from tinyvit.data.images import resize_images
from tinyvit.errors import TinyViTError
from tinyvit.train.config import DataSpec


def load_data(spec: DataSpec, image_size: int | None = None) -> Dataset:
    """Load the dataset that `spec` names; resize its images to image_size if it is given.

    MNIST (28x28) or CIFAR-10 (32x32) can so feed a model of another input size.
    """
    if spec.name not in DATASET_NAMES:
        raise TinyViTError(f"unknown dataset {spec.name!r}: choose one of {', '.join(DATASET_NAMES)}.")
    if spec.data_dir is not None and not Path(spec.data_dir).expanduser().exists() and not spec.download:
        raise TinyViTError(f"data directory {spec.data_dir} does not exist.")
    dataset = load_dataset(spec.name, data_dir=spec.data_dir, download=spec.download, seed=spec.seed,
                           **spec.options)
    if image_size is not None and dataset.x_train.shape[1:3] != (image_size, image_size):
        dataset = Dataset(x_train=resize_images(dataset.x_train, image_size), y_train=dataset.y_train,
                          x_test=resize_images(dataset.x_test, image_size), y_test=dataset.y_test,
                          class_names=list(dataset.class_names), name=dataset.name)
    return dataset


def normalize_images(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(x - mean) / std per channel, float32: the same transform at training and at prediction."""
    return ((x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32, copy=False)
