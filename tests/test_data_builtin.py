"""Tests for the built-in datasets (digits, shapes, layout) and load_dataset's argument checks."""

import numpy as np
import pytest

from tinyvit.data import DATASET_NAMES, load_dataset, synthetic
from tinyvit.data.layout import draw_layout
from tinyvit.errors import TinyViTError

# ---------------------------------------------------------------- digits


def test_digits_shapes_counts_and_range():
    ds = load_dataset("digits")
    assert ds.x_train.shape == (1347, 8, 8, 1) and ds.x_test.shape == (450, 8, 8, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.class_names == [str(d) for d in range(10)]
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    # Train and test split the 1,797 scikit-learn images: together they are exactly all of them.
    from sklearn.datasets import load_digits

    original = load_digits()
    ours = np.concatenate([ds.x_train.reshape(-1, 64), ds.x_test.reshape(-1, 64)]) * 16
    ours = np.c_[ours, np.concatenate([ds.y_train, ds.y_test])]
    theirs = np.c_[original.data, original.target]
    assert np.array_equal(np.unique(ours, axis=0), np.unique(theirs, axis=0)) and len(ours) == len(theirs)


def test_digits_split_is_stratified():
    ds = load_dataset("digits")
    train_counts = np.bincount(ds.y_train, minlength=10)
    test_counts = np.bincount(ds.y_test, minlength=10)
    per_class = train_counts + test_counts
    # Each class keeps a quarter of its images for testing, up to rounding (within 1 sample).
    assert np.all(np.abs(test_counts - 0.25 * per_class) <= 1)


def test_digits_split_depends_only_on_seed():
    a, b, c = load_dataset("digits", seed=3), load_dataset("digits", seed=3), load_dataset("digits", seed=4)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)


def test_digits_upscaled_to_16():
    small, big = load_dataset("digits"), load_dataset("digits", image_size=16)
    assert big.x_train.shape == (1347, 16, 16, 1)
    assert np.array_equal(small.y_train, big.y_train)  # same split, only bigger pictures
    assert 0.0 <= big.x_train.min() and big.x_train.max() <= 1.0
    # Upscaling keeps the average brightness of each image (up to border effects).
    assert np.allclose(small.x_train.mean(axis=(1, 2, 3)), big.x_train.mean(axis=(1, 2, 3)), atol=0.03)


# ---------------------------------------------------------------- shapes and layout


@pytest.mark.parametrize("name", ["shapes", "layout"])
def test_synthetic_is_deterministic_and_balanced(name):
    a = load_dataset(name, seed=7, n_train=300, n_test=100)
    b = load_dataset(name, seed=7, n_train=300, n_test=100)
    c = load_dataset(name, seed=8, n_train=300, n_test=100)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field  # bit-identical
    assert not np.array_equal(a.x_train, c.x_train)
    assert a.x_train.shape == (300, 32, 32, 3) and a.x_train.dtype == np.float32
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    for y in (a.y_train, a.y_test):
        counts = np.bincount(y, minlength=a.num_classes)
        assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("name", ["shapes", "layout"])
def test_synthetic_train_and_test_come_from_independent_streams(name):
    a = load_dataset(name, n_train=50, n_test=10)
    b = load_dataset(name, n_train=50, n_test=30)
    c = load_dataset(name, n_train=20, n_test=30)
    assert np.array_equal(a.x_train, b.x_train)  # asking for more test images leaves train alone
    assert np.array_equal(b.x_test, c.x_test)
    assert not np.array_equal(a.x_train[:10], a.x_test)


def test_shapes_has_at_least_the_five_required_classes():
    ds = load_dataset("shapes", n_train=12, n_test=6, image_size=16)
    assert {"circle", "square", "triangle", "cross", "ring"} <= set(ds.class_names)
    assert ds.x_train.shape == (12, 16, 16, 3)


def test_synthetic_rejects_bad_sizes():
    with pytest.raises(TinyViTError, match="image_size"):
        load_dataset("layout", image_size=30)  # not a multiple of the patch size
    with pytest.raises(TinyViTError, match="n_train"):
        load_dataset("shapes", n_train=-1)


def _squares(images):
    """Noise-free layout images -> (red mask, blue mask), each (N, H, W)."""
    red = images[..., 0] - images[..., 2] > 0.35
    blue = images[..., 2] - images[..., 0] > 0.35
    return red, blue


@pytest.mark.parametrize("image_size", [16, 32])
def test_layout_squares_never_share_a_patch_and_label_is_the_relation(monkeypatch, image_size):
    monkeypatch.setattr(synthetic, "NOISE_STD", 0.0)  # exact masks: background and squares separate
    rng = np.random.default_rng(0)
    labels = np.arange(400) % 4
    red, blue = _squares(draw_layout(labels, image_size, 4, rng))
    for i, label in enumerate(labels):
        boxes = []
        for mask in (red[i], blue[i]):
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            # A whole square: a filled box, equally tall and wide, so never cut by the border.
            assert mask.sum() == len(rows) * len(cols) and len(rows) == len(cols) >= 2
            boxes.append((rows[0] // 4, rows[-1] // 4, cols[0] // 4, cols[-1] // 4))  # patch cells covered
        (r_top, r_bottom, r_left, r_right), (b_top, b_bottom, b_left, b_right) = boxes
        red_below, red_right = label // 2, label % 2
        # At least one empty patch row and one empty patch column between the squares.
        if red_below:
            assert r_top >= b_bottom + 2
        else:
            assert b_top >= r_bottom + 2
        if red_right:
            assert r_left >= b_right + 2
        else:
            assert b_left >= r_right + 2


def _patch_mean_colours(x, p=4):
    """(N, H, W, 3) -> (N, number of patches, 3): the mean colour of each p x p patch, in order."""
    n, h, w, c = x.shape
    return x.reshape(n, h // p, p, w // p, p, c).mean(axis=(2, 4)).reshape(n, -1, c)


def _centroid_offset(x):
    """(N, 2): centre of the red pixels minus centre of the blue pixels, (down, right)."""
    red, blue = _squares(x)
    rows, cols = np.mgrid[: x.shape[1], : x.shape[2]]

    def centre(mask):
        area = mask.sum(axis=(1, 2))
        return np.stack([(mask * rows).sum(axis=(1, 2)) / area, (mask * cols).sum(axis=(1, 2)) / area], axis=1)

    return centre(red) - centre(blue)


def _ridge_accuracy(f_train, y_train, f_test, y_test, lam=1e-2):
    """Test accuracy of a linear least-squares classifier (one-hot targets), fitted in closed form."""
    mu, sd = f_train.mean(0), f_train.std(0) + 1e-6
    a_train = np.c_[(f_train - mu) / sd, np.ones(len(f_train))]
    a_test = np.c_[(f_test - mu) / sd, np.ones(len(f_test))]
    targets = np.eye(4)[y_train]
    w = np.linalg.solve(a_train.T @ a_train + lam * len(a_train) * np.eye(a_train.shape[1]), a_train.T @ targets)
    return float(np.mean((a_test @ w).argmax(1) == y_test))


def test_layout_is_unsolvable_from_a_bag_of_patches_but_easy_with_positions():
    ds = load_dataset("layout", seed=1, n_train=3000, n_test=1000)
    train, test = _patch_mean_colours(ds.x_train), _patch_mean_colours(ds.x_test)
    n_train, n_test = len(train), len(test)

    # The same per-patch features, once in position order and once sorted over the patches
    # (sorting forgets which patch was where, like a ViT without position embeddings).
    ordered = _ridge_accuracy(train.reshape(n_train, -1), ds.y_train, test.reshape(n_test, -1), ds.y_test)
    bag = _ridge_accuracy(
        np.sort(train, axis=1).reshape(n_train, -1), ds.y_train, np.sort(test, axis=1).reshape(n_test, -1), ds.y_test
    )
    centroid = _ridge_accuracy(_centroid_offset(ds.x_train), ds.y_train, _centroid_offset(ds.x_test), ds.y_test)

    assert 0.19 < bag < 0.31  # chance is 0.25; 1000 test images give a standard error of 0.014
    assert ordered > 0.95
    assert centroid > 0.99


# ---------------------------------------------------------------- load_dataset checks


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(TinyViTError) as info:
        load_dataset("imagenet")
    message = str(info.value)
    assert "imagenet" in message and all(name in message for name in DATASET_NAMES)


def test_unknown_option_and_impossible_download_are_clear_errors():
    with pytest.raises(TinyViTError, match="no option n_train"):
        load_dataset("digits", n_train=10)
    with pytest.raises(TinyViTError, match="cannot be downloaded"):
        load_dataset("shapes", download=True)
    with pytest.raises(TinyViTError, match="needs data_dir"):
        load_dataset("folder")


def test_dataset_mean_and_std_come_from_the_train_split():
    ds = load_dataset("shapes", n_train=60, n_test=20, image_size=16)
    assert np.allclose(ds.mean, ds.x_train.mean(axis=(0, 1, 2)), atol=1e-6)
    assert np.allclose(ds.std, ds.x_train.std(axis=(0, 1, 2)), atol=1e-6)
    assert ds.mean.shape == (3,) and ds.mean.dtype == np.float32
