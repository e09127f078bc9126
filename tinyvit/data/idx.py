"""Reader for the IDX format of MNIST-style files (optionally gzip-compressed).

An IDX file is a 4-byte big-endian magic number, one 4-byte big-endian size per
dimension, then the raw values. The magic number's two low bytes are the value type
(0x08 = unsigned byte) and the number of dimensions, so images (N, rows, cols) have
magic 0x00000803 = 2051 and labels (N,) have 0x00000801 = 2049.
"""

import gzip
import zlib
from pathlib import Path

import numpy as np

from tinyvit.errors import TinyViTError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (path may end in .gz) into a uint8 array."""
    raw = _read_bytes(Path(path))
    if len(raw) < 4:
        raise TinyViTError(f"{path} is too short to be an IDX file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise TinyViTError(f"{path} has IDX magic number {magic}, expected {expected_magic}")

    ndim = raw[3]
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise TinyViTError(f"{path} is truncated: its IDX header needs {header_bytes} bytes, file has {len(raw)}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected_size = int(np.prod(shape))
    got_size = len(raw) - header_bytes
    if got_size != expected_size:
        raise TinyViTError(f"{path} should hold {expected_size} bytes of data for shape {shape}, but has {got_size}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_bytes).reshape(shape)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed if the name ends in .gz."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise TinyViTError(f"file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as err:
        # gzip raises BadGzipFile (an OSError), EOFError if truncated, zlib.error if garbled.
        raise TinyViTError(f"could not read {path}: {err}") from None
