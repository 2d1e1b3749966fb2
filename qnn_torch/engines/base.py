"""The engine contract: what every way of running a QNN's circuit provides.

An engine is built from a :class:`~qnn_torch.circuits.CircuitDescription` (never from the QNN)
and answers two questions about a batch of inputs ``x`` ``(B, num_inputs)`` and weights ``w``
``(num_weights,)`` or ``(B, num_weights)``, tensors of one dtype on one device:

* :meth:`Engine.values` -- the outputs ``(B, K)``; differentiable by autograd when the class says
  :attr:`Engine.builds_graph` and grad mode is on.
* :meth:`Engine.values_and_jacobians` -- the outputs (detached) and, eagerly, the wanted
  per-sample Jacobians ``(B, K, num_inputs)`` then ``(B, K, num_weights)``.

An engine of :class:`VJPEngine` also gives vector-Jacobian products: a forward pass that keeps
what a backward pass needs, and the gradients ``grad_output^T J`` once ``grad_output`` is known.

Results have the dtype and device of ``x``. The caller (the :class:`~.chain.EngineChain`) only
ever passes a device the engine supports (:meth:`Engine.supports_device`, from the class's
:attr:`Engine.devices`) and a dtype in :attr:`Engine.dtypes`; float64 is always among them. What a
sample costs in memory is :meth:`Engine.bytes_per_sample`, which the chain uses to split a batch
into chunks.

Each engine class says where it stands in the chain: :attr:`Engine.order` (its place, the
fastest first), :meth:`Engine.accepts` (whether ``engine="auto"`` chains it for a circuit, a
device and the ``diff_method`` asked for) and :meth:`Engine.refusal` (why ``engine=<name>``
cannot be asked for). An engine that cannot run a circuit raises
:class:`~qnn_torch.engines.errors.EngineUnavailable` (at construction or on a call) and the chain
hands over to the next engine; any other exception is a bug and propagates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from ..circuits import PENNYLANE_LOCK, CircuitDescription
from .decomposition import decompose

__all__ = ["Engine", "VJPEngine", "exact_simulation"]


def exact_simulation(spec) -> bool:
    """Whether a device spec is ``default.qubit`` without shots, where the engines of this package
    compute instead of the device."""
    return spec.label == "default.qubit" and spec.shots is None


def _small_gate(op) -> str | None:
    """The leaf rule of the gate count: a gate with a matrix on at most two wires, or an operation
    that does not decompose."""
    return "gate" if (op.has_matrix and len(op.wires) <= 2) or not op.has_decomposition else None


class Engine(ABC):
    """One way of running a circuit description.

    Args:
        circuit (CircuitDescription): what to run.

    Raises:
        EngineUnavailable: if this engine cannot run ``circuit``.
    """

    name: ClassVar[str]
    """str: the ``engine=`` value that asks for this engine, and what ``qnn.engine`` reports."""
    order: ClassVar[int]
    """int: the engine's place in a chain (lower first): the fastest engine that can run a circuit
    comes first."""
    builds_graph: ClassVar[bool]
    """bool: whether :meth:`values` is differentiable by autograd (a torch graph)."""
    runs_on_device: ClassVar[bool] = False
    """bool: whether the engine runs the circuit on the network's PennyLane device (which then
    reports the calls to ``qml.Tracker`` itself); the others compute without it, and the chain
    reports their calls."""
    devices: ClassVar[frozenset[str]] = frozenset({"cpu"})
    """frozenset[str]: the torch device types (``"cpu"``, ``"cuda"``, ``"meta"``) whose tensors the
    engine computes on where they are; tensors on any other device reach it copied to the CPU."""
    dtypes: ClassVar[tuple[torch.dtype, ...]] = (torch.float64,)
    """tuple[torch.dtype, ...]: the real dtypes the engine computes in (float64 always; float32
    means a complex64 state, used with ``precision="single"``)."""

    def __init__(self, circuit: CircuitDescription):
        self.circuit = circuit
        self._num_gates: int | None = None

    # ------------------------------------------------------------------ place in the chain

    @classmethod
    def accepts(cls, circuit: CircuitDescription, spec, diff_method: str | None) -> bool:
        """Whether ``engine="auto"`` chains this engine.

        Args:
            circuit (CircuitDescription): the circuit.
            spec (DeviceSpec): the resolved device.
            diff_method (str or None): the ``diff_method`` the user asked for (None: no wish).
        """
        return exact_simulation(spec)

    @classmethod
    def refusal(cls, circuit: CircuitDescription, spec) -> str | None:
        """Why ``engine=<name>`` cannot be asked for on this circuit and device (the message of a
        ``ValueError``), or None."""
        if exact_simulation(spec):
            return None
        return (f"engine {cls.name!r} needs device 'default.qubit' with shots=None (exact simulation); "
                f"got device {spec.label!r} with shots={spec.shots}.")

    @classmethod
    def build(cls, circuit: CircuitDescription, spec, diff_method: str | None) -> Engine:
        """The engine for ``circuit`` on the device ``spec`` with the ``diff_method`` asked for."""
        return cls(circuit)

    # ------------------------------------------------------------------ devices and memory

    def supports_device(self, device: torch.device) -> bool:
        """Whether the engine computes on tensors on ``device`` without copying them to the CPU
        (by default: whether its type is in :attr:`devices`)."""
        return torch.device(device).type in self.devices

    def state_bytes(self, dtype: torch.dtype = torch.float64) -> int:
        """Bytes of one state vector of the circuit's register for real dtype ``dtype``."""
        return 2**self.circuit.num_qubits * (8 if dtype == torch.float32 else 16)

    def num_gates(self) -> int:
        """The circuit's gates after decomposing templates (counted once, on first use)."""
        if self._num_gates is None:
            c = self.circuit
            with PENNYLANE_LOCK:  # decomposing queues: PennyLane's queue is global, not per thread
                ops, _ = c.queue(torch.zeros(1, c.num_inputs, dtype=torch.float64),
                                 torch.zeros(c.num_weights, dtype=torch.float64))
                self._num_gates = len(decompose(ops, _small_gate))
        return self._num_gates

    def bytes_per_sample(self, dtype: torch.dtype = torch.float64, call: str = "values") -> int:
        """Memory one sample of a batch may hold at once (an upper bound), in bytes.

        Args:
            dtype (torch.dtype): the real dtype of the call.
            call (str): ``"values"`` (:meth:`values` without a graph), ``"graph"``
                (:meth:`values` building an autograd graph) or ``"jacobians"``
                (:meth:`values_and_jacobians`).

        The default is conservative: eight state vectors; with a graph two more per gate (autograd
        keeps intermediate states: 0.3 to 0.4 state vectors per gate for the traced torch engine
        and PennyLane's backprop at 10 to 14 qubits), and an engine that builds graphs is taken to
        take its Jacobians by autograd; an engine without graphs is taken to sweep one bra per
        output for its Jacobians (adjoint differentiation). Engines that know better override it.
        """
        states = 8
        if call == "graph" or (call == "jacobians" and self.builds_graph):
            states += 2 * self.num_gates()
        elif call == "jacobians":
            states += self.circuit.output_size
        return self.state_bytes(dtype) * states

    def cache_bytes(self) -> int:
        """Bytes the engine's per-shape caches (generated programs, traced graphs) hold now; the
        chain counts them in its memory budget. 0 for an engine without such caches."""
        return 0

    # ------------------------------------------------------------------ the computation

    @abstractmethod
    def values(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The outputs ``(B, K)`` for a non-empty batch, in ``x``'s dtype and on its device."""

    @abstractmethod
    def values_and_jacobians(self, x: torch.Tensor, w: torch.Tensor, want_x: bool,
                             want_w: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The outputs ``(B, K)`` (detached) and the list of wanted per-sample Jacobians:
        ``(B, K, num_inputs)`` if ``want_x``, then ``(B, K, num_weights)`` if ``want_w``."""


class VJPEngine(Engine):
    """An engine that also computes vector-Jacobian products: a backward pass computed when the
    gradient arrives, one sweep whatever the number of outputs, instead of eager Jacobians."""

    @abstractmethod
    def forward_for_vjp(self, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """The outputs ``(B, K)`` (detached) and what :meth:`vjp` needs, kept for a backward pass."""

    @abstractmethod
    def vjp(self, saved, grad_output: torch.Tensor, want_x: bool, want_w: bool) -> list[torch.Tensor]:
        """``grad_output^T J`` for ``saved`` from :meth:`forward_for_vjp`: the input gradient
        ``(B, I)`` if ``want_x``, then the weight gradient if ``want_w`` (``(P,)`` for weights the
        batch shares, ``(B, P)`` for per-sample weights)."""
