"""The circuit description: everything an engine needs to know about a QNN's circuit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pennylane as qml
import torch

from ..templates import skip_value_checks
from .pennylane_lock import PENNYLANE_LOCK

__all__ = ["CircuitDescription"]


@dataclass(frozen=True)
class CircuitDescription:
    """A QNN's circuit as its engines see it.

    Args:
        num_qubits (int): wires ``0 .. num_qubits - 1``; wire ``i`` plays Qiskit's qubit ``i``.
        num_inputs (int): input features per sample.
        num_weights (int): trainable weights.
        circuit (Callable): ``circuit(inputs, weight)`` queues the gates and returns the
            measurement(s): the QNode's function.
        probabilities (bool): whether the circuit measures probabilities (one output per basis
            state) rather than expectation values.
        head (torch.Tensor or None): a float64 matrix ``(outputs of the circuit, output_size)``
            applied to the circuit's outputs (SamplerQNN's interpret), or None.
        output_size (int): outputs per sample, after the head.
    """

    num_qubits: int
    num_inputs: int
    num_weights: int
    circuit: Callable
    probabilities: bool
    head: torch.Tensor | None
    output_size: int

    def queue(self, inputs, weight) -> tuple[list, list]:
        """The circuit's operations and measurements, queued without a QNode (and without the
        templates' value checks, so that traced tensors pass)."""
        with PENNYLANE_LOCK, qml.queuing.AnnotatedQueue() as queue, skip_value_checks():
            measurements = self.circuit(inputs, weight)
        # Operator by the class's MRO: isinstance on PennyLane's abstract base class walks its hundreds
        # of subclasses the first time it meets a measurement's class (0.6 ms of a process's first call)
        ops = [item for item in queue.queue if qml.operation.Operator in type(item).__mro__]
        if not isinstance(measurements, (list, tuple)):
            measurements = [measurements]
        return ops, list(measurements)
