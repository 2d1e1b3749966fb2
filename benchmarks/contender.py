"""What a contender is: one way to run a benchmark's network, with the checks that hold it to the
reference before it is timed.

:func:`benchmarks.worker.measure` drives a :class:`Contender` through four stages, in a fresh
process for each contender and register size, after :meth:`Contender.prepare` (not timed):

1. **setup**: :meth:`Contender.setup` builds the model from the timed weights;
2. **first call**: the first :meth:`Contender.step` of the process, timed apart;
3. **check**: :meth:`Contender.check` computes outputs and gradients on fixed check samples and
   compares them with the reference (:func:`check_agreement`); a contender that fails is not timed;
4. **timed steps**: more steps, the median reported.

Standard library only at import time (NumPy, torch and PennyLane are imported by the functions
that need them), so that the Python 3.12 worker of qiskit-torch-module imports it too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib import import_module
from typing import Any, Callable, NamedTuple

from .timing import mean_sum_step

__all__ = [
    "Contender",
    "Model",
    "check_agreement",
    "engine_in",
    "network_gradients",
    "passed",
    "torch_gradients",
    "torch_layer",
    "trainable",
]


class Model(NamedTuple):
    """A contender's model: ``call(inputs)`` gives the outputs ``(B, K)``; ``module`` (a
    ``torch.nn.Module``, or None for a forward-only contender) holds the trainable weights."""

    call: Callable
    module: Any

    @classmethod
    def of(cls, module) -> Model:
        """The model that is a torch module called as it is."""
        return cls(module, module)


class Contender(ABC):
    """One way to run a benchmark's network.

    Attributes:
        name (str): the row's name in the report.
        qubits (int): the register size.
        device (str): where the torch tensors live, ``"cpu"`` or ``"cuda"``; outputs that come
            back elsewhere fail the run.
        forward_only (bool): the step is a forward pass only (its inputs stay NumPy arrays).
        input_gradients (bool): the timed step differentiates the inputs too.
        libraries (tuple): the modules :meth:`prepare` imports, before the setup is timed.
    """

    forward_only = False
    input_gradients = True
    libraries: tuple[str, ...] = ("torch",)

    def __init__(self, name: str, qubits: int, device: str = "cpu"):
        self.name, self.qubits, self.device = name, qubits, device

    def prepare(self) -> None:
        """What comes before the timed setup: importing :attr:`libraries`."""
        for name in self.libraries:
            import_module(name)

    @abstractmethod
    def setup(self, weights) -> Model:
        """The model with these weights (a NumPy vector)."""

    @abstractmethod
    def check(self, x, w, reference: dict) -> dict:
        """Outputs and gradients of a model with weights ``w`` on the inputs ``x`` (float64), held
        to ``reference`` (``outputs``, ``grad_inputs``, ``grad_weights``).

        Returns:
            dict: a :func:`check_agreement` result, or several by name (see :func:`passed`).
        """

    def step(self, model: Model, x) -> tuple[Callable, Callable]:
        """``(forward, backward)`` of one timed step on the inputs ``x`` (a NumPy batch)."""
        if self.forward_only:
            return (lambda: model.call(x)), (lambda out: None)
        import torch

        inputs = torch.tensor(x, device=self.device, requires_grad=self.input_gradients)
        return mean_sum_step(model.call, inputs, trainable(model.module))

    def facts(self, model: Model) -> dict:
        """What the report shows about the run besides times: the qnn_torch engine that ran."""
        qnn = getattr(model.module, "neural_network", None)
        if qnn is None or not hasattr(qnn, "engine"):
            return {}
        return {"engine_ran": str(qnn.engine)}


def engine_in(name: str) -> str:
    """The ``engine=`` value in a contender's name: ``"auto"`` for ``"qnn_torch[auto] cuda"``."""
    return name[name.index("[") + 1:name.index("]")]


def trainable(module) -> list:
    """The parameters of ``module`` that require gradients (none for no module)."""
    return [p for p in module.parameters() if p.requires_grad] if module is not None else []


def check_agreement(got: dict, want: dict, atol: float) -> dict:
    """Largest absolute differences of ``got`` from ``want`` for each key both hold.

    Returns:
        dict: ``{"max_abs_err": {key: err}, "atol": atol, "ok": bool}``; ``ok`` is False also when
        a shape differs (the error is then ``inf``).
    """
    import numpy as np

    errors = {}
    for key, ref in want.items():
        if key not in got or got[key] is None:
            continue
        a, b = np.asarray(got[key], dtype=np.float64), np.asarray(ref, dtype=np.float64)
        errors[key] = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
    ok = bool(errors) and all(e <= atol for e in errors.values())
    return {"max_abs_err": errors, "atol": atol, "ok": ok}


def passed(check: dict) -> bool:
    """Whether a :meth:`Contender.check` result passed: one :func:`check_agreement` result, or
    every one of several by name."""
    if "ok" in check:
        return check["ok"]
    return all(c["ok"] for c in check.values())


def torch_gradients(model: Model, x, double: bool, device: str = "cpu") -> dict:
    """Outputs and gradients of ``mean(sum(outputs))`` of a torch model on ``x``, in float64
    (``double``: the module is cast with ``.double()``) or in float32.

    Returns:
        dict: ``outputs``, ``grad_inputs``, ``grad_weights`` (the trainable parameters' gradients,
        concatenated), as float64 NumPy arrays.
    """
    import torch

    if double:
        model.module.double()
    xt = torch.tensor(x, dtype=torch.float64 if double else torch.float32, device=device, requires_grad=True)
    out = model.call(xt)
    out.sum(1).mean().backward()
    grad_w = torch.cat([p.grad.reshape(-1) for p in trainable(model.module)])
    return {"outputs": out.detach().double().cpu().numpy(), "grad_inputs": xt.grad.double().cpu().numpy(),
            "grad_weights": grad_w.double().cpu().numpy()}


def network_gradients(outputs, jac_x, jac_w) -> dict:
    """Outputs and gradients of ``mean(sum(outputs))`` from a network API's outputs ``(B, K)`` and
    per-sample Jacobians ``(B, K, I)`` and ``(B, K, P)`` (as :func:`torch_gradients` gives them)."""
    import numpy as np

    return {"outputs": np.asarray(outputs), "grad_inputs": np.asarray(jac_x).sum(axis=1) / len(outputs),
            "grad_weights": np.asarray(jac_w).sum(axis=1).mean(axis=0)}


def torch_layer(qubits: int, device: str, diff_method: str, circuit: Callable, weights,
                to: str = "cpu"):
    """PennyLane's ``qml.qnn.TorchLayer`` of a QNode on ``device`` that runs ``circuit(inputs,
    weights)`` (which returns the measurements), its weights set to ``weights`` and moved to ``to``."""
    import pennylane as qml
    import torch

    @qml.qnode(qml.device(device, wires=qubits), diff_method=diff_method, interface="torch")
    def qnode(inputs, weights):
        return circuit(inputs, weights)

    layer = qml.qnn.TorchLayer(qnode, {"weights": len(weights)})
    with torch.no_grad():
        layer.qnode_weights["weights"].copy_(torch.as_tensor(weights))
    return layer.to(to)
