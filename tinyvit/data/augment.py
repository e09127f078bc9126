"""Random data augmentation for a batch of images (N, H, W, C), vectorised in NumPy.

Every function takes the caller's np.random.Generator, so a run that saves and
restores the generator state replays exactly the same augmentations.
"""

from dataclasses import asdict, dataclass

import numpy as np

from tinyvit.errors import TinyViTError


@dataclass(frozen=True)
class Augment:
    """Augmentation strengths; all zero/False (the default) means no augmentation.

    Leave `flip` off when mirroring changes the meaning of an image: digits (a mirrored
    2 is not a 2) and `layout` (mirroring swaps left and right).
    """

    crop_pad: int = 0  # pad with zeros by this many pixels, then crop back at a random place
    flip: bool = False  # mirror left-right with probability 1/2
    rotate: float = 0.0  # rotate by up to +-rotate degrees
    scale: float = 0.0  # zoom by a factor in [1 - scale, 1 + scale]
    translate: float = 0.0  # shift by up to +-translate pixels along each axis

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return augment_batch(x, rng, **asdict(self))


def augment_batch(
    x: np.ndarray,
    rng: np.random.Generator,
    *,
    crop_pad: int = 0,
    flip: bool = False,
    rotate: float = 0.0,
    scale: float = 0.0,
    translate: float = 0.0,
) -> np.ndarray:
    """Apply random crop, then flip, then affine transform; steps with zero strength are skipped."""
    if crop_pad < 0 or rotate < 0 or translate < 0 or not 0 <= scale < 1:
        raise TinyViTError(
            f"augmentation strengths must be >= 0 (and scale < 1), got crop_pad={crop_pad}, "
            f"rotate={rotate}, scale={scale}, translate={translate}"
        )
    if crop_pad:
        x = random_crop(x, rng, crop_pad)
    if flip:
        x = random_flip(x, rng)
    if rotate or scale or translate:
        x = random_affine(x, rng, rotate, scale, translate)
    return x


def random_crop(x: np.ndarray, rng: np.random.Generator, pad: int) -> np.ndarray:
    """Pad every image with `pad` zero pixels on each side, then cut out an H x W window at random."""
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    top = rng.integers(0, 2 * pad + 1, size=n)
    left = rng.integers(0, 2 * pad + 1, size=n)
    rows = top[:, None, None] + np.arange(h)[None, :, None]  # (n, h, 1)
    cols = left[:, None, None] + np.arange(w)[None, None, :]  # (n, 1, w)
    return padded[np.arange(n)[:, None, None], rows, cols]


def random_flip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror each image left-right with probability 1/2."""
    flip = rng.random(len(x)) < 0.5
    out = x.copy()
    out[flip] = x[flip, :, ::-1]
    return out


def random_affine(x: np.ndarray, rng: np.random.Generator, rotate: float, scale: float, translate: float) -> np.ndarray:
    """Rotate, zoom and shift each image by its own random amounts (see affine_transform)."""
    n = len(x)
    angle = rng.uniform(-rotate, rotate, size=n)
    zoom = rng.uniform(1 - scale, 1 + scale, size=n)
    shift = rng.uniform(-translate, translate, size=(n, 2))
    return affine_transform(x, angle, zoom, shift)


def affine_transform(x: np.ndarray, angle: np.ndarray, zoom: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Rotate image i by angle[i] degrees (counter-clockwise as displayed) and zoom it by
    zoom[i], both about the image centre, then shift it by shift[i] = (down, right) pixels.

    We compute each *output* pixel by asking where it came from (the inverse map) and
    reading the input there with bilinear interpolation. Mapping input pixels forward
    instead would leave holes in the output.
    """
    n, h, w, _ = x.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    theta = np.deg2rad(np.asarray(angle, dtype=np.float64)).reshape(n, 1, 1)
    cos, sin = np.cos(theta), np.sin(theta)
    zoom = np.asarray(zoom, dtype=np.float64).reshape(n, 1, 1)
    shift = np.asarray(shift, dtype=np.float64).reshape(n, 2)

    # Output pixel centres relative to the centre, with the shift undone first.
    u = np.arange(w)[None, None, :] - cx - shift[:, 1, None, None]  # (n, 1, w)
    v = np.arange(h)[None, :, None] - cy - shift[:, 0, None, None]  # (n, h, 1)
    # Undo the rotation (rotate by -angle; y points down) and the zoom.
    src_x = cx + (cos * u - sin * v) / zoom
    src_y = cy + (sin * u + cos * v) / zoom
    return bilinear_sample(x, src_y, src_x)


def bilinear_sample(x: np.ndarray, src_y: np.ndarray, src_x: np.ndarray) -> np.ndarray:
    """Read images (N, H, W, C) at fractional positions (N, h, w); outside the image reads 0."""
    n, h, w, c = x.shape
    # A one-pixel zero border: clipping far-away coordinates onto it makes them read 0.
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    y, xs = src_y + 1, src_x + 1  # coordinates in the padded image
    y0, x0 = np.floor(y), np.floor(xs)
    wy = (y - y0).astype(x.dtype)[..., None]  # weight of the lower neighbour
    wx = (xs - x0).astype(x.dtype)[..., None]  # weight of the right neighbour
    top, bottom = np.clip(y0, 0, h + 1).astype(np.intp), np.clip(y0 + 1, 0, h + 1).astype(np.intp)
    left, right = np.clip(x0, 0, w + 1).astype(np.intp), np.clip(x0 + 1, 0, w + 1).astype(np.intp)

    # Number every padded pixel 0, 1, 2, ... and gather with one flat index per pixel:
    # np.take on a flat array is several times faster than indexing with three arrays.
    flat = padded.reshape(-1, c)
    first = np.arange(n)[:, None, None] * (h + 2) * (w + 2)  # index of each image's first pixel

    def read(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.take(flat, first + rows * (w + 2) + cols, axis=0)

    upper = read(top, left) * (1 - wx) + read(top, right) * wx
    lower = read(bottom, left) * (1 - wx) + read(bottom, right) * wx
    return upper * (1 - wy) + lower * wy
