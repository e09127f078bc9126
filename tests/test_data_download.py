"""Tests for downloads, against a local HTTP server on 127.0.0.1 serving files the tests make."""

import gzip
import hashlib
import io
import pickle
import socket
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from tinyvit.data import cifar, download, load_dataset, mnist
from tinyvit.data.download import dataset_dir, fetch
from tinyvit.errors import TinyViTError


class _Handler(BaseHTTPRequestHandler):
    """Serves server.files by name; the first server.failures[name] requests get HTTP 503."""

    def do_GET(self):
        name = self.path.lstrip("/")
        self.server.requests.append(name)
        if self.server.failures.get(name, 0) > 0:
            self.server.failures[name] -= 1
            self.send_error(503)
        elif name not in self.server.files:
            self.send_error(404)
        else:
            body = self.server.files[name]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.server.truncations.get(name, 0) > 0:   # promise the whole file, send half, hang up
                self.server.truncations[name] -= 1
                body = body[:len(body) // 2]
                self.close_connection = True
            self.wfile.write(body)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def server(monkeypatch):
    """A local file server that stops at the end of the test, or after 60 s whatever happens."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # never send local requests through a proxy
    monkeypatch.setattr(download, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(download, "TIMEOUT_SECONDS", 5.0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.failures, httpd.requests, httpd.truncations = {}, {}, [], {}
    httpd.url = f"http://127.0.0.1:{httpd.server_port}/"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    watchdog = threading.Timer(60.0, httpd.shutdown)
    watchdog.daemon = True
    watchdog.start()
    yield httpd
    watchdog.cancel()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fetch_success_then_skip_when_present(server, tmp_path):
    server.files["a.bin"] = b"hello tinyvit" * 1000
    dest = tmp_path / "sub" / "a.bin"
    assert fetch(server.url + "a.bin", dest, sha256(server.files["a.bin"])) == dest
    assert dest.read_bytes() == server.files["a.bin"]
    fetch(server.url + "a.bin", dest, sha256(server.files["a.bin"]))
    assert server.requests == ["a.bin"]  # the second call found a valid file and did not download
    assert [p.name for p in dest.parent.iterdir()] == ["a.bin"]  # no temporary files left behind


def test_a_download_cut_short_is_retried_and_named(server, tmp_path):
    server.files["a.bin"] = b"0123456789" * 1000
    server.truncations["a.bin"] = 1
    dest = tmp_path / "a.bin"
    fetch(server.url + "a.bin", dest, sha256(server.files["a.bin"]))
    assert dest.read_bytes() == server.files["a.bin"] and server.requests == ["a.bin", "a.bin"]
    server.truncations["b.bin"], server.files["b.bin"] = 99, server.files["a.bin"]
    with pytest.raises(TinyViTError, match="the connection closed 5000 bytes before the end of the file"):
        fetch(server.url + "b.bin", tmp_path / "b.bin", sha256(server.files["b.bin"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]   # no partial file
    with pytest.raises(TinyViTError, match="it is a folder"):
        fetch(server.url + "a.bin", tmp_path, sha256(server.files["a.bin"]))


def test_fetch_replaces_an_invalid_file(server, tmp_path):
    server.files["a.bin"] = b"the real content"
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"half a downl")
    fetch(server.url + "a.bin", dest, sha256(server.files["a.bin"]))
    assert dest.read_bytes() == b"the real content"


def test_fetch_checksum_mismatch(server, tmp_path):
    server.files["a.bin"] = b"tampered"
    dest = tmp_path / "a.bin"
    with pytest.raises(TinyViTError, match=f"checksum mismatch for a.bin downloaded from {server.url}a.bin"):
        fetch(server.url + "a.bin", dest, "0" * 64)
    assert list(tmp_path.iterdir()) == []  # neither the bad file nor a temporary file is kept


def test_fetch_retries_after_server_errors(server, tmp_path):
    server.files["a.bin"] = b"finally"
    server.failures["a.bin"] = 2
    fetch(server.url + "a.bin", tmp_path / "a.bin", sha256(b"finally"))
    assert server.requests == ["a.bin"] * 3
    assert (tmp_path / "a.bin").read_bytes() == b"finally"


def test_fetch_gives_up_after_retries_with_a_clear_error(server, tmp_path):
    server.files["a.bin"] = b"never served"
    server.failures["a.bin"] = 100
    with pytest.raises(TinyViTError, match="could not download a.bin from .*: HTTP error 503"):
        fetch(server.url + "a.bin", tmp_path / "a.bin", sha256(b"never served"))
    assert len(server.requests) == download.RETRIES
    # A missing file (404) will not appear by retrying: one request only.
    server.requests.clear()
    with pytest.raises(TinyViTError, match="HTTP error 404"):
        fetch(server.url + "missing.bin", tmp_path / "missing.bin", "0" * 64)
    assert server.requests == ["missing.bin"]


def test_fetch_when_offline_says_where_to_put_the_files(server, tmp_path):
    with socket.socket() as s:  # find a port on which nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a.bin"
    start = time.monotonic()
    with pytest.raises(TinyViTError) as info:
        fetch(url, tmp_path / "data" / "a.bin", "0" * 64)
    message = str(info.value)
    assert message.startswith(f"could not download a.bin from {url}: ")
    assert "refused" in message.lower()
    assert message.endswith(f"put the files in {tmp_path / 'data'} by hand")
    assert time.monotonic() - start < 5  # three quick attempts, not a long hang


def test_dataset_dir_defaults_and_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("TINYVIT_DATA", raising=False)
    assert str(dataset_dir("mnist")).endswith(".cache/tinyvit/mnist")
    monkeypatch.setenv("TINYVIT_DATA", str(tmp_path))
    assert dataset_dir("mnist") == tmp_path / "mnist"
    assert dataset_dir("mnist", tmp_path / "mine") == tmp_path / "mine"  # an explicit data_dir wins


def _idx_gz(array: np.ndarray) -> bytes:
    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_load_mnist_with_download(server, monkeypatch, tmp_path, rng):
    arrays = [rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 10, 5), rng.integers(0, 256, (2, 28, 28)), [3, 4]]
    for base, array in zip(mnist.FILES, arrays, strict=True):
        server.files[f"{base}.gz"] = _idx_gz(np.asarray(array))
        monkeypatch.setitem(mnist.SHA256["fashion"], f"{base}.gz", sha256(server.files[f"{base}.gz"]))
    monkeypatch.setenv("TINYVIT_DATA", str(tmp_path))

    ds = load_dataset("fashion", download=True, base_url=server.url)
    assert np.array_equal(ds.y_train, arrays[1]) and ds.y_test.tolist() == [3, 4]
    assert sorted(p.name for p in (tmp_path / "fashion").iterdir()) == sorted(server.files)
    load_dataset("fashion", download=True, base_url=server.url)
    assert len(server.requests) == 4  # the second load found all four files valid


def _cifar_archive(rng) -> bytes:
    """A cifar-10-python.tar.gz with one image per batch, laid out like the official one."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        contents = {}
        for i, name in enumerate(names):
            contents[name] = {b"data": rng.integers(0, 256, (1, 3072), dtype=np.uint8), b"labels": [i]}
        contents["batches.meta"] = {b"label_names": [f"class{i}".encode() for i in range(10)]}
        for name, obj in contents.items():
            data = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_load_cifar10_with_download(server, monkeypatch, tmp_path, rng):
    server.files[cifar.ARCHIVE] = _cifar_archive(rng)
    monkeypatch.setattr(cifar, "ARCHIVE_SHA256", sha256(server.files[cifar.ARCHIVE]))
    ds = load_dataset("cifar10", data_dir=tmp_path, download=True, base_url=server.url)
    assert ds.x_train.shape == (5, 32, 32, 3) and ds.y_train.tolist() == [0, 1, 2, 3, 4]
    assert ds.class_names[9] == "class9"
    assert (tmp_path / "cifar-10-batches-py" / "batches.meta").is_file()
    load_dataset("cifar10", data_dir=tmp_path, download=True, base_url=server.url)
    assert server.requests == [cifar.ARCHIVE]  # already unpacked: nothing fetched again


def test_load_cifar10_download_checksum_mismatch(server, tmp_path, rng):
    server.files[cifar.ARCHIVE] = _cifar_archive(rng)  # not the official archive's SHA-256
    with pytest.raises(TinyViTError, match="checksum mismatch for cifar-10-python.tar.gz"):
        load_dataset("cifar10", data_dir=tmp_path, download=True, base_url=server.url)
