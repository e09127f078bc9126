"""Reading one image file into a float32 (H, W, C) array, and resizing arrays of images."""

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tinyvit.errors import TinyViTError
from tinyvit.paths import user_path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def load_image(path: str | Path, image_size: int | None = 32, channels: int = 3) -> np.ndarray:
    """Read an image file as float32 (H, W, channels) in [0, 1], resized to image_size x image_size.

    Accepts RGB, RGBA, grayscale and palette images of any size; transparent pixels
    become black. image_size=None keeps the original size.
    """
    path = user_path(path, "image path")
    if channels not in (1, 3):
        raise TinyViTError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    if image_size is not None and image_size < 1:
        raise TinyViTError(f"image_size must be a positive number of pixels, got {image_size}")
    if path.is_dir():
        raise TinyViTError(f"{path} is a folder, not an image file")
    if not path.is_file():
        raise TinyViTError(f"image file not found: {path}")
    try:
        with Image.open(path) as img:
            img.load()  # Pillow reads lazily; force decoding so a corrupt file fails here
            img = _to_rgb(img)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as err:
        raise TinyViTError(f"could not read image {path}: {err}") from None
    if channels == 1:
        img = img.convert("L")
    if image_size is not None:
        # BILINEAR in Pillow also low-pass filters when shrinking, which avoids aliasing.
        img = img.resize((image_size, image_size), Image.BILINEAR)
    pixels = np.asarray(img, dtype=np.float32) / 255.0
    return pixels.reshape(img.height, img.width, channels)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB, painting transparent pixels black."""
    if img.mode.startswith("I;16") or img.mode == "I":
        # 16-bit grayscale (mode I is how some Pillow versions open a 16-bit PNG): convert() would
        # clip every value above 255, so keep the top 8 bits.
        img = Image.fromarray(np.clip(np.asarray(img) >> 8, 0, 255).astype(np.uint8))
    elif img.mode == "F":
        raise ValueError("32-bit float pixels have no known range; save the image as 8- or 16-bit")
    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    if not has_alpha:
        return img.convert("RGB")
    rgba = img.convert("RGBA")
    black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    return Image.alpha_composite(black, rgba).convert("RGB")


def resize_images(x: np.ndarray, image_size: int) -> np.ndarray:
    """Bilinearly resize float images (N, H, W, C) to (N, image_size, image_size, C)."""
    n, height, width, channels = x.shape
    if (height, width) == (image_size, image_size):
        return x
    out = np.empty((n, image_size, image_size, channels), dtype=np.float32)
    for i in range(n):
        for c in range(channels):
            # Pillow's 'F' mode holds one float32 channel, so values are not rounded to bytes.
            plane = Image.fromarray(np.ascontiguousarray(x[i, :, :, c], dtype=np.float32))
            out[i, :, :, c] = np.asarray(plane.resize((image_size, image_size), Image.BILINEAR))
    return out
