"""CIFAR-10 from the standard Python pickle batches (the `cifar-10-batches-py` folder)."""

import pickle
import tarfile
from pathlib import Path

import numpy as np

from tinyvit.data.dataset import Dataset
from tinyvit.data.download import fetch
from tinyvit.errors import TinyViTError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/"
ARCHIVE = "cifar-10-python.tar.gz"
# SHA-256 of the official archive as pinned by Keras (its MD5, published on the CIFAR
# page and in torchvision, is c58f30108f718f92721af3b95e74349a).
ARCHIVE_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
META = "batches.meta"
ALL_FILES = [*TRAIN_BATCHES, TEST_BATCH, META]


def load_cifar10(data_dir: Path) -> Dataset:
    """Load CIFAR-10 as (N, 32, 32, 3) from the batches folder or its parent."""
    folder = find_batch_dir(Path(data_dir))
    train = [_read_batch(folder / name) for name in TRAIN_BATCHES]
    x_test, y_test = _read_batch(folder / TEST_BATCH)
    meta = _unpickle(folder / META)
    if b"label_names" not in meta:
        raise TinyViTError(f"{folder / META} has no b'label_names' entry")
    class_names = [name.decode() if isinstance(name, bytes) else str(name) for name in meta[b"label_names"]]
    return Dataset(
        name="cifar10",
        x_train=np.concatenate([x for x, _ in train]),
        y_train=np.concatenate([y for _, y in train]),
        x_test=x_test,
        y_test=y_test,
        class_names=class_names,
    )


def find_batch_dir(data_dir: Path) -> Path:
    """data_dir itself if it holds the batches, else data_dir/cifar-10-batches-py."""
    for folder in (data_dir, data_dir / BATCH_DIR):
        if (folder / META).is_file():
            missing = [name for name in ALL_FILES if not (folder / name).is_file()]
            if missing:
                raise TinyViTError(f"CIFAR-10 folder {folder} is missing {', '.join(missing)}")
            return folder
    raise TinyViTError(
        f"no CIFAR-10 batches in {data_dir} (looked for {META} there and in {BATCH_DIR}/); "
        "pass download=True (--download on the command line) or put the files there by hand"
    )


def download_cifar10(data_dir: Path, base_url: str | None = None) -> None:
    """Fetch and unpack the official archive into data_dir/cifar-10-batches-py (skipped if present)."""
    data_dir = Path(data_dir)
    if all((data_dir / BATCH_DIR / name).is_file() for name in ALL_FILES):
        return
    archive = fetch((base_url or CIFAR10_URL).rstrip("/") + "/" + ARCHIVE, data_dir / ARCHIVE, ARCHIVE_SHA256)
    _extract(archive, data_dir / BATCH_DIR)


def _extract(archive: Path, folder: Path) -> None:
    """Copy the eight batch files out of the archive by name.

    Reading members by name (instead of tarfile.extractall) means a malicious archive
    cannot write outside `folder` or create links.
    """
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in ALL_FILES:
                member = tar.extractfile(f"{BATCH_DIR}/{name}")
                if member is None:
                    raise KeyError(name)
                (folder / name).write_bytes(member.read())
    except (tarfile.TarError, KeyError, OSError, EOFError) as err:
        raise TinyViTError(f"could not unpack {archive}: {err}") from None


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds dicts, lists and NumPy arrays.

    A pickle may name any Python function to call while loading, so a tampered file
    could run code; refusing every name not needed by the CIFAR batches prevents that.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),  # pickles written by NumPy 1.x
        ("numpy._core.multiarray", "_reconstruct"),  # pickles written by NumPy 2.x
        ("numpy.core.numeric", "_frombuffer"),  # pickle protocol 5, NumPy 1.x
        ("numpy._core.numeric", "_frombuffer"),  # pickle protocol 5, NumPy 2.x
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes in protocol-2 pickles
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    """Load one CIFAR pickle (a dict with bytes keys, as written by Python 2)."""
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise TinyViTError(f"CIFAR-10 file not found: {path}") from None
    except Exception as err:  # a corrupt pickle can fail in many different ways
        raise TinyViTError(f"{path} is not a valid CIFAR-10 pickle: {err}") from None
    if not isinstance(batch, dict):
        raise TinyViTError(f"{path} is not a valid CIFAR-10 pickle: expected a dict, got {type(batch).__name__}")
    return batch


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) float32 in [0, 1] and labels (N,) int64 of one batch file."""
    batch = _unpickle(path)
    if b"data" not in batch or b"labels" not in batch:
        raise TinyViTError(f"{path} has no b'data' and b'labels' entries")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise TinyViTError(f"{path}: expected uint8 data of shape (N, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise TinyViTError(f"{path}: expected {len(data)} integer labels, got {labels.dtype} {labels.shape}")
    # Each row holds the 1024 red values, then green, then blue, each plane row by row.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images.astype(np.float32) / 255.0, labels.astype(np.int64)
