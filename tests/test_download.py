"""Full-MNIST download: checksums verified, files written atomically, clear errors without a network.

A tiny HTTP server on 127.0.0.1 serves fake MNIST files (real IDX format, a few digits), so nothing
leaves the machine.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest

import ganlib
from ganlib import download
from ganlib.core.utils import GanlibError

N = 7  # digits in the fake files


def _idx(array: np.ndarray) -> bytes:
    magic = {1: 2049, 3: 2051}[array.ndim]
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_mnist():
    """Serve fake train/test files; yields (base_url, checksums, files, request_log)."""
    rng = np.random.default_rng(0)
    files = {}
    for prefix in ("train", "t10k"):
        files[f"{prefix}-images-idx3-ubyte.gz"] = _idx(rng.integers(0, 256, (N, 28, 28)))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = _idx(rng.integers(0, 10, (N,)))
    checksums = {name: hashlib.md5(data).hexdigest() for name, data in files.items()}
    log: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            name = self.path.rsplit("/", 1)[-1]
            log.append(self.path)
            body = files.get(name)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", checksums, files, log
    finally:
        server.shutdown()
        server.server_close()


def test_downloads_verifies_and_parses(tmp_path, fake_mnist):
    url, checksums, _, log = fake_mnist
    pixels, labels = download.fetch_mnist(tmp_path, mirrors=(url,), checksums=checksums)
    assert pixels.shape == (N, 28, 28) and pixels.dtype == np.uint8
    assert labels.shape == (N,) and labels.dtype == np.int64 and labels.max() < 10
    test_pixels, _ = download.fetch_mnist(tmp_path, train=False, mirrors=(url,), checksums=checksums)
    assert test_pixels.shape == (N, 28, 28) and not np.array_equal(test_pixels, pixels)
    assert len(log) == 4
    download.fetch_mnist(tmp_path, mirrors=(url,), checksums=checksums)
    assert len(log) == 4, "verified cached files must not be downloaded again"
    assert not list((tmp_path / "mnist").glob("*.part")), "no temporary file may be left behind"


def test_checksum_mismatch_leaves_no_file(tmp_path, fake_mnist):
    url, checksums, _, _ = fake_mnist
    wrong = dict(checksums, **{"train-images-idx3-ubyte.gz": "0" * 32})
    with pytest.raises(GanlibError, match="checksum mismatch"):
        download.fetch_mnist(tmp_path, mirrors=(url,), checksums=wrong)
    assert not (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").exists()
    assert not list((tmp_path / "mnist").glob("*.part"))


def test_corrupt_cached_file_is_replaced(tmp_path, fake_mnist):
    url, checksums, files, log = fake_mnist
    download.fetch_mnist(tmp_path, mirrors=(url,), checksums=checksums)
    cached = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    cached.write_bytes(cached.read_bytes()[:100])  # a truncated file from an old interrupted run
    before = len(log)
    download.fetch_mnist(tmp_path, mirrors=(url,), checksums=checksums)
    assert cached.read_bytes() == files[cached.name]
    assert log[before:] == ["/train-images-idx3-ubyte.gz"], "only the corrupt file is fetched again"


def test_falls_back_to_the_next_mirror(tmp_path, fake_mnist):
    url, checksums, _, _ = fake_mnist
    pixels, _ = download.fetch_mnist(tmp_path, mirrors=(url + "missing/", url), checksums=checksums)
    assert pixels.shape == (N, 28, 28)


def test_no_network_is_a_clear_error(tmp_path):
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    with pytest.raises(GanlibError, match="could not download .* without the network use load_mnist"):
        download.fetch_mnist(tmp_path, mirrors=("http://127.0.0.1:9/",))
    assert not list((tmp_path / "mnist").iterdir())


def test_load_mnist_full_goes_through_the_verified_download(tmp_path, monkeypatch, fake_mnist):
    url, checksums, _, _ = fake_mnist
    monkeypatch.setattr(download, "MNIST_MIRRORS", (url,))
    monkeypatch.setattr(download, "MNIST_FILES", checksums)
    x, y = ganlib.load_mnist("full", root=str(tmp_path))
    assert x.shape == (N, 1, 28, 28) and x.min() >= -1 and x.max() <= 1 and y.shape == (N,)
