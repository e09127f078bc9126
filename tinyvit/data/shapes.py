"""Procedural `shapes` dataset: name the shape of one coloured object on a noisy background.

Each shape is a *signed distance function* d(x, y): negative inside, positive outside,
in pixels. A pixel's coverage is clip(0.5 - d, 0, 1), which gives soft, anti-aliased
edges for free. Every shape reaches at most r pixels from its centre along each axis,
so keeping the centre r + 1 pixels away from the border keeps the whole object visible.
"""

import numpy as np

from tinyvit.data.dataset import Dataset
from tinyvit.data.synthetic import add_noise, dark_background, make_synthetic
from tinyvit.errors import TinyViTError

MIN_IMAGE_SIZE = 8


def _circle(dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    return np.hypot(dx, dy) - r


def _square(dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    # 0.8 r makes the square's area close to the circle's, so size is not a cue.
    return np.maximum(np.abs(dx), np.abs(dy)) - 0.8 * r


def _diamond(dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    return (np.abs(dx) + np.abs(dy) - r) / np.sqrt(2.0)


def _triangle(dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    # An upright equilateral triangle is the intersection of three half-planes whose
    # edges lie r/2 from the centre; the outward normals point down (90 deg, y grows
    # downwards in images), up-left (210 deg) and up-right (330 deg).
    angles = np.deg2rad([90.0, 210.0, 330.0])
    edges = [np.cos(a) * dx + np.sin(a) * dy for a in angles]
    return np.maximum(np.maximum(edges[0], edges[1]), edges[2]) - 0.5 * r


def _cross(dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    # The union of a wide and a tall bar is the minimum of their distances.
    wide_bar = np.maximum(np.abs(dx) - r, np.abs(dy) - 0.3 * r)
    tall_bar = np.maximum(np.abs(dx) - 0.3 * r, np.abs(dy) - r)
    return np.minimum(wide_bar, tall_bar)


def _ring(dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    # A band of width 0.6 r around the circle of radius 0.7 r (outer radius r).
    return np.abs(np.hypot(dx, dy) - 0.7 * r) - 0.3 * r


SHAPES = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "cross": _cross,
    "ring": _ring,
    "diamond": _diamond,
}


def load_shapes(seed: int = 0, n_train: int = 8000, n_test: int = 2000, image_size: int = 32) -> Dataset:
    """RGB images (N, image_size, image_size, 3) of one shape each; the label is the shape."""
    if image_size < MIN_IMAGE_SIZE:
        raise TinyViTError(f"shapes: image_size must be at least {MIN_IMAGE_SIZE}, got {image_size}")

    def draw(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return draw_shapes(labels, image_size, rng)

    return make_synthetic("shapes", list(SHAPES), draw, n_train, n_test, seed)


def draw_shapes(labels: np.ndarray, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw one shape per label (index into SHAPES) with random size, position and colour."""
    n, size = len(labels), image_size
    # Draw every random number up front, in a fixed order, so the result depends only on rng.
    radius = rng.uniform(0.15, 0.35, size=n) * size
    cx = rng.uniform(radius + 1, size - 1 - radius)
    cy = rng.uniform(radius + 1, size - 1 - radius)
    colour = rng.uniform(0.5, 1.0, size=(n, 3))
    images = dark_background(n, size, rng)

    centres = np.arange(size) + 0.5  # pixel centres
    for k, sdf in enumerate(SHAPES.values()):
        idx = np.flatnonzero(labels == k)
        dx = centres[None, None, :] - cx[idx, None, None]  # (n_k, 1, S)
        dy = centres[None, :, None] - cy[idx, None, None]  # (n_k, S, 1)
        distance = sdf(dx, dy, radius[idx, None, None]).astype(np.float32)
        coverage = np.clip(0.5 - distance, 0.0, 1.0)[..., None]
        images[idx] = (1 - coverage) * images[idx] + coverage * colour[idx, None, None, :]
    return add_noise(images, rng)
