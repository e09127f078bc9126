"""Tests for reading datasets from files: IDX (MNIST), CIFAR-10 pickles and image folders."""

import gzip
import pickle

import numpy as np
import pytest
from PIL import Image

from tinyvit.data import load_dataset, load_image
from tinyvit.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from tinyvit.errors import TinyViTError

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# ---------------------------------------------------------------- IDX / MNIST


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array as an IDX file: magic, big-endian sizes, then the values."""
    magic = (0x0800 | array.ndim) if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder, rng, n_train=6, n_test=4, gz=False, num_classes=10):
    """Write the four MNIST files into folder; return the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = [
        rng.integers(0, 256, size=(n_train, 28, 28)),
        rng.integers(0, num_classes, size=n_train),
        rng.integers(0, 256, size=(n_test, 28, 28)),
        rng.integers(0, num_classes, size=n_test),
    ]
    for name, array in zip(MNIST_FILES, arrays, strict=True):
        data = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", ["mnist", "fashion"])
def test_idx_round_trip(tmp_path, rng, gz, name):
    images, labels, test_images, test_labels = write_mnist(tmp_path, rng, gz=gz)
    ds = load_dataset(name, data_dir=tmp_path)
    assert ds.x_train.shape == (6, 28, 28, 1) and ds.x_test.shape == (4, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert np.array_equal(ds.x_train[..., 0], (images / 255.0).astype(np.float32))
    assert np.array_equal(ds.x_test[..., 0], (test_images / 255.0).astype(np.float32))
    assert np.array_equal(ds.y_train, labels) and np.array_equal(ds.y_test, test_labels)
    assert ds.class_names[0] == ("T-shirt/top" if name == "fashion" else "0")


def test_idx_reads_any_shape(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "x").write_bytes(idx_bytes(array))
    assert np.array_equal(read_idx(tmp_path / "x", IMAGES_MAGIC), array)


def test_idx_wrong_magic_number(tmp_path, rng):
    write_mnist(tmp_path, rng)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.zeros(6), magic=IMAGES_MAGIC))  # image magic on a label file
    with pytest.raises(TinyViTError, match=f"{labels}.*magic number 2051, expected 2049"):
        load_dataset("mnist", data_dir=tmp_path)


def test_idx_truncated_and_corrupt_files(tmp_path, rng):
    full = idx_bytes(rng.integers(0, 256, size=(3, 28, 28)))
    (tmp_path / "short").write_bytes(full[:-10])
    with pytest.raises(TinyViTError, match="should hold 2352 bytes of data for shape \\(3, 28, 28\\), but has 2342"):
        read_idx(tmp_path / "short", IMAGES_MAGIC)
    (tmp_path / "bad.gz").write_bytes(b"this is not gzip data")
    with pytest.raises(TinyViTError, match="could not read .*bad.gz"):
        read_idx(tmp_path / "bad.gz", IMAGES_MAGIC)
    (tmp_path / "cut.gz").write_bytes(gzip.compress(full)[:-100])
    with pytest.raises(TinyViTError, match="could not read .*cut.gz"):
        read_idx(tmp_path / "cut.gz", IMAGES_MAGIC)
    (tmp_path / "tiny").write_bytes(b"\x00\x00")
    with pytest.raises(TinyViTError, match="too short"):
        read_idx(tmp_path / "tiny", LABELS_MAGIC)


def test_mnist_missing_dir_missing_file_and_bad_labels(tmp_path, rng):
    with pytest.raises(TinyViTError, match="does not exist"):
        load_dataset("mnist", data_dir=tmp_path / "nowhere")
    write_mnist(tmp_path, rng)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(TinyViTError, match="t10k-labels-idx1-ubyte.*not found in"):
        load_dataset("mnist", data_dir=tmp_path)
    write_mnist(tmp_path, rng, num_classes=12)  # labels 10 and 11 do not exist in MNIST
    with pytest.raises(TinyViTError, match="labels must be in 0..9"):
        load_dataset("mnist", data_dir=tmp_path)


def test_mnist_image_and_label_counts_must_match(tmp_path, rng):
    write_mnist(tmp_path, rng)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5)))
    with pytest.raises(TinyViTError, match="6 train images but 5 train labels"):
        load_dataset("mnist", data_dir=tmp_path)


# ---------------------------------------------------------------- CIFAR-10

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar(folder, rng, per_batch=3, protocol=2):
    """Write a miniature cifar-10-batches-py folder with the official layout; return its arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        batches[name] = (data, labels)
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": [b"x.png"] * per_batch}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    meta = {b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_cases_per_batch": per_batch}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return batches


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar_round_trip_from_folder_or_parent(tmp_path, rng, protocol):
    batches = write_cifar(tmp_path / "cifar-10-batches-py", rng, protocol=protocol)
    for data_dir in (tmp_path, tmp_path / "cifar-10-batches-py"):
        ds = load_dataset("cifar10", data_dir=data_dir)
        assert ds.x_train.shape == (15, 32, 32, 3) and ds.x_test.shape == (3, 32, 32, 3)
        assert ds.class_names == CIFAR_CLASSES
        data, labels = batches["data_batch_2"]
        # Row layout: 1024 red values, then green, then blue, each 32 rows of 32.
        h, w, c = 5, 7, 2
        assert ds.x_train[3 + 1, h, w, c] == np.float32(data[1, c * 1024 + h * 32 + w] / 255.0)
        assert np.array_equal(ds.y_train[3:6], labels)
        assert np.array_equal(ds.y_test, batches["test_batch"][1])


class _Evil:
    def __reduce__(self):
        return (print, ("a pickle just ran code",))


def test_cifar_bad_files(tmp_path, rng):
    with pytest.raises(TinyViTError, match="no CIFAR-10 batches"):
        load_dataset("cifar10", data_dir=tmp_path)
    write_cifar(tmp_path, rng)
    (tmp_path / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(TinyViTError, match="data_batch_3 is not a valid CIFAR-10 pickle"):
        load_dataset("cifar10", data_dir=tmp_path)
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}))
    with pytest.raises(TinyViTError, match="refusing to load builtins.print"):
        load_dataset("cifar10", data_dir=tmp_path)
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(TinyViTError, match="expected uint8 data of shape \\(N, 3072\\)"):
        load_dataset("cifar10", data_dir=tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(TinyViTError, match="missing data_batch_3"):
        load_dataset("cifar10", data_dir=tmp_path)


# ---------------------------------------------------------------- image folders and load_image


def save(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def make_folder(root):
    """Two classes; PNGs in RGB, RGBA, grayscale and palette modes of different sizes, and a JPEG."""
    save(root / "train/cat/red.png", Image.new("RGB", (40, 30), (255, 0, 0)))
    save(root / "train/cat/clear.png", Image.new("RGBA", (10, 10), (0, 255, 0, 0)))  # fully transparent
    save(root / "train/dog/gray.png", Image.new("L", (20, 50), 128))
    save(root / "train/dog/palette.png", Image.new("RGB", (8, 8), (0, 0, 255)).convert("P"))
    save(root / "test/cat/photo.jpg", Image.new("RGB", (33, 33), (255, 255, 255)))
    save(root / "test/dog/blue.bmp", Image.new("RGB", (5, 7), (0, 0, 255)))
    (root / "train/cat/.DS_Store").write_bytes(b"hidden files are ignored")


def test_image_folder_loading(tmp_path):
    make_folder(tmp_path)
    ds = load_dataset("folder", data_dir=tmp_path)
    assert ds.class_names == ["cat", "dog"] and ds.name == "folder"
    assert ds.x_train.shape == (4, 32, 32, 3) and ds.x_test.shape == (2, 32, 32, 3)
    assert ds.y_train.tolist() == [0, 0, 1, 1] and ds.y_test.tolist() == [0, 1]
    # Files are read in sorted order: clear.png, red.png, gray.png, palette.png.
    assert np.array_equal(ds.x_train[0], np.zeros((32, 32, 3)))  # transparent -> black
    assert np.array_equal(ds.x_train[1], np.broadcast_to([1.0, 0.0, 0.0], (32, 32, 3)))
    assert np.allclose(ds.x_train[2], 128 / 255)  # grey copied to all three channels
    assert np.array_equal(ds.x_train[3], np.broadcast_to([0.0, 0.0, 1.0], (32, 32, 3)))

    gray = load_dataset("folder", data_dir=tmp_path, image_size=16, channels=1)
    assert gray.x_train.shape == (4, 16, 16, 1)
    assert np.allclose(gray.x_train[2], 128 / 255)


def test_image_folder_errors(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "train/dog/notes.txt").write_text("not an image")
    with pytest.raises(TinyViTError, match="notes.txt is not an image"):
        load_dataset("folder", data_dir=tmp_path)
    (tmp_path / "train/dog/notes.txt").unlink()

    (tmp_path / "train/dog/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
    with pytest.raises(TinyViTError, match="could not read image .*broken.png"):
        load_dataset("folder", data_dir=tmp_path)
    (tmp_path / "train/dog/broken.png").unlink()

    (tmp_path / "train/bird").mkdir()
    with pytest.raises(TinyViTError, match="class folder .*bird has no images"):
        load_dataset("folder", data_dir=tmp_path)
    (tmp_path / "train/bird").rmdir()

    save(tmp_path / "test/fish/fish.png", Image.new("RGB", (4, 4)))
    with pytest.raises(TinyViTError, match="has classes not in .*train: fish"):
        load_dataset("folder", data_dir=tmp_path)

    with pytest.raises(TinyViTError, match="does not exist"):
        load_dataset("folder", data_dir=tmp_path / "nowhere")
    (tmp_path / "empty/train").mkdir(parents=True)
    with pytest.raises(TinyViTError, match="has no class sub-folders"):
        load_dataset("folder", data_dir=tmp_path / "empty")
    save(tmp_path / "one/train/cat/a.png", Image.new("RGB", (4, 4)))
    save(tmp_path / "one/test/cat/b.png", Image.new("RGB", (4, 4)))
    with pytest.raises(TinyViTError, match=r"has one class folder \(cat\): a classifier needs at least two"):
        load_dataset("folder", data_dir=tmp_path / "one")
    save(tmp_path / "one/train/dog/c.png", Image.new("RGB", (4, 4)))
    with pytest.raises(TinyViTError, match="channels must be 1 .* got '3'"):
        load_dataset("folder", data_dir=tmp_path / "one", channels="3")
    with pytest.raises(TinyViTError, match="layout: patch_size must be a positive whole number of pixels, got 0"):
        load_dataset("layout", patch_size=0)


def test_load_image_modes_and_sizes(tmp_path):
    save(tmp_path / "half.png", Image.new("RGBA", (3, 9), (255, 255, 255, 128)))
    half = load_image(tmp_path / "half.png", image_size=None)
    assert half.shape == (9, 3, 3) and half.dtype == np.float32
    assert np.allclose(half, 128 / 255, atol=1 / 255)  # half-transparent white over black

    save(tmp_path / "pal.gif", Image.new("RGB", (50, 20), (0, 255, 0)).convert("P"))
    assert np.array_equal(load_image(tmp_path / "pal.gif", 8), np.broadcast_to([0.0, 1.0, 0.0], (8, 8, 3)))
    assert load_image(tmp_path / "pal.gif", 8, channels=1).shape == (8, 8, 1)

    Image.fromarray(np.full((4, 4), 40000, np.uint16)).save(tmp_path / "deep.png")  # 16-bit grayscale
    assert np.allclose(load_image(tmp_path / "deep.png", 4), (40000 >> 8) / 255)

    Image.fromarray(np.full((4, 4), 40000, np.int32)).save(tmp_path / "deep32.tiff")  # mode I: read as 16-bit
    assert np.allclose(load_image(tmp_path / "deep32.tiff", 4), (40000 >> 8) / 255)
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(tmp_path / "float.tiff")  # mode F: no known range
    with pytest.raises(TinyViTError, match="could not read image .*float.tiff: 32-bit float pixels"):
        load_image(tmp_path / "float.tiff", 4)
    for name in ("blue.webp", "blue.tiff"):                  # lossless: the exact colour comes back
        Image.new("RGB", (6, 6), (0, 0, 255)).save(tmp_path / name, **({"lossless": True} if "webp" in name else {}))
        assert np.array_equal(load_image(tmp_path / name, 6), np.broadcast_to([0.0, 0.0, 1.0], (6, 6, 3)))

    with pytest.raises(TinyViTError, match="image file not found: .*missing.png"):
        load_image(tmp_path / "missing.png", 8)
    with pytest.raises(TinyViTError, match="is a folder, not an image file"):
        load_image(tmp_path, 8)
    with pytest.raises(TinyViTError, match="the image path is empty"):
        load_image("", 8)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(TinyViTError, match="could not read image .*empty.jpg"):
        load_image(tmp_path / "empty.jpg", 8)
    with pytest.raises(TinyViTError, match="channels must be 1"):
        load_image(tmp_path / "pal.gif", 8, channels=4)
