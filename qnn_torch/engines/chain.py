"""The engine chain: the engines that may run a network's circuit, and how each call runs.

A network describes its circuit (:class:`~qnn_torch.circuits.CircuitDescription`) and hands it to
an :class:`EngineChain` with the user's run options. The chain

* **chooses** the engines: ``engine="auto"`` chains every engine of
  :data:`~qnn_torch.engines.registry.ENGINES` that :meth:`~qnn_torch.engines.base.Engine.accepts`
  the circuit, the device and the ``diff_method`` asked for, in their
  :attr:`~qnn_torch.engines.base.Engine.order`; ``engine=<name>`` chains that engine (refused
  at once with a ``ValueError`` when :meth:`~qnn_torch.engines.base.Engine.refusal` says why) and
  makes its :class:`~qnn_torch.engines.errors.EngineUnavailable` an error. The QNode engine ends
  every chain.
* **runs** each call (:meth:`EngineChain.run`) on the first engine in play: a call that needs an
  autograd graph skips engines without one, and a call on tensors outside the CPU takes the
  first engine that computes on their device (:mod:`~qnn_torch.engines.placement`). It places
  the tensors for the engine, splits the batch into chunks that fit the memory budget
  (:mod:`~qnn_torch.engines.memory`), reports the call to ``qml.Tracker``
  (:mod:`~qnn_torch.engines.tracking`) and moves the results to the inputs' device.
* **hands over**: an engine that raises ``EngineUnavailable`` leaves the chain for good, a
  ``RuntimeWarning`` names it and its successor, and :attr:`EngineChain.engine_fallback` keeps
  the reason.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import torch

from ..circuits import PENNYLANE_LOCK, CircuitDescription
from ..devices import DeviceSpec, device_request, resolve_device
from .base import Engine, VJPEngine, exact_simulation
from .errors import EngineUnavailable
from .batches import split_batch
from .memory import check_budget, chunk_size
from .placement import order_for_device, place
from .qnode import QNodeEngine
from .registry import ENGINE_CHOICES, ENGINES
from .saved_tensors import put_tensors, take_tensors
from .tracking import active_tracker, circuit_resources, report

__all__ = ["KINDS", "PRECISIONS", "EngineChain", "PendingVJP"]

PRECISIONS = {"double": torch.float64, "single": torch.float32}
"""dict: the values of the ``precision`` argument and the real dtype each computes in."""

KINDS = ("values", "jacobians", "vjp")
"""tuple[str, ...]: what :meth:`EngineChain.run` computes: outputs (differentiable by autograd on
engines that build graphs), outputs with per-sample Jacobians, or outputs with a
:class:`PendingVJP`."""


@dataclass
class PendingVJP:
    """A vector-Jacobian product waiting for its ``grad_output``: what a :class:`VJPEngine`'s forward
    pass kept (its tensors apart, for ``ctx.save_for_backward``), and where the gradients go."""

    chain: EngineChain
    engine: VJPEngine
    layout: Any  # the engine's saved state, its tensors replaced by slots (saved_tensors.take_tensors)
    tensors: tuple[torch.Tensor, ...] | None
    device: torch.device

    def without_tensors(self) -> PendingVJP:
        """This product without its tensors (saved elsewhere, and given back to :meth:`with_tensors`)."""
        return replace(self, tensors=None)

    def with_tensors(self, tensors) -> PendingVJP:
        """This product with ``tensors`` (those of :attr:`tensors`, as saved and given back)."""
        return replace(self, tensors=tuple(tensors))

    def __call__(self, grad_output: torch.Tensor, want_x: bool, want_w: bool) -> list[torch.Tensor]:
        """The gradients ``grad_output^T J`` with respect to the inputs ``(B, I)`` and/or the
        weights ``(P,)``, on the inputs' device."""
        saved = put_tensors(self.layout, self.tensors)
        grads = self.engine.vjp(saved, grad_output, want_x, want_w)
        self.chain.track(self.engine, "vjp", grad_output.shape[0])
        return [g.to(self.device) for g in grads]


class EngineChain:
    """The engines that may run ``circuit``, the preferred first.

    Args:
        circuit (CircuitDescription): the circuit.
        device: the device (see :func:`qnn_torch.devices.resolve_device`).
        shots (int or None): ``None`` for exact results.
        device_options (dict or None): keyword arguments for the device.
        diff_method (str or None): the user's differentiation method (None: the device's choice).
        engine (str): ``"auto"`` or one engine's name (:data:`~.registry.ENGINE_CHOICES`).
        precision (str): ``"double"`` or ``"single"`` (complex64 states where an engine has them).
        memory_budget (int or None): bytes one call may use (None: half of what is available).
        owner (str): the network's class name, for warnings.

    Raises:
        ValueError: for an unknown ``engine`` or ``precision``, single precision or an engine other
            than ``"auto"`` and ``"qnode"`` on a device without exact simulation, or an engine that
            refuses the circuit.
    """

    def __init__(self, circuit: CircuitDescription, device="default.qubit", *, shots: int | None = None,
                 device_options: dict | None = None, diff_method: str | None = None, engine: str = "auto",
                 precision: str = "double", memory_budget: int | None = None,
                 owner: str = "QuantumNeuralNetwork"):
        self.circuit = circuit
        self.owner = owner
        self.memory_budget = memory_budget  # validated by the property
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be 'double' or 'single'; got {precision!r}.")
        self.precision: str = precision
        self.spec: DeviceSpec = resolve_device(device, circuit.num_qubits, shots, device_options)
        # a device given by name or as a Qiskit backend is made again after unpickling (simulators'
        # states do not pickle; an IBM backend is saved by name, never with its service or account)
        self._device_request = device_request(device, shots, device_options)
        self._diff_method = diff_method
        if engine not in ENGINE_CHOICES:
            raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINE_CHOICES))}; got {engine!r}.")
        if precision == "single" and not exact_simulation(self.spec):
            raise ValueError(
                f"precision='single' needs device 'default.qubit' with shots=None (its compiled engine "
                f"computes in complex64); got device {self.spec.label!r} with shots={self.spec.shots}. "
                "Lightning devices take device_options={'c_dtype': numpy.complex64} instead."
            )
        self._engine_argument = engine  # to choose again for another description (for_circuit)
        self._names: tuple[str, ...] = self._choose(engine)  # the engines still in play
        self._required = None if engine in ("auto", QNodeEngine.name) else engine
        self._engines: dict[str, Engine] = {}  # built on first use
        self._resources = None  # the circuit's resources for qml.Tracker, counted on first use
        self.engine_fallback: str | None = None
        """str or None: why the preferred engine was abandoned for the next one, if it was."""

    def _choose(self, engine: str) -> tuple[str, ...]:
        """The chain's engine names for the ``engine`` argument, the QNode engine last."""
        if engine == "auto":
            names = [name for name, cls in ENGINES.items()
                     if cls.accepts(self.circuit, self.spec, self._diff_method)]
        else:
            refusal = ENGINES[engine].refusal(self.circuit, self.spec)
            if refusal is not None:
                raise ValueError(refusal)
            names = [engine]
        return tuple(dict.fromkeys([*names, QNodeEngine.name]))

    # ------------------------------------------------------------------ what the chain is

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
    def engine(self) -> str:
        """str: the name of the engine the next CPU call takes (a call that needs an autograd graph,
        for second derivatives, skips the engines without one)."""
        return self._names[0]

    @property
    def simulated_locally(self) -> bool:
        """bool: whether the state vectors live in this process (not on IBM hardware or a fake IBM
        backend), so that memory budgets apply."""
        return not self.spec.label.startswith(("ibm:", "fake:", "backend:"))

    @property
    def differentiable_twice(self) -> bool:
        """bool: whether every engine that builds a graph gives correct higher derivatives (exact
        ``default.qubit`` with backprop: the traced graph and the QNode are plain torch graphs)."""
        method, _ = QNodeEngine.diff_method_for(self.circuit, self.spec, self._diff_method)
        return method == "backprop" and self.spec.shots is None

    @property
    def qnode(self):
        """qml.QNode: the QNode engine's ``qnode(inputs, weight)`` on the device."""
        return self.instance(QNodeEngine.name).qnode

    def instance(self, name: str) -> Engine:
        """The engine ``name``, built on first use."""
        engine = self._engines.get(name)
        if engine is None:
            with PENNYLANE_LOCK:  # two threads: one engine
                engine = self._engines.get(name)
                if engine is None:
                    engine = ENGINES[name].build(self.circuit, self.spec, self._diff_method)
                    self._engines[name] = engine
        return engine

    # ------------------------------------------------------------------ running a call

    def run(self, kind: str, x: torch.Tensor, weight: torch.Tensor, want_x: bool = True, want_w: bool = True):
        """Run one call on the first engine in play that can.

        Args:
            kind (str): ``"values"``, ``"jacobians"`` or ``"vjp"`` (:data:`KINDS`).
            x (torch.Tensor): real inputs ``(B, num_inputs)``.
            weight (torch.Tensor): real weights ``(num_weights,)`` or ``(B, num_weights)`` on ``x``'s
                device.
            want_x (bool): whether the input Jacobian is wanted (``"jacobians"``).
            want_w (bool): whether the weight Jacobian is wanted (``"jacobians"``).

        Returns:
            ``"values"``: the outputs ``(B, K)``, differentiable by autograd when grad mode is on
            and ``x`` or ``weight`` requires grad. ``"jacobians"``: the outputs (detached) and the
            list of wanted Jacobians, ``(B, K, num_inputs)`` then ``(B, K, num_weights)``.
            ``"vjp"``: the outputs and a :class:`PendingVJP`, or None when the engine in play has
            no vector-Jacobian product, the call is over the memory budget, the batch is empty or
            the network has at most two outputs (eager Jacobians cost at most twice a product
            then, and contracting them in the output's precision reproduces
            qiskit-machine-learning's ``TorchConnector`` to the last bit). Results are on ``x``'s
            device, float64 (float32 where an engine computed in single precision).

        Raises:
            ValueError: if not even one sample fits in the memory budget, or ``weight`` is on
                another device than ``x``.
        """
        if x.shape[0] == 0:  # an empty batch runs no engine and changes no state
            return self._empty(kind, x, weight, want_x, want_w)
        if kind == "vjp" and self.circuit.output_size <= 2:
            return None
        graph = kind == "values" and torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
        # an engine without a graph is skipped for a graph: its values carry none
        names = [n for n in self._names if ENGINES[n].builds_graph or not graph]
        for name in order_for_device(names, x.device, self.instance):
            if kind == "vjp" and not issubclass(ENGINES[name], VJPEngine):
                return None
            try:
                return self._call(self.instance(name), kind, x, weight, want_x, want_w, graph)
            except EngineUnavailable as err:
                self._drop(name, err)
        return None  # pragma: no cover - the QNode engine ends every chain and never hands over

    def _call(self, engine: Engine, kind: str, x, weight, want_x: bool, want_w: bool, graph: bool):
        """One call of ``engine``: placed, in chunks within the budget, tracked, moved back."""
        xe, we = place(engine, x, weight, self.dtype)
        batch = xe.shape[0]
        call = "graph" if graph else "values" if kind == "values" else "jacobians"
        size = self.chunk_size(engine, xe, call)
        if kind == "vjp":
            if size < batch:
                return None  # a batch over the memory budget: chunked eager Jacobians instead
            out, saved = engine.forward_for_vjp(xe, we)
            self.track(engine, "values", batch, out)
            tensors: list[torch.Tensor] = []
            layout = take_tensors(saved, tensors)
            return out.to(x.device), PendingVJP(self, engine, layout, tuple(tensors), x.device)
        if kind == "values":
            parts = [engine.values(xc, wc) for xc, wc in self._pieces(xe, we, size)]
            out = parts[0] if len(parts) == 1 else torch.cat(parts)
            self.track(engine, "values", batch, out)
            return out.to(x.device)
        parts = [engine.values_and_jacobians(xc, wc, want_x, want_w) for xc, wc in self._pieces(xe, we, size)]
        if len(parts) == 1:
            out, jacobians = parts[0]
        else:
            out = torch.cat([p[0] for p in parts])
            jacobians = [torch.cat(js) for js in zip(*(p[1] for p in parts))]
        self.track(engine, "jacobians", batch)
        return out.to(x.device), [j.to(x.device) for j in jacobians]

    @staticmethod
    def _pieces(x: torch.Tensor, w: torch.Tensor, size: int):
        """The whole batch when it fits, else its chunks."""
        return [(x, w)] if size >= x.shape[0] else split_batch(x, w, size)

    def _empty(self, kind: str, x: torch.Tensor, weight: torch.Tensor, want_x: bool, want_w: bool):
        """The results of an empty batch, in the shapes of :meth:`run`."""
        size = self.circuit.output_size
        if kind == "vjp":
            return None
        empty = torch.zeros(0, size, dtype=torch.float64, device=x.device)
        if kind == "jacobians":
            return empty, [torch.zeros(0, size, t.shape[-1], dtype=torch.float64, device=x.device)
                           for t, want in ((x, want_x), (weight, want_w)) if want]
        if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
            return empty + 0.0 * (x.sum() + weight.sum())  # connected to the inputs' graph
        return empty

    def chunk_size(self, engine: Engine, x: torch.Tensor, call: str) -> int:
        """The most samples of ``x`` (placed for ``engine``) one ``call`` of it may take
        (``"values"``, ``"graph"`` or ``"jacobians"``)."""
        per_sample = engine.bytes_per_sample(x.dtype, call) if self.simulated_locally else 0
        return chunk_size(x.shape[0], per_sample, self._memory_budget, x.device, self.circuit.num_qubits,
                          engine.name, engine.cache_bytes() if per_sample else 0)

    def track(self, engine: Engine, kind: str, batch: int, out: torch.Tensor | None = None) -> None:
        """Report a call of ``engine`` to the device's active ``qml.Tracker``, if any."""
        tracker = active_tracker(self.spec.device, engine)
        if tracker is None:
            return
        if self._resources is None and kind != "vjp":
            self._resources = circuit_resources(self.circuit)
        report(tracker, kind, batch, self._resources, out)

    def _drop(self, name: str, err: EngineUnavailable) -> None:
        """Give up engine ``name`` after ``err`` (re-raised if the user asked for that engine)."""
        with PENNYLANE_LOCK:  # two threads may fail on the same engine at once: warn once
            dropped = name in self._names
            if dropped:
                self._names = tuple(n for n in self._names if n != name)  # readers keep their copy
        if self._required == name:
            raise err
        if dropped:
            warnings.warn(f"{self.owner}: the {name} engine is unavailable, using the {self.engine} engine "
                          f"({err})", RuntimeWarning, stacklevel=4)
            self.engine_fallback = str(err)

    def for_circuit(self, circuit: CircuitDescription) -> EngineChain:
        """This chain (its device, shots, options and memory budget) for another description of the
        same circuit, e.g. another head after ``SamplerQNN.set_interpret``: the engines are chosen
        again for it and built on first use."""
        chain = object.__new__(EngineChain)  # not copy.copy: __getstate__ would drop the device
        chain.__dict__.update(self.__dict__)
        chain.circuit, chain._engines, chain._resources, chain.engine_fallback = circuit, {}, None, None
        chain._names = chain._choose(self._engine_argument)
        return chain

    # ------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict:
        # the engines (QNode, traced graphs, NumPy programs) are caches: rebuilt after unpickling,
        # and a device given by name is resolved again from that name
        state = self.__dict__.copy()
        state["_engines"] = {}
        state["_resources"] = None
        if self._device_request is not None:
            del state["spec"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "spec" not in state:
            device, *options = self._device_request
            self.spec = resolve_device(device, self.circuit.num_qubits, *options)
