"""Fetching dataset files over HTTP(S): checksum, retries, atomic writes, clear errors offline."""

import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tinyvit.atomic import atomic_write
from tinyvit.errors import TinyViTError

DEFAULT_ROOT = Path("~/.cache/tinyvit")
ROOT_ENV_VAR = "TINYVIT_DATA"
RETRIES = 3  # attempts per file
BACKOFF_SECONDS = 1.0  # wait before the 2nd attempt; doubles each time
TIMEOUT_SECONDS = 60.0
CHUNK_BYTES = 1 << 20


def dataset_dir(name: str, data_dir: str | Path | None = None) -> Path:
    """Where dataset `name` lives: data_dir if given, else $TINYVIT_DATA/<name> or ~/.cache/tinyvit/<name>."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    root = os.environ.get(ROOT_ENV_VAR) or DEFAULT_ROOT
    return Path(root).expanduser() / name


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks so big archives need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, dest: Path, sha256: str) -> Path:
    """Download url to dest unless dest already has the right SHA-256; return dest.

    Network errors are retried RETRIES times with exponential backoff. The file is written
    to a temporary name and renamed only once complete and verified, so an interrupted
    download never leaves a half-written file that looks valid.
    """
    dest = Path(dest)
    if dest.is_dir():
        raise TinyViTError(f"cannot download {url} to {dest}: it is a folder.")
    if dest.is_file() and sha256_of(dest) == sha256:
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TinyViTError(f"cannot create download directory {dest.parent}: {err.strerror}") from None

    for attempt in range(1, RETRIES + 1):
        try:
            print(f"downloading {url} -> {dest}", file=sys.stderr)
            _download_and_verify(url, dest, sha256)
            return dest
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            permanent = isinstance(err, urllib.error.HTTPError) and 400 <= err.code < 500
            if permanent or attempt == RETRIES:
                raise TinyViTError(
                    f"could not download {dest.name} from {url}: {_reason(err)}; put the files in {dest.parent} by hand"
                ) from None
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # the loop either returns or raises


def _download_and_verify(url: str, dest: Path, sha256: str) -> None:
    """Stream url into a temporary file next to dest, check its hash, then rename it to dest (atomic_write)."""
    digest = hashlib.sha256()
    with atomic_write(dest, suffix=".part") as out, urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        received = 0
        for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
            digest.update(chunk)
            out.write(chunk)
            received += len(chunk)
        expected = response.headers.get("Content-Length")
        if expected is not None and expected.isdigit() and received < int(expected):   # the server hung up
            raise http.client.IncompleteRead(b"", int(expected) - received)              # retried, like any drop
        if digest.hexdigest() != sha256:   # raised inside the block: the file is never renamed into place
            raise TinyViTError(
                f"checksum mismatch for {dest.name} downloaded from {url}: "
                f"expected sha256 {sha256}, got {digest.hexdigest()}"
            )


def _reason(err: Exception) -> str:
    """A short human-readable cause for a failed download."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP error {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return " ".join(str(err.reason).split())
    if isinstance(err, http.client.IncompleteRead):
        return f"the connection closed {err.expected} bytes before the end of the file"
    return " ".join(str(err).split()) or type(err).__name__
