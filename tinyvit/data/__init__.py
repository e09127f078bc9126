"""Datasets, batching and augmentation for tinyvit; `load_dataset(name)` is the entry point."""

from collections.abc import Callable
from pathlib import Path

from tinyvit.data.augment import Augment, augment_batch
from tinyvit.data.batching import iterate_batches, num_batches
from tinyvit.data.cifar import download_cifar10, load_cifar10
from tinyvit.data.dataset import Dataset
from tinyvit.data.digits import load_digits
from tinyvit.data.download import dataset_dir
from tinyvit.data.folder import load_image_folder
from tinyvit.data.images import load_image
from tinyvit.data.layout import load_layout
from tinyvit.data.mnist import download_mnist, load_mnist
from tinyvit.data.normalize import channel_stats, denormalize, normalize
from tinyvit.data.shapes import load_shapes
from tinyvit.errors import TinyViTError

DATASET_NAMES = ("digits", "shapes", "layout", "mnist", "fashion", "cifar10", "folder")
DOWNLOADABLE = ("mnist", "fashion", "cifar10")

# Datasets made on the fly, each from its `seed`.
_GENERATED: dict[str, Callable[..., Dataset]] = {"digits": load_digits, "shapes": load_shapes, "layout": load_layout}
# The keyword options each dataset accepts through load_dataset(**kwargs).
_OPTIONS = {
    "digits": ("image_size",),
    "shapes": ("n_train", "n_test", "image_size"),
    "layout": ("n_train", "n_test", "image_size", "patch_size"),
    "mnist": ("base_url",),
    "fashion": ("base_url",),
    "cifar10": ("base_url",),
    "folder": ("image_size", "channels"),
}


def load_dataset(
    name: str, data_dir: str | Path | None = None, download: bool = False, seed: int = 0, **kwargs
) -> Dataset:
    """Load a dataset by name; see DATASET_NAMES.

    digits, shapes, layout  built in, nothing to download; `seed` picks the split/images.
    mnist, fashion, cifar10 read from data_dir (default $TINYVIT_DATA/<name> or
                            ~/.cache/tinyvit/<name>); download=True fetches them first.
    folder                  data_dir is a folder with train/<class>/ and test/<class>/ images.
    """
    if name not in DATASET_NAMES:
        raise TinyViTError(f"unknown dataset '{name}'; choose one of: {', '.join(DATASET_NAMES)}")
    unknown = sorted(set(kwargs) - set(_OPTIONS[name]))
    if unknown:
        raise TinyViTError(
            f"dataset '{name}' has no option {', '.join(unknown)}; "
            f"its options are: {', '.join(_OPTIONS[name]) or 'none'}"
        )
    if download and name not in DOWNLOADABLE:
        raise TinyViTError(f"dataset '{name}' cannot be downloaded; only {', '.join(DOWNLOADABLE)} can")

    if name in _GENERATED:
        return _GENERATED[name](seed=seed, **kwargs)
    if name == "folder":
        if data_dir is None:
            raise TinyViTError("dataset 'folder' needs data_dir, a folder with train/<class>/ and test/<class>/")
        return load_image_folder(data_dir, **kwargs)

    directory = dataset_dir(name, data_dir)
    base_url = kwargs.get("base_url")
    if name == "cifar10":
        if download:
            download_cifar10(directory, base_url)
        return load_cifar10(directory)
    if download:
        download_mnist(directory, name, base_url)
    return load_mnist(directory, name)


__all__ = [
    "DATASET_NAMES",
    "Augment",
    "Dataset",
    "augment_batch",
    "channel_stats",
    "dataset_dir",
    "denormalize",
    "iterate_batches",
    "load_dataset",
    "load_image",
    "normalize",
    "num_batches",
]
