"""The common part of both QNN kinds: circuit assembly, shapes, device and QNode."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from functools import cached_property
from numbers import Integral

import numpy as np
import pennylane as qml
from cachetools import LRUCache
import torch

from ..devices import DeviceSpec, resolve_device
from ..templates import RealAmplitudes, ZZFeatureMap
from .blocks import CircuitBlock, resolve_block
from .compiled import CompilationError, CompiledCircuit

__all__ = ["QuantumNeuralNetwork"]


class _ResultCache(LRUCache):
    """A bounded cache of circuit results for the QNode.

    PennyLane marks a circuit as pending with ``None`` before running it; if the run fails (a
    hardware job error) the mark stays. Pending marks count as absent here, so a circuit whose
    run failed is simply run again next time.
    """

    def __contains__(self, key):
        return super().__contains__(key) and super().__getitem__(key) is not None


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
        device_options (dict or None): keyword arguments for the device, e.g. for IBM backends
            ``{"session": session, "optimization_level": 3, "resilience_level": 1}``.
        engine (str): ``"auto"`` (default: the compiled path on exact ``default.qubit``, the QNode
            elsewhere), ``"compiled"`` (require it) or ``"qnode"`` (always the QNode).
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
        engine: str = "auto",
        device_options: dict | None = None,
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
        self.spec: DeviceSpec = resolve_device(device, self.num_qubits, shots, device_options)
        self._diff_method = diff_method or self.spec.diff_method
        self._broadcast_expand = self.spec.broadcast_expand
        if self._diff_method == "adjoint" and not self._supports_adjoint:
            self._diff_method, self._broadcast_expand = "parameter-shift", True
        if self._diff_method not in ("backprop", "adjoint"):
            self._broadcast_expand = True
        if engine not in ("auto", "compiled", "qnode"):
            raise ValueError(f"engine must be 'auto', 'compiled' or 'qnode'; got {engine!r}.")
        compilable = self.spec.label == "default.qubit" and self.spec.shots is None and diff_method in (
            None, "backprop")
        if engine == "compiled" and not compilable:
            raise ValueError(
                "engine 'compiled' needs device 'default.qubit' with shots=None (exact simulation); "
                f"got device {self.spec.label!r} with shots={self.spec.shots}."
            )
        self._compiled = CompiledCircuit(self) if engine != "qnode" and compilable else None
        self._require_compiled = engine == "compiled"
        self.engine_fallback: str | None = None
        """str or None: why the compiled path was abandoned for the QNode, if it was."""

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

        # sampled devices: one backward sweep per output re-requests the same shifted circuits;
        # a bounded cache serves the repeats without running them again
        cache = _ResultCache(maxsize=50_000) if self._broadcast_expand else True
        qnode = qml.QNode(
            circuit, self.spec.device, interface="torch", diff_method=self._diff_method,
            shots=self.spec.shots, cache=cache,
        )
        if self._broadcast_expand:
            # parameter-shift cannot differentiate broadcast inputs (PennyLane #4462): split
            # the batch into tapes first; the device runs them in one batch anyway
            qnode = qml.transforms.broadcast_expand(qnode)
        return qnode

    @contextmanager
    def expected_warnings_silenced(self):
        """Silence the device warnings that are expected here and say nothing to the user: cache
        hits for repeated shifted circuits, and pennylane-qiskit's "no analytic results" on
        ``qnn_torch.aer``, which is exact without shots."""
        if not self._broadcast_expand:  # exact simulators raise neither; keep the hot path free
            yield
            return
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Cached execution with finite shots", category=UserWarning)
            if getattr(self.spec.device, "exact_without_shots", False):
                warnings.filterwarnings("ignore", message="Expected an integer number of shots", category=UserWarning)
            yield

    @property
    def engine(self) -> str:
        """str: ``"compiled"`` or ``"qnode"``, the path :meth:`evaluate` takes."""
        return "compiled" if self._compiled is not None else "qnode"

    def evaluate(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Differentiable outputs ``(batch, prod(output_shape))`` for float64 inputs
        ``(batch, num_inputs)`` and weights ``(num_weights,)`` or ``(batch, num_weights)``."""
        if self._compiled is not None:
            try:
                return self.postprocess(self._compiled(x, weight))
            except CompilationError as err:
                if self._require_compiled:
                    raise
                warnings.warn(f"{type(self).__name__}: compiled path unavailable, using the QNode ({err})",
                              RuntimeWarning, stacklevel=2)
                self._compiled, self.engine_fallback = None, str(err)
        with self.expected_warnings_silenced():
            result = self.qnode(inputs=x, weight=weight)
        if isinstance(result, (list, tuple)):
            result = torch.stack([torch.as_tensor(r) for r in result], dim=-1)
        return self.postprocess(result.reshape(x.shape[0], -1))

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
            f"ansatz={self.ansatz.name}, device={self.spec.label!r}, shots={self.spec.shots}, "
            f"engine={self.engine!r})"
        )
