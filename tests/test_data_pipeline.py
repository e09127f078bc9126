"""Tests for normalisation, batching and augmentation, with known answers."""

import time

import numpy as np
import pytest

from tinyvit.data import Augment, augment_batch, channel_stats, iterate_batches, normalize, num_batches
from tinyvit.data.augment import affine_transform, random_crop, random_flip
from tinyvit.errors import TinyViTError

# ---------------------------------------------------------------- normalisation


def test_normalize_known_answer_and_stats(rng):
    x = np.array([[[[0.0, 1.0], [2.0, 3.0]]]], dtype=np.float32)  # (1, 1, 2, 2): two pixels, two channels
    out = normalize(x, mean=[1.0, 2.0], std=[2.0, 0.5])
    assert np.array_equal(out, [[[[-0.5, -2.0], [0.5, 2.0]]]]) and out.dtype == np.float32

    images = rng.uniform(0, 1, size=(50, 8, 8, 3)).astype(np.float32) * [1.0, 0.5, 0.2]
    mean, std = channel_stats(images)
    z = normalize(images, mean, std)
    assert np.allclose(z.mean(axis=(0, 1, 2)), 0, atol=1e-5) and np.allclose(z.std(axis=(0, 1, 2)), 1, atol=1e-4)


def test_normalize_rejects_wrong_channel_count():
    with pytest.raises(TinyViTError, match="3 channels but mean has shape \\(1,\\)"):
        normalize(np.zeros((1, 2, 2, 3), np.float32), [0.5], [0.2])


# ---------------------------------------------------------------- batching


def test_every_sample_once_per_epoch(rng):
    x, y = np.arange(103)[:, None] * 10, np.arange(103)
    batches = list(iterate_batches(x, y, 10, shuffle=True, rng=rng))
    assert [len(b) for _, b in batches] == [10] * 10 + [3] and num_batches(103, 10) == 11
    seen = np.concatenate([b for _, b in batches])
    assert sorted(seen) == list(range(103)) and not np.array_equal(seen, np.arange(103))
    assert all(np.array_equal(bx[:, 0], by * 10) for bx, by in batches)  # images stay with their labels

    kept = list(iterate_batches(x, y, 10, shuffle=True, rng=rng, drop_last=True))
    assert [len(b) for _, b in kept] == [10] * 10 and num_batches(103, 10, drop_last=True) == 10
    plain = np.concatenate([b for _, b in iterate_batches(x, y, 32, shuffle=False)])
    assert np.array_equal(plain, y)


def test_batches_are_reproducible_from_the_rng_state():
    x, y = np.zeros((40, 1)), np.arange(40)
    rng = np.random.default_rng(5)
    list(iterate_batches(x, y, 8, shuffle=True, rng=rng))  # epoch 1
    saved = rng.bit_generator.state  # what a checkpoint would store
    epoch2 = [b.tolist() for _, b in iterate_batches(x, y, 8, shuffle=True, rng=rng)]

    resumed = np.random.default_rng(999)
    resumed.bit_generator.state = saved
    assert [b.tolist() for _, b in iterate_batches(x, y, 8, shuffle=True, rng=resumed)] == epoch2


def test_batching_errors():
    with pytest.raises(TinyViTError, match="3 images but 2 labels"):
        next(iterate_batches(np.zeros((3, 1)), np.zeros(2), 2, shuffle=False))
    with pytest.raises(TinyViTError, match="batch_size must be at least 1"):
        next(iterate_batches(np.zeros((3, 1)), np.zeros(3), 0, shuffle=False))
    with pytest.raises(TinyViTError, match="needs an rng"):
        next(iterate_batches(np.zeros((3, 1)), np.zeros(3), 2, shuffle=True))


# ---------------------------------------------------------------- augmentation


@pytest.fixture
def images(rng):
    return rng.uniform(0, 1, size=(6, 8, 10, 3)).astype(np.float32)


def test_flip_twice_is_identity(images):
    once = random_flip(images, np.random.default_rng(3))
    twice = random_flip(once, np.random.default_rng(3))  # same rng state: the same images flip again
    assert np.array_equal(twice, images)
    flipped = [i for i in range(6) if not np.array_equal(once[i], images[i])]
    assert all(np.array_equal(once[i], images[i, :, ::-1]) for i in flipped)


def test_zero_strength_is_identity(images, rng):
    assert np.array_equal(random_crop(images, rng, 0), images)
    assert np.array_equal(affine_transform(images, np.zeros(6), np.ones(6), np.zeros((6, 2))), images)
    assert np.array_equal(augment_batch(images, rng), images)
    assert np.array_equal(Augment()(images, rng), images)


def test_integer_translation_shifts_pixels_exactly(images):
    shifted = affine_transform(images, np.zeros(6), np.ones(6), np.tile([2.0, -3.0], (6, 1)))  # 2 down, 3 left
    expected = np.zeros_like(images)
    expected[:, 2:, :-3] = images[:, :-2, 3:]
    assert np.array_equal(shifted, expected)


def test_rotation_by_90_degrees_matches_rot90(rng):
    square = rng.uniform(0, 1, size=(4, 9, 9, 2)).astype(np.float32)
    rotated = affine_transform(square, np.full(4, 90.0), np.ones(4), np.zeros((4, 2)))
    assert np.allclose(rotated, np.rot90(square, k=1, axes=(1, 2)), atol=1e-5)  # counter-clockwise


def test_half_pixel_shift_averages_neighbours():
    x = np.zeros((1, 1, 4, 1), np.float32)
    x[0, 0, 1, 0] = 1.0
    out = affine_transform(x, [0.0], [1.0], [[0.0, 0.5]])
    assert np.allclose(out[0, 0, :, 0], [0.0, 0.5, 0.5, 0.0])


def test_random_crop_is_a_window_of_the_padded_image(images, rng):
    pad = 2
    cropped = random_crop(images, rng, pad)
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    for i in range(len(images)):
        windows = [padded[i, t : t + 8, s : s + 10] for t in range(2 * pad + 1) for s in range(2 * pad + 1)]
        assert any(np.array_equal(cropped[i], w) for w in windows)


def test_augment_is_reproducible_and_changes_images(images):
    augment = Augment(crop_pad=2, flip=True, rotate=15, scale=0.1, translate=1.5)
    a = augment(images, np.random.default_rng(11))
    b = augment(images, np.random.default_rng(11))
    assert np.array_equal(a, b) and a.shape == images.shape and a.dtype == np.float32
    assert not np.array_equal(a, images)
    with pytest.raises(TinyViTError, match="scale < 1"):
        augment_batch(images, np.random.default_rng(0), scale=1.5)


def test_augment_is_fast_enough_for_every_training_step(rng):
    batch = rng.uniform(0, 1, size=(64, 16, 16, 1)).astype(np.float32)
    augment = Augment(crop_pad=2, rotate=10, scale=0.1, translate=2)
    timings = []
    for _ in range(10):
        start = time.perf_counter()
        augment(batch, rng)
        timings.append(time.perf_counter() - start)
    assert np.median(timings) < 0.05  # typically ~1 ms; generous for a busy machine
