"""Your own images: root/train/<class>/*.png and root/test/<class>/*.png, one folder per class."""

from pathlib import Path

import numpy as np

from tinyvit.data.dataset import Dataset
from tinyvit.data.images import IMAGE_EXTENSIONS, load_image
from tinyvit.errors import TinyViTError


def load_image_folder(root: str | Path, image_size: int = 32, channels: int = 3) -> Dataset:
    """Load every image under root/train and root/test; classes are the sub-folder names, sorted.

    Images are converted to RGB (or grayscale with channels=1) and resized to
    image_size x image_size. Hidden files (names starting with '.') are ignored.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise TinyViTError(f"image folder {root} does not exist")
    train_dir, test_dir = root / "train", root / "test"
    class_names = _class_folders(train_dir)
    if len(class_names) < 2:   # one class trains to a meaningless 100 %
        raise TinyViTError(f"{train_dir} has one class folder ({class_names[0]}): a classifier needs at least "
                           "two classes to tell apart")
    unknown = sorted(set(_class_folders(test_dir)) - set(class_names))
    if unknown:
        raise TinyViTError(f"{test_dir} has classes not in {train_dir}: {', '.join(unknown)}")
    x_train, y_train = _load_split(train_dir, class_names, image_size, channels)
    x_test, y_test = _load_split(test_dir, class_names, image_size, channels)
    return Dataset(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, class_names=class_names, name="folder"
    )


def _class_folders(split_dir: Path) -> list[str]:
    """Sorted names of the class sub-folders of split_dir."""
    if not split_dir.is_dir():
        raise TinyViTError(f"missing folder {split_dir} (expected one sub-folder per class inside it)")
    names = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise TinyViTError(f"{split_dir} has no class sub-folders")
    return names


def _load_split(
    split_dir: Path, class_names: list[str], image_size: int, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """All images of one split as (N, S, S, C) float32, with their class indices."""
    images, labels = [], []
    for label, name in enumerate(class_names):
        class_dir = split_dir / name
        if not class_dir.is_dir():  # a class may be absent from the test split
            continue
        files = _image_files(class_dir)
        images += [load_image(path, image_size, channels) for path in files]
        labels += [label] * len(files)
    x = np.stack(images) if images else np.zeros((0, image_size, image_size, channels), np.float32)
    return x, np.array(labels, dtype=np.int64)


def _image_files(class_dir: Path) -> list[Path]:
    """Sorted image paths in class_dir; any other (non-hidden) file is an error."""
    files = sorted(p for p in class_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    for path in files:
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise TinyViTError(f"{path} is not an image (expected one of {', '.join(IMAGE_EXTENSIONS)})")
    if not files:
        raise TinyViTError(f"class folder {class_dir} has no images")
    return files
