"""The common part of both QNN kinds: circuit assembly, shapes, device and QNode."""

from __future__ import annotations

from functools import cached_property
from numbers import Integral

import numpy as np
import pennylane as qml
import torch

from ..devices import DeviceSpec, resolve_device
from ..templates import RealAmplitudes, ZZFeatureMap
from .blocks import CircuitBlock, resolve_block

__all__ = ["QuantumNeuralNetwork"]


class QuantumNeuralNetwork:
    """Feature map then ansatz on ``num_qubits`` wires, measured by a subclass.

    Subclasses set ``output_shape`` and implement :meth:`_measure` (the QNode's return value)
    and optionally :meth:`postprocess` (a differentiable map of the QNode's result).

    Args:
        num_qubits (int): number of qubits; wire ``i`` plays Qiskit's qubit ``i``.
        feature_map: template class, partial or ``fn(params, wires)``; default
            :class:`~qnn_torch.ZZFeatureMap` (reps=2).
        ansatz: template class, partial or ``fn(params, wires)``; default
            :class:`~qnn_torch.RealAmplitudes` (reps=3).
        num_inputs (int or None): parameter count of a plain-function feature map.
        num_weights (int or None): parameter count of a plain-function ansatz.
        device: see :func:`qnn_torch.devices.resolve_device`.
        shots (int or None): ``None`` for exact results.
        diff_method (str or None): override the automatic choice of differentiation method.
    """

    output_shape: tuple[int, ...] = ()
    _supports_adjoint = True  # adjoint differentiation handles expectation values only

    def __init__(
        self,
        num_qubits: int,
        *,
        feature_map=None,
        ansatz=None,
        num_inputs: int | None = None,
        num_weights: int | None = None,
        device="default.qubit",
        shots: int | None = None,
        diff_method: str | None = None,
    ):
        if isinstance(num_qubits, bool) or not isinstance(num_qubits, Integral) or num_qubits < 1:
            raise ValueError(f"num_qubits must be a positive integer; got {num_qubits!r}.")
        self.num_qubits = int(num_qubits)
        self.feature_map: CircuitBlock = resolve_block(
            ZZFeatureMap if feature_map is None else feature_map,
            self.num_qubits, num_inputs, "feature_map", "num_inputs",
        )
        self.ansatz: CircuitBlock = resolve_block(
            RealAmplitudes if ansatz is None else ansatz,
            self.num_qubits, num_weights, "ansatz", "num_weights",
        )
        self.spec: DeviceSpec = resolve_device(device, self.num_qubits, shots)
        self._diff_method = diff_method or self.spec.diff_method
        self._broadcast_expand = self.spec.broadcast_expand
        if self._diff_method == "adjoint" and not self._supports_adjoint:
            self._diff_method, self._broadcast_expand = "parameter-shift", True
        if self._diff_method not in ("backprop", "adjoint"):
            self._broadcast_expand = True

    @property
    def num_inputs(self) -> int:
        """int: the number of input features."""
        return self.feature_map.num_params

    @property
    def num_weights(self) -> int:
        """int: the number of trainable weights."""
        return self.ansatz.num_params

    @property
    def shots(self) -> int | None:
        """int or None: the shots the QNode runs with."""
        return self.spec.shots

    def circuit(self, inputs, weight):
        """Queue feature map and ansatz and return the measurement (the QNode's function)."""
        wires = list(range(self.num_qubits))
        if self.num_inputs:
            self.feature_map.apply(inputs, wires)
        if self.num_weights:
            self.ansatz.apply(weight, wires)
        return self._measure()

    def _measure(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def postprocess(self, result: torch.Tensor) -> torch.Tensor:
        """Map the QNode result ``(batch, k)`` to ``(batch, prod(output_shape))``."""
        return result

    @cached_property
    def qnode(self) -> qml.QNode:
        """qml.QNode: ``qnode(inputs, weight)`` on the resolved device, torch interface."""

        def circuit(inputs, weight):
            return self.circuit(inputs, weight)

        qnode = qml.QNode(
            circuit, self.spec.device, interface="torch", diff_method=self._diff_method,
            shots=self.spec.shots,
        )
        if self._broadcast_expand:
            # parameter-shift cannot differentiate broadcast inputs (PennyLane #4462): split
            # the batch into tapes first; the device runs them in one batch anyway
            qnode = qml.transforms.broadcast_expand(qnode)
        return qnode

    def forward(self, inputs, weights) -> np.ndarray:
        """Evaluate without gradients, NumPy in and out (like qiskit-machine-learning's).

        Args:
            inputs (array_like): shape ``(num_inputs,)`` or ``(batch, num_inputs)``.
            weights (array_like): shape ``(num_weights,)``.

        Returns:
            numpy.ndarray: shape ``(batch, *output_shape)`` (a 1-D input counts as batch 1).
        """
        from ..torch_connector import TorchConnector

        layer = TorchConnector(self, initial_weights=weights)
        with torch.no_grad():
            x = torch.as_tensor(np.atleast_2d(np.asarray(inputs, dtype=np.float64)))
            return layer(x).numpy()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_qubits={self.num_qubits}, feature_map={self.feature_map.name}, "
            f"ansatz={self.ansatz.name}, device={self.spec.label!r}, shots={self.spec.shots})"
        )
