"""MNIST 0/1: torchvision's files where they are, else the shipped subset, with one line saying
which and why."""

import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from qnn_torch.data import load_mnist01
from qnn_torch.data.mnist import load_shipped


def _write_idx_files(root: Path) -> np.ndarray:
    """Small IDX files where torchvision keeps MNIST's; returns the training images."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def write(name, labels):
        images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
        (raw / f"{name}-images-idx3-ubyte").write_bytes(
            np.array([0x803, len(labels), 28, 28], dtype=">i4").tobytes() + images.tobytes())
        header = np.array([0x801, len(labels)], dtype=">i4").tobytes()
        (raw / f"{name}-labels-idx1-ubyte").write_bytes(header + np.asarray(labels, dtype=np.uint8).tobytes())
        return images

    write("t10k", [1, 0, 0, 1, 5])
    return write("train", [3, 0, 1, 0, 1, 7, 0, 1])


def test_torchvision_path_with_idx_files(tmp_path):
    """torchvision's MNIST files are used when they are there."""
    train_images = _write_idx_files(tmp_path)
    split = load_mnist01(tmp_path, n_train=2, n_test=1, download=False)
    assert split.source.startswith("MNIST from torchvision")
    assert split.train.tensors[1].tolist() == [0, 0, 1, 1]
    first = torch.tensor(train_images[1] / 255.0, dtype=torch.float32)
    assert torch.allclose(split.train.tensors[0][0, 0], first)
    assert split.test.tensors[1].tolist() == [0, 1]


@pytest.mark.parametrize("train", [True, False])
def test_the_files_are_read_as_torchvision_reads_them(tmp_path, train):
    from torchvision import datasets

    from qnn_torch.data.mnist import _raw_files, _read_idx

    _write_idx_files(tmp_path)
    oracle = datasets.MNIST(str(tmp_path), train=train, download=False)
    images, labels = _raw_files(tmp_path)[0:2] if train else _raw_files(tmp_path)[2:4]
    assert torch.equal(torch.from_numpy(_read_idx(images, 3).copy()), oracle.data)
    assert torch.equal(torch.from_numpy(_read_idx(labels, 1).astype(np.int64)), oracle.targets)


def test_the_files_are_read_without_importing_torchvision(tmp_path):
    import subprocess
    import sys

    _write_idx_files(tmp_path)
    code = ("import sys; from qnn_torch.data import load_mnist01; "
            f"split = load_mnist01({str(tmp_path)!r}, n_train=2, n_test=1); "
            "print(split.source.startswith('MNIST from torchvision'), 'torchvision' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["True", "False"]


def test_a_damaged_file_is_reported_and_the_subset_used(tmp_path):
    _write_idx_files(tmp_path)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01 garbage")
    split = load_mnist01(tmp_path, n_train=2, n_test=1, download=False)
    assert "(ValueError: " in split.source and "not an IDX file of 3-D unsigned bytes" in split.source


def test_without_a_network_torchvision_is_not_imported_to_fail(tmp_path, monkeypatch):
    from qnn_torch.data import mnist

    def unresolved(host, *args):
        raise socket.gaierror(-2, "Name or service not known")

    def download(root):
        raise AssertionError("torchvision was asked to download")

    monkeypatch.setattr(socket, "getaddrinfo", unresolved)
    monkeypatch.setattr(mnist, "_download", download)
    split = load_mnist01(tmp_path, n_train=2, n_test=1)
    assert split.source.endswith("(OSError: no network: none of torchvision's MNIST mirrors resolves "
                                 "(ossci-datasets.s3.amazonaws.com, yann.lecun.com))")


def test_with_a_network_torchvision_downloads(tmp_path, monkeypatch):
    from qnn_torch.data import mnist

    images, labels = load_shipped()
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *args: [("resolved", host)])
    monkeypatch.setattr(mnist, "_download", lambda root: (images, labels, images[::-1], labels[::-1]))
    split = load_mnist01(tmp_path, n_train=2, n_test=1)
    assert split.source == f"MNIST from torchvision's files under {tmp_path}"
    assert split.train.tensors[1].tolist() == [0, 0, 1, 1] and split.test.tensors[1].tolist() == [0, 1]


def test_shipped_subset_without_torchvision_data(tmp_path):
    split = load_mnist01(tmp_path / "empty", n_train=100, n_test=50, download=False)
    assert "shipped real-MNIST subset" in split.source
    images, labels = split.train.tensors
    assert images.shape == (200, 1, 28, 28) and labels.bincount().tolist() == [100, 100]
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.mean() > 0.05
    with pytest.raises(ValueError, match="n_train \\+ n_test must be at most 500"):
        load_mnist01(tmp_path / "empty", n_train=400, n_test=200, download=False)


def test_shipped_subset_size_agrees_with_the_readme(tmp_path):
    images, _ = load_shipped()
    size = f"{len(images):,}"
    source = load_mnist01(tmp_path, download=False).source
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"({size} images of the digits 0 and 1" in source
    assert f"real {size}-image MNIST 0/1 subset" in readme
    assert "5,000-image" not in source  # the sample it was taken from, not its size


def test_the_source_says_why_torchvision_was_not_used(tmp_path):
    source = load_mnist01(tmp_path / "empty", n_train=2, n_test=1, download=False).source
    root = tmp_path / "empty"
    expected = f"torchvision data not found under {root} (RuntimeError: Dataset not found: no MNIST"
    assert expected in source


@pytest.mark.parametrize("error", [OSError("disk gone"), RuntimeError("Error downloading x"),
                                   ImportError("no torchvision")])
def test_what_torchvision_raises_is_reported_and_the_subset_used(tmp_path, monkeypatch, error):
    from qnn_torch.data import mnist

    def failing(*args):
        raise error

    monkeypatch.setattr(mnist, "_torchvision", failing)
    split = load_mnist01(tmp_path, n_train=2, n_test=1)
    reason = f"{type(error).__name__}: {error}"
    assert split.source.endswith(f"torchvision data not found under {tmp_path} ({reason})")
    assert split.train.tensors[1].tolist() == [0, 0, 1, 1]


def test_a_bug_is_not_taken_for_missing_data(tmp_path, monkeypatch):
    from qnn_torch.data import mnist

    def buggy(*args):
        raise TypeError("unexpected keyword")

    monkeypatch.setattr(mnist, "_torchvision", buggy)
    with pytest.raises(TypeError, match="unexpected keyword"):
        load_mnist01(tmp_path)


@pytest.mark.parametrize("name, value", [("n_train", 0), ("n_test", True), ("n_train", 1.5)])
def test_counts_must_be_positive_integers(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        load_mnist01(**{name: value})
