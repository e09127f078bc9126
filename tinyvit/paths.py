"""A path the user typed, as a Path: the one place that refuses what cannot be one."""

from __future__ import annotations

import os
from pathlib import Path

from tinyvit.errors import TinyViTError


def user_path(path, what: str) -> Path:
    """`path` (a str or os.PathLike) as a Path with ~ expanded; `what` names it in the error."""
    if not isinstance(path, (str, os.PathLike)):
        raise TinyViTError(f"the {what} must be a path, got {type(path).__name__}.")
    if not str(path).strip():   # Path("") is ".", the current folder: never what was meant
        raise TinyViTError(f"the {what} is empty.")
    return Path(path).expanduser()
