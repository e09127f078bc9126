"""MNIST and Fashion-MNIST: 28x28 grayscale images from the four standard IDX files."""

from pathlib import Path

import numpy as np

from tinyvit.data.dataset import Dataset
from tinyvit.data.download import fetch
from tinyvit.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from tinyvit.errors import TinyViTError

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # the mirror torchvision uses
FASHION_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
BASE_URLS = {"mnist": MNIST_URL, "fashion": FASHION_URL}

# Base names of the (train images, train labels, test images, test labels) files.
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# SHA-256 of the official .gz files, as listed by tensorflow-datasets and Keras. They are
# the same files as the MD5s in torchvision (MNIST: f68b3c2d..., Fashion: 8d4fb7e6... for
# train images), which we do not need to store since SHA-256 is known for every file.
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}  # fmt: skip


def load_mnist(data_dir: Path, name: str = "mnist") -> Dataset:
    """Load MNIST (name='mnist') or Fashion-MNIST (name='fashion') from data_dir as (N, 28, 28, 1)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TinyViTError(
            f"{name} data directory {data_dir} does not exist; pass download=True (--download on the command "
            "line) or put the IDX files there"
        )
    paths = [_find(data_dir, base, name) for base in FILES]
    x_train, x_test = (_images(read_idx(paths[i], IMAGES_MAGIC)) for i in (0, 2))
    y_train, y_test = (read_idx(paths[i], LABELS_MAGIC).astype(np.int64) for i in (1, 3))
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=list(CLASS_NAMES[name]),
        name=name,
    )


def download_mnist(data_dir: Path, name: str = "mnist", base_url: str | None = None) -> None:
    """Fetch the four .gz files of MNIST or Fashion-MNIST into data_dir (skipping valid ones)."""
    base_url = base_url or BASE_URLS[name]
    for filename, sha256 in SHA256[name].items():
        fetch(base_url.rstrip("/") + "/" + filename, Path(data_dir) / filename, sha256)


def _find(data_dir: Path, base: str, name: str) -> Path:
    """data_dir/base, or data_dir/base.gz if only the compressed file is there."""
    for candidate in (data_dir / base, data_dir / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    raise TinyViTError(
        f"{name} file {base} (or {base}.gz) not found in {data_dir}; pass download=True (--download on the "
        "command line) or put it there by hand"
    )


def _images(raw: np.ndarray) -> np.ndarray:
    """uint8 (N, rows, cols) -> float32 (N, rows, cols, 1) in [0, 1]."""
    if raw.ndim != 3:
        raise TinyViTError(f"IDX images must have 3 dimensions (N, rows, cols), got shape {raw.shape}")
    return (raw.astype(np.float32) / 255.0)[:, :, :, None]
