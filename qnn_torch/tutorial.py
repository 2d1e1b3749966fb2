"""The four experiments of the Torch Connector tutorial, as functions.

``qnn-torch tutorial`` and the notebooks call these; each returns a :class:`PartResult`.
The numbers match the seed tutorial (exact simulation, ``numpy.random.default_rng(42)``
drawn in the seed's order, ``torch.manual_seed(42)`` before the MNIST loaders) on every x86-64
CPU with AVX2 when MKL takes its compatible path (:func:`~qnn_torch.use_reproducible_blas`,
which the command and the notebooks call first); in MKL's default mode the L-BFGS parts' last
losses may differ from the seed's on some CPUs (see :mod:`qnn_torch.reproducibility`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import pennylane as qml
import torch
from torch import nn
from torch.utils.data import DataLoader

from .checkpoint import CheckpointError, model_state, read_checkpoint, save_atomic
from .data import TutorialRandom, load_mnist01, tutorial_random
from .qnn import EstimatorQNN, SamplerQNN, parity
from .templates import RealAmplitudes
from .torch_connector import TorchConnector
from .training import fit, tiny_batch_mode

__all__ = [
    "CHECKPOINT",
    "PARTS",
    "TRAIN_CHECKPOINT",
    "HybridNet",
    "PartResult",
    "evaluate_mnist",
    "evaluate_mnist_checkpoint",
    "load_mnist_state",
    "make_mnist_qnn",
    "run_classification_estimator",
    "run_classification_sampler",
    "run_mnist_hybrid",
    "run_regression",
]

PARTS = ("classification-estimator", "classification-sampler", "regression", "mnist-hybrid")
"""tuple[str]: the tutorial's parts, in order."""

CHECKPOINT = "mnist-hybrid.pt"
"""str: the trained mnist-hybrid ``state_dict``, in the output folder."""

TRAIN_CHECKPOINT = "mnist-hybrid-train.pt"
"""str: the per-epoch training checkpoint of mnist-hybrid, in the output folder."""


@dataclass
class PartResult:
    """What one part produced.

    Attributes:
        name (str): the part.
        losses (list[float]): the losses the optimizer saw: the loss at every L-BFGS closure
            evaluation (the seed tutorial prints these), or the mean training loss of every
            epoch (mnist-hybrid).
        accuracy (float or None): training accuracy (classification) or test accuracy (mnist).
        trained_loss (float): the loss of the trained model on the training data, after the
            optimizer's last update. It differs from ``losses[-1]``: L-BFGS updates the weights
            once more after its last evaluation, and an epoch's mean is taken while the weights
            change (and, for mnist-hybrid, with dropout; ``trained_loss`` is without).
        seconds (float): wall time.
        device (str): the device it ran on.
        extra (dict): objects for plots and checkpoints (not serialized).
    """

    name: str
    losses: list
    accuracy: float | None
    trained_loss: float
    seconds: float
    device: str
    extra: dict = field(default_factory=dict, repr=False)

    def to_json(self) -> dict:
        """The JSON fields of ``qnn-torch tutorial --json``."""
        return {
            "losses": [float(v) for v in self.losses],
            "accuracy": None if self.accuracy is None else float(self.accuracy),
            "trained_loss": float(self.trained_loss),
            "seconds": float(self.seconds),
            "device": self.device,
        }


def _device_label(device) -> str:
    if isinstance(device, str):
        return device
    name = getattr(device, "name", None) or type(device).__name__
    return str(name)


def _lbfgs(model, loss_of: Callable[[], torch.Tensor], on_eval=None) -> list[float]:
    """One ``torch.optim.LBFGS`` step with PyTorch's defaults; returns every closure's loss."""
    optimizer = torch.optim.LBFGS(model.parameters())
    losses = []

    def closure():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of()
        loss.backward()
        losses.append(loss.item())
        if on_eval is not None:
            on_eval(losses[-1])
        return loss

    model.train()
    optimizer.step(closure)
    return losses


def run_classification_estimator(device="default.qubit", shots=None, random: TutorialRandom | None = None,
                                 on_eval=None) -> PartResult:
    """EstimatorQNN (ZZFeatureMap + RealAmplitudes) classifying 20 points by the sign of x0 + x1."""
    start = time.perf_counter()
    r = random or tutorial_random()
    qnn = EstimatorQNN(2, device=device, shots=shots)
    model = TorchConnector(qnn, initial_weights=r.w_estimator)
    X, y = torch.tensor(r.X, dtype=torch.float32), torch.tensor(r.y, dtype=torch.float32).reshape(-1, 1)
    loss_fn = nn.MSELoss(reduction="sum")
    losses = _lbfgs(model, lambda: loss_fn(model(X), y), on_eval)
    with torch.no_grad():
        out = model(X)
        final = loss_fn(out, y).item()
        predicted = np.sign(out.numpy()[:, 0])
    accuracy = float(np.mean(predicted == r.y))
    extra = {"model": model, "X": r.X, "labels": r.y, "predicted": predicted}
    return PartResult("classification-estimator", losses, accuracy, final, time.perf_counter() - start,
                      _device_label(device), extra)


def run_classification_sampler(device="default.qubit", shots=None, random: TutorialRandom | None = None,
                               on_eval=None) -> PartResult:
    """SamplerQNN (ZZFeatureMap + RealAmplitudes(reps=1, linear), parity) on the same points."""
    start = time.perf_counter()
    r = random or tutorial_random()
    qnn = SamplerQNN(2, ansatz=partial(RealAmplitudes, reps=1, entanglement="linear"),
                     interpret=parity, output_shape=2, device=device, shots=shots)
    model = TorchConnector(qnn, initial_weights=r.w_sampler)
    X, y01 = torch.tensor(r.X, dtype=torch.float32), torch.tensor(r.y01, dtype=torch.long)
    loss_fn = nn.CrossEntropyLoss()
    losses = _lbfgs(model, lambda: loss_fn(model(X), y01), on_eval)
    with torch.no_grad():
        out = model(X)
        final = loss_fn(out, y01).item()
        predicted = np.argmax(out.numpy(), axis=1)
    accuracy = float(np.mean(predicted == r.y01))
    extra = {"model": model, "X": r.X, "labels": r.y01, "predicted": predicted}
    return PartResult("classification-sampler", losses, accuracy, final, time.perf_counter() - start,
                      _device_label(device), extra)


def _ry_block(params, wires):
    qml.RY(params[..., 0], wires=wires[0])


def run_regression(device="default.qubit", shots=None, random: TutorialRandom | None = None,
                   on_eval=None) -> PartResult:
    """A one-qubit RY(x) RY(w) EstimatorQNN fitted to 20 noisy samples of sin(x)."""
    start = time.perf_counter()
    r = random or tutorial_random()
    qnn = EstimatorQNN(1, feature_map=_ry_block, num_inputs=1, ansatz=_ry_block, num_weights=1,
                       device=device, shots=shots)
    model = TorchConnector(qnn, initial_weights=r.w_regression)
    X, y = torch.tensor(r.X_reg, dtype=torch.float32), torch.tensor(r.y_reg, dtype=torch.float32)
    loss_fn = nn.MSELoss(reduction="sum")
    losses = _lbfgs(model, lambda: loss_fn(model(X), y), on_eval)
    grid = np.linspace(-np.pi, np.pi, 50)
    with torch.no_grad():
        final = loss_fn(model(X), y).item()
        fit = model(torch.tensor(grid, dtype=torch.float32).reshape(-1, 1)).numpy()[:, 0]
    return PartResult("regression", losses, None, final, time.perf_counter() - start, _device_label(device),
                      {"model": model, "X": r.X_reg[:, 0], "y": r.y_reg[:, 0], "grid": grid, "fit": fit})


# ---------------------------------------------------------------------- MNIST


def make_mnist_qnn(device="default.qubit", shots=None, device_options: dict | None = None) -> EstimatorQNN:
    """The hybrid model's QNN: 2 qubits, ZZFeatureMap then RealAmplitudes(reps=1)."""
    return EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), device=device, shots=shots,
                        device_options=device_options)


class HybridNet(nn.Module):
    """The tutorial's CNN with a 2-qubit QNN between its last two dense layers.

    conv(1->2, k5) -> pool -> conv(2->16, k5) -> pool -> dropout2d -> fc(256->64) -> fc(64->2)
    -> QNN -> fc(1->1) -> (x, 1 - x).

    Args:
        qnn (EstimatorQNN): a QNN with 2 inputs and 1 output, e.g. :func:`make_mnist_qnn`.
    """

    def __init__(self, qnn: EstimatorQNN):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, kernel_size=5)
        self.conv2 = nn.Conv2d(2, 16, kernel_size=5)
        self.dropout = nn.Dropout2d()
        self.fc1 = nn.Linear(256, 64)
        self.fc2 = nn.Linear(64, 2)
        self.qnn = TorchConnector(qnn)
        self.fc3 = nn.Linear(1, 1)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = self.dropout(x).flatten(1)
        x = self.fc2(torch.relu(self.fc1(x)))
        x = self.fc3(self.qnn(x))
        return torch.cat((x, 1 - x), -1)


def evaluate_mnist(model: nn.Module, loader) -> tuple[float, float]:
    """Test accuracy and mean NLL loss of ``model`` over ``loader``."""
    model.eval()
    loss_fn = nn.NLLLoss()
    correct, losses, count = 0, [], 0
    with torch.no_grad():
        for data, target in loader:
            output = model(data)
            correct += int((output.argmax(dim=1) == target).sum())
            losses.append(loss_fn(output, target).item())
            count += len(target)
    return correct / count, float(np.mean(losses))


def run_mnist_hybrid(device="default.qubit", shots=None, epochs: int = 10, out_dir=None, data_root="./data",
                     n_train: int = 100, n_test: int = 50, on_batch=None, on_message=print,
                     resume: bool = False, device_options: dict | None = None) -> PartResult:
    """Train :class:`HybridNet` on MNIST 0/1 with Adam (lr 1e-3), batch size 1, NLL loss.

    With ``out_dir``, a training checkpoint is written atomically after every epoch to
    ``out_dir/mnist-hybrid-train.pt`` (``resume=True`` continues from it) and the trained
    ``state_dict`` to ``out_dir/mnist-hybrid.pt``. The model is then rebuilt, loaded back and
    evaluated on the test set, as the tutorial does.

    Raises:
        TrainingInterrupted: if training fails part-way; the message names the checkpoint.
    """
    start = time.perf_counter()
    torch.manual_seed(42)
    split = load_mnist01(data_root, n_train=n_train, n_test=n_test)
    if on_message is not None:  # before training: a long run says at once what it trains on
        on_message(f"MNIST source: {split.source}")
    train_loader = DataLoader(split.train, batch_size=1, shuffle=True)
    test_loader = DataLoader(split.test, batch_size=1, shuffle=True)
    model = HybridNet(make_mnist_qnn(device, shots, device_options))
    # foreach: a few multi-tensor operations per update instead of a dozen per tensor; the
    # results are bit for bit those of the default implementation
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, foreach=True)
    train_checkpoint = Path(out_dir) / TRAIN_CHECKPOINT if out_dir is not None else None
    with tiny_batch_mode():  # one image per step: one thread, PyTorch's native kernels
        epoch_losses = fit(model, train_loader, optimizer, nn.NLLLoss(), epochs, checkpoint=train_checkpoint,
                           resume=resume and train_checkpoint is not None, on_batch=on_batch)
    checkpoint = None
    state = model.state_dict()
    if out_dir is not None:
        checkpoint = save_atomic(state, Path(out_dir) / CHECKPOINT)
    # rebuild and reload, as a user would for inference
    restored = HybridNet(make_mnist_qnn(device, shots, device_options))
    restored.load_state_dict(state)
    with tiny_batch_mode():
        accuracy, test_loss = evaluate_mnist(restored, test_loader)
        _, trained_loss = evaluate_mnist(restored, DataLoader(split.train, batch_size=len(split.train)))
    return PartResult("mnist-hybrid", epoch_losses, accuracy, trained_loss, time.perf_counter() - start,
                      _device_label(device),
                      {"model": restored, "test": split.test, "test_loss": test_loss,
                       "checkpoint": checkpoint, "source": split.source})


def load_mnist_state(model: nn.Module, path) -> None:
    """Load a checkpoint file into ``model``: a ``state_dict`` or a training checkpoint of :func:`fit`.

    Raises:
        CheckpointError: (a ValueError) if the file is not a checkpoint, or not one of this
            model; the message names the file and what is wrong.
    """
    state = model_state(read_checkpoint(path), path)
    result = None
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shapes that differ
        problem = str(err).splitlines()[-1].strip()[:200]
    else:
        problem = None
    if result is not None and (result.missing_keys or result.unexpected_keys):
        found = (("missing", result.missing_keys), ("unexpected", result.unexpected_keys))
        parts = [f"{label} {', '.join(keys[:3])}" + (", ..." if len(keys) > 3 else "")
                 for label, keys in found if keys]
        problem = "; ".join(parts)
    if problem is not None:
        raise CheckpointError(f"{path} is not a checkpoint of the mnist-hybrid model ({problem})")


def evaluate_mnist_checkpoint(path, device="default.qubit", shots=None, data_root="./data",
                              n_train: int = 100, n_test: int = 50, on_message=None) -> tuple[float, float]:
    """Load a mnist-hybrid checkpoint and evaluate it on ``device``: train on one backend, infer on another.

    Args:
        path (str or Path): ``mnist-hybrid.pt`` (a ``state_dict``) or the training checkpoint
            ``mnist-hybrid-train.pt`` (its ``"model"`` entry is used).
        device: see :func:`~qnn_torch.devices.resolve_device`.
        shots (int or None): shots.
        data_root (str or Path): torchvision's MNIST root.
        n_train (int): training images per digit (the test images follow them in the shipped subset).
        n_test (int): test images per digit.
        on_message (Callable or None): called with one line naming the MNIST source and the
            number of test images.

    Returns:
        tuple[float, float]: test accuracy and mean NLL loss.

    Raises:
        CheckpointError: (a ValueError) if ``path`` is not a mnist-hybrid checkpoint.
    """
    model = HybridNet(make_mnist_qnn(device, shots))
    load_mnist_state(model, path)
    split = load_mnist01(data_root, n_train=n_train, n_test=n_test)
    if on_message is not None:
        on_message(f"MNIST source: {split.source}; {len(split.test)} test images")
    return evaluate_mnist(model, DataLoader(split.test, batch_size=len(split.test)))
