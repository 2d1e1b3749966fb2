"""The common part of both QNN kinds: circuit assembly, shapes, device and QNode."""

from __future__ import annotations

import os
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
from ..templates._validation import skip_value_checks
from .adjoint import MAX_QUBITS, MAX_QUBITS_PROBABILITIES, AdjointCircuit
from .blocks import CircuitBlock, resolve_block
from .compiled import PENNYLANE_LOCK, CompilationError, CompiledCircuit

__all__ = ["ENGINES", "QuantumNeuralNetwork"]

ENGINES = ("auto", "adjoint", "compiled", "qnode")
"""tuple[str, ...]: the values of the ``engine`` argument."""


def available_memory() -> int | None:
    """Bytes of memory available now (``psutil`` if installed, else ``os.sysconf``), or None."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return None


def check_state_fits(num_qubits: int) -> None:
    """Refuse a register whose state vector cannot fit in memory, before anything is built.

    A local simulation holds at least one complex128 state vector, ``16 * 2**num_qubits``
    bytes; when that exceeds the memory available now, a ValueError names ``num_qubits`` and
    both sizes (instead of a ``MemoryError`` deep inside a simulator, or swapping).
    """
    needed = 16 * 2**num_qubits
    available = available_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"num_qubits={num_qubits} is too large to simulate here: one complex128 state vector of "
            f"2**{num_qubits} amplitudes takes {_format_bytes(needed)}, but only "
            f"{_format_bytes(available)} of memory is available."
        )


def _format_bytes(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.4g} {unit}"
        size /= 1024
    raise AssertionError  # pragma: no cover


def check_real(value, name: str):
    """Raise a TypeError if ``value`` (tensor or array_like) holds complex or bool values."""
    if value is None:  # absent (a network without weights); nothing to check
        return value
    dtype = value.dtype if isinstance(value, (torch.Tensor, np.ndarray)) else np.asarray(value).dtype
    complex_ = dtype.is_complex if isinstance(dtype, torch.dtype) else np.issubdtype(dtype, np.complexfloating)
    if complex_ or dtype in (torch.bool, np.bool_):
        raise TypeError(f"{name} must hold real numbers; got dtype {dtype}.")
    if not isinstance(dtype, torch.dtype) and not np.issubdtype(dtype, np.number):
        raise TypeError(f"{name} must hold real numbers; got dtype {dtype}.")
    return value


def check_weight_shape(weight, num_weights: int, name: str = "weight") -> None:
    """Raise a ValueError naming ``name`` unless ``weight`` has shape ``(num_weights,)``."""
    if tuple(weight.shape) != (num_weights,):
        raise ValueError(
            f"{name} must have shape ({num_weights},) (the QNN's num_weights); got shape {tuple(weight.shape)}."
        )


class _ResultCache(LRUCache):
    """A bounded cache of circuit results for the QNode.

    PennyLane marks a circuit as pending with ``None`` before running it; if the run fails (a
    hardware job error) the mark stays. Pending marks count as absent here, so a circuit whose
    run failed is simply run again next time.
    """

    def __contains__(self, key):
        return super().__contains__(key) and super().__getitem__(key) is not None


def _jacobians(qnn, out, x, w, want_x, want_w) -> list[torch.Tensor]:
    """Per-sample Jacobians ``(B, K, P)`` of ``out`` (B, K) for the inputs and/or weights, by
    one backward sweep per output."""
    targets = [t for t, want in ((x, want_x), (w, want_w)) if want]
    k_out = out.shape[1]
    if not out.requires_grad:  # the outputs do not depend on inputs or weights at all
        return [torch.zeros(out.shape[0], k_out, t.shape[-1], dtype=t.dtype) for t in targets]
    rows = [[] for _ in targets]
    with torch.enable_grad(), qnn.expected_warnings_silenced():  # backward runs without grad mode
        for k in range(k_out):
            grads = torch.autograd.grad(out[:, k].sum(), targets, retain_graph=k < k_out - 1,
                                        allow_unused=True)
            for row, g, t in zip(rows, grads, targets):
                g = torch.zeros_like(t) if g is None else g
                row.append(g.reshape(out.shape[0], -1))  # unbatched weights (batch 1) get their row
    return [torch.stack(row, dim=1) for row in rows]


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
        engine (str): how exact ``default.qubit`` runs. ``"auto"`` (default) takes the fastest
            path that can run the circuit: ``"adjoint"`` up to 8 qubits (6 for probabilities),
            else ``"compiled"``, else the QNode. ``"adjoint"`` (NumPy simulation with adjoint Jacobians),
            ``"compiled"`` (a traced torch graph, backprop) and ``"qnode"`` (PennyLane's QNode)
            choose one; other devices always run the QNode.
    """

    output_shape: tuple[int, ...] = ()
    _supports_adjoint = True  # adjoint differentiation handles expectation values only
    _probabilities = False  # whether the circuit measures probabilities (one output per basis state)

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
        if isinstance(device, str) and not device.startswith(("ibm:", "fake:")):  # simulated locally
            check_state_fits(self.num_qubits)
        self.spec: DeviceSpec = resolve_device(device, self.num_qubits, shots, device_options)
        # a device given by name is made again after unpickling (simulators' states do not pickle)
        self._device_request = (device, shots, device_options) if isinstance(device, str) else None
        self._diff_method = diff_method or self.spec.diff_method
        self._broadcast_expand = self.spec.broadcast_expand
        if self._diff_method == "adjoint" and not self._supports_adjoint:
            self._diff_method, self._broadcast_expand = "parameter-shift", True
        if self._diff_method not in ("backprop", "adjoint"):
            self._broadcast_expand = True
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}; got {engine!r}.")
        exact = self.spec.label == "default.qubit" and self.spec.shots is None
        if engine in ("adjoint", "compiled") and not exact:
            raise ValueError(
                f"engine {engine!r} needs device 'default.qubit' with shots=None (exact simulation); "
                f"got device {self.spec.label!r} with shots={self.spec.shots}."
            )
        if engine == "adjoint" and self.num_qubits > MAX_QUBITS:
            raise ValueError(
                f"engine 'adjoint' takes at most {MAX_QUBITS} qubits; got num_qubits={self.num_qubits}.")
        small = self.num_qubits <= (MAX_QUBITS_PROBABILITIES if self._probabilities else MAX_QUBITS)
        self._paths: list = []  # the exact fast paths still in play, the preferred one first
        if engine == "adjoint" or (engine == "auto" and exact and small and diff_method is None):
            self._paths.append(AdjointCircuit(self))
        if engine == "compiled" or (engine == "auto" and exact and diff_method in (None, "backprop")):
            self._paths.append(CompiledCircuit(self))
        self._required = engine if engine in ("adjoint", "compiled") else None
        self.engine_fallback: str | None = None
        """str or None: why the preferred path was abandoned for the next one, if it was."""

    @property
    def num_inputs(self) -> int:
        """int: the number of input features."""
        return self.feature_map.num_params

    @property
    def num_weights(self) -> int:
        """int: the number of trainable weights."""
        return self.ansatz.num_params

    @property
    def differentiable_twice(self) -> bool:
        """bool: whether every path gives correct higher derivatives (exact ``default.qubit`` with
        backprop: the compiled graph and the QNode are plain torch graphs)."""
        return self._diff_method == "backprop" and self.spec.shots is None

    @property
    def shots(self) -> int | None:
        """int or None: the shots the QNode runs with."""
        return self.spec.shots

    def circuit(self, inputs, weight):
        """Queue feature map and ansatz and return the measurement (the QNode's function)."""
        wires = list(range(self.num_qubits))
        # blocks without parameters are applied too: their gates are fixed, not absent
        self.feature_map.apply(inputs, wires)
        self.ansatz.apply(weight, wires)
        return self._measure()

    def queued(self, inputs, weight) -> tuple[list, list]:
        """The circuit's operations and measurements, queued without a QNode (and without the
        templates' value checks, so that traced tensors pass)."""
        with PENNYLANE_LOCK, qml.queuing.AnnotatedQueue() as queue, skip_value_checks():
            measurements = self.circuit(inputs, weight)
        ops = [item for item in queue.queue if isinstance(item, qml.operation.Operator)]
        if not isinstance(measurements, (list, tuple)):
            measurements = [measurements]
        return ops, list(measurements)

    def _measure(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _output_size(self) -> int:
        return int(np.prod(self.output_shape, dtype=np.int64))

    def postprocess(self, result: torch.Tensor) -> torch.Tensor:
        """Map the QNode result ``(batch, k)`` to ``(batch, prod(output_shape))``."""
        return result

    @cached_property
    def qnode(self) -> qml.QNode:
        """qml.QNode: ``qnode(inputs, weight)`` on the resolved device, torch interface."""

        # sampled devices: one backward sweep per output re-requests the same shifted circuits;
        # a bounded cache serves the repeats without running them again
        cache = _ResultCache(maxsize=50_000) if self._broadcast_expand else True
        qnode = qml.QNode(
            self.circuit, self.spec.device, interface="torch", diff_method=self._diff_method,
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
        """str: ``"adjoint"``, ``"compiled"`` or ``"qnode"``, the path the next call takes."""
        paths = self._paths  # one read: another thread may replace the list
        return paths[0].name if paths else "qnode"

    def _drop(self, path, err: CompilationError) -> None:
        """Give up ``path`` after ``err`` (re-raised if the user asked for that path)."""
        with PENNYLANE_LOCK:  # two threads may fail on the same path at once: warn once
            dropped = path in self._paths
            if dropped:
                self._paths = [p for p in self._paths if p is not path]  # readers iterate a copy
        if self._required == path.name:
            raise err
        if not dropped:
            return
        following = self.engine + " path" if self.engine != "qnode" else "QNode"
        warnings.warn(f"{type(self).__name__}: {path.name} path unavailable, using the {following} ({err})",
                      RuntimeWarning, stacklevel=3)
        self.engine_fallback = str(err)

    def evaluate(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Outputs ``(batch, prod(output_shape))`` for float64 inputs ``(batch, num_inputs)`` and
        weights ``(num_weights,)`` or ``(batch, num_weights)``; differentiable by autograd when
        grad mode is on and ``x`` or ``weight`` requires grad."""
        needs_graph = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
        if x.shape[0] == 0:  # an empty batch runs no engine and changes no state
            empty = x.new_zeros(0, self._output_size(), dtype=torch.float64)
            return empty + 0.0 * (x.sum() + weight.sum()) if needs_graph else empty
        for path in list(self._paths):
            if needs_graph and path.name == "adjoint":
                continue  # NumPy values carry no graph: the next path provides it
            try:
                if path.name == "adjoint":
                    return torch.from_numpy(path(x, weight)[0])
                return self.postprocess(path(x, weight))
            except CompilationError as err:
                self._drop(path, err)
        with PENNYLANE_LOCK, self.expected_warnings_silenced():  # QNode execution is not thread-safe
            result = self.qnode(inputs=x, weight=weight)
        if isinstance(result, (list, tuple)):
            result = torch.stack([torch.as_tensor(r) for r in result], dim=-1)
        return self.postprocess(result.reshape(x.shape[0], -1))

    def differentiate(self, x: torch.Tensor, weight: torch.Tensor, want_x: bool = True, want_w: bool = True):
        """Outputs and per-sample Jacobians, as qiskit-machine-learning's ``backward`` gives them.

        Args:
            x (torch.Tensor): float64 inputs ``(batch, num_inputs)``.
            weight (torch.Tensor): float64 weights ``(num_weights,)``.
            want_x (bool): whether the input Jacobian is wanted.
            want_w (bool): whether the weight Jacobian is wanted.

        Returns:
            tuple: the outputs ``(batch, K)`` (detached) and a function returning the list of
            wanted Jacobians, ``(batch, K, num_inputs)`` then ``(batch, K, num_weights)``. The
            adjoint path has them already; otherwise they are taken by autograd when asked for.
        """
        if x.shape[0] == 0:  # an empty batch runs no engine and changes no state
            size = self._output_size()
            wanted = [torch.zeros(0, size, t.shape[-1], dtype=torch.float64)
                      for t, want in ((x, want_x), (weight, want_w)) if want]
            return torch.zeros(0, size, dtype=torch.float64), lambda: wanted
        for path in list(self._paths):
            if path.name != "adjoint":
                break
            try:
                out, jac = path(x, weight, jacobian=True)
            except CompilationError as err:
                self._drop(path, err)
                continue
            split = x.shape[-1]
            parts = ((jac[..., :split], want_x), (jac[..., split:], want_w))
            wanted = [torch.from_numpy(j) for j, want in parts if want]
            return torch.from_numpy(out), lambda: wanted
        batch = x.shape[0]
        x = x.detach().requires_grad_(want_x)
        w = weight.detach()
        if want_w:
            # one copy of the weights per sample, so that each sample gets its own Jacobian row
            w = (w.expand(batch, -1).clone() if batch > 1 else w).requires_grad_(True)
        with torch.enable_grad():
            out = self.evaluate(x, w)
        if self.engine == "compiled":  # a plain torch graph: its backward needs no lock
            return out.detach(), lambda: _jacobians(self, out, x, w, want_x, want_w)

        def jacobians():  # the QNode's backward may run circuits (parameter-shift)
            with PENNYLANE_LOCK:
                return _jacobians(self, out, x, w, want_x, want_w)

        return out.detach(), jacobians

    def forward(self, inputs, weights) -> np.ndarray:
        """Evaluate without gradients in float64, NumPy in and out (like qiskit-machine-learning's).

        Args:
            inputs (array_like or None): shape ``(num_inputs,)`` or ``(batch, num_inputs)``;
                ``None`` for a network without inputs.
            weights (array_like or None): shape ``(num_weights,)``; ``None`` for a network
                without weights.

        Returns:
            numpy.ndarray: shape ``(batch, *output_shape)`` (a 1-D input counts as batch 1).

        Raises:
            ValueError: if ``inputs`` or ``weights`` have the wrong shape or non-finite values.
            TypeError: if ``inputs`` or ``weights`` hold complex or bool values.
        """
        check_real(inputs, "inputs")
        check_real(weights, "weights")
        x = torch.as_tensor(np.atleast_2d(self._array("inputs", inputs, self.num_inputs)))
        w = torch.as_tensor(self._array("weights", weights, self.num_weights).reshape(-1))
        if w.shape != (self.num_weights,):
            raise ValueError(f"weights must have shape ({self.num_weights},) (the network's num_weights); "
                             f"got shape {tuple(w.shape)}.")
        if x.ndim != 2 or x.shape[-1] != self.num_inputs:
            raise ValueError(f"inputs must have shape (num_inputs,) or (batch, num_inputs) with num_inputs="
                             f"{self.num_inputs}; got shape {tuple(x.shape)}.")
        with torch.no_grad():
            out = self.evaluate(x, w)
        return out.numpy().reshape(x.shape[0], *self.output_shape)

    @staticmethod
    def _array(name: str, values, size: int) -> np.ndarray:
        """``values`` as a finite float64 array; ``None`` stands for an empty one when ``size`` is 0."""
        if values is None:
            if size:
                raise ValueError(f"{name} must be given: the network has {size}; got None.")
            return np.zeros(0)
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        array = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} must be finite; got NaN or infinite values.")
        return array

    # ------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict:
        # the QNode and the fast paths' compiled programs are caches: rebuilt after unpickling
        # and a device given by name is resolved again from that name
        state = self.__dict__.copy()
        state.pop("qnode", None)
        state["_paths"] = [type(path) for path in self._paths]
        if self._device_request is not None:
            del state["spec"]
        return state

    def __setstate__(self, state: dict) -> None:
        paths = state.pop("_paths")
        self.__dict__.update(state)
        if "spec" not in state:
            self.spec = resolve_device(*self._device_request[:1], self.num_qubits, *self._device_request[1:])
        self._paths = [cls(self) for cls in paths]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_qubits={self.num_qubits}, feature_map={self.feature_map.name}, "
            f"ansatz={self.ansatz.name}, device={self.spec.label!r}, shots={self.spec.shots}, "
            f"engine={self.engine!r})"
        )
