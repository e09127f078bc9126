"""Procedural `layout` dataset: is the red square above/below and left/right of the blue one?

The label is *only* a spatial relation, so a model that ignores where its patches are
(a ViT without position embeddings sees an unordered bag of patches) must stay at
chance, 25%, while a model that knows positions can be perfect. That holds exactly,
for any patch size dividing `patch_size` (default 4), because:

* both squares lie fully inside the image, and at least one whole patch apart in
  both x and y, so no patch ever shows parts of both squares;
* each square's size, colour shade and offset inside its first patch are drawn
  from the same distribution for red and blue, independently of the label;
* so the label decides only *which patch cells* the squares cover, i.e. positions.
"""

import numpy as np

from tinyvit.data.dataset import Dataset
from tinyvit.data.synthetic import add_noise, dark_background, make_synthetic
from tinyvit.errors import TinyViTError

# Label = 2 * (red is below blue) + (red is right of blue).
CLASS_NAMES = [
    "red above-left of blue",
    "red above-right of blue",
    "red below-left of blue",
    "red below-right of blue",
]
GAP = 1  # empty patch rows/columns kept between the two squares
RED, BLUE = 0, 1  # object index


def load_layout(
    seed: int = 0, n_train: int = 8000, n_test: int = 2000, image_size: int = 32, patch_size: int = 4
) -> Dataset:
    """RGB images (N, image_size, image_size, 3) of a red and a blue square; label = their relation."""
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        raise TinyViTError(f"layout: patch_size must be a positive whole number of pixels, got {patch_size!r}")
    if image_size % patch_size or image_size // patch_size < 2 + GAP:
        raise TinyViTError(
            f"layout: image_size must be a multiple of patch_size={patch_size} and at least "
            f"{(2 + GAP) * patch_size}, got {image_size}"
        )

    def draw(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return draw_layout(labels, image_size, patch_size, rng)

    return make_synthetic("layout", list(CLASS_NAMES), draw, n_train, n_test, seed)


def draw_layout(labels: np.ndarray, image_size: int, patch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw a red and a blue square per label (an index into CLASS_NAMES)."""
    n, p = len(labels), patch_size
    grid = image_size // p  # patches per row and per column
    max_span = (grid - GAP) // 2  # patches one square may cover along an axis
    max_side = max_span * p
    min_side = min(max(2, image_size // 8), max_side)
    max_side = min(max(min_side, image_size // 4), max_side)

    # Size of the two squares [object, sample]: the same distribution for red and blue.
    side = rng.integers(min_side, max_side + 1, size=(2, n))
    # Offset of each square inside its first patch, per axis [object, axis (y, x), sample];
    # capped so the square never spans more than max_span patches.
    offset_high = np.minimum(p - 1, max_span * p - side)
    offset = rng.integers(0, offset_high[:, None, :] + 1, size=(2, 2, n))
    span = (offset + side[:, None, :] + p - 1) // p  # patches covered, per axis

    red_above, red_left = labels // 2 == 0, labels % 2 == 0
    cell = np.empty((2, 2, n), dtype=np.int64)  # first patch covered [object, axis, sample]
    for axis, red_first in ((0, red_above), (1, red_left)):
        span_red, span_blue = span[RED, axis], span[BLUE, axis]
        # Spread the leftover patches before, between and after the squares, symmetrically.
        slack = grid - span_red - span_blue - GAP
        a, b = rng.integers(0, slack + 1, size=(2, n))
        first_cell = np.minimum(a, b)
        second_cell = np.maximum(a, b) + np.where(red_first, span_red, span_blue) + GAP
        cell[RED, axis] = np.where(red_first, first_cell, second_cell)
        cell[BLUE, axis] = np.where(red_first, second_cell, first_cell)
    start = cell * p + offset  # top-left pixel of each square [object, axis, sample]

    shade = rng.uniform(0.0, 0.3, size=(2, n, 3))
    shade[RED, :, 0] = rng.uniform(0.7, 1.0, size=n)
    shade[BLUE, :, 2] = rng.uniform(0.7, 1.0, size=n)

    images = dark_background(n, image_size, rng)
    pixels = np.arange(image_size)
    for obj in (RED, BLUE):
        top, left, s = start[obj, 0], start[obj, 1], side[obj]
        rows = (pixels >= top[:, None]) & (pixels < (top + s)[:, None])  # (n, S)
        cols = (pixels >= left[:, None]) & (pixels < (left + s)[:, None])  # (n, S)
        inside = rows[:, :, None] & cols[:, None, :]  # (n, S, S)
        images = np.where(inside[..., None], shade[obj, :, None, None, :].astype(np.float32), images)
    return add_noise(images, rng)
