"""The QNode engine: PennyLane's own QNode on any device, with any differentiation method.

It runs every circuit the other engines cannot (shots, hardware, other simulators, gates whose
structure depends on parameter values) and is the last engine of every chain; it never hands
over.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from functools import cached_property

import pennylane as qml
import torch
from cachetools import LRUCache

from ..circuits import PENNYLANE_LOCK, CircuitDescription
from .base import Engine
from .jacobians import autograd_jacobians, graph_inputs

__all__ = ["QNodeEngine"]


class _ResultCache(LRUCache):
    """A bounded cache of circuit results for the QNode.

    PennyLane marks a circuit as pending with ``None`` before running it; if the run fails (a
    hardware job error) the mark stays. Pending marks count as absent here, so a circuit whose
    run failed is simply run again next time.
    """

    def __contains__(self, key):
        return super().__contains__(key) and super().__getitem__(key) is not None


class QNodeEngine(Engine):
    """``qml.QNode(circuit.circuit, device)`` with the torch interface.

    Args:
        circuit (CircuitDescription): the circuit to run.
        spec (DeviceSpec): the resolved device (and its shots).
        diff_method (str): PennyLane's differentiation method.
        broadcast_expand (bool): split a batch into one tape per sample (needed by
            parameter-shift with broadcast inputs, PennyLane #4462); such devices also get a
            bounded result cache.
    """

    name = "qnode"
    order = 3
    builds_graph = True
    runs_on_device = True

    @classmethod
    def accepts(cls, circuit: CircuitDescription, spec, diff_method: str | None) -> bool:
        """Every circuit on every device: the QNode engine ends every chain."""
        return True

    @classmethod
    def refusal(cls, circuit: CircuitDescription, spec) -> str | None:
        return None

    @classmethod
    def build(cls, circuit: CircuitDescription, spec, diff_method: str | None) -> QNodeEngine:
        return cls(circuit, spec, *cls.diff_method_for(circuit, spec, diff_method))

    @staticmethod
    def diff_method_for(circuit: CircuitDescription, spec, diff_method: str | None) -> tuple[str, bool]:
        """PennyLane's differentiation method for the QNode, and whether a batch is split into one
        tape per sample: the ``diff_method`` asked for, else the device's; PennyLane's adjoint
        method takes expectation values only (probabilities get parameter shifts), and every method
        but backprop and adjoint needs the batch split (PennyLane #4462)."""
        method, expand = diff_method or spec.diff_method, spec.broadcast_expand
        if method == "adjoint" and circuit.probabilities:
            method, expand = "parameter-shift", True
        if method not in ("backprop", "adjoint"):
            expand = True
        return method, expand

    def __init__(self, circuit, spec, diff_method: str, broadcast_expand: bool):
        super().__init__(circuit)
        self.spec = spec
        self.diff_method = diff_method
        self.broadcast_expand = broadcast_expand

    @cached_property
    def qnode(self) -> qml.QNode:
        """qml.QNode: ``qnode(inputs, weight)`` on the resolved device, torch interface."""
        # sampled devices: one backward sweep per output re-requests the same shifted circuits;
        # a bounded cache serves the repeats without running them again
        cache = _ResultCache(maxsize=50_000) if self.broadcast_expand else True
        qnode = qml.QNode(
            self.circuit.circuit, self.spec.device, interface="torch", diff_method=self.diff_method,
            shots=self.spec.shots, cache=cache,
        )
        if self.broadcast_expand:
            # parameter-shift cannot differentiate broadcast inputs (PennyLane #4462): split
            # the batch into tapes first; the device runs them in one batch anyway
            qnode = qml.transforms.broadcast_expand(qnode)
        return qnode

    def bytes_per_sample(self, dtype: torch.dtype = torch.float64, call: str = "values") -> int:
        if self.diff_method == "backprop":  # an autograd graph through the device's simulation
            return super().bytes_per_sample(dtype, call)
        # the device differentiates by itself (adjoint, shifts): a few states per circuit, and one
        # bra per output for an adjoint sweep
        return self.state_bytes(dtype) * (8 + self.circuit.output_size)

    @contextmanager
    def expected_warnings_silenced(self):
        """Silence the device warnings that are expected here and say nothing to the user: cache
        hits for repeated shifted circuits, and pennylane-qiskit's "no analytic results" on
        ``qnn_torch.aer``, which is exact without shots."""
        if not self.broadcast_expand:  # exact simulators raise neither; keep the hot path free
            yield
            return
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Cached execution with finite shots",
                                    category=UserWarning)
            if getattr(self.spec.device, "exact_without_shots", False):
                warnings.filterwarnings("ignore", message="Expected an integer number of shots",
                                        category=UserWarning)
            yield

    def values(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        with PENNYLANE_LOCK, self.expected_warnings_silenced():  # QNode execution is not thread-safe
            result = self.qnode(inputs=x, weight=w)
        if isinstance(result, (list, tuple)):
            result = torch.stack([torch.as_tensor(r) for r in result], dim=-1)
        result = result.reshape(-1, result.shape[-1])
        if result.shape[0] != x.shape[0]:  # nothing depends on the batch (no inputs): one row for all
            result = result.expand(x.shape[0], -1)
        head = self.circuit.head
        return result if head is None else result @ head.to(result)

    def values_and_jacobians(self, x, w, want_x, want_w):
        x, w = graph_inputs(x, w, want_x, want_w)
        with torch.enable_grad():
            out = self.values(x, w)
        # the QNode's backward may run circuits (parameter-shift): under the lock
        with PENNYLANE_LOCK, self.expected_warnings_silenced():
            return out.detach(), autograd_jacobians(out, x, w, want_x, want_w)
