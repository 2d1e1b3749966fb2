"""The common part of both QNN kinds: circuit assembly, shapes, device and the engine chain."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import pennylane as qml
import torch

from ..circuits import PENNYLANE_LOCK, CircuitDescription
from ..devices import DeviceSpec, device_request, resolve_device
from ..engines import ALIASES, AUTO_MAX_QUBITS, MAX_QUBITS, MAX_QUBITS_PROBABILITIES, Engine, EngineUnavailable
from ..engines.torch_adjoint import MAX_OUTPUTS as TORCH_ADJOINT_MAX_OUTPUTS
from ..engines import ENGINES as ENGINE_CLASSES
from ..templates import RealAmplitudes, ZZFeatureMap
from .blocks import CircuitBlock, resolve_block, whole_circuit
from .memory import check_budget, check_state_fits, chunk_size

__all__ = ["ENGINES", "PRECISIONS", "QuantumNeuralNetwork"]

ENGINES = ("auto", *ALIASES)
"""tuple[str, ...]: the values of the ``engine`` argument (see :mod:`qnn_torch.engines`)."""

PRECISIONS = {"double": torch.float64, "single": torch.float32}
"""dict: the values of the ``precision`` argument and the real dtype each computes in."""


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


def _is_quantum_circuit(obj) -> bool:
    """Whether ``obj`` is a Qiskit ``QuantumCircuit`` (without importing Qiskit for anything else)."""
    return any(c.__name__ == "QuantumCircuit" and c.__module__.startswith("qiskit") for c in type(obj).__mro__)


class QuantumNeuralNetwork:
    """Feature map then ansatz on ``num_qubits`` wires, measured by a subclass.

    Subclasses set ``output_shape`` and implement :meth:`_measure` (the QNode's return value);
    a subclass whose outputs are a linear map of the measured ones sets ``_head`` to its matrix.
    The network hands its engines a :class:`~qnn_torch.circuits.CircuitDescription` and runs
    the first engine of its chain (see :mod:`qnn_torch.engines`).

    Args:
        num_qubits (int): number of qubits; wire ``i`` plays Qiskit's qubit ``i``.
        feature_map: template class, partial or ``fn(params, wires)``; default
            :class:`~qnn_torch.ZZFeatureMap` (reps=2).
        ansatz: template class, partial or ``fn(params, wires)``; default
            :class:`~qnn_torch.RealAmplitudes` (reps=3).
        circuit (Callable or QuantumCircuit or None): instead of ``feature_map`` and ``ansatz``,
            one function ``fn(inputs, weights)`` queuing the whole circuit on wires
            ``0..num_qubits-1``, for circuits that interleave inputs and weights (data
            re-uploading, trainable input scaling ``qml.RY(weights[..., k] * inputs[..., i],
            wires=i)``); needs ``num_inputs`` and ``num_weights``. Index as ``[..., i]`` so that
            batches pass through. Or a Qiskit ``QuantumCircuit`` with ``input_params`` and
            ``weight_params``, as in qiskit-machine-learning (``num_qubits`` may then be left out).
        input_params (Sequence[Parameter] or None): a Qiskit circuit's input parameters, in order.
        weight_params (Sequence[Parameter] or None): a Qiskit circuit's weight parameters, in order.
        input_gradients (bool or None): whether gradients flow to the inputs (and so to earlier
            layers). ``None``: True, except for a Qiskit circuit, where it is False as in
            qiskit-machine-learning (a warning says so when an input asks for a gradient).
        num_inputs (int or None): parameter count of a plain-function feature map.
        num_weights (int or None): parameter count of a plain-function ansatz.
        device: see :func:`qnn_torch.devices.resolve_device`.
        shots (int or None): ``None`` for exact results.
        diff_method (str or None): override the automatic choice of differentiation method.
        device_options (dict or None): keyword arguments for the device, e.g. for IBM backends
            ``{"session": session, "optimization_level": 3, "resilience_level": 1}``.
        engine (str): how exact ``default.qubit`` runs. ``"auto"`` (default) takes the fastest
            engine that can run the circuit: ``"adjoint"`` up to 6 qubits (5 for probabilities),
            else ``"torch-adjoint"``, else ``"compiled"``, else the QNode. ``"adjoint"`` (the
            NumPy adjoint engine), ``"torch-adjoint"`` (fused gate blocks in torch, adjoint
            sweep), ``"compiled"`` (the traced torch engine, backprop) and ``"qnode"``
            (PennyLane's QNode) choose one; other devices always run the QNode.
        memory_budget (int or None): bytes one call may use for its state vectors and the
            engine's cached programs; a larger batch runs in chunks (identical results), and a
            call of which not even one sample fits is refused with a ValueError. ``None``
            (default): half the memory available on the device the engine computes on, at the
            time of the call. See
            :meth:`~qnn_torch.engines.Engine.bytes_per_sample`.
        precision (str): ``"double"`` (default; complex128 states) or ``"single"`` (complex64
            states where the engine supports them: the compiled engine, on exact
            ``default.qubit``; the others compute in double precision). Single precision halves
            the memory of a state and costs about ``1e-6`` in outputs and gradients for the
            tutorial's circuits and at 12 qubits (see README, "GPUs, precision and memory").

    **Devices of tensors.** Inputs and weights on a CUDA device stay there when an engine
    computes on that device (:attr:`~qnn_torch.engines.Engine.devices`: the torch engines);
    a call takes the first engine of the chain that does. Otherwise they are copied to the CPU
    for the engine and the results copied back: outputs and Jacobians are always on the inputs'
    device.
    """

    output_shape: tuple[int, ...] = ()
    _supports_adjoint_diff = True  # PennyLane's diff_method="adjoint" handles expectation values only
    _probabilities = False  # whether the circuit measures probabilities (one output per basis state)
    _head = None  # torch.Tensor or None: a matrix applied to the measured outputs (SamplerQNN's interpret)

    def __init__(
        self,
        num_qubits: int | None = None,
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
        circuit=None,
        input_params=None,
        weight_params=None,
        input_gradients: bool | None = None,
        memory_budget: int | None = None,
        precision: str = "double",
    ):
        self.qiskit_circuit = None
        """QuantumCircuit or None: the Qiskit circuit the network was built from, if it was."""
        self.input_params: list | None = None
        """list[Parameter] or None: the Qiskit circuit's input parameters (None for other forms)."""
        self.weight_params: list | None = None
        """list[Parameter] or None: the Qiskit circuit's weight parameters (None for other forms)."""
        self._converted = None  # the QiskitCircuit converted from a Qiskit circuit, if any
        if _is_quantum_circuit(circuit):  # qiskit-machine-learning's form
            from ..circuits.qiskit_circuit import QiskitCircuit

            if num_qubits is None:
                num_qubits = circuit.num_qubits
            elif num_qubits != circuit.num_qubits:
                raise ValueError(f"num_qubits must be the circuit's {circuit.num_qubits} qubits (or None); "
                                 f"got {num_qubits!r}.")
            self.qiskit_circuit = circuit
            converted = QiskitCircuit(circuit, input_params=input_params, weight_params=weight_params)
            self._converted = converted
            circuit, num_inputs, num_weights = converted, converted.num_inputs, converted.num_weights
            self.input_params = list(input_params or [])
            self.weight_params = list(weight_params or [])
        elif input_params is not None or weight_params is not None:
            raise ValueError("input_params and weight_params name the parameters of a Qiskit QuantumCircuit "
                             f"given as circuit=; got them with circuit={circuit!r}.")
        if isinstance(num_qubits, bool) or not isinstance(num_qubits, Integral) or num_qubits < 1:
            raise ValueError(f"num_qubits must be a positive integer; got {num_qubits!r}.")
        self.num_qubits = int(num_qubits)
        if input_gradients is not None and not isinstance(input_gradients, bool):
            raise TypeError(f"input_gradients must be True, False or None; got {input_gradients!r}.")
        # qiskit-machine-learning's networks compute no input gradients unless asked; ours always did
        self.input_gradients: bool = (self.qiskit_circuit is None) if input_gradients is None else input_gradients
        self._body = None
        if circuit is not None:  # one function of inputs and weights: no feature map / ansatz split
            self._body, self.feature_map, self.ansatz = whole_circuit(
                circuit, num_inputs, num_weights, feature_map, ansatz)
        else:
            self.feature_map: CircuitBlock = resolve_block(
                ZZFeatureMap if feature_map is None else feature_map,
                self.num_qubits, num_inputs, "feature_map", "num_inputs",
            )
            self.ansatz: CircuitBlock = resolve_block(
                RealAmplitudes if ansatz is None else ansatz,
                self.num_qubits, num_weights, "ansatz", "num_weights",
            )
        self.memory_budget = memory_budget  # validated by the property
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be 'double' or 'single'; got {precision!r}.")
        self.precision: str = precision
        """str: ``"double"`` or ``"single"`` (see the class docstring)."""
        if isinstance(device, str) and not device.startswith(("ibm:", "fake:")):  # simulated locally
            check_state_fits(self.num_qubits)
        self.spec: DeviceSpec = resolve_device(device, self.num_qubits, shots, device_options)
        # a device given by name or as a Qiskit backend is made again after unpickling (simulators'
        # states do not pickle; an IBM backend is saved by name, never with its service or account)
        self._device_request = device_request(device, shots, device_options)
        self._diff_method = diff_method or self.spec.diff_method
        self._broadcast_expand = self.spec.broadcast_expand
        if self._diff_method == "adjoint" and not self._supports_adjoint_diff:
            self._diff_method, self._broadcast_expand = "parameter-shift", True
        if self._diff_method not in ("backprop", "adjoint"):
            self._broadcast_expand = True
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}; got {engine!r}.")
        exact = self.spec.label == "default.qubit" and self.spec.shots is None
        if precision == "single" and not exact:
            raise ValueError(
                f"precision='single' needs device 'default.qubit' with shots=None (its compiled engine "
                f"computes in complex64); got device {self.spec.label!r} with shots={self.spec.shots}. "
                "Lightning devices take device_options={'c_dtype': numpy.complex64} instead."
            )
        if engine not in ("auto", "qnode") and not exact:
            raise ValueError(
                f"engine {engine!r} needs device 'default.qubit' with shots=None (exact simulation); "
                f"got device {self.spec.label!r} with shots={self.spec.shots}."
            )
        if engine == "adjoint" and self.num_qubits > MAX_QUBITS:
            raise ValueError(
                f"engine 'adjoint' takes at most {MAX_QUBITS} qubits; got num_qubits={self.num_qubits}.")
        small = self.num_qubits <= (MAX_QUBITS_PROBABILITIES if self._probabilities else AUTO_MAX_QUBITS)
        chain = []  # engine names, the preferred one first; the QNode always comes last
        if engine == "adjoint" or (engine == "auto" and exact and small and diff_method is None):
            chain.append("numpy-adjoint")
        if engine == "torch-adjoint" or (engine == "auto" and exact and diff_method in (None, "adjoint")):
            chain.append("torch-adjoint")
        if engine == "compiled" or (engine == "auto" and exact and diff_method in (None, "backprop")):
            chain.append("torch-traced")
        self._chain: tuple[str, ...] = (*chain, "qnode")  # the engines still in play
        self._required = ALIASES[engine] if engine not in ("auto", "qnode") else None
        self._engines: dict[str, Engine] = {}  # built on first use
        self.engine_fallback: str | None = None
        """str or None: why the preferred engine was abandoned for the next one, if it was."""

    @property
    def memory_budget(self) -> int | None:
        """int or None: bytes one call may use for its state vectors (None: half the memory
        available on the device the engine computes on); settable."""
        return self._memory_budget

    @memory_budget.setter
    def memory_budget(self, value) -> None:
        self._memory_budget = check_budget(value)

    @property
    def dtype(self) -> torch.dtype:
        """torch.dtype: the real dtype of :attr:`precision` (float64 or float32)."""
        return PRECISIONS[self.precision]

    @property
    def simulated_locally(self) -> bool:
        """bool: whether the state vectors live in this process (not on IBM hardware or a fake
        IBM backend), so that memory budgets apply."""
        return not self.spec.label.startswith(("ibm:", "fake:", "backend:"))

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

    @property
    def circuit(self):
        """The circuit: the Qiskit ``QuantumCircuit`` for a network built from one (as
        qiskit-machine-learning's ``circuit``), else :meth:`qfunc`, the function that queues it."""
        return self.qiskit_circuit if self.qiskit_circuit is not None else self.qfunc

    def qfunc(self, inputs, weight):
        """Queue feature map and ansatz and return the measurement (the QNode's function)."""
        if self._body is not None:
            self._body(inputs, weight)
            return self._measure()
        wires = list(range(self.num_qubits))
        # blocks without parameters are applied too: their gates are fixed, not absent
        self.feature_map.apply(inputs, wires)
        self.ansatz.apply(weight, wires)
        return self._measure()

    @property
    def description(self) -> CircuitDescription:
        """CircuitDescription: the circuit as the engines see it."""
        return CircuitDescription(
            num_qubits=self.num_qubits, num_inputs=self.num_inputs, num_weights=self.num_weights,
            circuit=self.qfunc, probabilities=self._probabilities, head=self._head,
            output_size=self._output_size(),
        )

    def queued(self, inputs, weight) -> tuple[list, list]:
        """The circuit's operations and measurements, queued without a QNode (and without the
        templates' value checks, so that traced tensors pass)."""
        return self.description.queue(inputs, weight)

    def _measure(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _output_size(self) -> int:
        return int(np.prod(self.output_shape, dtype=np.int64))

    def _engine(self, name: str) -> Engine:
        """The engine ``name`` of :data:`qnn_torch.engines.ENGINES`, built on first use."""
        engine = self._engines.get(name)
        if engine is None:
            with PENNYLANE_LOCK:  # two threads: one engine
                engine = self._engines.get(name)
                if engine is None:
                    cls = ENGINE_CLASSES[name]
                    if name == "qnode":  # the one engine that runs on the device
                        engine = cls(self.description, self.spec, self._diff_method, self._broadcast_expand)
                    else:
                        engine = cls(self.description)
                    self._engines[name] = engine
        return engine

    @property
    def device(self):
        """The PennyLane device the network runs on, e.g. for ``qml.Tracker(qnn.device)``.

        The QNode runs on it, and the fast engines of exact ``default.qubit`` (which compute
        without it) report their calls to its tracker as PennyLane's simulators do:
        ``batches``, ``simulations``, ``executions`` (one per sample), ``results`` and
        ``resources`` for a forward pass; ``execute_and_derivative_batches`` and
        ``derivatives`` for one with Jacobians; ``vjp_batches`` and ``vjps`` for a backward
        pass by one vector-Jacobian sweep.
        """
        return self.spec.device

    def _tracker(self, engine: Engine):
        """The active ``qml.Tracker`` of the network's device when ``engine`` computes without
        the device (which then does not see the call), else None."""
        tracker = getattr(self.spec.device, "tracker", None)
        if tracker is None or not tracker.active or engine.runs_on_device:
            return None
        return tracker

    def _resources(self):
        """The circuit's gate and measurement counts as ``qml.specs`` gives them (once)."""
        if getattr(self, "_specs_resources", None) is None:
            c = self.description
            with PENNYLANE_LOCK:
                ops, measurements = c.queue(torch.zeros(1, c.num_inputs, dtype=torch.float64),
                                            torch.zeros(c.num_weights, dtype=torch.float64))
                tape = qml.tape.QuantumScript(ops, measurements)
                self._specs_resources = tape.specs["resources"]
        return self._specs_resources

    def _track(self, engine: Engine, batch: int, out: torch.Tensor | None = None,
               kind: str = "values") -> None:
        """Report one engine call on ``batch`` samples to the device's ``qml.Tracker``, if one is
        active: ``kind`` is ``"values"``, ``"jacobians"`` (values with Jacobians) or ``"vjp"``."""
        tracker = self._tracker(engine)
        if tracker is None:
            return
        if kind == "vjp":
            tracker.update(vjp_batches=1, vjps=batch)
        elif kind == "jacobians":
            tracker.update(resources=self._resources())
            tracker.update(execute_and_derivative_batches=1, executions=batch, derivatives=batch)
        else:
            tracker.update(batches=1)
            tracker.record()
            results = None if out.is_meta else out.detach().cpu().numpy()  # meta tensors hold no values
            tracker.update(simulations=1, executions=batch, results=results, resources=self._resources())
        tracker.record()

    @property
    def qnode(self) -> qml.QNode:
        """qml.QNode: ``qnode(inputs, weight)`` on the resolved device, torch interface."""
        return self._engine("qnode").qnode

    @property
    def engine(self) -> str:
        """str: ``"adjoint"``, ``"torch-adjoint"``, ``"compiled"`` or ``"qnode"``, the ``engine=``
        value of the engine the next call takes (a call that needs an autograd graph, for second
        derivatives, skips the adjoint engines)."""
        return ENGINE_CLASSES[self._engines_in_play()[0]].label

    def _engines_in_play(self) -> tuple[str, ...]:
        """The chain (one read: another thread may replace it), without the torch adjoint engine
        when ``"auto"`` chose it and the outputs are too many bras for its sweep (probabilities of
        a large register without ``interpret``; known only once the subclass set its outputs)."""
        chain = self._chain
        if self._required != "torch-adjoint" and self._output_size() > TORCH_ADJOINT_MAX_OUTPUTS:
            return tuple(name for name in chain if name != "torch-adjoint")
        return chain

    def _drop(self, name: str, err: EngineUnavailable) -> None:
        """Give up engine ``name`` after ``err`` (re-raised if the user asked for that engine)."""
        with PENNYLANE_LOCK:  # two threads may fail on the same engine at once: warn once
            dropped = name in self._chain
            if dropped:
                self._chain = tuple(n for n in self._chain if n != name)  # readers keep their copy
        if self._required == name:
            raise err
        if not dropped:
            return
        following = self.engine + " path" if self.engine != "qnode" else "QNode"
        warnings.warn(f"{type(self).__name__}: {ENGINE_CLASSES[name].label} path unavailable, using the "
                      f"{following} ({err})", RuntimeWarning, stacklevel=3)
        self.engine_fallback = str(err)

    def _order(self, names: list[str], device: torch.device) -> list[str]:
        """``names`` with the engines that compute on ``device`` first (in chain order)."""
        if device.type == "cpu":  # every engine computes on the CPU
            return names

        def on_device(name):
            try:
                return self._engine(name).supports_device(device)
            except EngineUnavailable:  # refused at construction: dropped when it is tried
                return False

        first = [n for n in names if on_device(n)]
        return first + [n for n in names if n not in first]

    def _placed(self, engine: Engine, x: torch.Tensor, weight: torch.Tensor):
        """``x`` and ``weight`` where and as ``engine`` computes: on their device if it supports
        it, else on the CPU; in the network's precision if the engine has it, else float64."""
        if weight.device != x.device:
            raise ValueError(f"weight must be on the inputs' device {x.device}; got weight on "
                             f"{weight.device}. Move both (model.to(device) moves a TorchConnector's weight).")
        device = x.device if engine.supports_device(x.device) else torch.device("cpu")
        if device != x.device and x.device.type == "meta":
            raise ValueError(
                f"inputs on the 'meta' device hold no data, and the {engine.label!r} engine computes on the "
                "CPU only: use engine='compiled' on default.qubit for meta tensors (shape checks).")
        dtype = self.dtype if self.dtype in engine.dtypes else torch.float64
        return x.to(device=device, dtype=dtype), weight.to(device=device, dtype=dtype)

    def _chunk(self, engine: Engine, x: torch.Tensor, call: str) -> int:
        """The most samples of ``x`` (already placed for ``engine``) one call of it may take."""
        per_sample = engine.bytes_per_sample(x.dtype, call) if self.simulated_locally else 0
        return chunk_size(x.shape[0], per_sample, self._memory_budget, x.device, self.num_qubits,
                          engine.label, engine.cache_bytes() if per_sample else 0)

    @staticmethod
    def _pieces(x: torch.Tensor, weight: torch.Tensor, size: int):
        """``(x, weight)`` in chunks of ``size`` samples (batched weights split with them)."""
        for start in range(0, x.shape[0], size):
            stop = start + size
            yield x[start:stop], (weight if weight.ndim == 1 else weight[start:stop])

    def evaluate(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Outputs ``(batch, prod(output_shape))`` for real inputs ``(batch, num_inputs)`` and
        weights ``(num_weights,)`` or ``(batch, num_weights)``; differentiable by autograd when
        grad mode is on and ``x`` or ``weight`` requires grad.

        The outputs are on ``x``'s device, float64 (float32 where an engine computed in single
        precision). A batch larger than the memory budget runs in chunks; note that an autograd
        graph of every chunk is kept until it is used, so the budget bounds the memory of calls
        without a graph and of :meth:`differentiate`.
        """
        needs_graph = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
        if x.shape[0] == 0:  # an empty batch runs no engine and changes no state
            empty = x.new_zeros(0, self._output_size(), dtype=torch.float64)
            return empty + 0.0 * (x.sum() + weight.sum()) if needs_graph else empty
        names = [n for n in self._engines_in_play() if not (needs_graph and not ENGINE_CLASSES[n].builds_graph)]
        # (an engine without a graph is skipped: its values carry none, the next one provides it)
        for name in self._order(names, x.device):
            try:
                engine = self._engine(name)
                xe, we = self._placed(engine, x, weight)
                size = self._chunk(engine, xe, "graph" if needs_graph else "values")
                if size >= xe.shape[0]:
                    out = engine.values(xe, we)
                else:
                    out = torch.cat([engine.values(xc, wc) for xc, wc in self._pieces(xe, we, size)])
                self._track(engine, xe.shape[0], out)
                return out.to(x.device)
            except EngineUnavailable as err:
                self._drop(name, err)
        raise AssertionError("the QNode engine never hands over")  # pragma: no cover

    def differentiate(self, x: torch.Tensor, weight: torch.Tensor, want_x: bool = True,
                      want_w: bool = True) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Outputs and per-sample Jacobians, as qiskit-machine-learning's ``backward`` gives them.

        Args:
            x (torch.Tensor): real inputs ``(batch, num_inputs)``.
            weight (torch.Tensor): real weights ``(num_weights,)`` on ``x``'s device.
            want_x (bool): whether the input Jacobian is wanted.
            want_w (bool): whether the weight Jacobian is wanted.

        Returns:
            tuple: the outputs ``(batch, K)`` (detached) and the list of wanted Jacobians,
            ``(batch, K, num_inputs)`` then ``(batch, K, num_weights)``, on ``x``'s device, float64
            (float32 where an engine computed in single precision). A batch larger than the memory
            budget runs in chunks, with identical results.

        Raises:
            ValueError: if not even one sample fits in the memory budget (the message names
                ``num_qubits``, the batch and the memory it would need), or ``weight`` is on
                another device than ``x``.
        """
        if x.shape[0] == 0:  # an empty batch runs no engine and changes no state
            size = self._output_size()
            wanted = [torch.zeros(0, size, t.shape[-1], dtype=torch.float64, device=x.device)
                      for t, want in ((x, want_x), (weight, want_w)) if want]
            return torch.zeros(0, size, dtype=torch.float64, device=x.device), wanted
        for name in self._order(list(self._engines_in_play()), x.device):
            try:
                engine = self._engine(name)
                xe, we = self._placed(engine, x, weight)
                size = self._chunk(engine, xe, "jacobians")
                if size >= xe.shape[0]:
                    out, jacobians = engine.values_and_jacobians(xe, we, want_x, want_w)
                else:
                    parts = [engine.values_and_jacobians(xc, wc, want_x, want_w)
                             for xc, wc in self._pieces(xe, we, size)]
                    out = torch.cat([p[0] for p in parts])
                    jacobians = [torch.cat(js) for js in zip(*(p[1] for p in parts))]
                self._track(engine, xe.shape[0], kind="jacobians")
                return out.to(x.device), [j.to(x.device) for j in jacobians]
            except EngineUnavailable as err:
                self._drop(name, err)
        raise AssertionError("the QNode engine never hands over")  # pragma: no cover

    def forward_for_vjp(self, x: torch.Tensor, weight: torch.Tensor):
        """``(outputs, saved)`` from the engine in play when it computes vector-Jacobian products
        itself (``Engine.supports_vjp``), for :meth:`vjp` in the backward pass; None when the
        engine in play gives eager Jacobians (:meth:`differentiate`) or the batch is empty.

        Networks with one or two outputs always take eager Jacobians: they cost at most twice a
        vector-Jacobian product, and contracting them in the output's precision reproduces
        qiskit-machine-learning's ``TorchConnector`` to the last bit (the tutorial's numbers)."""
        if x.shape[0] == 0 or self._output_size() <= 2:
            return None
        for name in self._order(list(self._engines_in_play()), x.device):
            if not ENGINE_CLASSES[name].supports_vjp:
                return None
            try:
                engine = self._engine(name)
                xe, we = self._placed(engine, x, weight)
                if self._chunk(engine, xe, "jacobians") < xe.shape[0]:
                    return None  # a batch over the memory budget: chunked eager Jacobians instead
                out, saved = engine.forward_for_vjp(xe, we)
                self._track(engine, xe.shape[0], out)
                return out.to(x.device), (engine, saved, x.device)
            except EngineUnavailable as err:
                self._drop(name, err)
        return None  # pragma: no cover - the QNode engine ends every chain

    def vjp(self, saved, grad_output: torch.Tensor, want_x: bool, want_w: bool) -> list[torch.Tensor]:
        """The gradients ``grad_output^T J`` with respect to the inputs ``(B, I)`` and/or the
        weights ``(P,)`` for ``saved`` from :meth:`forward_for_vjp`."""
        engine, state, device = saved
        grads = engine.vjp(state, grad_output, want_x, want_w)
        self._track(engine, grad_output.shape[0], kind="vjp")
        return [g.to(device) for g in grads]

    def forward(self, input_data, weights) -> np.ndarray:
        """Evaluate without gradients in float64, NumPy in and out (like qiskit-machine-learning's).

        Args:
            input_data (array_like or None): shape ``(num_inputs,)``, ``(batch, num_inputs)`` or
                ``(..., num_inputs)``; a number for a network with one input; ``None`` for a
                network without inputs.
            weights (array_like or None): shape ``(num_weights,)``; ``None`` for a network
                without weights.

        Returns:
            numpy.ndarray: shape ``(batch, *output_shape)`` (a 1-D input counts as batch 1);
            for inputs of more than two dimensions, ``(*input_data.shape[:-1], *output_shape)``.

        Raises:
            ValueError: if ``input_data`` or ``weights`` have the wrong shape or non-finite values.
            TypeError: if ``input_data`` or ``weights`` hold complex or bool values.
        """
        check_real(input_data, "input_data")
        check_real(weights, "weights")
        x, batch = self._rows(input_data)
        w = self._weights(weights)
        with torch.no_grad():
            out = self.evaluate(x, w)
        return out.numpy().astype(np.float64, copy=False).reshape(*batch, *self.output_shape)

    def backward(self, input_data, weights) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Per-sample gradients, NumPy in and out, as qiskit-machine-learning's ``backward``.

        Args:
            input_data (array_like or None): shape ``(num_inputs,)`` or ``(..., num_inputs)``.
            weights (array_like or None): shape ``(num_weights,)``.

        Returns:
            tuple: the input gradients ``(batch, *output_shape, num_inputs)`` (None unless
            ``input_gradients`` and the network has inputs) and the weight gradients
            ``(batch, *output_shape, num_weights)`` (None without weights). For inputs of more than
            one dimension the batch is their leading dimensions.
        """
        check_real(input_data, "input_data")
        check_real(weights, "weights")
        x, batch = self._rows(input_data)
        w = self._weights(weights)
        want_x, want_w = self.input_gradients and self.num_inputs > 0, self.num_weights > 0
        _, jacobians = self.differentiate(x, w, want_x, want_w)
        grads = iter(j.numpy().astype(np.float64, copy=False).reshape(*batch, *self.output_shape, -1)
                     for j in jacobians)
        return (next(grads) if want_x else None), (next(grads) if want_w else None)

    def _rows(self, input_data) -> tuple[torch.Tensor, tuple[int, ...]]:
        """``input_data`` as float64 rows ``(B, num_inputs)`` and the batch shape of the outputs
        (qiskit-machine-learning's: ``(1,)`` for one sample, the leading dimensions otherwise)."""
        raw = self._array("input_data", input_data, self.num_inputs)
        if raw.ndim == 0 and self.num_inputs == 1:  # one number for the one input
            raw = raw.reshape(1)
        if raw.ndim == 0 or raw.shape[-1] != self.num_inputs:
            raise ValueError(f"input_data must have shape (num_inputs,) or (..., num_inputs) with num_inputs="
                             f"{self.num_inputs}; got shape {raw.shape}.")
        batch = raw.shape[:-1] if raw.ndim >= 2 else (1,)
        x = torch.as_tensor(raw.reshape(int(np.prod(batch, dtype=np.int64)), self.num_inputs))
        return x, batch

    def _weights(self, weights) -> torch.Tensor:
        w = torch.as_tensor(self._array("weights", weights, self.num_weights).reshape(-1))
        if w.shape != (self.num_weights,):
            raise ValueError(f"weights must have shape ({self.num_weights},) (the network's num_weights); "
                             f"got shape {tuple(w.shape)}.")
        return w

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
        # the engines (QNode, traced graphs, NumPy programs) are caches: rebuilt after
        # unpickling, and a device given by name is resolved again from that name
        state = self.__dict__.copy()
        state["_engines"] = {}
        state.pop("_specs_resources", None)
        if self._device_request is not None:
            del state["spec"]
        return state

    def __setstate__(self, state: dict) -> None:
        state.setdefault("_memory_budget", None)  # pickled before budgets and precision existed
        state.setdefault("precision", "double")
        self.__dict__.update(state)
        if "spec" not in state:
            self.spec = resolve_device(*self._device_request[:1], self.num_qubits, *self._device_request[1:])

    def __repr__(self) -> str:
        # never raises, also for a network whose construction failed half way (a traceback with
        # locals shows it)
        def part(read):
            try:
                return read()
            except Exception:  # noqa: BLE001 - an attribute not set yet
                return "?"

        return (
            f"{type(self).__name__}(num_qubits={part(lambda: self.num_qubits)}, "
            f"feature_map={part(lambda: self.feature_map.name)}, ansatz={part(lambda: self.ansatz.name)}, "
            f"device={part(lambda: repr(self.spec.label))}, shots={part(lambda: self.spec.shots)}, "
            f"engine={part(lambda: repr(self.engine))})"
        )
