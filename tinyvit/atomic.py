"""Writing a file all at once or not at all: the one place checkpoints and downloads go through."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_write(path: Path, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """Yield a binary file to write; when the block ends without an error it replaces `path`.

    The bytes go to a hidden temporary file beside `path`, are flushed to disk, and the file
    is renamed over `path` with os.replace, which is atomic on one file system: a reader, a
    crash, Ctrl-C or a kill mid-write sees the old file or the new one, never half of one.
    On an error (or an interrupt) the temporary file is removed.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        if hasattr(os, "fchmod"):   # mkstemp makes a private (0600) file; give it the usual permissions
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):   # gone once renamed
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0o022)   # the only way to read it is to set it, then put it back
    os.umask(mask)
    return mask
